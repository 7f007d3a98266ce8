"""Messages in the student's terms, a result.json on every exit code, progress in a CI log."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from grader.cli import main as cli
from grader.core import schema
from grader.core.errors import SubmissionError
from grader.grading import grade, progress
from grader.judge.result import GradeResult
from grader.report import markdown_report as report
from grader.sandbox.protocol import labels_from_reply
from tests.grading_helpers import BASELINE_DIR, META


def _reply(array: np.ndarray) -> tuple[dict, bytes]:
    return {"type": "result", "dtype": array.dtype.str, "shape": list(array.shape)}, array.tobytes()


@pytest.mark.parametrize("array, n, batch, message", [
    # 20 one-image calls, each returning (10, 1): the student's own call, not the concatenated (200, 1).
    (np.zeros((200, 1)), 20, 1, "model.predict(images) with images of shape (1, 3, 32, 32) returned shape (10, 1); "
                                "expected (1,) labels or (1, 10) scores"),
    (np.zeros((2, 10, 1)), 2, None, "with images of shape (2, 3, 32, 32) returned shape (2, 10, 1); "
                                    "expected (2,) labels or (2, 10) scores"),
    (np.full(20, 3.0, np.float32), 20, 1, "shape (1, 3, 32, 32) returned shape (1,) of floats (dtype float32, "
                                          "first value 3); labels must be integers"),
    (np.array([1, 12]), 2, None, "returned labels outside 0..9 (from 1 to 12)"),
])
def test_wrong_predictions_are_described_as_the_students_own_call(array: np.ndarray, n: int, batch: int | None,
                                                                  message: str) -> None:
    with pytest.raises(SubmissionError) as caught:
        labels_from_reply(*_reply(array), n, batch)
    assert message in str(caught.value)


def _typo_entry(tmp_path: Path) -> Path:
    folder = tmp_path / "my-entry"
    folder.mkdir()
    (folder / "submission.yaml").write_text(META.format(division="open", technique="int8 weights")
                                            .replace("athlete_name", "athelete_name"))
    shutil.copyfile(BASELINE_DIR / "model.py", folder / "model.py")
    shutil.copyfile(BASELINE_DIR / "weights.npz", folder / "weights.npz")
    return folder


def test_a_typod_key_reads_as_the_problem_and_the_report_is_titled_with_the_folder(tmp_path: Path) -> None:
    folder = _typo_entry(tmp_path)
    out = tmp_path / "result.json"
    code = cli.main(["grade", str(folder), "--data", str(tmp_path / "no-data"), "--no-download",
                     "--out", str(out), "--report", str(tmp_path / "report.md")])
    assert code == 2  # no data: could not grade, yet both files are written
    result = json.loads(out.read_text())
    assert schema.validate(result, "result") == [] and result["status"] == "error"
    assert "my-entry (submission.yaml could not be read)" in (tmp_path / "report.md").read_text()


def test_a_failed_format_summary_names_the_first_problem_not_just_the_check(tmp_path: Path) -> None:
    result = grade.empty_result(None, None, "0" * 64).to_json()
    result["status"] = "failed"
    result["checks"] = [{"id": "format", "status": "fail", "message": "submission.yaml:2:1: athelete_name: unknown key "
                         "(did you mean 'athlete_name'?)"},
                        {"id": "format", "status": "fail", "message": "missing required key 'athlete_name'"}]
    line = grade.summary_line(GradeResult.from_json(result, "result.json"))
    assert line.startswith("failed (format): submission.yaml:2:1: athelete_name: unknown key")
    assert "(and 1 more problem)" in line


def test_a_stopped_grade_reports_what_it_measured() -> None:
    result = grade.empty_result(None, None, "0" * 64).to_json()
    result.update(status="failed", checks=[{"id": "time_budget", "status": "fail", "message": "too slow"}],
                  measured={"stage": "timing", "entry_ms_per_image": 50.0, "baseline_ms_per_image": 1.0,
                            "latency_ratio": 50.0, "accuracy_pct": None, "accuracy_images": None,
                            "size_bytes": 1000, "baseline_size_bytes": 2000})
    assert schema.validate(result, "result") == []
    typed = GradeResult.from_json(result, "result.json")
    assert "50.00 ms per image (50.00x the baseline's 1.00 ms)" in grade.summary_line(typed)
    text = report.render(typed)
    assert "Measured before the grade stopped" in text and "50.00x" in text and "not reached" in text


class _Log(io.StringIO):
    def isatty(self) -> bool:
        return False


def test_a_ci_log_gets_every_stage_and_repeated_timing_lines_at_most_every_15_seconds() -> None:
    now = [0.0]
    stream = _Log()
    log = progress.printer(stream, clock=lambda: now[0])
    log("accuracy: baseline")
    for second in range(40):
        now[0] = float(second)
        log(f"timing: {second} pairs")
    log("accuracy: entry")
    lines = stream.getvalue().splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == [
        "accuracy: baseline", "timing: 0 pairs", "timing: 15 pairs", "timing: 30 pairs", "accuracy: entry"]
    assert lines[2].startswith("tinymlperf [   15 s]")
