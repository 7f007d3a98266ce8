"""Golden files: a whole rendered output compared with ``tests/golden/NAME``.

``UPDATE_GOLDEN=1 python -m pytest ...`` rewrites each golden file whose text changed and
fails that test, naming the file: a run that regenerates golden files can never pass by
comparing a file with the text just written to it. Review ``git diff tests/golden``, then
run again without ``UPDATE_GOLDEN``. A golden file that already holds the text passes as usual.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DIR = Path(__file__).parent / "golden"


def check(name: str, text: str, folder: Path = DIR) -> None:
    """Assert that ``text`` equals ``folder/name``; under ``UPDATE_GOLDEN=1`` write it and fail instead."""
    path = folder / name
    expected = path.read_text(encoding="utf-8") if path.is_file() else None
    if text == expected:
        return
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
        pytest.fail(f"UPDATE_GOLDEN=1: {'rewrote' if expected is not None else 'created'} {path}; review the diff, "
                    "then run again without UPDATE_GOLDEN", pytrace=False)
    assert expected is not None, f"{path} does not exist: create it with UPDATE_GOLDEN=1 and review it"
    assert text == expected, f"differs from {path} (UPDATE_GOLDEN=1 rewrites it)"
