"""Replay the standings workflow's own shell steps against a real repository and the loopback GitHub server.

The ``plan`` and ``publish`` run: scripts are taken verbatim from
``.github/workflows/standings.yml`` and run with bash (helpers shared with
``tests/e2e/test_leaderboard_replay.py``) in clones of a real bare repository served
over smart HTTP by ``tests/github_server.py``, which authenticates the push and
declines one to a protected branch with GH013 as github.com does. The ``time``
jobs are stood in for by schema-valid group results of the planned groups (the
engine is tested in ``tests/cli/test_standings_cli.py``). Covered: main protected
with the app on the bypass list; main protected without an app (the standings
go through an auto-merging PR, updated by the next run); no app and no PR
rights; an open main that moves between the commit and the push (retried on top).
"""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path

import pytest

from grader import __version__
from grader.board import leaderboard
from grader.core import schema
from tests import gitfixture, workflow_steps
from tests import scorefactory as sf
from tests.e2e.test_leaderboard_replay import (
    APP_LOGIN,
    APP_TOKEN,
    BOT_TOKEN,
    REPO,
    competition_api,
    origin_file,
    protect_main,
    run_step,
)
from tests.github_server import GitHubServer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "standings.yml"
BASELINE_SHA = leaderboard.baseline_sha256(ROOT / "grader" / "baseline" / "weights.npz")
ENTRIES = (("ada-int8", "ada", "closed", 4.0, 2.0, 3), ("bo-prune", "bo", "closed", 3.0, 1.5, 5),
           ("dee-open", "dee", "open", 9.0, 3.0, 7))  # slug, login, division, efficiency, speedup, PR
HARDWARE = {"cpu_model": "Replay CPU", "cores": 2, "ram_bytes": 1, "os": "linux", "python": "3.11",
            "numpy": "2", "blas": "openblas"}
BRANCH = "tinymlperf/standings"
ROUND_DRIFT = (1.0, 1.02, 0.98, 1.01)  # per-round factors on each stand-in entry's speedup (drift)


def _step(job: str, step_id: str) -> dict:
    return workflow_steps.step(WORKFLOW, job, step_id)


def step_env(job: str, step_id: str, context: dict[str, str]) -> dict[str, str]:
    return workflow_steps.step_env(WORKFLOW, job, step_id, context)


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    """A ``tinymlperf`` on PATH running this tree's grader (with its real baseline weights)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    exe = folder / "tinymlperf"
    exe.write_text(f'#!/bin/sh\nPYTHONPATH="{ROOT}" exec "{sys.executable}" -m grader "$@"\n')
    exe.chmod(0o755)
    return folder


def seeded_origin(tmp: Path) -> gitfixture.Origin:
    """A competition repository whose main holds three recorded entries (two Closed, one Open) and their board."""
    o = gitfixture.origin(tmp)
    for slug, login, division, efficiency, speedup, pr in ENTRIES:
        data = sf.score(slug, login=login, pr=pr, division=division, efficiency=efficiency, speedup=speedup,
                        name=login.title(), grader_version=__version__, baseline_sha256=BASELINE_SHA)
        sf.write(o.dev / "submissions", data)
    gitfixture.git(o.dev, "add", "-A")
    gitfixture.git(o.dev, "commit", "--quiet", "-m", "three recorded entries", date="2025-03-05T00:00:00+00:00")
    gitfixture.git(o.dev, "push", "--quiet", "origin", "main")
    return o


class Run:
    """One standings run: plan in a checkout of main, the time jobs' stand-in, publish in a fresh clone of main."""

    def __init__(self, name: str, tmp: Path, o: gitfixture.Origin, api: GitHubServer, bin_dir: Path,
                 app_token: str = "") -> None:
        self.name, self.tmp, self.origin, self.api, self.bin_dir = name, tmp, o, api, bin_dir
        self.app_token = app_token
        self.groups = ""

    def env(self, job: str, step_id: str) -> dict[str, str]:
        context = {"github.token": BOT_TOKEN, "steps.app-token.outputs.token || github.token":
                   self.app_token or BOT_TOKEN, "needs.plan.outputs.groups": self.groups}
        return {"GITHUB_API_URL": self.api.url, "GITHUB_REPOSITORY": REPO, **step_env(job, step_id, context)}

    def plan_and_time(self, speedups: dict[str, float]) -> list[list[str]]:
        """Plan as the workflow does; stand in for each time job with a group result (``speedups``: per entry)."""
        checkout = self.origin.clone(self.tmp / f"{self.name}-plan")
        out, self.plan_stdout = run_step(_step("plan", "plan")["run"], checkout, self.env("plan", "plan"),
                                         self.bin_dir)
        self.groups = out["groups"]
        groups = json.loads(self.groups)
        assert json.loads(out["indices"]) == list(range(len(groups)))
        results = self.tmp / f"{self.name}-results"
        results.mkdir()
        for index, slugs in enumerate(groups):  # what download-artifact leaves: results/group-K.json
            data = {"schema_version": 1, "run_id": self.name, "group": index, "grader_version": __version__,
                    "baseline_sha256": BASELINE_SHA, "hardware": HARDWARE, "started_at": "2025-03-10T04:00:00+00:00",
                    "minutes": 3.5, "rounds": 4, "pairs_per_round": 20, "confidence": 0.95,
                    "entries": [sf.timed_entry(s, [speedups[s] * f for f in ROUND_DRIFT]) for s in slugs],
                    "excluded": []}
            schema.write(results / f"group-{index}.json", data, "standings_group")
        return groups

    def prepare_publish(self) -> Path:
        """The publish job's checkout of main, with the downloaded group results in ``results/``."""
        self.clone = workflow_steps.publish_checkout(self.origin, self.tmp / f"{self.name}-publish", self.api.url,
                                                     REPO, self.tmp / f"{self.name}-results")
        return self.clone

    def publish(self, check: bool = True) -> str:
        if not hasattr(self, "clone"):
            self.prepare_publish()
        _, self.stdout = run_step(_step("publish", "publish")["run"], self.clone, self.env("publish", "publish"),
                                  self.bin_dir, check)
        return self.stdout


