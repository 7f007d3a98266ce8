"""``tinymlperf doctor``: is a competition repository on GitHub set up the way the pipeline needs?

With an organizer's token (repository admin) it reads the settings the four
workflows depend on and returns one ``Finding`` per piece: Actions allowed and
the workflow token read-only, fork PRs held for approval, a ruleset on the
default branch requiring PRs, a review and the grade check by its real name,
and a way for the leaderboard and standings workflows to publish under that
ruleset (a GitHub App on the bypass list, or the auto-merging PR fallback).
Each missing piece carries the fix, in the words of the settings page. ``diagnose`` asks the API only
through ``get`` (an injectable ``path -> (status, json)``), and never raises for
an answer it did not like: a setting it cannot read is a finding too.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from github import Github, GithubException

from grader.core.errors import EXIT_INVALID, EXIT_OK, GitHubError

APP_ID_VARIABLE = "LEADERBOARD_APP_ID"
APP_KEY_SECRET = "LEADERBOARD_APP_PRIVATE_KEY"
WORKFLOWS = (".github/workflows/grade.yml", ".github/workflows/comment.yml", ".github/workflows/leaderboard.yml",
             ".github/workflows/standings.yml")
Get = Callable[[str], tuple[int, Any]]
Status = Literal["ok", "missing", "unknown"]


@dataclass(frozen=True)
class Finding:
    """One setting: ``ok``, ``missing`` (with the fix) or ``unknown`` (could not be read, and why)."""

    name: str
    status: Status
    detail: str
    fix: str = ""


def api_get(client: Github) -> Get:
    """``get`` for ``diagnose`` over a PyGithub client: GitHub's status and JSON, errors included."""
    def get(path: str) -> tuple[int, Any]:
        try:
            _, data = client.requester.requestJsonAndCheck("GET", path)
            return 200, data
        except GithubException as e:
            if e.status is None or e.status >= 500 or e.status == 401:
                raise GitHubError(f"GET {path}: GitHub answered {e.status} {e.data}") from e
            return e.status, e.data
    return get


def _settings_url(repo: str, page: str) -> str:
    return f"https://github.com/{repo}/settings" + (f"/{page}" if page else "")


def _unreadable(name: str, status: int, data: Any, what: str) -> Finding:
    message = data.get("message", "") if isinstance(data, dict) else ""
    return Finding(name, "unknown", f"{what}: HTTP {status} {message}".rstrip(),
                   "run doctor with a token of a repository admin (classic: repo + admin:org; fine-grained: "
                   "Administration, Actions, Secrets and Variables read)")


def _actions(repo: str, get: Get) -> tuple[list[Finding], dict[str, Any] | None]:
    """Findings about Actions settings, and the workflow-permissions answer (None when unreadable)."""
    out = []
    status, perms = get(f"/repos/{repo}/actions/permissions")
    if status != 200:
        out.append(_unreadable("Actions allowed", status, perms, "actions/permissions"))
    elif not perms.get("enabled"):
        out.append(Finding("Actions allowed", "missing", "GitHub Actions is disabled for this repository",
                           f"{_settings_url(repo, 'actions')}: Actions permissions → Allow all actions"))
    elif perms.get("allowed_actions") == "local_only":
        out.append(Finding("Actions allowed", "missing", "only actions from this repository may run",
                           f"{_settings_url(repo, 'actions')}: allow actions created by GitHub"))
    elif perms.get("allowed_actions") == "selected":
        s2, selected = get(f"/repos/{repo}/actions/permissions/selected-actions")
        if s2 == 200 and not selected.get("github_owned_allowed"):
            out.append(Finding("Actions allowed", "missing", "actions created by GitHub are not allowed",
                               f"{_settings_url(repo, 'actions')}: tick 'Allow actions created by GitHub'"))
        else:
            out.append(Finding("Actions allowed", "ok", "selected actions, GitHub-owned ones included"))
    else:
        out.append(Finding("Actions allowed", "ok", f"allowed actions: {perms.get('allowed_actions')}"))
    status, wf = get(f"/repos/{repo}/actions/permissions/workflow")
    workflow_perms = wf if status == 200 and isinstance(wf, dict) else None
    if status != 200:
        out.append(_unreadable("Workflow token read-only", status, wf, "actions/permissions/workflow"))
    elif wf.get("default_workflow_permissions") != "read":
        out.append(Finding("Workflow token read-only", "missing",
                           f"default GITHUB_TOKEN permissions are {wf.get('default_workflow_permissions')!r}",
                           f"{_settings_url(repo, 'actions')}: Workflow permissions → Read repository contents "
                           "and packages permissions (each workflow asks for what it needs)"))
    else:
        out.append(Finding("Workflow token read-only", "ok", "default GITHUB_TOKEN permissions: read"))
    status, fork = get(f"/repos/{repo}/actions/permissions/fork-pr-contributor-approval")
    policy = fork.get("approval_policy") if status == 200 and isinstance(fork, dict) else None
    if status != 200:
        out.append(_unreadable("Fork PRs need approval", status, fork, "fork-pr-contributor-approval"))
    elif policy in ("first_time_contributors", "all_external_contributors"):
        out.append(Finding("Fork PRs need approval", "ok", f"approval policy: {policy}"))
    else:
        out.append(Finding("Fork PRs need approval", "missing", f"approval policy: {policy}",
                           f"{_settings_url(repo, 'actions')}: Fork pull request workflows → Require approval "
                           "for first-time contributors"))
    return out, workflow_perms


