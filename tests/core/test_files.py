"""The one atomic writer: whole new content or the old file, never a temp file left behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from grader.core import files, schema


def test_text_and_bytes_replace_the_file_and_leave_nothing_else(tmp_path: Path) -> None:
    target = tmp_path / "out.md"
    files.write_atomic(target, "één\nline\n")
    assert target.read_bytes() == "één\nline\n".encode()
    files.write_atomic(target, b"\x00raw")
    assert target.read_bytes() == b"\x00raw"
    assert [p.name for p in tmp_path.iterdir()] == ["out.md"]


def test_permissions_are_those_of_a_plain_write(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        files.write_atomic(tmp_path / "a.json", "{}")
        (tmp_path / "b.json").write_text("{}")
    finally:
        os.umask(old)
    modes = {stat.S_IMODE((tmp_path / name).stat().st_mode) for name in ("a.json", "b.json")}
    assert modes == {0o644}


def test_an_interrupted_schema_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "state.json"
    target.write_text("old\n")

    def crash(src: str, dst: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        schema.write(target, {"schema_version": 1, "max_attempts": 3, "failures": {}}, "publish_state")
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["state.json"]
