"""The privileged side of grading: post the sticky score comment for a finished grade run.

Runs in the ``workflow_run`` workflow with a token that can write PR comments.
It trusts the event (written by GitHub) and the API, never the artifact's
claims: the PR number is confirmed by the PR's head SHA, the PR's scope is
re-read from the API, and only schema-valid data is rendered.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from github import Github

from grader.ci import artifact, comment, scope
from grader.ci import github_api as gh
from grader.core import config
from grader.core.errors import UsageError
from grader.report import markdown_report as report


@dataclass(frozen=True)
class RunInfo:
    """The facts of the finished grade run, from the ``workflow_run`` event GitHub wrote."""

    run_id: int
    event: str
    conclusion: str | None
    head_sha: str
    head_repo: str | None
    repo: str
    pr_numbers: tuple[int, ...]


@dataclass(frozen=True)
class PostOutcome:
    """What happened: the PR commented on (if any), the comment kind, and the upsert's action."""

    pr_number: int | None
    kind: str | None
    action: str
    message: str


def parse_run(data: dict[str, Any], source: str) -> RunInfo:
    """The run facts of a ``workflow_run`` event payload (from ``event.read``); UsageError when it is not one."""
    try:
        run = data["workflow_run"]
        return RunInfo(run_id=int(run["id"]), event=str(run["event"]), conclusion=run.get("conclusion"),
                       head_sha=str(run["head_sha"]),
                       head_repo=(run.get("head_repository") or {}).get("full_name"),
                       repo=str(data["repository"]["full_name"]),
                       pr_numbers=tuple(int(p["number"]) for p in run.get("pull_requests") or ()))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise UsageError(f"{source}: not a workflow_run event payload ({type(e).__name__}: {e})") from e


def post(run: RunInfo, artifact_dir: Path, *, client: Github, server_url: str = "https://github.com",
         bot_login: str = gh.DEFAULT_BOT_LOGIN, policy: gh.RetryPolicy = gh.RetryPolicy(),
         load_config: Callable[[], config.Competition] = config.load) -> PostOutcome:
    """Confirm the PR, re-check its scope, render the comment and create or update it.

    Raises GitHubError when the API fails or the PR does not match the run
    (a stale or forged artifact); nothing is posted then.
    """
    if run.event != "pull_request":
        return PostOutcome(None, None, "skipped", f"run {run.run_id} was triggered by {run.event}, not a PR")
    if run.conclusion == "action_required":
        return PostOutcome(None, None, "skipped", f"run {run.run_id} awaits an organizer's approval; "
                                                  "the approved run comments")
    found = artifact.read(artifact_dir)
    number = (found.metadata["pr_number"] if found.metadata is not None
              else run.pr_numbers[0] if run.pr_numbers
              else gh.find_pr(client, run.repo, run.head_sha, policy=policy))
    if number is None:
        return PostOutcome(None, None, "skipped", f"no open PR has head {run.head_sha}; nothing to comment on")
    gh.confirm_pr(client, run.repo, number, run.head_sha, head_repo=run.head_repo, policy=policy)
    files, listed_total = gh.changed_files(client, run.repo, number, policy=policy)
    if files and listed_total <= len(files) and not scope.touches_submissions(files):
        return PostOutcome(number, None, "skipped", f"{run.repo}#{number} changes no submission; no score comment")
    pr_scope = scope.check(files, slug=load_config().submission.slug, listed_total=listed_total)
    view = comment.plan(conclusion=run.conclusion, head_sha=run.head_sha,
                        run_url=f"{server_url.rstrip('/')}/{run.repo}/actions/runs/{run.run_id}",
                        scope=pr_scope, artifact=found)
    # Comments resolve no relative links: point the check ids at the default branch's guide.
    view = dataclasses.replace(view, docs_url=f"{server_url.rstrip('/')}/{run.repo}/blob/HEAD/{report.DOCS_URL}")
    body = comment.render_comment(view)
    outcome = gh.upsert_comment(client, run.repo, number, body, comment.MARKER, bot_login, policy=policy)
    return PostOutcome(number, view.kind, outcome.action, f"{run.repo}#{number}: {outcome.action} {view.kind} "
                       f"comment {outcome.url}")

