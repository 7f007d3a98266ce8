"""What is committed on main agrees with itself: entries, their score records and leaderboard.md.

These are the checks the leaderboard workflow relies on, run against this
repository's own ``submissions/`` (the example entries), so an edit that
breaks an example, or a baseline retrained without re-grading the examples,
turns CI red instead of shipping a stale board.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.baseline import model as baseline_model
from grader.board import leaderboard, record
from grader.cli import main as cli
from grader.contract.layout import RECORD_FILE
from grader.contract.validate import validate_folder
from grader.core import config

ROOT = Path(__file__).resolve().parents[2]
SUBMISSIONS = ROOT / "submissions"
ENTRIES = sorted(p for p in SUBMISSIONS.iterdir() if p.is_dir() and not p.name.startswith("."))


def test_the_repository_ships_an_example_in_each_division() -> None:
    read = [validate_folder(folder, config.load()).submission for folder in ENTRIES]
    assert {s.division for s in read if s is not None} == {"closed", "open"}  # an invalid one fails the next test


@pytest.mark.parametrize("folder", ENTRIES, ids=[p.name for p in ENTRIES])
def test_every_committed_entry_validates(folder: Path) -> None:
    result = validate_folder(folder, config.load())
    assert result.ok, [str(p) for p in result.problems]


# Entries with a score record: graded and merged (the bot wrote it). An entry a student has just
# added in a fork has none yet; it must validate, but a missing record is not an error there.
RECORDED = [p for p in ENTRIES if (p / RECORD_FILE).exists()]


def test_each_division_has_a_recorded_example() -> None:
    divisions = {validate_folder(folder, config.load()).submission.division for folder in RECORDED}
    assert divisions == {"closed", "open"}


@pytest.mark.parametrize("folder", RECORDED, ids=[p.name for p in RECORDED])
def test_every_recorded_entry_has_a_current_score_record(folder: Path) -> None:
    scored = record.read(folder / RECORD_FILE)
    assert (scored.slug, scored.status) == (folder.name, "valid")
    weights = Path(baseline_model.__file__).parent / baseline_model.WEIGHTS_FILE
    assert scored.baseline_sha256 == leaderboard.baseline_sha256(weights), (
        f"{folder.name}: recorded against another baseline; re-grade it (docs/organizers.md)")


def test_committed_leaderboard_is_what_the_records_render_to(monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    code = cli.main(["leaderboard", "--check"])
    assert code == 0, capsys.readouterr().out
