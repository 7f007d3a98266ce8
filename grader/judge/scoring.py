"""The competition's normalized scores, from measured numbers only.

speedup = baseline time / entry time (the ratio of their 10% quantile sample times, see grader/measure/timing.py)
compression = baseline size / entry size
accuracy delta = entry accuracy - baseline accuracy, in percentage points
efficiency = speedup x compression / (1 + penalty x accuracy loss in pp); gains are not rewarded or penalized
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from grader.measure.timing import SpeedupEstimate


@dataclass(frozen=True)
class Scores:
    speedup: float
    speedup_ci_low: float | None
    speedup_ci_high: float | None
    compression: float
    accuracy_delta_pp: float
    efficiency: float

    def to_json(self) -> dict:
        return asdict(self)


def efficiency(speedup: float, compression: float, accuracy_delta_pp: float, penalty_per_pp: float) -> float:
    """speedup x compression / (1 + penalty x max(0, -delta))."""
    loss = max(0.0, -accuracy_delta_pp)
    return speedup * compression / (1.0 + penalty_per_pp * loss)


def score(speed: SpeedupEstimate, baseline_size: int, entry_size: int, baseline_accuracy_pct: float,
          entry_accuracy_pct: float, penalty_per_pp: float) -> Scores:
    """Combine the measurements into the normalized scores."""
    compression = baseline_size / entry_size
    delta = entry_accuracy_pct - baseline_accuracy_pct
    return Scores(speed.speedup, speed.ci_low, speed.ci_high, compression, delta,
                  efficiency(speed.speedup, compression, delta, penalty_per_pp))
