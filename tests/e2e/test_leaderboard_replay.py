"""Replay the leaderboard workflow's own shell steps with real push payloads.

The ``plan`` and ``publish`` run: scripts are taken verbatim from
``.github/workflows/leaderboard.yml`` and run with bash in clones of a real bare
repository served over smart HTTP by the loopback GitHub server (which
authenticates the push and enforces branch rules like github.com). The
``grade`` job is stood in for by schema-valid result.json files (the engine
lives in another module). Covered: two merges back to back; interleaved so one
push is rejected and retried; main protected with the app on the bypass list;
main protected without an app (the records go through an auto-merging PR,
also with two merges racing); one entry that cannot be recorded while the
others are published, retried at most three times. The ``grade`` job's grade step runs in a PID
namespace of its own with a stand-in grader: between entries sharing a job, what one left behind
under a sandbox uid is killed, or the job stops.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from tests import gitfixture, workflow_steps
from tests import scorefactory as sf
from tests.github_server import GitHubServer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "leaderboard.yml"
REPO = "tinyml/tinymlperf"
BOT_TOKEN, APP_TOKEN, APP_LOGIN = "ghs_test", "ghs_app_installation", "tinymlperf-board[bot]"


def _step(job: str, step_id: str) -> dict:
    return workflow_steps.step(WORKFLOW, job, step_id)


def step_script(job: str, step_id: str) -> str:
    return _step(job, step_id)["run"]


def step_env(job: str, step_id: str, context: dict[str, str]) -> dict[str, str]:
    return workflow_steps.step_env(WORKFLOW, job, step_id, context)


@pytest.fixture
def tools(tmp_path: Path) -> tuple[Path, str]:
    """A ``tinymlperf`` on PATH running this tree's grader, with stand-in baseline weights."""
    weights = tmp_path / "weights.npz"
    weights.write_bytes(b"replay baseline")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "tinymlperf"
    # The installed package would carry grader/baseline/weights.npz; here the wrapper points at a stand-in.
    exe.write_text(f'#!/bin/sh\nif [ "$1" = leaderboard ]; then set -- "$@" --baseline-weights "{weights}"; fi\n'
                   f'PYTHONPATH="{ROOT}" exec "{sys.executable}" -m grader "$@"\n')
    exe.chmod(0o755)
    return bin_dir, hashlib.sha256(b"replay baseline").hexdigest()


