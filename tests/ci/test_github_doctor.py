"""``tinymlperf doctor`` against the loopback GitHub server: the deployment walkthrough of
docs/organizers.md, one setting at a time, from a new repository to a green report."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.ci import doctor
from grader.ci import github_api as gh
from tests.github_server import GitHubServer

pytestmark = pytest.mark.slow  # every test here runs sandbox workers, the CLI or the loopback server

ROOT = Path(__file__).resolve().parents[2]
REPO, ORGANIZER, TOKEN = "tinyml-org/tinymlperf", "maintainer", "ghp_organizer"
APP_ID = "1234567"


@pytest.fixture
def api() -> Iterator[GitHubServer]:
    with GitHubServer() as server:
        server.state.add_token(TOKEN, ORGANIZER)
        server.state.add_token("ghp_student", "ada")
        server.state.add_repo(REPO, {"README.md": "competition"}).admins.add(ORGANIZER)
        yield server


def run_doctor(api: GitHubServer, token: str = TOKEN) -> tuple[int, str]:
    env = {**os.environ, "GITHUB_TOKEN": token, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "grader", "doctor", "--repo", REPO, "--api-url", api.url],
                          env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)
    return done.returncode, done.stdout + done.stderr


def findings(api: GitHubServer, token: str = TOKEN) -> dict[str, doctor.Finding]:
    client = gh.make_client(token, api.url, throttle=False)
    return {f.name: f for f in doctor.diagnose(REPO, doctor.api_get(client))}


def copy_the_pipeline(api: GitHubServer) -> None:
    """Walkthrough step 1: the workflows and an empty board on main."""
    files = {path: (ROOT / path).read_text() for path in doctor.WORKFLOWS}
    api.state.commit(REPO, {**files, "leaderboard.md": "# board\n"}, message="pipeline")


def ruleset(checks: list[str], bypass: list[dict[str, object]] | None = None) -> dict[str, object]:
    """Walkthrough step 3: the ruleset docs/organizers.md describes, as the API returns it."""
    return {"id": 42, "name": "main", "target": "branch", "enforcement": "active",
            "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []}},
            "bypass_actors": bypass or [],
            "rules": [{"type": "pull_request", "parameters": {"required_approving_review_count": 1}},
                      {"type": "required_status_checks", "parameters": {
                          "required_status_checks": [{"context": c} for c in checks],
                          "strict_required_status_checks_policy": False}}]}


def test_a_new_repository_lists_every_missing_piece_with_its_fix(api: GitHubServer) -> None:
    code, out = run_doctor(api)
    assert code == 1, out
    assert "MISSING  Workflows and board on the default branch: missing on main: .github/workflows/grade.yml" in out
    assert "MISSING  Fork PRs need approval: approval policy: first_time_contributors_new_to_github" in out
    assert "Require approval for first-time contributors" in out
    assert "MISSING  Ruleset on the default branch: no active ruleset targets main" in out
    assert "ok       Workflow token read-only" in out and "ok       Actions allowed" in out


def test_the_walkthrough_ends_with_a_green_report(api: GitHubServer) -> None:
    repo = api.state.repo(REPO)
    copy_the_pipeline(api)                                        # step 1
    repo.fork_pr_approval = "first_time_contributors"              # step 2
    repo.rulesets.append(ruleset(["Grade submission"]))            # step 3
    found = findings(api)
    assert found["Grade check required"].status == "ok" and found["PRs and a review required"].status == "ok"
    publish = found["Leaderboard can publish"]
    assert publish.status == "missing" and "no LEADERBOARD_APP_ID variable" in publish.detail
    repo.variables[doctor.APP_ID_VARIABLE] = APP_ID                 # step 4: the app
    found = findings(api)["Leaderboard can publish"]
    assert found.status == "missing"
    assert found.detail == (f"secret {doctor.APP_KEY_SECRET} is not set (the app's private key); app {APP_ID} is "
                            f"not on the ruleset's bypass list; app {APP_ID} is not installed on tinyml-org")
    repo.secrets.add(doctor.APP_KEY_SECRET)
    repo.rulesets[0]["bypass_actors"] = [{"actor_id": int(APP_ID), "actor_type": "Integration",
                                          "bypass_mode": "always"}]
    api.state.installations["tinyml-org"] = [{"id": 77, "app_id": int(APP_ID), "app_slug": "tinymlperf-board",
                                              "repository_selection": "selected"}]
    code, out = run_doctor(api)
    assert code == 0, out
    assert f"ok       Leaderboard can publish: app {APP_ID} pushes to the default branch past the ruleset" in out
    assert out.rstrip().endswith("everything the pipeline needs is in place")


def test_a_required_check_under_another_name_is_caught(api: GitHubServer) -> None:
    copy_the_pipeline(api)
    api.state.repo(REPO).rulesets.append(ruleset(["grade"]))  # the workflow's name, not the job's: never reported
    found = findings(api)["Grade check required"]
    assert found.status == "missing" and found.detail == "required status checks: grade"
    assert "add 'Grade submission' (the job name in grade.yml" in found.fix


def test_without_an_app_the_auto_merging_pr_fallback_is_accepted_once_enabled(api: GitHubServer) -> None:
    repo = api.state.repo(REPO)
    copy_the_pipeline(api)
    repo.rulesets.append(ruleset(["Grade submission"]))
    assert "Allow GitHub Actions to create and approve pull requests" in findings(api)["Leaderboard can publish"].fix
    repo.actions_can_create_prs = repo.allow_auto_merge = True
    found = findings(api)["Leaderboard can publish"]
    assert found.status == "ok" and "auto-merging PR" in found.detail


def test_a_write_token_by_default_and_blocked_actions_are_reported(api: GitHubServer) -> None:
    repo = api.state.repo(REPO)
    repo.default_workflow_permissions, repo.allowed_actions, repo.github_owned_allowed = "write", "selected", False
    found = findings(api)
    assert found["Workflow token read-only"].status == "missing"
    assert found["Actions allowed"].detail == "actions created by GitHub are not allowed"


def test_a_token_without_admin_rights_says_what_it_could_not_read(api: GitHubServer) -> None:
    code, out = run_doctor(api, token="ghp_student")
    assert code == 1
    assert "UNKNOWN  Actions allowed: actions/permissions: HTTP 403 Must have admin rights to Repository." in out
    assert "run doctor with a token of a repository admin" in out
    assert "Traceback" not in out


def test_a_bad_token_is_a_clear_error_not_a_report(api: GitHubServer) -> None:
    code, out = run_doctor(api, token="ghp_revoked")
    assert code == 2 and "401" in out and "Traceback" not in out
