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
    assert "## TinyMLPerf grade: my-entry\n" in (tmp_path / "report.md").read_text()


def test_a_typod_key_is_one_problem_at_the_typo_and_the_grade_line_leads_with_it(tmp_path: Path, small_data: Path,
                                                                                 capsys: pytest.CaptureFixture[str]
                                                                                 ) -> None:
    folder = _typo_entry(tmp_path)
    report_file = tmp_path / "report.md"
    code = cli.main(["grade", str(folder), "--data", str(small_data), "--out", str(tmp_path / "result.json"),
                     "--report", str(report_file)])
    assert code == 1
    line = capsys.readouterr().out.strip()
    assert line.startswith("failed (format): ") and line.endswith(
        "submission.yaml:2:1: athelete_name: unknown key (did you mean 'athlete_name'?)"), line
    assert "missing required key" not in line and "more problem" not in line
    text = report_file.read_text()
    assert "## TinyMLPerf grade: my-entry (submission.yaml does not validate)" in text
    assert "sandbox: not started (no code of the entry ran)" in text and "isolation: none" not in text


@pytest.mark.parametrize("args", [["no-such-folder"], ["FOLDER", "--config", "no-such.yaml"]])
def test_a_grade_that_cannot_start_still_writes_result_json_and_exits_2(tmp_path: Path, args: list[str]) -> None:
    folder = _typo_entry(tmp_path)
    argv = [str(tmp_path / a) if a in ("no-such-folder", "no-such.yaml") else str(folder) if a == "FOLDER" else a
            for a in args]
    out = tmp_path / "out" / "result.json"
    out.parent.mkdir()
    code = cli.main(["grade", *argv, "--data", str(tmp_path), "--out", str(out), "--report", str(tmp_path / "r.md")])
    assert code == 2
    result = json.loads(out.read_text())
    assert schema.validate(result, "result") == [] and result["status"] == "error"
    assert "no-such" in result["error"] and (tmp_path / "r.md").exists()


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
    # a number not reached has no unit after it
    assert "| not reached |" in text and "not reached%" not in text and "not reached ms" not in text


def test_a_grade_stopped_before_timing_shows_no_ratio_for_the_baseline() -> None:
    result = grade.empty_result(None, None, "0" * 64).to_json()
    result.update(status="failed", checks=[{"id": "runs", "status": "fail", "message": "crash"}],
                  measured={"stage": "timing", "entry_ms_per_image": None, "baseline_ms_per_image": None,
                            "latency_ratio": None, "accuracy_pct": None, "accuracy_images": None,
                            "size_bytes": 1000, "baseline_size_bytes": 2000})
    text = report.render(GradeResult.from_json(result, "result.json"))
    row = next(line for line in text.splitlines() if line.startswith("| Entry / baseline time"))
    assert [cell.strip() for cell in row.split("|")[1:-1]] == ["Entry / baseline time", "", "not reached"]
    assert "2,000 B" in text and "1,000 B" in text


class _Log(io.StringIO):
    def isatty(self) -> bool:
        return False


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_rewrites_a_repeated_line_in_place_and_ends_every_line() -> None:
    stream = _Terminal()
    show = progress.printer(stream)
    show("accuracy: entry, 10,000 test images clean and dithered")
    for done in (500, 1000, 1500):
        show(f"accuracy: entry, {done:,} of 20,000 predictions")
    show("timing: 1 pairs")
    text = stream.getvalue()
    up = "\033[F\033[K"
    assert text.count(up) == 2  # the 2nd and 3rd count replace the line above them; the others are new lines
    assert text.endswith("tinymlperf: timing: 1 pairs\n")
    assert f"{up}tinymlperf: accuracy: entry, 1,500 of 20,000 predictions\n" in text


def test_a_ci_log_gets_the_accuracy_pass_at_most_every_15_seconds_per_model() -> None:
    now = [0.0]
    stream = _Log()
    log = progress.printer(stream, clock=lambda: now[0])
    for second in range(20):
        now[0] = float(second)
        log(f"accuracy: baseline, {second * 1000:,} of 20,000 predictions")
    log("accuracy: entry, 500 of 20,000 predictions")
    lines = [line.split(": ", 1)[1] for line in stream.getvalue().splitlines()]
    assert lines == ["accuracy: baseline, 0 of 20,000 predictions", "accuracy: baseline, 15,000 of 20,000 predictions",
                     "accuracy: entry, 500 of 20,000 predictions"]


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
