"""The competition rules applied to measurements: each rule passes, fails or warns as the config says."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from grader.core import config
from grader.judge import rules, scoring
from grader.measure import timing

CONFIG = config.load()


def evidence(speedup: float = 2.0, compression: float = 4.0, entry_acc: float = 77.0, base_acc: float = 78.0,
             **changes: object) -> rules.Evidence:
    est = timing.SpeedupEstimate(speedup, speedup * 0.98, speedup * 1.02, 0.02, math.log(speedup), math.log(speedup),
                                 0.01, 30, 0.95, 0.25)
    scores = scoring.score(est, 1000, int(1000 / compression), base_acc, entry_acc, 1.0)
    ev = rules.Evidence(
        division="closed", scores=scores, entry_accuracy_pct=entry_acc, entry_dithered_accuracy_pct=entry_acc,
        baseline_accuracy_pct=base_acc, baseline_dithered_accuracy_pct=base_acc, inconsistent_images=0,
        timed_images=1000, idle_cpu_entry_s=0.0, idle_cpu_baseline_s=0.0, timing_pairs=20, timing_pairs_discarded=0,
        multi_core_samples=0, discard_reasons=(), baseline_timed_s=10.0, entry_timed_s=5.0, timing_warnings=(),
        claimed=None)
    return replace(ev, **changes)


def statuses(ev: rules.Evidence) -> dict[str, str]:
    return {c.id: c.status for c in rules.evaluate(ev, CONFIG)}


def test_a_clean_entry_passes_every_rule() -> None:
    checks = rules.evaluate(evidence(), CONFIG)
    assert rules.status_of(checks) == "valid"
    assert {c.status for c in checks} <= {"pass", "not_checked"}


@pytest.mark.parametrize(("speedup", "expected"), [(0.49, "fail"), (0.5, "pass"), (100.0, "pass"), (100.1, "fail")])
def test_speedup_sanity_range_is_inclusive(speedup: float, expected: str) -> None:
    assert statuses(evidence(speedup=speedup))["speedup_range"] == expected


@pytest.mark.parametrize(("compression", "expected"), [(0.9, "fail"), (1.0, "pass"), (101.0, "fail")])
def test_compression_sanity_range(compression: float, expected: str) -> None:
    assert statuses(evidence(compression=compression))["compression_range"] == expected


@pytest.mark.parametrize(("entry_acc", "expected"), [(68.01, "pass"), (68.0, "fail"), (60.0, "fail")])
def test_accuracy_drop_must_stay_under_ten_points(entry_acc: float, expected: str) -> None:
    assert statuses(evidence(entry_acc=entry_acc))["accuracy_drop"] == expected


def test_closed_entry_gaining_more_than_a_point_is_treated_as_retrained() -> None:
    assert statuses(evidence(entry_acc=79.5))["closed_no_retraining"] == "fail"
    assert statuses(evidence(entry_acc=78.9))["closed_no_retraining"] == "pass"
    assert "closed_no_retraining" not in statuses(evidence(entry_acc=90.0, division="open"))


def test_memorized_test_set_fails_the_dither_check() -> None:
    assert statuses(evidence(entry_acc=99.0, entry_dithered_accuracy_pct=40.0, division="open"))["dither_entry"] == "fail"


def test_predictions_that_change_when_timed_fail_beyond_float_noise() -> None:
    assert statuses(evidence(inconsistent_images=6))["deterministic"] == "fail"
    assert statuses(evidence(inconsistent_images=5))["deterministic"] == "pass"  # 0.5% of 1,000 timed images


def test_background_work_while_the_baseline_is_timed_fails_the_entry() -> None:
    assert statuses(evidence(idle_cpu_entry_s=0.6))["idle_cpu_entry"] == "fail"  # limit 5% of 10 s
    assert statuses(evidence(idle_cpu_entry_s=0.4))["idle_cpu_entry"] == "pass"
    assert statuses(evidence(idle_cpu_baseline_s=1.0))["idle_cpu_baseline"] == "warn"  # ours: warn, not fail


def test_an_entry_measured_to_the_end_had_nothing_denied_by_the_sandbox() -> None:
    # A denial stops the recipe or the model at once, so a grade that reaches the rules had none:
    # that a denial fails the entry and is listed is asserted end to end (test_security_grade, `runs`).
    checks = {c.id: c for c in rules.evaluate(evidence(), CONFIG)}
    assert checks["sandbox"].status == "pass"
    assert checks["sandbox"].message == "no action was denied by the sandbox"


def test_claimed_speedup_outside_the_interval_warns() -> None:
    assert statuses(evidence(claimed={"speedup": 2.5}))["claimed_metrics"] == "warn"
    assert statuses(evidence(claimed={"speedup": 2.01, "accuracy_pct": 77.2}))["claimed_metrics"] == "pass"
    assert statuses(evidence())["claimed_metrics"] == "not_checked"


def test_timing_warnings_warn_but_do_not_fail() -> None:
    checks = rules.evaluate(evidence(timing_warnings=("baseline samples vary a lot",)), CONFIG)
    assert {c.id: c.status for c in checks}["timing_quality"] == "warn"
    assert rules.status_of(checks) == "valid"


def test_efficiency_penalizes_losses_but_not_gains() -> None:
    assert scoring.efficiency(2.0, 3.0, -2.0, 1.0) == pytest.approx(2.0)
    assert scoring.efficiency(2.0, 3.0, +2.0, 1.0) == pytest.approx(6.0)


def test_an_entry_that_ran_on_more_than_one_core_fails_one_core() -> None:
    assert statuses(evidence(multi_core_samples=1))["one_core"] == "pass"  # one counter glitch is forgiven
    assert statuses(evidence(multi_core_samples=2))["one_core"] == "fail"


def test_a_run_with_too_many_discarded_pairs_fails_timing_integrity() -> None:
    assert statuses(evidence(timing_pairs=20, timing_pairs_discarded=4))["timing_integrity"] == "pass"
    failed = rules.evaluate(evidence(timing_pairs=20, timing_pairs_discarded=5,
                                     discard_reasons=("the baseline was stopped or blocked for 40.0 ms",)), CONFIG)
    check = next(c for c in failed if c.id == "timing_integrity")
    assert check.status == "fail" and "stopped or blocked" in check.message
