"""Paired timing statistics and the stop rule, with injected times (no real clocks)."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import numpy as np
import pytest

from grader import config, stats, timing

PARAMS = config.load().timing


@pytest.mark.parametrize(("p", "df", "expected"), [
    (0.975, 1, 12.7062047362), (0.975, 2, 4.3026527297), (0.975, 9, 2.2621571628),
    (0.975, 30, 2.0422724563), (0.95, 5, 2.0150483733), (0.995, 120, 2.6174211),
])
def test_t_quantile_matches_published_tables(p: float, df: int, expected: float) -> None:
    assert stats.t_quantile(p, df) == pytest.approx(expected, rel=1e-7)


def test_t_quantile_is_symmetric() -> None:
    assert stats.t_quantile(0.025, 7) == pytest.approx(-stats.t_quantile(0.975, 7))


def test_speedup_is_geometric_mean_of_paired_ratios() -> None:
    est = timing.estimate([2.0, 4.0, 8.0], [1.0, 1.0, 1.0], 0.95)
    assert est.speedup == pytest.approx(4.0)  # (2*4*8)^(1/3)
    logs = [math.log(2), math.log(4), math.log(8)]
    margin = stats.t_quantile(0.975, 2) * stats.stdev(logs) / math.sqrt(3)
    assert est.ci_low == pytest.approx(4.0 * math.exp(-margin))
    assert est.ci_high == pytest.approx(4.0 * math.exp(margin))


def test_pairing_cancels_drift_that_hits_both_models() -> None:
    # The machine slows down 3x over the run; the entry is always exactly twice as fast.
    drift = [1.0 + 0.1 * i for i in range(20)]
    est = timing.estimate([2.0 * d for d in drift], drift, 0.95)
    assert est.speedup == pytest.approx(2.0)
    assert est.half_width == pytest.approx(0.0, abs=1e-12)


def test_one_pair_gives_an_inconclusive_interval_not_a_guess() -> None:
    est = timing.estimate([2.0], [1.0], 0.95)
    assert est.ci_low is None and est.ci_high is None and est.half_width is None
    warnings = timing.warnings([2.0], [1.0], est, PARAMS, "budget")
    assert any("inconclusive" in w for w in warnings)


def test_noisy_samples_and_outliers_are_warned_about() -> None:
    base = [1.0] * 19 + [9.0]
    est = timing.estimate(base, [1.0] * 20, 0.95)
    found = timing.warnings(base, [1.0] * 20, est, PARAMS, "max_pairs")
    assert any("baseline samples vary a lot" in w for w in found)
    assert any("far outliers" in w for w in found)
    assert any("stopped by max pairs" in w for w in found)


class FakeWorker:
    """A worker whose query time is ``per_image`` seconds per image, plus optional noise."""

    def __init__(self, per_image: float, noise: float = 0.0, seed: int = 0, idle_burn: float = 0.0) -> None:
        self.per_image, self.noise = per_image, noise
        self.rng = random.Random(seed)
        self.cpu = 0.0
        self.idle_burn = idle_burn
        self.calls: list[np.ndarray] = []
        self.peer: FakeWorker | None = None

    def time_queries(self, images: np.ndarray, batch_size: int) -> tuple[float, np.ndarray]:
        self.calls.append(images)
        seconds = self.per_image * len(images) * (1.0 + self.rng.uniform(-self.noise, self.noise))
        self.cpu += seconds
        if self.peer is not None:
            self.peer.cpu += self.peer.idle_burn * seconds
        return seconds, images[:, 0, 0, 0].astype(np.int64) % 10

    def cpu_seconds(self) -> float:
        return self.cpu


def images(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.uint32).astype(np.uint8).reshape(n, 1, 1, 1).repeat(3, 1).repeat(32, 2).repeat(32, 3)


def test_stops_when_the_interval_reaches_the_target() -> None:
    base, entry = FakeWorker(0.002, noise=0.01, seed=1), FakeWorker(0.001, noise=0.01, seed=2)
    run = timing.run_pairs(base, entry, images(10000), PARAMS, rng=random.Random(0), clock=lambda: 0.0)
    est = timing.estimate(run.baseline_s, run.entry_s, PARAMS.confidence)
    assert run.stop == "target"
    assert len(run.baseline_s) >= PARAMS.min_pairs
    assert est.half_width <= PARAMS.target_ci_half_width
    assert est.speedup == pytest.approx(2.0, rel=0.02)


def test_stops_at_the_time_budget() -> None:
    ticks = iter(range(1000))
    base, entry = FakeWorker(0.002, noise=0.5, seed=1), FakeWorker(0.001, noise=0.5, seed=2)
    params = replace(PARAMS, budget_seconds=5)
    run = timing.run_pairs(base, entry, images(10000), params, rng=random.Random(0), clock=lambda: next(ticks))
    assert run.stop == "budget"
    # the clock reads 0 at the start and advances 1 s per check, from the second pair on
    assert len(run.baseline_s) == 6


def test_both_models_of_a_pair_see_the_same_fresh_images_never_reused() -> None:
    base, entry = FakeWorker(0.002, noise=0.3, seed=1), FakeWorker(0.001, noise=0.3, seed=2)
    run = timing.run_pairs(base, entry, images(10000), PARAMS, rng=random.Random(0), clock=lambda: 0.0)
    for b, e in zip(base.calls, entry.calls, strict=True):
        np.testing.assert_array_equal(b, e)
    used = np.concatenate(run.indices)
    assert len(np.unique(used)) == len(used)


def test_pairs_are_bounded_by_the_supply_of_fresh_images() -> None:
    base, entry = FakeWorker(0.002, noise=0.5, seed=1), FakeWorker(0.001, noise=0.5, seed=2)
    per_sample = PARAMS.queries_per_sample * PARAMS.batch_size
    run = timing.run_pairs(base, entry, images(per_sample * (PARAMS.warmup_samples + 12)), PARAMS,
                           rng=random.Random(0), clock=lambda: 0.0)
    assert len(run.baseline_s) == 12 and run.stop == "max_pairs"


def test_order_within_pairs_is_randomized() -> None:
    order: list[str] = []

    class Recording(FakeWorker):
        def __init__(self, name: str) -> None:
            super().__init__(0.001)
            self.name = name

        def time_queries(self, images: np.ndarray, batch_size: int) -> tuple[float, np.ndarray]:
            order.append(self.name)
            return super().time_queries(images, batch_size)

    timing.run_pairs(Recording("b"), Recording("e"), images(10000), replace(PARAMS, warmup_samples=0),
                     rng=random.Random(3), clock=lambda: 0.0)
    firsts = order[0::2]
    assert 0 < firsts.count("b") < len(firsts)


def test_idle_worker_burning_cpu_is_measured() -> None:
    base, entry = FakeWorker(0.002), FakeWorker(0.001, idle_burn=0.5)
    base.peer, entry.peer = entry, base
    run = timing.run_pairs(base, entry, images(10000), replace(PARAMS, warmup_samples=0),
                           rng=random.Random(0), clock=lambda: 0.0)
    assert run.idle_cpu_entry == pytest.approx(0.5 * sum(run.baseline_s))
    assert run.idle_cpu_baseline == pytest.approx(0.0)