SPEEDUPS = {"ada-int8": 2.1, "bo-prune": 1.4, "dee-open": 3.2}


def assert_standings_of_record(text_of: dict[str, str]) -> None:
    """``standings.json`` and ``leaderboard.md`` as one commit carries them: the run's ranking, on the board."""
    standings = json.loads(text_of["standings.json"])
    assert schema.validate(standings, "standings") == []
    assert [r["slug"] for r in standings["divisions"]["closed"]] == ["ada-int8", "bo-prune"]
    assert [r["slug"] for r in standings["divisions"]["open"]] == ["dee-open"]
    board = text_of["leaderboard.md"]
    assert "**Ranking of record**: the standings run of 2025-03-10" in board and "on Replay CPU" in board
    assert "Provisional" not in board


def test_the_plan_step_gives_the_time_jobs_their_groups(tmp_path: Path, bin_dir: Path) -> None:
    o = seeded_origin(tmp_path)
    with competition_api(o) as api:
        run = Run("run1", tmp_path, o, api, bin_dir)
        assert run.plan_and_time(SPEEDUPS) == [["ada-int8", "bo-prune", "dee-open"]]
        assert "estimated runner minutes:" in run.plan_stdout


def test_protected_main_takes_the_standings_push_of_the_app_on_the_bypass_list(tmp_path: Path,
                                                                               bin_dir: Path) -> None:
    o = seeded_origin(tmp_path)
    with competition_api(o) as api:
        protect_main(api, {APP_LOGIN})
        run = Run("run1", tmp_path, o, api, bin_dir, app_token=APP_TOKEN)
        run.plan_and_time(SPEEDUPS)
        before = gitfixture.git(o.bare, "rev-parse", "main")
        run.publish()
        assert "pushed to main" in run.stdout and "GH013" not in run.stdout
        assert_standings_of_record({p: origin_file(o, p) for p in ("standings.json", "leaderboard.md")})
        log = gitfixture.git(o.bare, "log", "--format=%an|%s|%P", "main").splitlines()
        assert log[0] == f"github-actions[bot]|standings: the top entries re-timed together|{before}"
        changed = gitfixture.git(o.bare, "diff", "--name-only", before, "main").splitlines()
        assert changed == ["leaderboard.md", "standings.json"]
        assert api.state.repo(REPO).pulls == {}
        # The Basic header derived from the token is masked before anything could print it.
        basic = base64.b64encode(f"x-access-token:{APP_TOKEN}".encode()).decode()
        assert run.stdout.splitlines()[0] == f"::add-mask::{basic}"
        # The same run again finds nothing to change and commits nothing.
        again = Run("run1b", tmp_path, o, api, bin_dir, app_token=APP_TOKEN)
        again.groups = run.groups
        os.symlink(tmp_path / "run1-results", tmp_path / "run1b-results")
        again.publish()
        assert "standings unchanged; nothing to commit" in again.stdout
        assert len(gitfixture.git(o.bare, "log", "--format=%H", "main").splitlines()) == len(log)