def _targets_default_branch(ruleset: dict[str, Any], default_branch: str) -> bool:
    include = ((ruleset.get("conditions") or {}).get("ref_name") or {}).get("include") or []
    exclude = ((ruleset.get("conditions") or {}).get("ref_name") or {}).get("exclude") or []
    names = {"~DEFAULT_BRANCH", "~ALL", f"refs/heads/{default_branch}"}
    return bool(names & set(include)) and not (names & set(exclude))


def _rulesets(repo: str, default_branch: str, get: Get) -> tuple[list[dict[str, Any]], Finding | None]:
    status, listed = get(f"/repos/{repo}/rulesets?includes_parents=true&per_page=100")
    if status != 200:
        return [], _unreadable("Ruleset on the default branch", status, listed, "rulesets")
    found = []
    for item in listed:
        s2, full = get(f"/repos/{repo}/rulesets/{item['id']}")
        if s2 == 200 and full.get("target", "branch") == "branch" and full.get("enforcement") == "active" \
                and _targets_default_branch(full, default_branch):
            found.append(full)
    return found, None


def _rule(rulesets: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r.get("parameters") or {} for rs in rulesets for r in rs.get("rules", []) if r.get("type") == kind]


def _grade_check_name(repo: str, ref: str, get: Get) -> str | None:
    status, content = get(f"/repos/{repo}/contents/.github/workflows/grade.yml?ref={ref}")
    if status != 200 or not isinstance(content, dict) or "content" not in content:
        return None
    try:
        spec = yaml.safe_load(base64.b64decode(content["content"]).decode("utf-8"))
        return str(spec["jobs"]["grade"]["name"])
    except (ValueError, yaml.YAMLError, KeyError, TypeError):
        return None


def diagnose(repo: str, get: Get) -> list[Finding]:
    """Every finding for ``repo`` (``owner/name``), in the order docs/organizers.md sets them up."""
    status, info = get(f"/repos/{repo}")
    if status != 200:
        return [_unreadable("Repository", status, info, repo)]
    branch = info.get("default_branch", "main")
    findings: list[Finding] = []
    missing = [path for path in (*WORKFLOWS, "leaderboard.md")
               if get(f"/repos/{repo}/contents/{path}?ref={branch}")[0] != 200]
    findings.append(Finding("Workflows and board on the default branch", "missing" if missing else "ok",
                            f"missing on {branch}: {', '.join(missing)}" if missing else
                            f"grade, comment, leaderboard and standings workflows and leaderboard.md are on {branch}",
                            "copy them from the grader's repository (docs/organizers.md, step 1)" if missing else ""))
    actions, workflow_perms = _actions(repo, get)
    findings += actions
    rulesets, problem = _rulesets(repo, branch, get)
    check = _grade_check_name(repo, branch, get) or "Grade submission"
    if problem is not None:
        findings.append(problem)
    elif not rulesets:
        findings.append(Finding("Ruleset on the default branch", "missing", f"no active ruleset targets {branch}",
                                f"{_settings_url(repo, 'rules')}: New branch ruleset → target the default branch, "
                                "Active, with the rules below"))
    else:
        reviews = [p.get("required_approving_review_count", 0) for p in _rule(rulesets, "pull_request")]
        findings.append(Finding("PRs and a review required", "ok" if reviews and max(reviews) >= 1 else "missing",
                                f"required approving reviews: {max(reviews) if reviews else 'no pull_request rule'}",
                                "" if reviews and max(reviews) >= 1 else
                                "in the ruleset: Require a pull request before merging, 1 required approval"))
        contexts = sorted({c.get("context", "") for p in _rule(rulesets, "required_status_checks")
                           for c in p.get("required_status_checks", [])})
        if check in contexts:
            findings.append(Finding("Grade check required", "ok", f"required status checks: {', '.join(contexts)}"))
        else:
            findings.append(Finding("Grade check required", "missing",
                                    f"required status checks: {', '.join(contexts) or 'none'}",
                                    f"in the ruleset: Require status checks to pass → add {check!r} (the job name "
                                    "in grade.yml; leave its source as 'any source')"))
    findings.append(_publishing(repo, info, rulesets, workflow_perms, get))
    return findings


