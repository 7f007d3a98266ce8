"""Paired, interleaved timing of the baseline and an entry, and the speedup with its confidence interval.

A *sample* is Q queries (of ``batch_size`` images each) on fresh images (the
grade passes test images with freshly drawn dither noise),
timed by the parent around one request to a worker. A *pair* is one sample of
each model on the same images, in random order. The speedup is the geometric
mean of the per-pair ratios baseline/entry, and its confidence interval is the
t-interval on the log ratios: pairing cancels drift that hits both models
(thermal, noisy neighbours), which a pooled two-sample test would not.

``run_pairs`` is the loop; ``estimate`` and ``warnings`` are pure functions of
the samples, so the statistics are tested with injected numbers.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from grader import stats
from grader.config import Timing

StopReason = Literal["target", "budget", "max_pairs"]


class Timed(Protocol):
    """What the timing loop needs from a worker (``grader.sandbox.ModelWorker`` is one)."""

    def time_queries(self, images: np.ndarray, batch_size: int) -> tuple[float, np.ndarray]: ...

    def cpu_seconds(self) -> float: ...


@dataclass(frozen=True)
class SpeedupEstimate:
    """Speedup = exp(mean log(baseline/entry)); ci_* are None when there are too few pairs."""

    speedup: float
    ci_low: float | None
    ci_high: float | None
    half_width: float | None  # relative: the larger of high/speedup - 1 and 1 - low/speedup
    log_mean: float
    log_sd: float | None
    pairs: int
    confidence: float


def estimate(baseline_s: Sequence[float], entry_s: Sequence[float], confidence: float) -> SpeedupEstimate:
    """Geometric-mean speedup of paired samples with a t-interval on the log ratios."""
    if len(baseline_s) != len(entry_s) or not baseline_s:
        raise ValueError("need the same, non-zero number of baseline and entry samples")
    logs = [math.log(b / e) for b, e in zip(baseline_s, entry_s, strict=True)]
    log_mean = stats.mean(logs)
    n = len(logs)
    if n < 2:
        return SpeedupEstimate(math.exp(log_mean), None, None, None, log_mean, None, n, confidence)
    sd = stats.stdev(logs)
    margin = stats.t_quantile(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n)
    low, high = math.exp(log_mean - margin), math.exp(log_mean + margin)
    speedup = math.exp(log_mean)
    half = max(high / speedup - 1.0, 1.0 - low / speedup)
    return SpeedupEstimate(speedup, low, high, half, log_mean, sd, n, confidence)


def cv(values: Sequence[float]) -> float:
    """Coefficient of variation (sample sd / mean); 0 for fewer than two values."""
    return stats.stdev(values) / stats.mean(values) if len(values) > 1 else 0.0


def warnings(baseline_s: Sequence[float], entry_s: Sequence[float], result: SpeedupEstimate,
             params: Timing, stop: StopReason) -> list[str]:
    """Reasons to doubt a timing, in the spirit of pyperf's ``format_checks``."""
    found = []
    if result.pairs < params.min_pairs:
        found.append(f"only {result.pairs} pairs (minimum {params.min_pairs}): the interval is unreliable")
    if result.half_width is None:
        found.append("too few pairs for a confidence interval: speedup is inconclusive")
    elif stop != "target":
        found.append(f"stopped by {stop.replace('_', ' ')} before the interval reached "
                     f"±{params.target_ci_half_width:.0%} (it is ±{result.half_width:.1%})")
    for name, values in (("baseline", baseline_s), ("entry", entry_s)):
        spread = cv(values)
        if spread > 0.10:
            found.append(f"{name} samples vary a lot (CV {spread:.0%}): the machine was noisy")
        if len(values) >= 4:
            q1, q3 = stats.percentile(values, 25), stats.percentile(values, 75)
            outliers = sum(1 for v in values if v > q3 + 3 * (q3 - q1) or v < q1 - 3 * (q3 - q1))
            if outliers:
                found.append(f"{name}: {outliers} of {len(values)} samples are far outliers")
    return found


@dataclass
class PairedRun:
    """Raw record of a timing run: every sample, both workers' idle CPU, why it stopped."""

    baseline_s: list[float] = field(default_factory=list)
    entry_s: list[float] = field(default_factory=list)
    baseline_labels: list[np.ndarray] = field(default_factory=list)
    entry_labels: list[np.ndarray] = field(default_factory=list)
    indices: list[np.ndarray] = field(default_factory=list)
    idle_cpu_baseline: float = 0.0  # CPU the baseline's worker used while the entry was timed
    idle_cpu_entry: float = 0.0  # CPU the entry's worker used while the baseline was timed
    stop: StopReason = "max_pairs"


def _timed_with_idle(active: Timed, idle: Timed, images: np.ndarray, batch_size: int) -> tuple[float, np.ndarray, float]:
    idle_before = idle.cpu_seconds()
    seconds, labels = active.time_queries(images, batch_size)
    return seconds, labels, idle.cpu_seconds() - idle_before


def run_pairs(baseline: Timed, entry: Timed, images: np.ndarray, params: Timing, *,
              rng: random.Random, clock: Callable[[], float] = time.monotonic,
              progress: Callable[[int, SpeedupEstimate | None], None] | None = None) -> PairedRun:
    """Warm up both workers, then time pairs in random order until the interval is tight enough.

    ``images`` are the test images to draw from; each sample uses the next
    ``queries_per_sample * batch_size`` of them, never reused, and both models
    of a pair see the same ones.
    """
    per_sample = params.queries_per_sample * params.batch_size
    order = np.array(rng.sample(range(len(images)), len(images)))
    # Images are never reused (a reused image could be answered from a cache),
    # so the supply of test images also bounds the number of pairs.
    max_pairs = min(params.max_pairs, len(images) // per_sample - params.warmup_samples)
    if max_pairs < 2:
        raise ValueError(f"{len(images)} images are too few for {params.warmup_samples} warm-up "
                         f"and 2 timed samples of {per_sample} images")
    cursor = 0

    def next_indices() -> np.ndarray:
        nonlocal cursor
        chosen = order[cursor:cursor + per_sample]
        cursor += per_sample
        return chosen

    for _ in range(params.warmup_samples):
        warm = images[next_indices()]
        baseline.time_queries(warm, params.batch_size)
        entry.time_queries(warm, params.batch_size)

    run = PairedRun()
    started = clock()
    while True:
        chosen = next_indices()
        batch = images[chosen]
        first_is_baseline = rng.random() < 0.5
        results = {}
        for who in (("baseline", "entry") if first_is_baseline else ("entry", "baseline")):
            active, idle = (baseline, entry) if who == "baseline" else (entry, baseline)
            results[who] = _timed_with_idle(active, idle, batch, params.batch_size)
        run.baseline_s.append(results["baseline"][0])
        run.entry_s.append(results["entry"][0])
        run.baseline_labels.append(results["baseline"][1])
        run.entry_labels.append(results["entry"][1])
        run.idle_cpu_entry += results["baseline"][2]
        run.idle_cpu_baseline += results["entry"][2]
        run.indices.append(chosen)
        n = len(run.baseline_s)
        current = estimate(run.baseline_s, run.entry_s, params.confidence) if n >= 2 else None
        if progress is not None:
            progress(n, current)
        if n >= params.min_pairs and current is not None and current.half_width is not None \
                and current.half_width <= params.target_ci_half_width:
            run.stop = "target"
            break
        if n >= max_pairs:
            run.stop = "max_pairs"
            break
        if n >= 2 and clock() - started >= params.budget_seconds:
            run.stop = "budget"
            break
    return run
