"""Paired timing statistics and the stop rule, with injected times (no real clocks)."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import numpy as np
import pytest

from grader.core import config
from grader.measure import stats, timing

PARAMS = config.load().timing


@pytest.mark.parametrize(("p", "df", "expected"), [
    (0.975, 1, 12.7062047362), (0.975, 2, 4.3026527297), (0.975, 9, 2.2621571628),
    (0.975, 30, 2.0422724563), (0.95, 5, 2.0150483733), (0.995, 120, 2.6174211),
])
def test_t_quantile_matches_published_tables(p: float, df: int, expected: float) -> None:
    assert stats.t_quantile(p, df) == pytest.approx(expected, rel=1e-7)


def test_t_quantile_is_symmetric() -> None:
    assert stats.t_quantile(0.025, 7) == pytest.approx(-stats.t_quantile(0.975, 7))


def test_speedup_is_the_ratio_of_the_models_lower_quartiles() -> None:
    baseline, entry = [2.0, 4.0, 8.0, 16.0, 32.0], [1.0, 1.0, 2.0, 2.0, 3.0]
    est = timing.estimate(baseline, entry, 0.95, 0.25)
    assert est.speedup == pytest.approx(4.0 / 1.0)  # numpy-style percentiles: q25 of each list
    assert est.log_speedup == pytest.approx(math.log(4.0))
    logs = [math.log(b / e) for b, e in zip(baseline, entry, strict=True)]
    assert est.paired_log_mean == pytest.approx(stats.mean(logs))
    assert est.speedup == pytest.approx(stats.percentile(baseline, 25) / stats.percentile(entry, 25))


def test_a_machine_that_switches_into_contention_reads_the_quiet_ratio_not_the_mix() -> None:
    # Measured on this project's VM: quiet, baseline ~55 ms and entry ~31 ms a sample (1.77x); with another
    # tenant in the shared caches ~85 ms and ~40 ms (2.1x). Which mix a run sees is chance; the quiet ratio is not.
    rng = random.Random(3)
    for contended in (0.0, 0.3, 0.6):
        baseline, entry = [], []
        for _ in range(200):
            slow = rng.random() < contended
            baseline.append((0.085 if slow else 0.055) * rng.uniform(0.99, 1.01))
            entry.append((0.040 if slow else 0.031) * rng.uniform(0.99, 1.01))
        est = timing.estimate(baseline, entry, 0.95, 0.25)
        assert est.speedup == pytest.approx(0.055 / 0.031, rel=0.01), contended
        assert est.ci_low <= 0.055 / 0.031 <= est.ci_high
        if contended >= 0.3:  # the paired mean reads the mix: what the grader reported before
            assert math.exp(est.paired_log_mean) > 1.03 * 0.055 / 0.031


def test_drift_that_hits_both_models_alike_does_not_move_the_reading() -> None:
    # The machine slows down 3x over the run; the entry is always exactly twice as fast.
    drift = [1.0 + 0.1 * i for i in range(20)]
    est = timing.estimate([2.0 * d for d in drift], drift, 0.95, 0.25)
    assert est.speedup == pytest.approx(2.0)
    assert est.ci_low <= 2.0 <= est.ci_high


def test_the_interval_covers_the_true_ratio_at_its_stated_confidence() -> None:
    rng = np.random.default_rng(11)
    truth, runs, covered = 1.8, 400, 0
    for _ in range(runs):
        baseline = np.exp(rng.normal(math.log(0.055), 0.1, 40))
        entry = np.exp(rng.normal(math.log(0.055 / truth), 0.1, 40))
        est = timing.estimate(list(baseline), list(entry), 0.95, 0.25)
        covered += est.ci_low <= truth <= est.ci_high
    assert covered / runs >= 0.93


@pytest.mark.parametrize("n", [11, 20, 37, 60, 200, 1000])
def test_quantile_ranks_cover_the_quantile_with_at_least_the_confidence(n: int) -> None:
    r, s = stats.quantile_ranks(n, 0.25, 0.95)
    coverage = sum(math.comb(n, k) * 0.25 ** k * 0.75 ** (n - k) for k in range(r, s))
    assert coverage >= 0.95
    assert 1 <= r < s <= n


def test_too_few_pairs_give_an_inconclusive_interval_not_a_guess() -> None:
    assert stats.quantile_ranks(10, 0.25, 0.95) is None  # even [min, max] covers the lower quartile only 94%
    est = timing.estimate([2.0] * 10, [1.0] * 10, 0.95, 0.25)
    assert est.speedup == pytest.approx(2.0)
    assert est.ci_low is None and est.ci_high is None and est.half_width is None


class FakeWorker:
    """A worker whose model costs ``per_image`` CPU seconds an image, plus the harness costs every model pays.

    A ``contended`` fraction of its requests run 1.5x slower (the state switches of a shared machine).
    Wall time is CPU time plus ``preempted`` (waiting for the CPU) plus ``paused`` (stopped);
    ``threads`` > 1 spreads the work over that many cores (CPU time stays, wall time shrinks).
    """

    def __init__(self, per_image: float, noise: float = 0.0, seed: int = 0, *, request_s: float = 0.0005,
                 query_s: float = 0.00002, preempted: float = 0.0, paused: float = 0.0, threads: int = 1,
                 contended: float = 0.0) -> None:
        self.per_image, self.noise, self.contended = per_image, noise, contended
        self.request_s, self.query_s = request_s, query_s
        self.preempted, self.paused, self.threads = preempted, paused, threads
        self.rng = random.Random(seed)
        self.cpu = self.wait = 0.0
        self.idle_burn = 0.0
        self.calls: list[np.ndarray] = []
        self.peers: list[FakeWorker] = []

    def time_queries(self, images: np.ndarray, batch_size: int) -> tuple[float, np.ndarray]:
        self.calls.append(images)
        work = self.per_image * len(images) * (1.0 + self.rng.uniform(-self.noise, self.noise))
        if self.rng.random() < self.contended:  # another tenant in the shared caches: this sample runs 1.5x slower
            work *= 1.5
        cpu = work + self.request_s + self.query_s * len(images) / batch_size
        wall = cpu / self.threads + self.preempted * cpu + self.paused * cpu
        self.cpu += cpu
        self.wait += self.preempted * cpu
        for peer in self.peers:
            peer.cpu += peer.idle_burn * wall
        return wall, images[:, 0, 0, 0].astype(np.int64) % 10

    def cpu_seconds(self) -> float:
        return self.cpu

    def wait_seconds(self) -> float:
        return self.wait


def trio(baseline: FakeWorker, entry: FakeWorker, overhead: FakeWorker | None = None) -> tuple[FakeWorker, ...]:
    overhead = overhead or FakeWorker(0.0)
    workers = (baseline, entry, overhead)
    for w in workers:
        w.peers = [p for p in workers if p is not w]
    return workers


def images(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.uint32).astype(np.uint8).reshape(n, 1, 1, 1).repeat(3, 1).repeat(32, 2).repeat(32, 3)


def run(baseline: FakeWorker, entry: FakeWorker, params: config.Timing = PARAMS, n: int = 10000,
        seed: int = 0, clock=lambda: 0.0, overhead: FakeWorker | None = None) -> timing.PairedRun:
    b, e, o = trio(baseline, entry, overhead)
    return timing.run_pairs(b, e, o, images(n), params, rng=random.Random(seed), clock=clock)


@pytest.mark.parametrize("sample_seconds", [PARAMS.min_sample_seconds / 2, PARAMS.min_sample_seconds,
                                            PARAMS.min_sample_seconds * 2])
def test_harness_costs_are_subtracted_so_the_sample_length_does_not_move_the_reading(sample_seconds: float) -> None:
    # Every request costs 0.5 ms and every query 20 us on top of the model's own work, in all three
    # workers alike; a naive ratio of sample times would read 2.0 only for infinitely long samples.
    params = replace(PARAMS, min_sample_seconds=sample_seconds)
    result = run(FakeWorker(0.0010), FakeWorker(0.0005), params)
    assert result.estimate(PARAMS).speedup == pytest.approx(2.0, rel=1e-9)
    naive = timing.estimate([p.baseline.wall_s for p in result.pairs], [p.entry.wall_s for p in result.pairs], 0.95,
                           0.25)
    assert naive.speedup < 1.99  # the bias the null model removes is really there


@pytest.mark.parametrize("sample_seconds", [PARAMS.min_sample_seconds / 2, PARAMS.min_sample_seconds,
                                            PARAMS.min_sample_seconds * 2])
def test_a_models_fixed_cost_per_request_is_differenced_away_at_any_sample_length(sample_seconds: float) -> None:
    # Both models pay 0.8 ms per request the null model does not (cold caches after the switch):
    # the null model cannot cancel it; the short request, timed beside the long one, does.
    params = replace(PARAMS, min_sample_seconds=sample_seconds)
    result = run(FakeWorker(0.0010, request_s=0.0013), FakeWorker(0.0005, request_s=0.0013), params)
    assert result.calibration.short_queries == int(result.calibration.queries_per_sample * PARAMS.short_sample_fraction)
    assert result.estimate(PARAMS).speedup == pytest.approx(2.0, rel=1e-9)
    single = run(FakeWorker(0.0010, request_s=0.0013), FakeWorker(0.0005, request_s=0.0013),
                 replace(params, short_sample_fraction=0.0))
    assert single.calibration.short_queries == 0
    assert abs(single.estimate(PARAMS).speedup - 2.0) > 0.002  # the bias the difference removes is really there


def test_each_sample_times_a_short_request_on_other_fresh_images_and_keeps_their_answers() -> None:
    b, e, o = trio(FakeWorker(0.0010), FakeWorker(0.0005))
    result = timing.run_pairs(b, e, o, images(10000), PARAMS, rng=random.Random(3))
    cal = result.calibration
    timed = [c for c in e.calls if len(c) > PARAMS.warmup_queries]  # not warm-ups
    sizes = [len(c) for c in timed[PARAMS.calibration_samples:]]
    assert sorted(set(sizes)) == [cal.short_queries, cal.queries_per_sample]
    assert sizes.count(cal.short_queries) == len(result.pairs)
    for chosen, labels in zip(result.indices, result.entry_labels, strict=True):
        assert len(chosen) == cal.short_queries + cal.queries_per_sample == len(set(chosen.tolist()))
        np.testing.assert_array_equal(labels, images(10000)[chosen][:, 0, 0, 0].astype(np.int64) % 10)


def test_the_faster_models_sample_is_calibrated_to_the_minimum_sample_length() -> None:
    result = run(FakeWorker(0.0010), FakeWorker(0.0002))
    queries = result.calibration.queries_per_sample
    assert queries * 0.0002 >= PARAMS.min_sample_seconds
    assert (queries - 1) * 0.0002 < PARAMS.min_sample_seconds
    assert result.calibration.entry_query_s == pytest.approx(0.0002)
    assert not result.calibration.shortened_by_supply


def test_samples_are_shortened_when_fresh_images_run_short_and_the_warning_says_so() -> None:
    result = run(FakeWorker(0.0010), FakeWorker(0.00001), n=3000)
    assert result.calibration.shortened_by_supply
    assert len(result.pairs) >= PARAMS.min_pairs
    found = timing.warnings(result, result.estimate(PARAMS), PARAMS)
    assert any("supply of fresh test images" in w for w in found)


def test_stops_when_the_interval_reaches_the_target() -> None:
    result = run(FakeWorker(0.002, noise=0.01, seed=1), FakeWorker(0.001, noise=0.01, seed=2))
    est = result.estimate(PARAMS)
    assert result.stop == "target"
    assert est.pairs >= PARAMS.min_pairs
    assert est.half_width <= PARAMS.target_ci_half_width
    assert est.speedup == pytest.approx(2.0, rel=0.02)


def test_stops_at_the_time_budget() -> None:
    ticks = iter(range(1000))
    params = replace(PARAMS, budget_seconds=5)
    result = run(FakeWorker(0.002, noise=0.5, seed=1), FakeWorker(0.001, noise=0.5, seed=2), params,
                 clock=lambda: next(ticks))
    assert result.stop == "budget"
    # the clock reads 0 at the start and advances 1 s per pair
    assert len(result.pairs) == 5


def test_when_the_fresh_images_run_out_stateless_workers_start_afresh_and_timing_goes_on() -> None:
    """A noisy pair on 1,500 images: one supply lasts ~30 pairs, so the run needs fresh workers to go on."""
    b, e, o = trio(FakeWorker(0.002, noise=0.4, seed=1), FakeWorker(0.001, noise=0.4, seed=2))
    lives: list[int] = []  # calls each worker had made when it was restarted

    def refresh() -> None:
        lives.append(len(e.calls))
        for w in (b, e, o):
            w.calls.clear()  # a fresh process: it has seen nothing

    params = replace(PARAMS, min_pairs=20, max_pairs=150, target_ci_half_width=0.001)
    result = timing.run_pairs(b, e, o, images(1500), params, rng=random.Random(0), clock=lambda: 0.0,
                              refresh=refresh)
    assert result.stop == "max_pairs" and len(result.pairs) == 150
    assert result.worker_starts == len(lives) + 1 >= 4
    bounds = [0, *result.restarts, len(result.pairs)]
    assert all(b2 - b1 <= 1500 // 40 for b1, b2 in zip(bounds, bounds[1:], strict=False))
    for first, end in zip(bounds, bounds[1:], strict=False):  # one life of the workers: no image twice
        used = np.concatenate(result.indices[first:end])
        assert len(np.unique(used)) == len(used)


def test_without_a_way_to_restart_the_workers_timing_stops_when_the_fresh_images_run_out() -> None:
    result = run(FakeWorker(0.002, noise=0.4, seed=1), FakeWorker(0.001, noise=0.4, seed=2),
                 replace(PARAMS, min_pairs=20, max_pairs=150, target_ci_half_width=0.001), n=1500)
    assert result.stop == "image_supply" and result.worker_starts == 1
    assert len(result.pairs) < 1500 // 40
    used = np.concatenate(result.indices)
    assert len(np.unique(used)) == len(used)
    assert any("image supply ran out" in w for w in timing.warnings(result, result.estimate(PARAMS), PARAMS))


@pytest.mark.slow
def test_all_three_models_of_a_pair_see_fresh_images_never_reused_the_slower_one_fewer_of_them() -> None:
    base, entry, null = FakeWorker(0.002, noise=0.3, seed=1), FakeWorker(0.001, noise=0.3, seed=2), FakeWorker(0.0)
    result = run(base, entry, overhead=null)
    cal = result.calibration
    short = cal.short_queries
    assert short > 0
    assert cal.queries_of("entry") == cal.queries_per_sample  # the faster model sets the length
    assert cal.queries_per_sample / 3 < cal.queries_of("baseline") < cal.queries_per_sample * 2 / 3  # ~half, as long
    calibration_calls = 2 * PARAMS.calibration_samples
    for i, (mine, theirs) in enumerate(zip(result.indices, result.baseline_indices, strict=True)):
        assert set(theirs) <= set(mine)  # the baseline answers a part of the images the entry does
        for worker, chosen in ((base, theirs), (entry, mine), (null, mine)):
            first = calibration_calls + 4 * i  # warm-up, request, warm-up, request
            requests = sorted([worker.calls[first + 1], worker.calls[first + 3]], key=len)
            n_short = len(requests[0])
            np.testing.assert_array_equal(requests[0], images(10000)[chosen[:n_short]])
            np.testing.assert_array_equal(requests[1], images(10000)[chosen[n_short:]])
    used = np.concatenate(result.indices)
    assert len(np.unique(used)) == len(used)
    assert len(base.calls) == calibration_calls + 4 * len(result.pairs)


def test_a_model_ten_times_slower_times_few_queries_and_still_a_short_request() -> None:
    slow = FakeWorker(0.01, request_s=0.0008)
    result = run(FakeWorker(0.001, request_s=0.0008), slow)
    cal = result.calibration
    assert cal.queries_of("entry") <= PARAMS.min_queries_per_sample + 1
    assert min(len(images) for images in slow.calls) >= 1  # a real worker refuses an empty request
    assert all(len(p.raw("entry")) == 2 for p in result.pairs)
    assert result.estimate(PARAMS).speedup == pytest.approx(0.1, rel=1e-9)


def test_samples_of_equal_duration_read_the_work_ratio_exactly() -> None:
    # The baseline is 4x slower: its samples hold a quarter of the queries, and its time is scaled back.
    result = run(FakeWorker(0.004, request_s=0.0008), FakeWorker(0.001, request_s=0.0008))
    cal = result.calibration
    assert cal.queries_of("baseline") < cal.queries_per_sample // 3
    assert result.estimate(PARAMS).speedup == pytest.approx(4.0, rel=1e-9)
    pair = result.pairs[0]
    durations = [pair.raw(who)[0].wall_s for who in ("baseline", "entry")]
    assert max(durations) / min(durations) < 1.3  # each model's long request lasts about as long


def test_every_timed_request_follows_a_warm_up_on_images_the_worker_has_already_seen() -> None:
    base, entry = FakeWorker(0.002), FakeWorker(0.001)
    run(base, entry)
    warm = base.calls[0]
    assert len(warm) == PARAMS.warmup_queries * PARAMS.batch_size
    for worker in (base, entry):
        assert all(np.array_equal(c, warm) for c in worker.calls[0::2])  # every other call is the warm-up
    timed = {bytes(c[:, 0, 0, 0]) for c in base.calls[1::2]}
    assert not any(bytes(warm[i:i + 1, 0, 0, 0]) in timed for i in range(len(warm)))


def test_order_within_pairs_is_randomized() -> None:
    order: list[str] = []

    class Recording(FakeWorker):
        def __init__(self, name: str, per_image: float) -> None:
            super().__init__(per_image)
            self.name = name

        def time_queries(self, images: np.ndarray, batch_size: int) -> tuple[float, np.ndarray]:
            order.append(self.name)
            return super().time_queries(images, batch_size)

    run(Recording("b", 0.001), Recording("e", 0.001), overhead=Recording("o", 0.0), seed=3)
    firsts = order[0::6]  # each turn is a warm-up and a timed request, three turns a round
    assert {"b", "e", "o"} == set(firsts)


def test_a_stopped_baseline_neither_slows_it_down_nor_counts() -> None:
    # An attacker pausing the baseline during its turns doubles its wall time; CPU time does not move,
    # and each such pair is discarded as 'stopped', so the reading stays the honest 1.0.
    result = run(FakeWorker(0.001, paused=1.0), FakeWorker(0.001))
    assert all(p.invalid and "stopped" in p.invalid for p in result.pairs)
    assert result.estimate(PARAMS) is None
    honest = run(FakeWorker(0.001, paused=0.1), FakeWorker(0.001))
    assert honest.estimate(PARAMS).speedup == pytest.approx(1.0)


def test_preemption_by_other_processes_does_not_bias_the_speedup() -> None:
    result = run(FakeWorker(0.002, preempted=0.8), FakeWorker(0.001, preempted=0.1))
    assert not any(p.invalid for p in result.pairs)
    assert result.estimate(PARAMS).speedup == pytest.approx(2.0)
    assert result.wall_estimate(PARAMS).speedup > 3.0  # the wall clock would have been fooled
    assert any("held the timed CPU" in w for w in timing.warnings(result, result.estimate(PARAMS), PARAMS))


def test_an_entry_on_two_cores_is_flagged_and_its_pairs_discarded() -> None:
    result = run(FakeWorker(0.001), FakeWorker(0.002, threads=2))
    assert all(p.multi_core and p.invalid and "more than one core" in p.invalid for p in result.pairs)


@pytest.mark.parametrize(("turn", "reason"), [
    (timing.Turn(wall_s=0.050, cpu_s=0.050, wait_s=0.0, idle_cpu_s=0.0), None),
    (timing.Turn(wall_s=0.100, cpu_s=0.050, wait_s=0.050, idle_cpu_s=0.0), None),  # preempted: fine
    (timing.Turn(wall_s=0.051, cpu_s=0.050, wait_s=0.0, idle_cpu_s=0.0), None),  # a wake-up's slack
    (timing.Turn(wall_s=0.100, cpu_s=0.050, wait_s=0.0, idle_cpu_s=0.0), "stopped or blocked"),
    # the grader itself waited for its CPU and read the reply 50 ms late: not the worker's doing
    (timing.Turn(wall_s=0.100, cpu_s=0.050, wait_s=0.0, idle_cpu_s=0.0, parent_wait_s=0.050), None),
    (timing.Turn(wall_s=0.050, cpu_s=0.100, wait_s=0.0, idle_cpu_s=0.0), "more than one core"),
    (timing.Turn(wall_s=0.0008, cpu_s=0.0007, wait_s=0.0, idle_cpu_s=0.0), "no longer than the harness"),
])
def test_a_turn_is_classified_from_its_counters(turn: timing.Turn, reason: str | None) -> None:
    overhead = timing.Turn(wall_s=0.001, cpu_s=0.0008, wait_s=0.0, idle_cpu_s=0.0)
    good = timing.Turn(wall_s=0.050, cpu_s=0.050, wait_s=0.0, idle_cpu_s=0.0)
    pair = timing.classify(overhead, good, turn)
    assert (pair.invalid is None) if reason is None else (reason in pair.invalid)


def test_idle_worker_burning_cpu_is_measured() -> None:
    base, entry = FakeWorker(0.002), FakeWorker(0.001)
    entry.idle_burn = 0.5
    result = run(base, entry)
    assert result.idle_cpu_entry > 0.4 * sum(p.baseline.wall_s for p in result.pairs)
    assert result.idle_cpu_baseline == pytest.approx(0.0)


def test_timing_quality_stays_quiet_for_a_noisy_but_converged_run() -> None:
    # Per-sample CV over 10% (a third of the samples contended) is noise the interval already covers:
    # no warning for that alone.
    result = run(FakeWorker(0.002, noise=0.02, seed=1, contended=0.3),
                 FakeWorker(0.001, noise=0.02, seed=2, contended=0.3))
    est = result.estimate(PARAMS)
    assert timing.cv(result.entry_s) > 0.1
    assert est.half_width <= 2 * PARAMS.target_ci_half_width
    assert timing.warnings(result, est, PARAMS) == []


def test_timing_quality_warns_when_the_interval_stays_wide() -> None:
    ticks = iter(range(1000))
    result = run(FakeWorker(0.002, noise=0.9, seed=1), FakeWorker(0.001, noise=0.9, seed=2),
                 replace(PARAMS, budget_seconds=30), clock=lambda: next(ticks))
    found = timing.warnings(result, result.estimate(PARAMS), PARAMS)
    assert any("reached only" in w for w in found)


def test_timing_quality_warns_when_many_pairs_were_discarded() -> None:
    result = run(FakeWorker(0.001, paused=1.0), FakeWorker(0.001))
    assert any("pairs were discarded" in w for w in timing.warnings(result, result.estimate(PARAMS), PARAMS))


@pytest.mark.parametrize(("baseline", "entry", "left", "expected"), [
    (0.0010, 0.0005, 10000, (round(PARAMS.min_sample_seconds / 0.0005), False)),
    (0.0005, 0.0010, 10000, (round(PARAMS.min_sample_seconds / 0.0005), False)),  # the faster model decides
    (0.5, 0.5, 10000, (PARAMS.min_queries_per_sample, False)),  # never under the minimum
    # 4000 wanted; 10000 images for min_pairs pairs of a long request and a short one of 1/8 its queries
    (0.0010, 0.00001, 10000, (math.floor(10000 / (PARAMS.min_pairs * (1 + PARAMS.short_sample_fraction))), True)),
])
def test_plan_queries(baseline: float, entry: float, left: int, expected: tuple[int, bool]) -> None:
    assert timing.plan_queries(baseline, entry, PARAMS, left) == expected


def test_workers_that_can_start_afresh_need_one_supply_to_hold_fewer_pairs_so_fast_samples_keep_their_length() -> None:
    # The Open example at 80 ms samples: ~400 queries wanted. One supply of 10,000 images fits min_pairs (40)
    # pairs of at most 222; with restarts it need hold only PAIRS_PER_LIFE, so the samples keep their length.
    cost = 0.0002
    wanted = math.ceil(0.08 / cost)
    params = replace(PARAMS, min_sample_seconds=0.08, min_pairs=40)
    capped, shortened = timing.plan_queries(0.0006, cost, params, 10_000)
    assert shortened and capped * params.min_pairs * (1 + params.short_sample_fraction) <= 10_000 < wanted * 40
    assert timing.plan_queries(0.0006, cost, params, 10_000, restartable=True) == (wanted, False)
    per_life = timing.PAIRS_PER_LIFE * (1 + params.short_sample_fraction)
    assert timing.plan_queries(0.0006, 0.00001, params, 10_000, restartable=True) == (
        math.floor(10_000 / per_life), True)  # still within what one life of the workers can hold
