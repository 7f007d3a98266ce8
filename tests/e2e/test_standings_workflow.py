"""standings.yml: the linters, its security properties read from the YAML, and its schedule pinned to the config.

Installs, caches, data checks and publishing must be leaderboard.yml's own (the
same steps, pins and commands); tests/e2e/test_standings_replay.py replays the
publishing itself against the loopback GitHub server.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from grader.core import config
from tests.e2e.test_workflows import PINNED, run_tool, steps, triggers

ROOT = Path(__file__).resolve().parents[2]
STANDINGS = ROOT / ".github" / "workflows" / "standings.yml"
LEADERBOARD = ROOT / ".github" / "workflows" / "leaderboard.yml"


def spec(path: Path = STANDINGS) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def step_named(job: dict[str, Any], prefix: str) -> dict[str, Any]:
    (found,) = [s for s in job["steps"] if s.get("name", "").startswith(prefix) or s.get("uses", "").startswith(prefix)]
    return found


def test_zizmor_pedantic_finds_nothing() -> None:
    proc = run_tool("zizmor", "--offline", "--no-progress", "--persona", "pedantic", str(STANDINGS))
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_check_jsonschema_accepts_it() -> None:
    proc = run_tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows", str(STANDINGS))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_finds_nothing() -> None:
    proc = run_tool("actionlint", str(STANDINGS))
    assert proc.returncode == 0 and proc.stdout == "", proc.stdout + proc.stderr


def test_every_action_is_pinned_by_commit_sha() -> None:
    uses = [line.split("uses:", 1)[1].strip() for line in STANDINGS.read_text(encoding="utf-8").splitlines()
            if re.match(r"^\s*(- )?uses:", line)]
    assert uses
    for use in uses:
        ref, _, comment = use.partition(" # ")
        assert PINNED.match(ref) and comment.startswith("v"), use


def test_no_expression_is_interpolated_into_a_run_script_and_no_checkout_keeps_credentials() -> None:
    for step in steps(spec()):
        assert "${{" not in step.get("run", ""), step
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False


def test_only_the_job_that_runs_no_submission_code_may_write() -> None:
    s = spec()
    assert s["permissions"] == {}
    jobs = s["jobs"]
    assert jobs["plan"]["permissions"] == {"contents": "read"}
    assert jobs["time"]["permissions"] == {"contents": "read"}
    assert jobs["cache-data"]["permissions"] == {"contents": "read"}
    # As leaderboard.yml's publish: push (main or the fallback branch), open the fallback PR, report its check.
    assert jobs["publish"]["permissions"] == {"contents": "write", "pull-requests": "write", "statuses": "write"}
    assert jobs["publish"]["permissions"] == spec(LEADERBOARD)["jobs"]["publish"]["permissions"]
    timing = [st["run"] for st in jobs["time"]["steps"] if "run" in st]
    assert any("tinymlperf standings --group" in r for r in timing)
    published = " ".join(st.get("run", "") for st in jobs["publish"]["steps"])
    assert "--group " not in published and "tinymlperf grade" not in published
    assert "tinymlperf standings --combine" in published and "--expect-groups" in published


def test_it_runs_on_dispatch_and_on_the_schedule_in_competition_yaml() -> None:
    on = triggers(spec())
    schedule = config.load().standings.schedule
    assert "workflow_dispatch" in on
    if schedule is None:
        assert "schedule" not in on
    else:
        assert on["schedule"] == [{"cron": schedule}]


@pytest.mark.parametrize("job", ["time"])
def test_the_timing_job_fits_the_configured_job_minutes(job: str) -> None:
    assert spec()["jobs"][job]["timeout-minutes"] >= config.load().standings.max_job_minutes


def test_every_job_has_a_timeout_and_only_the_timing_job_runs_past_an_hour() -> None:
    jobs = spec()["jobs"]
    assert set(jobs) == {"plan", "time", "cache-data", "publish"}
    for name, job in jobs.items():
        assert 0 < int(job["timeout-minutes"]) <= (400 if name == "time" else 60), name


def test_every_install_is_leaderboard_ymls_hash_locked_install() -> None:
    (locked,) = {s["run"] for s in steps(spec(LEADERBOARD)) if "pip install" in s.get("run", "")}
    installs = [s for s in steps(spec()) if "pip install" in s.get("run", "")]
    assert len(installs) == len(spec()["jobs"])  # one per job
    for step in installs:
        assert step["run"] == locked, step
    assert "--require-hashes -r requirements/ci.txt" in locked and "--no-deps --no-build-isolation ." in locked
    assert not any("cache" in (s.get("with") or {}) for s in steps(spec()) if s.get("uses", "").startswith(
        "actions/setup-"))


def test_every_action_is_pinned_at_the_commit_leaderboard_yml_uses() -> None:
    def pins(path: Path) -> dict[str, str]:
        return {s["uses"].split("@")[0]: s["uses"] for s in steps(spec(path)) if "uses" in s}
    ours, theirs = pins(STANDINGS), pins(LEADERBOARD)
    assert set(ours) <= set(theirs), set(ours) - set(theirs)
    for action, use in ours.items():
        assert use == theirs[action], (use, theirs[action])


def test_the_timing_job_only_restores_the_cifar_cache_that_a_job_running_no_entry_fills() -> None:
    jobs = spec()["jobs"]
    for name, job in jobs.items():
        runs_entries = any(re.search(r"tinymlperf (standings --group|grade)\b", s.get("run", "")) for s in job["steps"])
        saves = [s for s in job["steps"] if re.match(r"actions/cache@", s.get("uses", ""))]
        assert not (runs_entries and saves), (name, saves)
    restore = step_named(jobs["time"], "actions/cache/restore@")
    fill = step_named(jobs["cache-data"], "actions/cache@")
    theirs = step_named(spec(LEADERBOARD)["jobs"]["cache-data"], "actions/cache@")
    assert restore["with"] == fill["with"] == theirs["with"]
    runs = [s["run"] for s in jobs["cache-data"]["steps"] if "run" in s]
    assert runs[-1] == "tinymlperf data"  # downloads and verifies; no submission code
    assert jobs["cache-data"]["needs"] == "plan" and jobs["cache-data"]["if"] == jobs["time"]["if"]


def test_publishing_mints_the_leaderboard_apps_token_and_falls_back_to_a_pr_like_leaderboard_yml() -> None:
    ours, theirs = spec()["jobs"]["publish"], spec(LEADERBOARD)["jobs"]["publish"]
    app, their_app = step_named(ours, "Mint"), step_named(theirs, "Mint")
    assert app == their_app and app["id"] == "app-token" and ours["steps"][0] is app  # before checkout
    publish = next(s for s in ours["steps"] if s.get("id") == "publish")
    their = next(s for s in theirs["steps"] if s.get("id") == "publish")
    for key in ("PUSH_TOKEN", "GITHUB_TOKEN"):
        assert publish["env"][key] == their["env"][key], key
    assert publish["env"]["BOARD_BRANCH"] == "tinymlperf/standings" != their["env"]["BOARD_BRANCH"]
    script = publish["run"]
    for line in ('echo "::add-mask::$basic"', 'git_auth push origin HEAD:main 2> "$RUNNER_TEMP/push.err"',
                 "grep -qE 'GH013|GH006|protected branch' \"$RUNNER_TEMP/push.err\"",
                 'git_auth push --force origin "HEAD:refs/heads/$BOARD_BRANCH"',
                 'tinymlperf board-pr --branch "$BOARD_BRANCH" --base main'):
        assert line in script and line in their["run"], line


@pytest.mark.slow
def test_doctor_reports_a_repository_without_standings_yml_on_its_default_branch() -> None:
    from grader.ci import doctor
    from grader.ci import github_api as gh
    from tests.github_server import GitHubServer

    with GitHubServer() as api:
        api.state.add_token("ghp_organizer", "maintainer")
        api.state.add_repo("tinyml-org/tinymlperf", {"README.md": "competition"}).admins.add("maintainer")
        others = {p: (ROOT / p).read_text(encoding="utf-8") for p in doctor.WORKFLOWS
                  if not p.endswith("standings.yml")}
        api.state.commit("tinyml-org/tinymlperf", {**others, "leaderboard.md": "# board\n"}, message="pipeline")
        get = doctor.api_get(gh.make_client("ghp_organizer", api.url, throttle=False))
        (placed,) = [f for f in doctor.diagnose("tinyml-org/tinymlperf", get) if f.name.startswith("Workflows")]
        assert placed.status == "missing" and placed.detail == "missing on main: .github/workflows/standings.yml"
        api.state.commit("tinyml-org/tinymlperf", {".github/workflows/standings.yml": STANDINGS.read_text(
            encoding="utf-8")}, message="standings")
        (placed,) = [f for f in doctor.diagnose("tinyml-org/tinymlperf", get) if f.name.startswith("Workflows")]
        assert placed.status == "ok" and "standings" in placed.detail
