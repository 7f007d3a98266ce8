"""tests/goldenfile.py: a match passes, a difference fails, and UPDATE_GOLDEN=1 writes the file and still fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import goldenfile


def test_a_matching_file_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.md").write_text("same\n", encoding="utf-8")
    goldenfile.check("a.md", "same\n", tmp_path)
    monkeypatch.setenv("UPDATE_GOLDEN", "1")
    goldenfile.check("a.md", "same\n", tmp_path)  # nothing to write: a real comparison
    assert (tmp_path / "a.md").read_text(encoding="utf-8") == "same\n"


def test_a_difference_fails_and_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UPDATE_GOLDEN", raising=False)
    (tmp_path / "a.md").write_text("old\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="differs from"):
        goldenfile.check("a.md", "new\n", tmp_path)
    with pytest.raises(AssertionError, match="does not exist"):
        goldenfile.check("b.md", "new\n", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.md"]
    assert (tmp_path / "a.md").read_text(encoding="utf-8") == "old\n"


@pytest.mark.parametrize("existing", ["old\n", None])
def test_update_writes_the_file_and_still_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                existing: str | None) -> None:
    monkeypatch.setenv("UPDATE_GOLDEN", "1")
    if existing is not None:
        (tmp_path / "a.md").write_text(existing, encoding="utf-8")
    with pytest.raises(pytest.fail.Exception, match="UPDATE_GOLDEN=1: (rewrote|created) .*a.md"):
        goldenfile.check("a.md", "new\n", tmp_path)
    assert (tmp_path / "a.md").read_text(encoding="utf-8") == "new\n"