def _publishing(repo: str, info: dict[str, Any], rulesets: list[dict[str, Any]],
                workflow_perms: dict[str, Any] | None, get: Get) -> Finding:
    """Can the leaderboard publish under the ruleset: the app path, else the PR fallback."""
    name = "Leaderboard can publish"
    if not rulesets:
        return Finding(name, "ok", "the default branch has no ruleset: the workflow token pushes directly")
    s1, variable = get(f"/repos/{repo}/actions/variables/{APP_ID_VARIABLE}")
    app_id = str(variable.get("value", "")).strip() if s1 == 200 and isinstance(variable, dict) else ""
    if app_id:
        problems = []
        if get(f"/repos/{repo}/actions/secrets/{APP_KEY_SECRET}")[0] != 200:
            problems.append(f"secret {APP_KEY_SECRET} is not set (the app's private key)")
        bypass = {str(a.get("actor_id")) for rs in rulesets for a in rs.get("bypass_actors", [])
                  if a.get("actor_type") == "Integration" and a.get("bypass_mode", "always") == "always"}
        if app_id not in bypass:
            problems.append(f"app {app_id} is not on the ruleset's bypass list")
        owner = repo.split("/")[0]
        s2, installs = get(f"/orgs/{owner}/installations?per_page=100")
        if s2 == 404:
            s2, installs = get("/user/installations?per_page=100")
        listed = installs.get("installations", []) if s2 == 200 and isinstance(installs, dict) else None
        if listed is not None and not any(str(i.get("app_id")) == app_id for i in listed):
            problems.append(f"app {app_id} is not installed on {owner}")
        if problems:
            return Finding(name, "missing", "; ".join(problems),
                           "install the app on this repository (Contents: read and write), store its private key "
                           f"as the secret {APP_KEY_SECRET}, and add the app to the ruleset's bypass list "
                           f"({_settings_url(repo, 'rules')} → Bypass list → Add bypass → Apps)")
        unsure = "" if listed is not None else " (installation not checked: token cannot list installations)"
        return Finding(name, "ok", f"app {app_id} pushes to the default branch past the ruleset{unsure}")
    can_pr = workflow_perms is not None and workflow_perms.get("can_approve_pull_request_reviews")
    auto = info.get("allow_auto_merge")
    if can_pr and auto:
        return Finding(name, "ok", "no app: records go through an auto-merging PR that an organizer approves")
    return Finding(name, "missing", f"no {APP_ID_VARIABLE} variable, and the fallback PR is not possible "
                   f"(Actions may create PRs: {bool(can_pr)}, auto-merge allowed: {bool(auto)})",
                   f"recommended: a GitHub App on the ruleset's bypass list (docs/organizers.md, 'Publishing the "
                   f"board'); set variable {APP_ID_VARIABLE} and secret {APP_KEY_SECRET}. Without an app: "
                   f"{_settings_url(repo, 'actions')} → Allow GitHub Actions to create and approve pull requests, "
                   f"and {_settings_url(repo, '')} → Allow auto-merge")


def render(repo: str, findings: list[Finding]) -> str:
    """Plain text for a terminal: one line per finding, the fix indented below a missing one."""
    marks = {"ok": "ok     ", "missing": "MISSING", "unknown": "UNKNOWN"}
    lines = [f"tinymlperf doctor: {repo}"]
    for f in findings:
        lines.append(f"  {marks[f.status]}  {f.name}: {f.detail}")
        if f.status != "ok" and f.fix:
            lines.append(f"           fix: {f.fix}")
    bad = sum(f.status != "ok" for f in findings)
    lines.append("everything the pipeline needs is in place" if not bad else f"{bad} piece(s) to fix")
    return "\n".join(lines) + "\n"


def run(repo: str, client: Github) -> int:
    """Print the findings for ``repo``; exit 0 when everything is in place, 1 when something is missing or unread."""
    findings = diagnose(repo, api_get(client))
    print(render(repo, findings), end="")
    return EXIT_OK if all(f.status == "ok" for f in findings) else EXIT_INVALID
