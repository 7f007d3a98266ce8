"""The one event payload reader: GitHub's 25 MB cap, JSON objects only, every failure a GraderError."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.ci import event, post
from grader.core.errors import GraderError, UsageError


def test_a_payload_is_read_as_a_dict(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps({"repository": {"full_name": "o/r"}, "commits": ["x" * 2_000_000]}))
    assert event.read(path)["repository"] == {"full_name": "o/r"}  # past the old 1 MiB limit of one reader


@pytest.mark.parametrize(("content", "message"), [
    (b"[1, 2]", "not a JSON object"), (b"{", "not a readable event payload"), (b"\xff{}", "not a readable"),
])
def test_what_github_never_writes_is_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "event.json"
    path.write_bytes(content)
    with pytest.raises(GraderError, match=message):
        event.read(path)
    with pytest.raises(GraderError, match="not a readable event payload"):
        event.read(tmp_path / "missing.json")


def test_a_payload_over_githubs_cap_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    with open(path, "wb") as handle:
        handle.truncate(event.MAX_BYTES + 1)  # sparse: no 25 MB written
    with pytest.raises(GraderError, match="over GitHub's 26214400-byte cap"):
        event.read(path)


def test_a_workflow_run_payload_without_its_run_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="event.json: not a workflow_run event payload"):
        post.parse_run({"repository": {"full_name": "o/r"}}, "event.json")
