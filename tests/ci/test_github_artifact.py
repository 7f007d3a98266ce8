"""grader.ci.artifact: the grade artifact read as hostile input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from grader.ci import artifact

SHA = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
SAMPLE = Path(__file__).parents[1] / "golden" / "result_sample.json"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    artifact.write_metadata(tmp_path, pr_number=42, head_sha=SHA, base_sha="0" * 40, run_id=7)
    (tmp_path / "result.json").write_bytes(SAMPLE.read_bytes())
    (tmp_path / "report.md").write_text("# report\n", encoding="utf-8")
    return tmp_path


def test_a_well_formed_artifact_is_read_whole(folder: Path) -> None:
    got = artifact.read(folder)
    assert got.problems == () and got.metadata is not None and got.metadata["pr_number"] == 42
    assert got.result.to_json() == json.loads(SAMPLE.read_text(encoding="utf-8"))


def test_no_artifact_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    got = artifact.read(tmp_path / "missing")
    assert (got.metadata, got.result, got.problems) == (None, None, ("the grade run uploaded no artifact",))


def test_an_oversize_result_is_rejected_before_parsing(folder: Path) -> None:
    (folder / "result.json").write_bytes(b" " * (artifact.LIMITS["result.json"] + 1))
    got = artifact.read(folder)
    assert got.result is None and "over the 2097152-byte limit" in got.problems[0]


def test_a_result_that_breaks_the_schema_is_rejected(folder: Path) -> None:
    data = json.loads(SAMPLE.read_text(encoding="utf-8"))
    data["normalized_scores"]["speedup"] = "1000x"
    (folder / "result.json").write_text(json.dumps(data), encoding="utf-8")
    got = artifact.read(folder)
    assert got.result is None and got.problems[0].startswith("result.json: does not match result.schema.json")


@pytest.mark.parametrize("raw", [b"{", b"\xff\xfe", b'{"a": NaN}', b"[" * 100000])
def test_unparseable_json_is_rejected(folder: Path, raw: bytes) -> None:
    (folder / "result.json").write_bytes(raw)
    got = artifact.read(folder)
    assert got.result is None and got.problems[0].startswith("result.json: not valid JSON")


def test_forged_metadata_is_rejected(folder: Path) -> None:
    (folder / "metadata.json").write_text(json.dumps({"schema_version": 1, "pr_number": "42; rm -rf",
                                                      "head_sha": SHA}), encoding="utf-8")
    got = artifact.read(folder)
    assert got.metadata is None and got.problems[0].startswith("metadata.json: does not match artifact.schema.json")


def test_a_symlinked_result_is_not_followed(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    target = tmp_path_factory.mktemp("elsewhere") / "secret.json"
    target.write_bytes(SAMPLE.read_bytes())
    os.remove(folder / "result.json")
    os.symlink(target, folder / "result.json")
    got = artifact.read(folder)
    assert got.result is None and got.problems == ("result.json: not a regular file",)


def test_unexpected_files_are_ignored_and_named_as_a_problem(folder: Path) -> None:
    (folder / "evil.sh").write_text("#!/bin/sh\nid\n", encoding="utf-8")
    got = artifact.read(folder)
    assert got.result is not None and got.problems == ("artifact holds 1 unexpected entry; they are ignored",)


def test_write_metadata_refuses_a_malformed_sha(tmp_path: Path) -> None:
    from grader.core.errors import GraderError
    with pytest.raises(GraderError, match="head_sha"):
        artifact.write_metadata(tmp_path, pr_number=1, head_sha="HEAD", base_sha="0" * 40, run_id=1)
