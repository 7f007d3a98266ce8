"""TinyTorch's submission.json: `new --from-tinytorch`, the fields it cannot map, claims beside our measurements."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.cli import main as cli
from grader.contract import tinytorch
from grader.contract.validate import validate_folder
from grader.core import config, schema
from grader.judge import rules
from grader.judge.result import GradeResult
from grader.report import markdown_report as report
from tests.judge.test_rules import evidence
from tests.report.test_report import sample_result

COURSE_FILE = {  # the fields generate_submission writes (module 20), with a student's numbers
    "division": "open",
    "athlete_name": "Ada Lovelace",
    "github_repo": "https://github.com/ada/tinytorch",
    "techniques_used": ["Smaller CNN written with my TinyTorch layers", "float16 weight storage"],
    "honor_code": "I certify that this submission follows the rules",
    "baseline_metrics": {"latency_ms": 4.8, "memory_mb": 2.18, "accuracy": 0.7651},
    "optimized_metrics": {"latency_ms": 1.5, "memory_mb": 0.27, "accuracy": 0.6812},
    "normalized_scores": {"speedup": 3.1, "compression_ratio": 8.0, "accuracy_delta": -0.0839,
                          "efficiency_score": 2.7},
    "hardware": {"platform": "macOS-14.2-arm64", "processor": "Apple M1", "cpu_count": 8},
    "tinytorch_version": "0.1.0",
    "timestamp": "2026-11-28T14:03:11",
}


def raw(data: dict = COURSE_FILE) -> bytes:
    return json.dumps(data, indent=2).encode()


def test_fields_map_to_submission_yaml_and_claims() -> None:
    imported, problems = tinytorch.read(raw(), "submission.json")
    assert problems == () and imported is not None
    assert (imported.division, imported.athlete_name, imported.github_repo) == \
        ("open", "Ada Lovelace", "https://github.com/ada/tinytorch")
    assert imported.techniques_used == tuple(COURSE_FILE["techniques_used"])
    assert imported.claimed == {"accuracy_pct": 68.12, "speedup": 3.1, "compression": 8.0,
                                "hardware": "platform: macOS-14.2-arm64, processor: Apple M1, cpu_count: 8"}
    assert imported.description == "Imported from TinyTorch submission.json (tinytorch_version 0.1.0, " \
                                   "generated 2026-11-28T14:03:11)"


def test_every_field_left_behind_is_explained_with_its_line() -> None:
    data = dict(COURSE_FILE, event="latency_sprint")
    imported, _ = tinytorch.read(raw(data), "submission.json")
    assert imported is not None
    text = raw(data).decode()
    notes = {p.message.split(":")[0]: p.line for p in imported.notes}
    assert set(notes) == {"baseline_metrics", "optimized_metrics.latency_ms", "optimized_metrics.memory_mb",
                          "normalized_scores.accuracy_delta", "normalized_scores.efficiency_score", "event"}
    lines = text.splitlines()
    assert '"baseline_metrics"' in lines[notes["baseline_metrics"] - 1]
    assert '"efficiency_score"' in lines[notes["normalized_scores.efficiency_score"] - 1]
    assert '"latency_ms"' in lines[notes["optimized_metrics.latency_ms"] - 1]
    assert {p.code for p in imported.notes} == {tinytorch.UNMAPPED}


def test_hardware_as_a_string_and_missing() -> None:
    imported, _ = tinytorch.read(raw(dict(COURSE_FILE, hardware="Intel i5-8250U, 8 GB\n")), "s.json")
    assert imported is not None and imported.claimed["hardware"] == "Intel i5-8250U, 8 GB"
    imported, _ = tinytorch.read(raw({k: v for k, v in COURSE_FILE.items() if k != "hardware"}), "s.json")
    assert imported is not None and imported.claimed["hardware"].startswith("not stated")


@pytest.mark.parametrize("content, where, message", [
    (b'{"division": "open",\n  "athlete_name": }', (2, 19), "is not valid JSON"),
    (b'{"division": "open",\n"division": "closed"}', (1, None), "appears twice"),
    (raw(dict(COURSE_FILE, division="gold")), (2, None), "division: 'gold' is not one of"),
    (raw({k: v for k, v in COURSE_FILE.items() if k != "honor_code"}), (None, None), "'honor_code' is a required"),
])
def test_a_broken_file_says_where(content: bytes, where: tuple, message: str) -> None:
    imported, problems = tinytorch.read(content, "submission.json")
    assert imported is None
    assert [(p.line, p.column) for p in problems] == [where]
    assert message in problems[0].message


def test_schema_of_the_course_file_is_valid_draft_2020_12() -> None:
    import jsonschema
    jsonschema.Draft202012Validator.check_schema(schema.load(tinytorch.SCHEMA))


def test_new_from_tinytorch_writes_a_valid_entry_and_explains(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "submission.json").write_bytes(raw())
    code = cli.main(["new", "ada-tiny", "--from-tinytorch", str(tmp_path / "submission.json"),
                     "--root", str(tmp_path / "submissions")])
    out, err = capsys.readouterr()
    assert code == 0, err
    folder = tmp_path / "submissions" / "ada-tiny"
    result = validate_folder(folder, config.load())
    assert result.ok and result.submission is not None
    assert result.submission.division == "open"
    assert result.submission.claimed == {"accuracy_pct": 68.12, "speedup": 3.1, "compression": 8.0,
                                         "hardware": "platform: macOS-14.2-arm64, processor: Apple M1, cpu_count: 8"}
    line = raw().decode().splitlines().index('  "baseline_metrics": {') + 1
    assert f"submission.json:{line}: baseline_metrics: not carried over" in err
    assert err.count("(not in submission.yaml)") == 5


def test_new_from_tinytorch_refuses_a_bad_file_and_writes_nothing(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "submission.json").write_bytes(raw(dict(COURSE_FILE, honor_code="I promise")))
    code = cli.main(["new", "ada-tiny", "--from-tinytorch", str(tmp_path / "submission.json"),
                     "--root", str(tmp_path / "submissions")])
    assert code == 1
    line = raw(dict(COURSE_FILE, honor_code="I promise")).decode().splitlines().index('  "honor_code": "I promise",')
    assert f"submission.json:{line + 1}: honor_code: 'I certify that this submission follows the rules' was " \
        "expected" in capsys.readouterr().err
    assert not (tmp_path / "submissions" / "ada-tiny").exists()


def test_division_flag_contradicting_the_file_is_a_usage_error(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "submission.json").write_bytes(raw())
    code = cli.main(["new", "ada-tiny", "--division", "closed", "--from-tinytorch",
                     str(tmp_path / "submission.json"), "--root", str(tmp_path / "submissions")])
    assert code == 2
    assert "contradicts" in capsys.readouterr().err


def test_a_submission_json_left_in_the_entry_points_to_the_importer(tmp_path: Path) -> None:
    folder = tmp_path / "entry"
    folder.mkdir()
    (folder / "submission.json").write_bytes(raw())
    problems = [p for p in validate_folder(folder, config.load()).problems if p.code == "tinytorch-json"]
    assert len(problems) == 1 and "--from-tinytorch" in problems[0].message


# --- claims measured on other hardware ------------------------------------------------------------------

def claimed_check(**claimed: object) -> rules.Check:
    ev = evidence(speedup=2.9, claimed=claimed)  # our CI: 2.842-2.958x
    return next(c for c in rules.evaluate(ev, config.load()) if c.id == "claimed_metrics")


def test_other_hardware_widens_the_speedup_band_by_the_measured_spread() -> None:
    band = rules.HARDWARE_SPEEDUP_BAND
    inside, outside = 2.958 * band * 0.99, 2.958 * band * 1.01
    assert claimed_check(speedup=inside, hardware="Apple M1").status == "pass"
    assert claimed_check(speedup=outside, hardware="Apple M1").status == "warn"
    assert claimed_check(speedup=2.842 / band * 1.01, hardware="Apple M1").status == "pass"
    assert claimed_check(speedup=2.842 / band * 0.99, hardware="Apple M1").status == "warn"
    # the same claim without hardware is held to our CI itself
    assert claimed_check(speedup=inside).status == "warn"


def test_the_message_puts_their_number_beside_ours() -> None:
    check = claimed_check(speedup=3.1, hardware="Apple M1")
    assert check.message.startswith("you measured 3.10x on Apple M1; graded here 2.90x (95% CI 2.84-2.96x, ")


def test_course_compression_is_shown_not_compared() -> None:
    assert claimed_check(compression=1.0, hardware="Apple M1").status == "pass"  # course: parameter ratio
    assert claimed_check(compression=1.0).status == "warn"                     # our measure, claimed as ours


def test_report_shows_their_measurements_beside_ours() -> None:
    result = sample_result()
    result["submission"]["claimed"] = {"speedup": 3.1, "accuracy_pct": 77.9, "hardware": "Apple M1"}
    result["checks"].append({"id": "claimed_metrics", "status": "pass", "message": "..."})
    assert schema.validate(result, "result") == []
    text = report.render(GradeResult.from_json(result, "result.json"))
    assert "### Your measurements" in text
    assert "You measured on Apple M1; graded here on AMD EPYC: they agree within what the hardware explains." in text
    row = next(line for line in text.splitlines() if line.startswith("| Speedup ") and "3.10x" in line)
    assert row.split("|")[2].strip() == "3.10x" and row.split("|")[3].strip() == "1.36x (95% CI 1.331–1.382x)"
    result["checks"][-1]["status"] = "warn"
    assert "⚠️ they disagree beyond what the hardware explains" in report.render(GradeResult.from_json(result, "result.json"))
    result["submission"]["claimed"] = None
    assert "Your measurements" not in report.render(GradeResult.from_json(result, "result.json"))


def test_the_default_rules_say_which_course_rules_they_enforce() -> None:
    text = (Path(config.__file__).parents[1] / "competition.yaml").read_text(encoding="utf-8")
    for quoted in (">70% accuracy", "(must be >= -5%)", "Accuracy drop < 10%"):
        assert quoted in text
    rules_now = config.load().accuracy
    assert rules_now.max_drop_pp == 10.0  # the course's validation list, as the comment says


def test_the_pr_comment_carries_their_measurements_too() -> None:
    from grader.ci import comment

    result = sample_result()
    result["submission"]["claimed"] = {"speedup": 5.0, "hardware": "Intel i5-8250U"}
    result["checks"].append({"id": "claimed_metrics", "status": "warn", "message": "..."})
    body = comment.render_comment(comment.CommentView("scores", "a" * 40, "https://example.invalid/run",
                                                      result=GradeResult.from_json(result, "result.json")))
    assert "You measured on Intel i5-8250U; graded here on AMD EPYC: ⚠️ they disagree beyond what the hardware " \
           "explains" in body
