"""Time budgets per stage of a grade, and the early stop when an entry cannot fit them (pure).

A student waiting on a grade should learn within a minute that their model is far too slow,
with the numbers: its per-image latency and its ratio to the baseline. The timing
calibration measures both models' per-query costs after a few queries; ``too_slow`` decides
from those alone whether timing can go on. The accuracy pass predicts a first chunk and
``accuracy_projection`` extrapolates it to the whole pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from grader.core.config import Competition
from grader.core.errors import SubmissionError
from grader.measure.timing import Calibration, Who, turn_short_queries

# An early stop for speed needs the entry's own per-image cost above this too: the baseline's
# calibrated cost (a few queries, net of the harness) can read near zero on a noisy machine, which
# alone must not stop an honest entry. The baseline takes about 0.6-1.2 ms per image on the
# project's machine, so an entry above 5 ms is far below the minimum speedup anyway.
MIN_SLOW_MS = 5.0
# Budgets are compared with CPU-time projections; the wall-clock deadlines that back them up
# (a model that slows down after its first queries) allow this factor for a busy machine.
WALL_FACTOR = 3

def wall_bound(stage: str, budget_seconds: float) -> tuple[float, str]:
    """The wall-clock bound backing a stage's CPU-time budget, and how a message names it."""
    seconds = WALL_FACTOR * budget_seconds
    return seconds, (f"wall-clock bound of {seconds:g} s on the {stage} stage ({WALL_FACTOR} x its budget of "
                     f"{budget_seconds:g} s, competition.yaml budgets)")


@dataclass(frozen=True)
class Latency:
    """Per-image milliseconds of both models from the timing calibration (net of the harness)."""

    entry_ms: float
    baseline_ms: float
    queries: int  # calibration queries per model they come from

    @property
    def ratio(self) -> float:
        """How many times slower than the baseline the entry is (entry / baseline)."""
        return self.entry_ms / self.baseline_ms if self.baseline_ms > 0 else math.inf

    @property
    def speedup(self) -> float:
        return self.baseline_ms / self.entry_ms if self.entry_ms > 0 else math.inf

    def describe(self) -> str:
        return (f"model.predict took {self.entry_ms:.2f} ms per image, {self.ratio:.1f}x the baseline's "
                f"{self.baseline_ms:.2f} ms (speedup about {self.speedup:.3f}x), measured over {self.queries} "
                "calibration queries")


def latency_of(cal: Calibration, config: Competition) -> Latency:
    per_image = 1000.0 / config.timing.batch_size
    return Latency(cal.entry_query_s * per_image, cal.baseline_query_s * per_image,
                   config.timing.calibration_samples * config.timing.min_queries_per_sample)


def projected_timing_s(cal: Calibration, config: Competition) -> float:
    """Seconds that ``min_pairs`` pairs would take: three models, warm-up and timed queries each."""
    t = config.timing
    requests = 2 if cal.short_queries else 1
    per_pair = 0.0
    costs: tuple[tuple[Who, float], ...] = (("overhead", 0.0), ("baseline", cal.baseline_query_s),
                                           ("entry", cal.entry_query_s))
    for who, cost in costs:
        n = cal.queries_of(who)
        queries = requests * t.warmup_queries + n + turn_short_queries(n, t, cal.short_queries > 0)
        per_pair += queries * (cal.overhead_query_s + cost)
    return t.min_pairs * per_pair


def too_slow(cal: Calibration, config: Competition) -> str | None:
    """Why timing should stop after the calibration, in the student's terms; None to go on."""
    latency = latency_of(cal, config)
    floor = config.speedup_range.min / config.budgets.slow_margin
    if latency.speedup < floor and latency.entry_ms >= MIN_SLOW_MS:
        return (f"{latency.describe()}: certainly under the {config.speedup_range.min:g}x minimum speedup "
                f"(below {floor:g}x), so timing stopped early")
    projected = projected_timing_s(cal, config)
    if projected > config.budgets.timing_seconds:
        return (f"{latency.describe()}: timing {config.timing.min_pairs} pairs would take about {projected:.0f} s, "
                f"over the timing budget of {config.budgets.timing_seconds:g} s")
    return None


class StageTooSlow(SubmissionError):
    """The entry stopped early for a time budget; ``measured`` holds what was learnt before."""

    def __init__(self, message: str, measured: dict) -> None:
        super().__init__(message)
        self.measured = measured


@dataclass(frozen=True)
class AccuracyProbe:
    """The first chunk of the accuracy pass: its labels and the worker's CPU seconds for it."""

    labels: np.ndarray
    seconds: float

    @property
    def ms_per_image(self) -> float:
        return 1000.0 * self.seconds / len(self.labels)


def accuracy_projection(probe: AccuracyProbe, total_images: int) -> float:
    """Seconds the whole accuracy pass would take at the probe's pace."""
    return probe.seconds / len(probe.labels) * total_images


def accuracy_too_slow(probe: AccuracyProbe, total_images: int, budget_s: float) -> str | None:
    projected = accuracy_projection(probe, total_images)
    if projected <= budget_s:
        return None
    return (f"model.predict took {probe.seconds:.1f} s of CPU for the first {len(probe.labels)} images "
            f"({probe.ms_per_image:.1f} ms per image); the {total_images:,} predictions of the accuracy pass "
            f"would take about {projected:.0f} s, over the accuracy budget of {budget_s:g} s")
