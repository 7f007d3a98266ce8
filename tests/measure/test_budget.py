"""Time budgets: slow entries stop early with their numbers; every outcome keeps what was measured."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pytest

from grader.core import config, schema
from grader.core.errors import SubmissionError
from grader.grading import grade
from grader.measure import accuracy, budget
from grader.measure.timing import Calibration
from tests.grading_helpers import SLOW_MODEL, checks_of, entry, fast_config, request

CONFIG = config.load()

def _calibration(baseline_ms: float, entry_ms: float, queries: int = 50) -> Calibration:
    return Calibration(overhead_query_s=5e-5, baseline_query_s=baseline_ms / 1000, entry_query_s=entry_ms / 1000,
                       queries_per_sample=queries, shortened_by_supply=False)


def test_an_entry_far_slower_than_the_baseline_is_stopped_with_its_latency_and_ratio() -> None:
    reason = budget.too_slow(_calibration(1.0, 50.0), CONFIG)
    assert reason is not None
    assert "50.00 ms per image" in reason and "50.0x the baseline's 1.00 ms" in reason
    assert "certainly under the 0.5x minimum speedup" in reason


def test_a_baseline_calibrated_near_zero_by_noise_does_not_stop_an_honest_entry() -> None:
    assert budget.too_slow(_calibration(0.0, 1.0), CONFIG) is None
    assert budget.too_slow(_calibration(0.001, 4.0), CONFIG) is None  # under MIN_SLOW_MS: timed, not stopped


def test_an_entry_within_reach_of_the_minimum_speedup_is_timed() -> None:
    assert budget.too_slow(_calibration(1.0, 1.5), CONFIG) is None  # 0.67x: above 0.5 / slow_margin


def test_an_entry_whose_timing_would_overrun_its_budget_is_stopped_with_the_projection() -> None:
    tight = dataclasses.replace(CONFIG, budgets=dataclasses.replace(CONFIG.budgets, timing_seconds=1.0))
    reason = budget.too_slow(_calibration(1.0, 1.2, queries=100), tight)
    assert reason is not None and "over the timing budget of 1 s" in reason
    assert budget.projected_timing_s(_calibration(1.0, 1.2, queries=100), tight) > 1.0


def test_the_accuracy_projection_stops_a_pass_that_cannot_fit_and_passes_one_that_can() -> None:
    probe = budget.AccuracyProbe(np.zeros(100, np.int64), seconds=5.0)  # 50 ms per image
    reason = budget.accuracy_too_slow(probe, 20_000, 120)
    assert reason is not None and "50.0 ms per image" in reason and "about 1000 s" in reason
    assert budget.accuracy_too_slow(budget.AccuracyProbe(np.zeros(100, np.int64), seconds=0.1), 20_000, 120) is None


class _SlowWorker:
    """Stands in for a ModelWorker in the accuracy pass: 20 ms of CPU per image, counting predictions."""

    def __init__(self) -> None:
        self.predicted = 0

    def predict(self, images: np.ndarray) -> np.ndarray:
        self.predicted += len(images)
        return np.zeros(len(images), np.int64)

    def cpu_seconds(self) -> float:
        return 0.02 * self.predicted


def test_the_accuracy_pass_predicts_only_its_first_chunk_when_the_rest_cannot_fit() -> None:
    images = np.zeros((10_000, 3, 32, 32), np.uint8)
    worker = _SlowWorker()
    budgets = dataclasses.replace(CONFIG.budgets, accuracy_probe_images=10, accuracy_seconds=60)
    with pytest.raises(budget.StageTooSlow, match=r"first 10 images .* over the accuracy budget of 60 s") as caught:
        accuracy.bounded_predictions(worker, images, images, budgets)
    assert worker.predicted == 10
    assert len(caught.value.measured["probe"].labels) == 10


def _budgeted(**changes: float) -> config.Competition:
    base = fast_config()
    return dataclasses.replace(base, budgets=dataclasses.replace(base.budgets, **changes))


@pytest.mark.slow
def test_a_slow_model_fails_the_time_budget_within_seconds_keeping_its_latency_size_and_isolation(
        tmp_path: Path, small_data: Path) -> None:
    folder = entry(tmp_path, "open", SLOW_MODEL.format(work=1_000_000))
    started = time.monotonic()
    result = grade.grade(request(folder, small_data)).to_json()
    took = time.monotonic() - started
    assert schema.validate(result, "result") == []
    check = checks_of(result)["time_budget"]
    assert check["status"] == "fail" and "ms per image" in check["message"] and "the baseline's" in check["message"]
    measured = result["measured"]
    assert measured["stage"] == "timing"
    assert measured["entry_ms_per_image"] > 5 * measured["baseline_ms_per_image"]
    assert measured["latency_ratio"] == pytest.approx(measured["entry_ms_per_image"]
                                                      / measured["baseline_ms_per_image"])
    assert measured["size_bytes"] > 0
    assert result["isolation"]["level"] == "process"  # what the workers had, not "none"
    assert took < 60


@pytest.mark.slow
def test_an_accuracy_pass_that_cannot_fit_its_budget_stops_with_the_chunks_accuracy(tmp_path: Path,
                                                                                   small_data: Path) -> None:
    folder = entry(tmp_path, "open", SLOW_MODEL.format(work=100_000))
    competition = _budgeted(slow_margin=1000.0, accuracy_seconds=2.0, accuracy_probe_images=20)
    result = grade.grade(request(folder, small_data, config=competition)).to_json()
    assert schema.validate(result, "result") == []
    check = checks_of(result)["time_budget"]
    assert check["status"] == "fail" and "accuracy budget of 2 s" in check["message"], check
    measured = result["measured"]
    assert measured["stage"] == "accuracy" and measured["accuracy_images"] == 20
    assert measured["accuracy_pct"] is not None and measured["entry_ms_per_image"] > 0


@pytest.mark.slow
def test_a_model_that_loops_at_import_ends_at_the_load_budget(tmp_path: Path, small_data: Path) -> None:
    folder = entry(tmp_path, "open", """
        while True:
            pass

        def load(folder):
            return None
    """)
    started = time.monotonic()
    result = grade.grade(request(folder, small_data, config=_budgeted(load_seconds=3.0))).to_json()
    took = time.monotonic() - started
    assert schema.validate(result, "result") == []
    checks = checks_of(result)
    assert "runs" not in checks  # a budget, as the docs' time_budget says, not a crash
    message = checks["time_budget"]["message"]
    assert checks["time_budget"]["status"] == "fail" and "load budget of 3 s" in message, message
    assert result["measured"]["stage"] == "load"
    assert result["isolation"]["level"] == "process"
    assert took < 30


def _with_recipe(tmp_path: Path, body: str) -> Path:
    folder = entry(tmp_path, "open")
    (folder / "build.py").write_text("import numpy as np\n\n\ndef build(baseline_dir, calibration_images, out_dir):\n"
                                     + body)
    return folder


@pytest.mark.slow
def test_a_recipe_past_the_build_budget_fails_the_time_budget_and_says_what_sandbox_it_had(
        tmp_path: Path, small_data: Path) -> None:
    folder = _with_recipe(tmp_path, "    while True:\n        pass\n")
    started = time.monotonic()
    result = grade.grade(request(folder, small_data, config=_budgeted(build_seconds=2.0))).to_json()
    assert time.monotonic() - started < 30
    assert schema.validate(result, "result") == []
    check = checks_of(result)["time_budget"]
    assert check["status"] == "fail" and "build budget of 2 s" in check["message"], check
    assert result["isolation"]["level"] == "process" and result["isolation"]["details"]


@pytest.mark.slow
def test_a_recipe_that_crashes_fails_runs_and_keeps_the_isolation_its_worker_had(tmp_path: Path,
                                                                               small_data: Path) -> None:
    folder = _with_recipe(tmp_path, "    raise ValueError('my recipe has a bug')\n")
    result = grade.grade(request(folder, small_data)).to_json()
    assert schema.validate(result, "result") == []
    assert "my recipe has a bug" in checks_of(result)["runs"]["message"]
    assert result["isolation"]["level"] == "process"  # the sandbox ran build(); not "none"
    assert any("rlimits" in line for line in result["isolation"]["details"])


def test_stage_too_slow_is_a_students_problem() -> None:
    assert issubclass(budget.StageTooSlow, SubmissionError)


@pytest.mark.slow
def test_a_model_crashing_after_calibration_keeps_its_calibrated_latency(tmp_path: Path, small_data: Path) -> None:
    folder = entry(tmp_path, "open", """
        import numpy as np

        def load(folder):
            return Flaky()

        class Flaky:
            calls = 0

            def predict(self, images):
                self.calls += 1
                if self.calls > 20:  # calibration is 8 calls here; the timed pairs come after
                    raise RuntimeError("my model breaks after a while")
                return np.zeros(len(images), dtype=np.int64)
    """)
    result = grade.grade(request(folder, small_data)).to_json()
    assert schema.validate(result, "result") == []
    assert "my model breaks after a while" in checks_of(result)["runs"]["message"]
    measured = result["measured"]
    assert measured["stage"] == "timing" and measured["entry_ms_per_image"] is not None
    assert measured["baseline_ms_per_image"] is not None and measured["size_bytes"] > 0
