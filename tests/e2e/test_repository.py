"""What is committed on main agrees with itself: entries, their score records and leaderboard.md.

These are the checks the leaderboard workflow relies on, run against this
repository's own ``submissions/`` (the example entries), so an edit that
breaks an example, or a baseline retrained without re-grading the examples,
turns CI red instead of shipping a stale board.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from grader.baseline import model as baseline_model
from grader.board import leaderboard, record
from grader.cli import main as cli
from grader.contract.layout import RECORD_FILE
from grader.contract.validate import validate_folder
from grader.core import config
from grader.measure import training

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


# Entries trained here ship the script that trained them; the grader never runs it, so only this
# test notices when it stops running (a module of the grader it imports moved, say).
TRAINED = [p for p in ENTRIES if (p / "train.py").exists()]


def train_script(folder: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"train_{folder.name.replace('-', '_')}", folder / "train.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # its imports and definitions; main() trains and is not called
    return module


@pytest.mark.parametrize("folder", TRAINED, ids=[p.name for p in TRAINED])
def test_every_train_script_imports_what_it_trains_with(folder: Path) -> None:
    script = train_script(folder)
    assert callable(script.main) and len(script.WIDTHS) == 3


def test_the_tinytorch_example_trains_the_arrays_its_model_loads() -> None:
    folder = SUBMISSIONS / "open-tinytorch-mini"
    script = train_script(folder)
    written = script.to_package_layout(training.init_params(0, training.param_shapes(*script.WIDTHS)))
    with np.load(folder / "weights.npz", allow_pickle=False) as committed:
        assert {k: (v.shape, v.dtype) for k, v in written.items()} == \
            {k: (committed[k].shape, committed[k].dtype) for k in committed.files}


# --- the examples and the accuracy rules ---------------------------------------------------------------------
# grader/competition.yaml enforces the course's "accuracy drop < 10%" and names what the course's
# prose numbers (">70% accuracy", "accuracy delta >= -5%") would do to the committed examples.
COMPETITION_YAML = ROOT / "grader" / "competition.yaml"
COURSE_PROSE = {"max_drop_pp": 5.0, "min_accuracy_pct": 70.0}


def meets(scored: record.ScoreRecord, rules: config.Accuracy) -> bool:
    assert scored.scores is not None and scored.accuracy_pct is not None
    delta = scored.scores.accuracy_delta_pp
    return (-delta < rules.max_drop_pp and scored.accuracy_pct >= rules.min_accuracy_pct
            and (scored.division == "open" or delta <= rules.closed_max_gain_pp))


def comment_of(path: Path) -> str:
    """The comment lines of a YAML file as one line of text."""
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return " ".join(line.lstrip("#").strip() for line in lines if line.startswith("#"))


@pytest.mark.parametrize("folder", RECORDED, ids=[p.name for p in RECORDED])
def test_every_recorded_example_meets_the_default_accuracy_rules(folder: Path) -> None:
    assert meets(record.read(folder / RECORD_FILE), config.load().accuracy)


def test_the_rules_comment_names_every_example_the_course_prose_numbers_would_fail() -> None:
    comment = comment_of(COMPETITION_YAML)
    assert "max_drop_pp: 5.0 and min_accuracy_pct: 70.0" in comment
    stricter = dataclasses.replace(config.load().accuracy, **COURSE_PROSE)
    for folder in RECORDED:
        scored = record.read(folder / RECORD_FILE)
        assert scored.scores is not None and scored.accuracy_pct is not None
        said = f"{folder.name} scores {scored.accuracy_pct:.2f}%, {scored.scores.accuracy_delta_pp:.2f} pp"
        assert (said in comment) == (not meets(scored, stricter)), said
