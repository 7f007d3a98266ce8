"""`tinymlperf leaderboard` as a real process: writes atomically, --check for CI, stops on a bad record."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import scorefactory as sf

pytestmark = pytest.mark.slow  # every test here runs sandbox workers, the CLI or the loopback server

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A folder with submissions/, two records and baseline weights whose hash the records carry."""
    weights = tmp_path / "weights.npz"
    weights.write_bytes(b"baseline weights")
    sha = hashlib.sha256(b"baseline weights").hexdigest()
    sf.write(tmp_path / "submissions", sf.score("ada-int8", login="ada", pr=1, efficiency=3.0, baseline_sha256=sha))
    sf.write(tmp_path / "submissions", sf.score("bo-prune", login="bo", pr=2, efficiency=2.0, baseline_sha256=sha))
    return tmp_path


def leaderboard(repo: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run("leaderboard", "--submissions", "submissions", "--out", "leaderboard.md",
               "--baseline-weights", "weights.npz", *extra, cwd=repo)


def test_writes_the_board_and_check_then_passes(repo: Path) -> None:
    done = leaderboard(repo)
    assert done.returncode == 0, done.stderr
    first = (repo / "leaderboard.md").read_bytes()
    rows = [cells[:2] for cells in sf.table_rows(first.decode())]
    assert ["1", "Ada (ada)"] in rows and ["2", "Ada (bo)"] in rows
    assert leaderboard(repo, "--check").returncode == 0
    assert leaderboard(repo).returncode == 0
    assert (repo / "leaderboard.md").read_bytes() == first
    assert sorted(p.name for p in repo.iterdir()) == ["leaderboard.md", "submissions", "weights.npz"]


def test_check_fails_when_a_record_is_not_on_the_board_and_changes_nothing(repo: Path) -> None:
    leaderboard(repo)
    before = (repo / "leaderboard.md").read_bytes()
    sha = hashlib.sha256(b"baseline weights").hexdigest()
    sf.write(repo / "submissions", sf.score("cy-new", login="cy", pr=3, baseline_sha256=sha))
    done = leaderboard(repo, "--check")
    assert done.returncode == 1
    assert "out of date" in done.stdout
    assert (repo / "leaderboard.md").read_bytes() == before


@pytest.mark.parametrize("damage, message", [
    (lambda text: text[:40], "not readable JSON"),
    (lambda text: text.replace('"pr_number": 1', '"pr_number": "1"'), "does not match score.schema.json: pr_number"),
])
def test_a_malformed_record_stops_the_build_naming_the_file(repo: Path, damage, message: str) -> None:
    leaderboard(repo)
    before = (repo / "leaderboard.md").read_bytes()
    bad = repo / "submissions" / "ada-int8" / "score.json"
    bad.write_text(damage(bad.read_text()))
    done = leaderboard(repo)
    assert done.returncode == 2
    assert f"submissions/ada-int8/score.json: {message}" in done.stderr
    assert "Traceback" not in done.stderr
    assert (repo / "leaderboard.md").read_bytes() == before
    assert not [p for p in repo.iterdir() if p.name.endswith(".tmp")]


def test_records_need_the_baseline_weights_to_judge_staleness(repo: Path) -> None:
    (repo / "weights.npz").unlink()
    done = leaderboard(repo)
    assert done.returncode == 2
    assert "weights.npz: cannot read the baseline weights" in done.stderr
    assert not (repo / "leaderboard.md").exists()


def test_with_no_records_the_board_says_so_without_weights(tmp_path: Path) -> None:
    (tmp_path / "submissions").mkdir()
    done = run("leaderboard", "--baseline-weights", "absent.npz", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "_No graded entries yet._" in (tmp_path / "leaderboard.md").read_text()


def test_the_committed_leaderboard_is_up_to_date() -> None:
    done = run("leaderboard", "--check", cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
