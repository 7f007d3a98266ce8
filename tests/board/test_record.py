"""Score records: built from a checked result.json plus trusted event facts, read back strictly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.board import record
from grader.core import schema
from grader.core.errors import GraderError
from grader.judge.result import GradeResult
from tests import scorefactory as sf

PROV = record.Provenance(athlete_login="real-author", repository="tinyml/tinymlperf", pr_number=42,
                         merge_commit_sha="f" * 40, graded_at="2025-03-01T14:30:00+02:00")


def test_record_takes_identity_from_the_event_not_the_submission() -> None:
    data = record.build(sf.graded("ada-int8", name="Somebody Else"), PROV)
    assert data["athlete_login"] == "real-author"
    assert data["athlete_name"] == "Somebody Else"
    assert (data["pr_number"], data["merge_commit_sha"], data["repository"]) == (42, "f" * 40, "tinyml/tinymlperf")


def test_graded_at_is_the_event_time_in_utc() -> None:
    assert record.build(sf.graded("a"), PROV)["graded_at"] == "2025-03-01T12:30:00Z"


def test_record_embeds_scores_baseline_and_versions_from_the_result() -> None:
    data = record.build(sf.graded("a", efficiency=3.5, baseline_accuracy=71.25, grader_version="9.9"), PROV)
    assert data["scores"]["efficiency"] == 3.5
    assert data["baseline"] == {"accuracy_pct": 71.25, "latency_ms_median": 1.5, "size_bytes": 4000}
    assert data["grader_version"] == "9.9" and data["baseline_sha256"] == sf.BASELINE_SHA
    assert schema.validate(data, "score") == []


def test_only_failed_checks_are_kept() -> None:
    checks = [{"id": "accuracy_drop", "status": "fail", "message": "lost 12 pp"},
              {"id": "speedup_range", "status": "pass", "message": "ok"},
              {"id": "techniques", "status": "warn", "message": "short"}]
    data = record.build(sf.graded("a", status="failed", checks=checks), PROV)
    assert data["failed_checks"] == [{"id": "accuracy_drop", "message": "lost 12 pp"}]


def test_a_valid_result_without_scores_is_refused() -> None:
    bad = sf.result("a")
    bad["normalized_scores"] = None
    with pytest.raises(GraderError, match="status is 'valid' but normalized_scores"):
        record.build(GradeResult.from_json(bad, "results/a/result.json"), PROV, "results/a/result.json")


def test_a_result_without_a_readable_submission_has_no_entry_to_record() -> None:
    bad = sf.result("a", status="failed", checks=[{"id": "format", "status": "fail", "message": "bad yaml"}])
    bad["submission"] = None
    with pytest.raises(GraderError, match=r"results/a/result.json: the submission.yaml could not be read"):
        record.build(GradeResult.from_json(bad, "results/a/result.json"), PROV, "results/a/result.json")


def test_a_result_that_breaks_its_schema_is_refused_naming_the_source() -> None:
    bad = sf.result("a")
    del bad["checks"]
    with pytest.raises(GraderError, match=r"results/a/result.json: does not match result.schema.json"):
        record.build(GradeResult.from_json(bad, "results/a/result.json"), PROV, "results/a/result.json")


def test_an_event_time_without_offset_is_refused() -> None:
    prov = record.Provenance("x", "o/r", 1, "a" * 40, "2025-03-01T14:30:00")
    with pytest.raises(GraderError, match="no UTC offset"):
        record.build(sf.graded("a"), prov)


def test_the_same_inputs_write_the_same_bytes(tmp_path: Path) -> None:
    first = sf.write(tmp_path / "one", record.build(sf.graded("a"), PROV)).read_bytes()
    second = sf.write(tmp_path / "two", record.build(sf.graded("a"), PROV)).read_bytes()
    assert first == second


def test_read_rejects_a_record_copied_into_another_folder(tmp_path: Path) -> None:
    path = sf.write(tmp_path, record.build(sf.graded("a"), PROV))
    moved = tmp_path / "b" / "score.json"
    moved.parent.mkdir()
    path.rename(moved)
    with pytest.raises(GraderError, match=r"b/score.json: slug 'a' does not match its folder 'b'"):
        record.read(moved)


def test_read_rejects_nan_which_the_schema_lets_through(tmp_path: Path) -> None:
    path = sf.write(tmp_path, record.build(sf.graded("a"), PROV))
    path.write_text(path.read_text().replace('"efficiency": 2.0', '"efficiency": NaN'))
    with pytest.raises(GraderError, match=r"a/score.json: scores.efficiency: nan is not a finite number"):
        record.read(path)


def test_read_rejects_an_unknown_schema_version(tmp_path: Path) -> None:
    path = sf.write(tmp_path, record.build(sf.graded("a"), PROV))
    data = json.loads(path.read_text())
    data["schema_version"] = 2
    path.write_text(json.dumps(data))
    with pytest.raises(GraderError, match=r"a/score.json: does not match score.schema.json: schema_version"):
        record.read(path)
