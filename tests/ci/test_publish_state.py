"""leaderboard-failures.json: counting failed attempts per entry and commit, the retry bound, the board section."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.ci import publish_state as ps
from grader.core.errors import GraderError

A, B = "a" * 40, "b" * 40


def test_attempts_count_per_commit_and_a_new_commit_starts_over() -> None:
    state = ps.failed(ps.PublishState(), "ada", A, "no merged PR")
    state = ps.failed(state, "ada", A, "no merged PR")
    assert state.get("ada") == ps.Failure("ada", A, 2, "no merged PR")
    assert ps.failed(state, "ada", B, "other").get("ada") == ps.Failure("ada", B, 1, "other")


def test_the_planner_gives_up_after_max_attempts_at_the_same_commit_only() -> None:
    state = ps.PublishState()
    for _ in range(ps.MAX_ATTEMPTS - 1):
        state = ps.failed(state, "ada", A, "x")
    assert not ps.gave_up(state, "ada", A)
    state = ps.failed(state, "ada", A, "x")
    assert ps.gave_up(state, "ada", A)
    assert not ps.gave_up(state, "ada", B) and not ps.gave_up(state, "bo", A)
    assert not ps.gave_up(ps.cleared(state, "ada"), "ada", A)


def test_the_file_round_trips_sorted_and_disappears_when_nothing_failed(tmp_path: Path) -> None:
    path = tmp_path / ps.STATE_NAME
    state = ps.failed(ps.failed(ps.PublishState(), "zed", A, "z"), "ada", B, "a")
    ps.write(path, state)
    assert list(json.loads(path.read_text())["failures"]) == ["ada", "zed"]
    assert ps.read(path) == state
    ps.write(path, ps.cleared(ps.cleared(state, "ada"), "zed"))
    assert not path.exists() and ps.read(path) == ps.PublishState()


def test_a_damaged_file_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / ps.STATE_NAME
    path.write_text('{"schema_version": 1, "max_attempts": 3, "failures": {"Bad Slug": {}}}')
    with pytest.raises(GraderError, match=f"{ps.STATE_NAME}: does not match publish_state.schema.json"):
        ps.read(path)


def test_the_board_section_escapes_the_reason_and_marks_an_entry_given_up() -> None:
    state = ps.PublishState()
    for _ in range(3):
        state = ps.failed(state, "ada", A, "bad | <img src=x> @everyone")
    section = ps.render_section(state)
    assert section.startswith("## Not on the board\n")
    row = next(line for line in section.splitlines() if line.startswith("| ada"))
    assert "3 of 3 (gave up)" in row and f"`{A[:12]}`" in row
    assert "<img" not in row and "@everyone" not in row and row.count(" | ") == 3
    assert ps.render_section(ps.PublishState()) == ""