def test_protected_main_without_an_app_publishes_the_standings_through_an_auto_merging_pr(
        tmp_path: Path, bin_dir: Path) -> None:
    o = seeded_origin(tmp_path)
    with competition_api(o) as api:
        protect_main(api, {APP_LOGIN})  # the app is not installed: the workflow has only GITHUB_TOKEN
        repo = api.state.repo(REPO)
        repo.actions_can_create_prs = repo.allow_auto_merge = True
        main_before = gitfixture.git(o.bare, "rev-parse", "main")
        run = Run("run1", tmp_path, o, api, bin_dir)
        run.plan_and_time(SPEEDUPS)
        run.publish()
        assert "remote: error: GH013: Repository rule violations found for refs/heads/main." in run.stdout
        assert "::notice title=Standings::main declined the bot's push; publishing through a pull request" in run.stdout
        assert gitfixture.git(o.bare, "rev-parse", "main") == main_before  # main itself untouched by the bot
        (pr,) = repo.pulls.values()
        assert (pr["head_ref"], pr["base_ref"], pr["author"]) == (BRANCH, "main", "github-actions[bot]")
        assert pr["title"] == "standings: the top entries re-timed together"
        assert pr["body"].startswith("standings.json and leaderboard.md written by the standings workflow")
        assert pr["auto_merge"]["merge_method"] == "merge"
        # The PR starts no workflow (opened with GITHUB_TOKEN): its required check is reported by the job.
        (status,) = api.state.statuses[(REPO.lower(), pr["head_sha"])]
        assert (status["context"], status["state"]) == ("Grade submission", "success")
        assert "created" in run.stdout and "auto-merge is on" in run.stdout
        branch = gitfixture.git(o.bare, "rev-parse", BRANCH)
        assert gitfixture.git(o.bare, "diff", "--name-only", main_before, branch).splitlines() == [
            "leaderboard.md", "standings.json"]
        assert_standings_of_record({p: gitfixture.git(o.bare, "show", f"{BRANCH}:{p}")
                                    for p in ("standings.json", "leaderboard.md")})

        # The next run, before the PR merged: the same PR, its branch moved to the new standings.
        later = Run("run2", tmp_path, o, api, bin_dir)
        later.plan_and_time({**SPEEDUPS, "bo-prune": 2.4})  # bo now ahead of ada
        later.publish()
        assert len(repo.pulls) == 1 and "updated" in later.stdout
        moved = json.loads(gitfixture.git(o.bare, "show", f"{BRANCH}:standings.json"))
        assert [r["slug"] for r in moved["divisions"]["closed"]] == ["bo-prune", "ada-int8"]
        assert gitfixture.git(o.bare, "rev-list", "--count", f"main..{BRANCH}") == "1"  # rebuilt on main, not stacked
        # GitHub merges the PR once its rules pass: the ranking of record reaches main.
        gitfixture.git(o.bare, "update-ref", "refs/heads/main", gitfixture.git(o.bare, "rev-parse", BRANCH))
        assert json.loads(origin_file(o, "standings.json")) == moved


def test_without_an_app_or_pr_rights_the_standings_run_fails_saying_what_to_enable(tmp_path: Path,
                                                                                   bin_dir: Path) -> None:
    o = seeded_origin(tmp_path)
    with competition_api(o) as api:
        protect_main(api, set())
        main_before = gitfixture.git(o.bare, "rev-parse", "main")
        run = Run("run1", tmp_path, o, api, bin_dir)
        run.plan_and_time(SPEEDUPS)
        run.publish(check=False)
        assert "GitHub Actions is not permitted to create or approve pull requests" in run.stdout
        assert gitfixture.git(o.bare, "rev-parse", "main") == main_before


def test_an_open_main_that_moves_before_the_push_is_combined_again_on_top(tmp_path: Path, bin_dir: Path) -> None:
    o = seeded_origin(tmp_path)
    with competition_api(o) as api:
        run = Run("run1", tmp_path, o, api, bin_dir)
        run.plan_and_time(SPEEDUPS)
        clone = run.prepare_publish()
        # Another push (a merge, a leaderboard publish) lands on main between this commit and its push.
        merged = o.merge_pr("cy-new", "2025-03-11T10:00:00+00:00")
        gitfixture.git(o.bare, "update-ref", "refs/heads/main", merged.before)  # not on main yet: the hook moves it
        marker = tmp_path / "moved"
        hook = clone / ".git" / "hooks" / "pre-push"
        hook.write_text(f"#!/bin/sh\nif [ ! -e '{marker}' ]; then touch '{marker}'; "
                        f"env -u GIT_DIR -u GIT_WORK_TREE -u GIT_INDEX_FILE "
                        f"git --git-dir='{o.bare}' update-ref refs/heads/main {merged.after}; fi\n")
        hook.chmod(0o755)
        run.publish()
        assert marker.exists()
        assert "push rejected (attempt 1); combining again on top of the new main" in run.stdout
        assert "pushed to main" in run.stdout
        assert gitfixture.git(o.bare, "rev-parse", "main~1") == merged.after  # on top of the moved main
        assert_standings_of_record({p: origin_file(o, p) for p in ("standings.json", "leaderboard.md")})
