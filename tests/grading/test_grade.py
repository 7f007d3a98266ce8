"""`tinymlperf grade` end to end on real CIFAR-10 images: real sandboxes, real timing, small budgets."""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from grader.cli import main as cli
from grader.core import config, schema
from grader.grading import grade
from grader.judge.result import GradeResult
from grader.measure import data
from grader.report import markdown_report as report
from tests.cifar_archive import write_batch
from tests.grading_helpers import BASELINE_DIR, checks_of, entry, fast_config, fast_config_file, request
from tests.sandbox_helpers import images, strong_python

ROOT = Path(__file__).resolve().parents[2]

EXAMPLES = Path(__file__).parents[2] / "submissions"


@pytest.mark.slow
def test_baseline_graded_as_an_entry_scores_exactly_one_on_size_and_accuracy(tmp_path: Path, small_data: Path) -> None:
    graded = grade.grade(request(entry(tmp_path, "open"), small_data))
    result = graded.to_json()
    assert schema.validate(result, "result") == []
    assert result["status"] == "valid", checks_of(result)
    scores = result["normalized_scores"]
    assert scores["compression"] == 1.0 and scores["accuracy_delta_pp"] == 0.0
    assert 0.5 < scores["speedup"] < 2.0  # same model: only noise separates them
    assert result["baseline_metrics"]["accuracy_pct"] == result["optimized_metrics"]["accuracy_pct"]
    assert result["timing"]["pairs"] >= 4
    assert "## TinyMLPerf grade" in report.render(graded)


@pytest.mark.slow
def test_closed_example_is_rebuilt_from_the_baseline_and_graded_valid(small_data: Path) -> None:
    result = grade.grade(request(EXAMPLES / "closed-int8-prune", small_data)).to_json()
    checks = checks_of(result)
    assert result["status"] == "valid", checks
    assert result["optimized_metrics"]["dtypes"]["int8"] > 500_000
    assert result["normalized_scores"]["compression"] > 4.0


@pytest.mark.slow
def test_model_that_answers_differently_when_timed_fails_the_determinism_check(tmp_path: Path,
                                                                                small_data: Path) -> None:
    source = (BASELINE_DIR / "model.py").read_text() + textwrap.dedent("""

        _calls = {"n": 0}
        _original = Model.predict

        def _predict(self, images):
            _calls["n"] += 1
            scores = _original(self, images)
            if len(images) == 1:  # single-image queries only happen while timed
                scores = np.roll(scores, 1, axis=1)
            return scores

        Model.predict = _predict
    """)
    result = grade.grade(request(entry(tmp_path, "open", source), small_data)).to_json()
    assert checks_of(result)["deterministic"]["status"] == "fail"
    assert result["status"] == "failed"


@pytest.mark.slow
def test_model_that_memorized_the_test_set_fails_the_dither_check(tmp_path: Path, small_data: Path) -> None:
    # A lookup table from an exact fingerprint of every test image to its label: 100% on the
    # clean pass, chance on the dithered one.
    folder = entry(tmp_path, "open", """
        import numpy as np
        from pathlib import Path

        WEIGHTS = np.arange(3072, dtype=np.uint64) + 1

        class Model:
            def __init__(self, table):
                self.table = table

            def predict(self, images):
                keys = images.reshape(len(images), -1).astype(np.uint64) @ WEIGHTS
                return np.array([self.table.get(int(k), 0) for k in keys], dtype=np.int64)

        def load(folder):
            with np.load(Path(folder) / "table.npz", allow_pickle=False) as f:
                return Model(dict(zip(f["keys"].tolist(), f["labels"].tolist())))
    """)
    (folder / "weights.npz").unlink()
    test = data.load_batch(small_data / data.TEST_BATCH)
    keys = test.images.reshape(len(test.images), -1).astype(np.uint64) @ (np.arange(3072, dtype=np.uint64) + 1)
    np.savez(folder / "table.npz", keys=keys, labels=test.labels)
    result = grade.grade(request(folder, small_data)).to_json()
    checks = checks_of(result)
    assert result["optimized_metrics"]["accuracy_pct"] == 100.0
    assert checks["dither_entry"]["status"] == "fail"
    assert result["status"] == "failed"


@pytest.mark.slow
def test_model_that_crashes_in_predict_fails_with_the_students_error(tmp_path: Path, small_data: Path) -> None:
    folder = entry(tmp_path, "open", """
        def load(folder):
            return Broken()

        class Broken:
            def predict(self, images):
                raise RuntimeError("my model is broken")
    """)
    result = grade.grade(request(folder, small_data)).to_json()
    assert result["status"] == "failed"
    assert "my model is broken" in checks_of(result)["runs"]["message"]

def test_invalid_folder_fails_on_format_without_running_code(tmp_path: Path, small_data: Path) -> None:
    folder = entry(tmp_path, "closed")  # Closed without build.py
    (folder / "model.py").write_text("raise SystemExit('must never run')\ndef load(folder): pass\n")
    result = grade.grade(request(folder, small_data)).to_json()
    assert result["status"] == "failed"
    assert [c["id"] for c in result["checks"]] == ["format"] * len(result["checks"])
    assert any("build.py" in c["message"] for c in result["checks"])