def run_step(script: str, cwd: Path, env: dict[str, str], bin_dir: Path,
             check: bool = True) -> tuple[dict[str, str], str]:
    """Run one step's script like the runner does (bash -e, $GITHUB_OUTPUT); return its outputs and stdout."""
    output = cwd.parent / f"{cwd.name}.output"
    output.write_text("")
    temp = cwd.parent / f"{cwd.name}.runner-temp"
    temp.mkdir(exist_ok=True)
    summary = cwd.parent / f"{cwd.name}.summary"
    summary.touch()
    # Like a runner: no identity in the environment, so the step's own bot identity is what commits.
    # Also drop GIT_DIR & co. that git exports to hooks (run 2 starts from run 1's pre-push hook).
    base = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    base.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
                 "GIT_AUTHOR_DATE": "2025-03-10T00:00:00+00:00", "GIT_COMMITTER_DATE": "2025-03-10T00:00:00+00:00"})
    full = {**base, **env, "GITHUB_OUTPUT": str(output), "RUNNER_TEMP": str(temp), "GITHUB_STEP_SUMMARY": str(summary),
            "PATH": f"{bin_dir}{os.pathsep}{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=300)
    if check:
        assert done.returncode == 0, f"step failed in {cwd}:\n{done.stdout}\n{done.stderr}"
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return outputs, done.stdout + done.stderr


class Run:
    """One workflow run for one push: plan in a checkout of ``after``, then publish in a clone of main."""

    def __init__(self, name: str, tmp: Path, o: gitfixture.Origin, merge: gitfixture.Merge,
                 api: GitHubServer, tools: tuple[Path, str], app_token: str = "", event_name: str = "push") -> None:
        self.name, self.tmp, self.origin, self.merge, self.api = name, tmp, o, merge, api
        self.app_token, self.event_name = app_token, event_name
        self.bin_dir, self.sha = tools
        self.event = tmp / f"{name}-event.json"
        repository = {"full_name": REPO, "default_branch": "main"}
        self.event.write_text(json.dumps({  # "Run workflow" on main: no before, no head_commit
            "ref": "refs/heads/main", "repository": repository, "inputs": {}, "sender": {"login": "maintainer"}}
            if event_name == "workflow_dispatch" else {
            "ref": "refs/heads/main", "before": merge.before, "after": merge.after, "repository": repository,
            "head_commit": {"id": merge.after, "timestamp": merge.timestamp}, "pusher": {"name": "maintainer"}}))

    def env(self, job: str, step_id: str) -> dict[str, str]:
        """What the runner would give the step: default variables plus its evaluated ``env:`` block."""
        dispatch = self.event_name == "workflow_dispatch"
        context = {"github.event_name": self.event_name, "github.event.before": "" if dispatch else self.merge.before,
                   "github.sha": self.merge.after, "github.token": BOT_TOKEN,
                   "steps.app-token.outputs.token || github.token": self.app_token or BOT_TOKEN,
                   "needs.plan.outputs.chunks": getattr(self, "chunks", ""),
                   "steps.publish.outputs.unpublished": getattr(self, "outputs", {}).get("unpublished", "")}
        return {"GITHUB_EVENT_PATH": str(self.event), "GITHUB_EVENT_NAME": self.event_name, "GITHUB_SHA": self.merge.after,
                "GITHUB_API_URL": self.api.url, "GITHUB_REPOSITORY": REPO, "GITHUB_ACTIONS": "true",
                **step_env(job, step_id, context)}

    def plan_and_grade(self, unusable: tuple[str, ...] = ()) -> str:
        """Plan in a checkout of the pushed commit; stand in for the grade job (``unusable``: no entry to record)."""
        checkout = self.origin.clone(self.tmp / f"{self.name}-plan")
        gitfixture.git(checkout, "checkout", "--quiet", self.merge.after)
        out, _ = run_step(step_script("plan", "plan"), checkout, self.env("plan", "plan"), self.bin_dir)
        self.chunks = out["chunks"]
        for slug in " ".join(json.loads(self.chunks)).split():  # the grade job's stand-in
            folder = self.tmp / f"{self.name}-results" / slug
            folder.mkdir(parents=True)
            result = sf.result(slug, baseline_sha256=self.sha, efficiency=float(len(slug)))
            if slug in unusable:  # graded, but its submission.yaml could not be read: nothing to record
                result.update(submission=None, status="error", error="submission.yaml unreadable",
                              optimized_metrics=None, normalized_scores=None)
            (folder / "result.json").write_text(json.dumps(result))
        return self.chunks

    def prepare_publish(self) -> Path:
        self.clone = workflow_steps.publish_checkout(self.origin, self.tmp / f"{self.name}-publish", self.api.url,
                                                     REPO, self.tmp / f"{self.name}-results")
        return self.clone

    def publish(self, check: bool = True) -> None:
        self.outputs, self.stdout = run_step(step_script("publish", "publish"), self.clone,
                                             self.env("publish", "publish"), self.bin_dir, check)


@contextmanager
def competition_api(o: gitfixture.Origin) -> Iterator[GitHubServer]:
    """The loopback API knowing the competition repo (served from ``o.bare``), the workflow's and the app's tokens."""
    with GitHubServer() as srv:
        srv.state.add_token(BOT_TOKEN, "github-actions[bot]")
        srv.state.add_token(APP_TOKEN, APP_LOGIN)
        srv.state.add_repo(REPO, {"README.md": "competition"})
        srv.state.serve_git(REPO, o.bare)
        yield srv


def origin_file(o: gitfixture.Origin, path: str) -> str:
    return gitfixture.git(o.bare, "show", f"main:{path}")


def assert_both_on_the_board(o: gitfixture.Origin, commits: int = 2) -> None:
    board = origin_file(o, "leaderboard.md")
    rows = [cells[:2] for cells in sf.table_rows(board)]
    assert ["1", "Ada (bo)"] in rows and ["2", "Ada (ada)"] in rows, board
    assert "[#2](https://github.com/tinyml/tinymlperf/pull/2)" in board
    for slug, login, pr in (("ada-int8", "ada", 1), ("bo-pruned", "bo", 2)):
        rec = json.loads(origin_file(o, f"submissions/{slug}/score.json"))
        assert (rec["athlete_login"], rec["pr_number"]) == (login, pr)
    log = gitfixture.git(o.bare, "log", "--format=%an|%s", "main").splitlines()
    assert log.count("github-actions[bot]|leaderboard: record re-graded entries") == commits, log



def merge_ada_and_bo(o: gitfixture.Origin, api: GitHubServer) -> tuple[gitfixture.Merge, gitfixture.Merge]:
    """Two entries merged by two athletes through PRs 1 and 2, a day apart; the API knows both PRs."""
    m1 = o.merge_pr("ada-int8", "2025-03-01T10:00:00+00:00")
    m2 = o.merge_pr("bo-pruned", "2025-03-02T10:00:00+00:00")
    api.state.merge(REPO, m1.after, 1, "ada")
    api.state.merge(REPO, m2.after, 2, "bo")
    return m1, m2

def test_two_merges_back_to_back(tmp_path: Path, tools: tuple[Path, str]) -> None:
    o = gitfixture.origin(tmp_path)
    with competition_api(o) as api:
        m1 = o.merge_pr("ada-int8", "2025-03-01T10:00:00+00:00")
        api.state.merge(REPO, m1.after, 1, "ada")
        run1 = Run("run1", tmp_path, o, m1, api, tools)
        assert run1.plan_and_grade() == '["ada-int8"]'
        run1.prepare_publish()
        run1.publish()
        m2 = o.merge_pr("bo-pruned", "2025-03-02T10:00:00+00:00")
        api.state.merge(REPO, m2.after, 2, "bo")
        run2 = Run("run2", tmp_path, o, m2, api, tools)
        assert run2.plan_and_grade() == '["bo-pruned"]'
        run2.prepare_publish()
        run2.publish()
        assert_both_on_the_board(o)
        # A rerun of the same run finds nothing to change and commits nothing.
        head = gitfixture.git(o.bare, "rev-parse", "main")
        again = Run("run2b", tmp_path, o, m2, api, tools)
        again.chunks = run2.chunks
        again.clone = o.clone(tmp_path / "run2b-publish")
        gitfixture.git(again.clone, "remote", "set-url", "origin", f"{api.url}/{REPO}.git")
        os.symlink(tmp_path / "run2-results", again.clone / "results")
        again.publish()
        assert gitfixture.git(o.bare, "rev-parse", "main") == head


@pytest.mark.parametrize("protected", [False, True], ids=["open-main", "protected-main-app-token"])
def test_two_merges_interleaved_retry_after_a_rejected_push(tmp_path: Path, tools: tuple[Path, str],
                                                            protected: bool) -> None:
    o = gitfixture.origin(tmp_path)
    with competition_api(o) as api:
        if protected:
            protect_main(api, {APP_LOGIN})
        token = APP_TOKEN if protected else ""
        m1, m2 = merge_ada_and_bo(o, api)
        run1 = Run("run1", tmp_path, o, m1, api, tools, app_token=token)
        run2 = Run("run2", tmp_path, o, m2, api, tools, app_token=token)
        run1.plan_and_grade()
        run2.plan_and_grade()
        run1.prepare_publish()
        run2.prepare_publish()
        # Run 2 publishes while run 1 is between its commit and its push: run 1's first push is rejected.
        hook = run1.clone / ".git" / "hooks" / "pre-push"
        marker = tmp_path / "run2-published"
        launcher = tmp_path / "run2.py"
        launcher.write_text(f"import sys\nsys.path.insert(0, {str(Path(__file__).parents[2])!r})\n"
                            "from tests.e2e import test_leaderboard_replay\n"
                            f"test_leaderboard_replay.publish_from_hook({str(tmp_path)!r})\n")
        hook.write_text(f"#!/bin/sh\nif [ ! -e '{marker}' ]; then touch '{marker}'; "
                        f"'{sys.executable}' '{launcher}' || exit 1; fi\n")
        hook.chmod(0o755)
        (tmp_path / "run2.json").write_text(json.dumps({
            "script": step_script("publish", "publish"), "cwd": str(run2.clone), "bin": str(run2.bin_dir),
            "env": run2.env("publish", "publish")}))
        run1.publish()
        assert marker.exists()
        assert "push rejected (attempt 1)" in run1.stdout
        assert_both_on_the_board(o)


def publish_from_hook(tmp: str) -> None:
    """Run 2's publish step, started from run 1's pre-push hook (a separate process)."""
    spec = json.loads((Path(tmp) / "run2.json").read_text())
    run_step(spec["script"], Path(spec["cwd"]), spec["env"], Path(spec["bin"]))


def protect_main(api: GitHubServer, bypass: set[str]) -> None:
    """A ruleset on main as docs/organizers.md recommends: PRs, reviews, the grade check; ``bypass`` may push."""
    api.state.protect(REPO, "main", bypass=bypass)


def test_protected_main_takes_the_push_of_the_app_on_the_bypass_list(tmp_path: Path, tools: tuple[Path, str]) -> None:
    o = gitfixture.origin(tmp_path)
    with competition_api(o) as api:
        protect_main(api, {APP_LOGIN})
        m1 = o.merge_pr("ada-int8", "2025-03-01T10:00:00+00:00")
        api.state.merge(REPO, m1.after, 1, "ada")
        run = Run("run1", tmp_path, o, m1, api, tools, app_token=APP_TOKEN)
        run.plan_and_grade()
        run.prepare_publish()
        run.publish()
        assert "pushed to main" in run.stdout and "GH013" not in run.stdout
        rec = json.loads(origin_file(o, "submissions/ada-int8/score.json"))
        assert (rec["athlete_login"], rec["pr_number"]) == ("ada", 1)
        assert api.state.repo(REPO).pulls == {}
        # The Basic header derived from the token is masked before anything could print it.
        basic = base64.b64encode(f"x-access-token:{APP_TOKEN}".encode()).decode()
        assert run.stdout.splitlines()[0] == f"::add-mask::{basic}"


def test_protected_main_without_an_app_publishes_through_an_auto_merging_pr(tmp_path: Path,
                                                                           tools: tuple[Path, str]) -> None:
    o = gitfixture.origin(tmp_path)
    with competition_api(o) as api:
        protect_main(api, {APP_LOGIN})  # the app is not installed: the workflow has only GITHUB_TOKEN
        repo = api.state.repo(REPO)
        repo.actions_can_create_prs = repo.allow_auto_merge = True
        main_before = gitfixture.git(o.bare, "rev-parse", "main")
        m1, m2 = merge_ada_and_bo(o, api)
        # Two merges racing: run 2 plans before run 1's records (still in a PR) reach main.
        run1 = Run("run1", tmp_path, o, m1, api, tools)
        run1.plan_and_grade()
        run1.prepare_publish()
        run1.publish()
        assert "remote: error: GH013: Repository rule violations found for refs/heads/main." in run1.stdout
        assert "main declined the bot's push; publishing through a pull request" in run1.stdout
        (pr,) = repo.pulls.values()
        assert (pr["head_ref"], pr["base_ref"], pr["author"]) == ("tinymlperf/leaderboard", "main", "github-actions[bot]")
        assert pr["auto_merge"]["merge_method"] == "merge"
        # The PR starts no workflow (opened with GITHUB_TOKEN): its required check is reported by the job.
        (status,) = api.state.statuses[(REPO.lower(), pr["head_sha"])]
        assert (status["context"], status["state"]) == ("Grade submission", "success")
        assert "created" in run1.stdout and "auto-merge is on" in run1.stdout
        assert gitfixture.git(o.bare, "rev-parse", "main") == m2.after  # main itself untouched by the bot
        run2 = Run("run2", tmp_path, o, m2, api, tools)
        assert run2.plan_and_grade() == '["ada-int8", "bo-pruned"]'  # ada's record is not on main yet
        run2.prepare_publish()
        run2.publish()
        assert len(repo.pulls) == 1 and "updated" in run2.stdout  # the same PR, its branch moved forward
        # GitHub merges the PR once its rules pass: both entries reach the board.
        branch = gitfixture.git(o.bare, "rev-parse", "tinymlperf/leaderboard")
        gitfixture.git(o.bare, "update-ref", "refs/heads/main", branch)
        assert main_before != branch
        assert_both_on_the_board(o, commits=1)


def test_without_an_app_or_pr_rights_the_run_fails_saying_what_to_enable(tmp_path: Path,
                                                                         tools: tuple[Path, str]) -> None:
    o = gitfixture.origin(tmp_path)
    with competition_api(o) as api:
        protect_main(api, set())
        m1 = o.merge_pr("ada-int8", "2025-03-01T10:00:00+00:00")
        api.state.merge(REPO, m1.after, 1, "ada")
        run = Run("run1", tmp_path, o, m1, api, tools)
        run.plan_and_grade()
        run.prepare_publish()
        run.publish(check=False)
        assert "GitHub Actions is not permitted to create or approve pull requests" in run.stdout
        assert gitfixture.git(o.bare, "rev-parse", "main") == m1.after


def test_an_entry_that_cannot_be_recorded_never_stops_the_others_and_is_retried_three_times(
        tmp_path: Path, tools: tuple[Path, str]) -> None:
    o = gitfixture.origin(tmp_path)
    with competition_api(o) as api:
        m1, m2 = merge_ada_and_bo(o, api)
        run = Run("run1", tmp_path, o, m2, api, tools)
        run.merge = gitfixture.Merge(m1.before, m2.after, m2.timestamp)  # one push bringing both merges
        assert run.plan_and_grade(unusable=("ada-int8",)) == '["ada-int8", "bo-pruned"]'
        run.prepare_publish()
        run.publish()
        assert run.outputs["unpublished"] == "ada-int8"
        assert ("::error file=submissions/ada-int8,title=Not published%3A ada-int8::results/ada-int8/result.json: "
                "the submission.yaml could not be read" in run.stdout), run.stdout
        assert "attempt 1 of 3" in run.stdout
        bo = json.loads(origin_file(o, "submissions/bo-pruned/score.json"))
        assert (bo["athlete_login"], bo["pr_number"]) == ("bo", 2)
        board = origin_file(o, "leaderboard.md")
        assert "## Not on the board" in board and "| ada-int8 " in board and "1 of 3" in board
        summary = (tmp_path / "run1-publish.summary").read_text()
        assert "❌ `ada-int8` not published (attempt 1 of 3)" in summary and "`bo-pruned` written" in summary
        # The failure step of the job turns the run red, after everything else was published.
        fail = _step("publish", "publish")  # the next step reads this step's output
        steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["publish"]["steps"]
        last = steps[steps.index(fail) + 1]
        assert last["if"] == "${{ steps.publish.outputs.unpublished != '' }}" and "exit 1" in last["run"]

        # Unrelated pushes re-select it (catch-up) until it failed three times at that commit, then stop.
        for attempt, date in ((2, "2025-03-03"), (3, "2025-03-04"), (4, "2025-03-05")):
            m = o.merge_pr(f"cy-{attempt}", f"{date}T10:00:00+00:00")
            api.state.merge(REPO, m.after, 10 + attempt, "cy")
            again = Run(f"run{attempt}", tmp_path, o, m, api, tools)
            chunks = again.plan_and_grade(unusable=("ada-int8",))
            if attempt <= 3:
                assert chunks == f'["ada-int8", "cy-{attempt}"]'
                again.prepare_publish()
                again.publish()
                assert f"attempt {attempt} of 3" in again.stdout
            else:
                assert chunks == f'["cy-{attempt}"]'  # gave up on ada-int8 at this commit
        state = json.loads(origin_file(o, "leaderboard-failures.json"))
        assert state["failures"]["ada-int8"]["attempts"] == 3
        assert "3 of 3 (gave up)" in origin_file(o, "leaderboard.md")


def test_an_entry_pushed_without_a_pr_is_reported_and_the_other_is_published(tmp_path: Path,
                                                                             tools: tuple[Path, str]) -> None:
    o = gitfixture.origin(tmp_path)
    with competition_api(o) as api:
        m1 = o.merge_pr("ada-int8", "2025-03-01T10:00:00+00:00")
        m2 = o.merge_pr("bo-pruned", "2025-03-02T10:00:00+00:00")
        api.state.merge(REPO, m2.after, 2, "bo")  # ada-int8's commit has no merged PR (pushed to main directly)
        run = Run("run1", tmp_path, o, m2, api, tools)
        run.merge = gitfixture.Merge(m1.before, m2.after, m2.timestamp)
        run.plan_and_grade()
        run.prepare_publish()
        run.publish()
        assert run.outputs["unpublished"] == "ada-int8"
        assert "expected one merged pull request, found 0" in run.stdout
        state = json.loads(origin_file(o, "leaderboard-failures.json"))["failures"]
        assert list(state) == ["ada-int8"] and state["ada-int8"]["source_commit"] == m1.after
        assert json.loads(origin_file(o, "submissions/bo-pruned/score.json"))["athlete_login"] == "bo"
        # An organizer records it by hand (docs: entries committed by organizers) or the PR appears: the next
        # run publishes it and the failure is gone from main.
        api.state.merge(REPO, m1.after, 1, "ada")
        m3 = o.merge_pr("cy-3", "2025-03-03T10:00:00+00:00")
        api.state.merge(REPO, m3.after, 3, "cy")
        again = Run("run2", tmp_path, o, m3, api, tools)
        assert again.plan_and_grade() == '["ada-int8", "cy-3"]'
        again.prepare_publish()
        again.publish()
        assert again.outputs["unpublished"] == ""
        assert "leaderboard-failures.json" not in gitfixture.git(o.bare, "ls-tree", "--name-only", "main")
        assert "## Not on the board" not in origin_file(o, "leaderboard.md")


# -- the grade job's own steps -------------------------------------------------------

LEFTOVER = """#!/bin/bash
# Stands in for `tinymlperf grade`: notes the sandbox-range uids alive when it starts, writes a result and
# exits 1 (the entry failed a rule); "ada" also leaves a process of a sandbox uid behind, as an escaped
# worker would.
[ "$1" = grade ] || exit 3
slug=$(basename "$2")
ps -e -o stat=,ruid= | awk -v lo="$UID_BASE" '$1 !~ /^Z/ && $2 >= lo {print $2}' | sort -u > "$SEEN/$slug"
echo '{}' > "${@: -1}"
if [ "$slug" = ada ]; then
    setpriv --reuid="$LEFTOVER_UID" --regid="$LEFTOVER_UID" --clear-groups setsid sleep 600 \\
        </dev/null >/dev/null 2>&1 &
    # an escaped worker already runs as its sandbox uid: exit only once the leftover does (setpriv switches late)
    while [ "$(ps -o ruid= -p $! | tr -d ' ')" != "$LEFTOVER_UID" ]; do sleep 0.01; done
fi
exit 1
"""


def _grade_step(tmp: Path, slugs: str, pkill_works: bool) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run the grade job's "grade" step for ``slugs`` in a PID namespace of its own (so its ps and pkill
    see only the replay's processes, never another grader's on this machine) as root, sudo a pass-through."""
    from grader.sandbox.isolation import UID_BASE, lease_uid
    bin_dir, seen, temp = tmp / "bin", tmp / "seen", tmp / "runner-temp"
    for folder in (bin_dir, seen, temp, tmp / "work"):
        folder.mkdir()
    for name, body in (("tinymlperf", LEFTOVER), ("sudo", '#!/bin/sh\nexec "$@"\n'),
                       ("pkill", "#!/bin/sh\nexit 0\n")):
        if name != "pkill" or not pkill_works:
            (bin_dir / name).write_text(body)
            (bin_dir / name).chmod(0o755)
    lease = lease_uid()
    try:
        env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "RUNNER_TEMP": str(temp), "SEEN": str(seen),
               "UID_BASE": str(UID_BASE), "LEFTOVER_UID": str(lease.uid), "SLUGS": slugs}
        done = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "--",
                               "bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step_script("grade", "grade")],
                              cwd=tmp / "work", env=env, capture_output=True, text=True, timeout=120)
    finally:
        lease.release()
    return done, seen


needs_root = pytest.mark.skipif(os.geteuid() != 0 or not all(map(shutil.which, ("unshare", "setpriv", "pkill"))),
                                reason="needs root, unshare, setpriv and pkill (a PID namespace and another uid)")


@needs_root
def test_the_grade_step_kills_what_an_entry_left_before_the_next_entry_and_grades_every_entry(
        tmp_path: Path) -> None:
    done, seen = _grade_step(tmp_path, "ada bo", pkill_works=True)
    assert done.returncode == 0, done.stdout + done.stderr  # entries that fail rules are recorded, not errors
    assert (tmp_path / "work" / "results" / "bo" / "result.json").is_file()  # ada's exit 1 did not stop bo
    assert (seen / "bo").read_text() == ""  # ada's leftover was gone before bo started


@needs_root
def test_the_grade_step_stops_when_an_entrys_process_survives_the_kill(tmp_path: Path) -> None:
    done, seen = _grade_step(tmp_path, "ada bo", pkill_works=False)
    assert done.returncode == 1 and not (seen / "bo").exists()
    assert "::error::processes of ada's sandbox (uids 19" in done.stdout and "survived" in done.stdout


def test_the_grade_step_watches_the_sandbox_uid_range() -> None:
    from grader.sandbox.isolation import UID_BASE, UID_SPAN
    assert f"-v lo={UID_BASE} -v n={UID_SPAN}" in step_script("grade", "grade")


def test_the_verify_step_checks_each_entrys_repo_against_its_merged_prs_author(tmp_path: Path) -> None:
    """With ``github.require_owner_match: true`` in the merged grader's competition.yaml, the grade
    job's verify step finds each entry's merged PR through the API and demands the linked repository
    belong to its author (not to whoever submission.yaml names, nor to the last PR merged)."""
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "grader", tree / "grader", ignore=shutil.ignore_patterns("__pycache__"))
    rules = tree / "grader" / "competition.yaml"
    rules.write_text(rules.read_text().replace("require_owner_match: false", "require_owner_match: true", 1))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "tinymlperf").write_text(f'#!/bin/sh\nPYTHONPATH="{tree}" exec "{sys.executable}" -m grader "$@"\n')
    (bin_dir / "tinymlperf").chmod(0o755)
    entry = (ROOT / "submissions" / "closed-int8-prune" / "submission.yaml").read_text()
    linked = "https://github.com/harvard-edge/cs249r_book"
    o = gitfixture.origin(tmp_path)
    with competition_api(o) as api:
        m1 = o.merge_pr("ada-int8", "2025-03-01T10:00:00+00:00",
                        content=entry.replace(linked, "https://github.com/mallory/tinytorch"))
        m2 = o.merge_pr("bo-pruned", "2025-03-02T10:00:00+00:00",
                        content=entry.replace(linked, "https://github.com/bo/tinytorch"))
        for owner in ("mallory", "bo"):
            api.state.add_repo(f"{owner}/tinytorch", {"train.py": "print(1)\n"})
        api.state.merge(REPO, m1.after, 1, "ada")
        api.state.merge(REPO, m2.after, 2, "bo")
        checkout = o.clone(tmp_path / "grade-checkout")
        env = {"GITHUB_API_URL": api.url, "GITHUB_REPOSITORY": REPO,
               **step_env("grade", "verify", {"matrix.slugs": "ada-int8 bo-pruned", "github.token": BOT_TOKEN})}
        run_step(step_script("grade", "verify"), checkout, env, bin_dir)
        ada = json.loads((checkout / "results" / "ada-int8" / "repo.json").read_text())
        bo = json.loads((checkout / "results" / "bo-pruned" / "repo.json").read_text())
    assert (ada["status"], ada["reason"]) == ("failed", "repository belongs to mallory, not the PR author ada")
    assert bo["status"] == "verified", bo


def test_run_workflow_by_hand_regrades_every_entry_and_records_each_at_the_commits_time(
        tmp_path: Path, tools: tuple[Path, str]) -> None:
    """docs/organizers.md, step 6: *Run workflow* on ``leaderboard`` grades every entry on main, changed
    or not, and records each with its merged PR's author, dated by the graded commit (no push time)."""
    o = gitfixture.origin(tmp_path)
    with competition_api(o) as api:
        m1, m2 = merge_ada_and_bo(o, api)
        pushed = Run("push", tmp_path, o, gitfixture.Merge(m1.before, m2.after, m2.timestamp), api, tools)
        pushed.plan_and_grade()
        pushed.prepare_publish()
        pushed.publish()
        main = gitfixture.git(o.bare, "rev-parse", "main")
        by_hand = Run("dispatch", tmp_path, o, gitfixture.Merge("", main, ""), api, tools,
                      event_name="workflow_dispatch")
        assert by_hand.plan_and_grade() == '["ada-int8", "bo-pruned"]'  # nothing changed, everything graded
        by_hand.prepare_publish()
        by_hand.publish()
        when = datetime.fromisoformat(gitfixture.git(o.bare, "show", "-s", "--format=%cI", main))
        assert when != datetime.fromisoformat(m2.timestamp)  # the push run's records carried the push's time
        for slug, login, pr in (("ada-int8", "ada", 1), ("bo-pruned", "bo", 2)):
            rec = json.loads(origin_file(o, f"submissions/{slug}/score.json"))
            assert (rec["athlete_login"], rec["pr_number"]) == (login, pr)
            assert datetime.fromisoformat(rec["graded_at"].replace("Z", "+00:00")) == when