def test_cli_writes_a_schema_valid_result_and_report_and_exits_by_status(tmp_path: Path, small_data: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    folder = entry(tmp_path, "closed")  # no build.py, and weights.npz: two format problems
    code = cli.main(["grade", str(folder), "--data", str(small_data.parent), "--out", str(tmp_path / "r.json"),
                     "--report", str(tmp_path / "r.md"), "--isolation", "process", "--no-download"])
    assert code == 1
    result = json.loads((tmp_path / "r.json").read_text())
    assert schema.validate(result, "result") == []
    assert result["status"] == "failed"
    assert (tmp_path / "r.md").read_text() == report.render(GradeResult.from_json(result, "r.json"))
    line = capsys.readouterr().out  # the check once, then its first problem in the student's terms
    assert line.startswith("failed (format): ") and "(and 1 more problem)" in line


@pytest.mark.slow
def test_a_graded_entry_beside_score_records_says_where_it_would_rank_on_the_line_and_in_the_report(
        tmp_path: Path, small_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    submissions = tmp_path / "submissions"
    for slug in ("closed-int8-prune", "open-slim-int8"):  # the committed board
        (submissions / slug).mkdir(parents=True)
        (submissions / slug / "score.json").write_bytes((ROOT / "submissions" / slug / "score.json").read_bytes())
    folder = entry(submissions, "open").rename(submissions / "my-entry")
    code = cli.main(["grade", str(folder), "--data", str(small_data), "--out", str(tmp_path / "r.json"),
                     "--report", str(tmp_path / "r.md"), "--isolation", "process",
                     "--config", str(fast_config_file(tmp_path / "competition.yaml"))])
    line = capsys.readouterr().out
    assert code in (0, 1), line
    assert re.search(r"; would rank #2 of 2 in the Open Division \(provisional.*speedup \+10%: [\d.]+ \(#\d\), "
                     r"compression \+10%: [\d.]+ \(#\d\)", line), line
    text = (tmp_path / "r.md").read_text()
    assert "### Where it stands" in text and "`open-slim-int8`" in text


@pytest.mark.slow
def test_a_freshly_scaffolded_closed_entry_grades_valid_at_exactly_the_baseline_size(tmp_path: Path,
                                                                                      small_data: Path) -> None:
    from grader.contract import scaffold

    folder = scaffold.create("fresh", "closed", tmp_path, config.load(), athlete_name="Ada",
                             github_repo="https://github.com/ada/tinytorch")
    result = grade.grade(request(folder, small_data)).to_json()
    assert result["status"] == "valid", checks_of(result)
    assert result["normalized_scores"]["compression"] == 1.0
    assert result["normalized_scores"]["accuracy_delta_pp"] == 0.0


@pytest.mark.slow
def test_baseline_command_writes_its_measured_metrics_with_hardware(tmp_path: Path, small_data: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["baseline", "--data", str(small_data), "--out", str(tmp_path / "b.json"),
                     "--isolation", "process", "--no-download"])
    assert code == 0
    measured = json.loads((tmp_path / "b.json").read_text())
    assert schema.validate(measured, "baseline") == []
    assert measured["metrics"]["parameters"] == 545_098
    # one latency sample per usable pair of an A/A timing run, each the baseline's own (net) time
    assert len(measured["latency_samples_seconds"]) >= 2
    assert all(s > 0 for s in measured["latency_samples_seconds"])
    assert measured["hardware"]["cores"] >= 1
    assert "accuracy" in capsys.readouterr().out


def test_a_recipe_entry_without_the_training_batches_says_why_they_are_needed(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    write_batch(folder / data.TEST_BATCH, 8)
    result = grade.grade(request(EXAMPLES / "closed-int8-prune", folder)).to_json()
    assert result["status"] == "error"
    assert re.search(r"data_batch_1: missing .*calibration images from data_batch_1.*test_batch", result["error"])


@pytest.mark.slow
@pytest.mark.parametrize(("isolation", "restart"), [("process", True), ("auto", True), ("auto", False)],
                         ids=["process", "user-netns", "user-netns-restarts-off"])
def test_when_the_test_images_run_out_only_stateless_workers_are_started_afresh_to_go_on(isolation: str,
                                                                                          restart: bool) -> None:
    """200 images last 40 pairs at most (a sample holds at least 5 queries); 45 are asked for. At user+netns the
    workers are stateless, so fresh ones may see the images again (unless the organizer turned
    ``timing.restart_workers`` off); at process level a worker could leave itself notes, so timing stops there."""
    if isolation == "auto" and strong_python() != sys.executable:
        pytest.skip("grade's workers use this interpreter, which cannot reach user+netns here")
    base = fast_config()
    cfg = dataclasses.replace(base, timing=dataclasses.replace(
        base.timing, max_pairs=45, target_ci_half_width=1e-6, budget_seconds=60, restart_workers=restart))
    timed = grade.time_entry(BASELINE_DIR, BASELINE_DIR, images(200, seed=4), cfg, isolation, seed=3)
    run = timed.run
    assert timed.isolation.level == ("process" if isolation == "process" else "user+netns")
    if isolation == "process" or not restart:
        assert run.stop == "image_supply" and run.worker_starts == 1 and len(run.pairs) < 45
    else:
        assert run.stop == "max_pairs" and len(run.pairs) == 45 and run.worker_starts >= 2
    lives = [0, *run.restarts, len(run.pairs)]
    for first, end in zip(lives, lives[1:], strict=False):  # within one worker's life, no image twice
        used = np.concatenate(run.indices[first:end])
        assert len(np.unique(used)) == len(used)
