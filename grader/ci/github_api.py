"""The GitHub API behind a few typed functions (PyGithub underneath).

Callers pass a client from ``make_client``, the one place a client is made
(``client_from_env`` reads the workflow's token and API URL for it; tests point
it at a loopback server through ``base_url``). Every call retries 5xx answers and rate limits, honouring
``Retry-After`` and ``X-RateLimit-Reset``, within a bounded total wait; the
sleep and the clock are injectable. ``GithubException`` never escapes: it
becomes ``GitHubError`` with a hint (token scope, rate limit), except in
``verify_repo``, which answers a status and never raises.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import requests
from github import Auth, Github, GithubException
from github.PullRequest import PullRequest

from grader.ci.merge_info import MergeInfo
from grader.ci.scope import ChangedFile
from grader.contract.submission import RepoVerification
from grader.core.errors import GitHubError, GraderError
from grader.core.names import LOGIN, REPOSITORY, SHA, parse_repo_url

T = TypeVar("T")
DEFAULT_BASE_URL = "https://api.github.com"
DEFAULT_BOT_LOGIN = "github-actions[bot]"
# Extensions that count as source code when verifying a student's repository.
CODE_SUFFIXES = (".py", ".ipynb", ".pyx", ".c", ".cc", ".cpp", ".h", ".hpp", ".cu", ".rs", ".go", ".java",
                 ".js", ".ts", ".jl", ".m", ".r", ".sh")


class PullMismatch(GitHubError):
    """The PR the artifact names is not the one the run graded (stale or forged): post nothing."""


class StaleRun(PullMismatch):
    """The PR's head moved on after this run (a newer push): the newer run comments, this one says nothing."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts, first backoff, and a cap on the total time spent waiting."""

    max_attempts: int = 5
    base_delay: float = 1.0
    max_total_wait: float = 120.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    clock: Callable[[], float] = field(default=time.time, compare=False)


@dataclass(frozen=True)
class PullInfo:
    """The facts about a PR that the comment side trusts (read from the API, not the artifact)."""

    number: int
    head_sha: str
    head_repo: str | None
    author: str
    state: str


@dataclass(frozen=True)
class CommentOutcome:
    """What ``upsert_comment`` did to the sticky comment."""

    action: Literal["created", "updated", "unchanged"]
    comment_id: int
    url: str


def token_from_env(env: Mapping[str, str] = os.environ) -> str | None:
    """The API token the workflow gives us (``GITHUB_TOKEN``), or None."""
    return env.get("GITHUB_TOKEN") or None


def make_client(token: str | None, base_url: str = DEFAULT_BASE_URL, *, timeout: int = 20,
                throttle: bool = True) -> Github:
    """A PyGithub client; its own retries are off because ``_call`` retries with a bounded wait.

    ``token`` None asks anonymously; ``throttle`` spaces requests as GitHub asks of
    integrations making many calls (off for a handful of reads).
    """
    return Github(auth=Auth.Token(token) if token else None, base_url=base_url.rstrip("/"), timeout=timeout,
                  per_page=100, retry=None, seconds_between_requests=0.25 if throttle else None,
                  seconds_between_writes=1.0 if throttle else None)


def api_url_from_env(env: Mapping[str, str] = os.environ) -> str:
    """The API base the workflow runs against (``GITHUB_API_URL``, set on GitHub Enterprise too)."""
    return env.get("GITHUB_API_URL") or DEFAULT_BASE_URL


def client_from_env(env: Mapping[str, str] = os.environ, *, throttle: bool = True) -> Github | None:
    """``make_client`` for ``GITHUB_TOKEN`` and ``GITHUB_API_URL``; None when there is no token."""
    token = token_from_env(env)
    return make_client(token, api_url_from_env(env), throttle=throttle) if token else None


def _header(e: GithubException, name: str) -> str | None:
    for key, value in (e.headers or {}).items():
        if key.lower() == name.lower():
            return str(value)
    return None


def _message(e: GithubException) -> str:
    data = e.data
    return str(data.get("message", "")) if isinstance(data, dict) else str(data or "")


def _rate_limited(e: GithubException) -> bool:
    return e.status == 429 or (e.status == 403 and (
        _header(e, "Retry-After") is not None or _header(e, "X-RateLimit-Remaining") == "0"
        or "rate limit" in _message(e).lower()))


def _retry_delay(e: GithubException, attempt: int, policy: RetryPolicy) -> float | None:
    """Seconds to wait before retrying ``e``, or None when retrying cannot help."""
    backoff = policy.base_delay * float(2 ** (attempt - 1))
    if _rate_limited(e):
        retry_after = _header(e, "Retry-After")
        if retry_after and retry_after.strip().isdigit():
            return float(retry_after)
        reset = _header(e, "X-RateLimit-Reset")
        if reset and reset.strip().isdigit():
            return max(0.0, int(reset) - policy.clock()) + 1.0  # +1: the reset second itself
        return backoff
    if e.status is not None and e.status >= 500:
        return backoff
    return None


def _hint(e: GithubException, what: str) -> str:
    message = _message(e)
    if e.status == 401:
        return f"{what}: GitHub rejected the token (401 {message}); is GITHUB_TOKEN set and unexpired?"
    if _rate_limited(e):
        reset = _header(e, "X-RateLimit-Reset")
        when = f", resets at epoch {reset}" if reset else ""
        return f"{what}: GitHub rate limit exhausted ({e.status} {message}{when}); try again later"
    if e.status == 403:
        return (f"{what}: the token may not do this (403 {message}); the comment workflow needs "
                "`pull-requests: write` and `actions: read`")
    if e.status == 404:
        return f"{what}: not found, or not visible to this token (404 {message})"
    return f"{what}: GitHub answered {e.status} {message}"


def _call(op: Callable[[], T], what: str, policy: RetryPolicy) -> T:
    """Run ``op``, retrying transient failures; raise GitHubError when it cannot succeed in time."""
    waited = 0.0
    for attempt in range(1, policy.max_attempts + 1):
        try:
            return op()
        except GithubException as e:
            delay = _retry_delay(e, attempt, policy)
            if delay is None or attempt == policy.max_attempts or waited + delay > policy.max_total_wait:
                raise GitHubError(_hint(e, what)) from e
        except requests.RequestException as e:
            delay = policy.base_delay * 2 ** (attempt - 1)
            if attempt == policy.max_attempts or waited + delay > policy.max_total_wait:
                raise GitHubError(f"{what}: GitHub is not reachable ({type(e).__name__}: {e})") from e
        policy.sleep(delay)
        waited += delay
    raise AssertionError("unreachable: the loop returns or raises")


def verify_repo(url: str, *, client: Github | None, expected_owner: str | None = None,
                policy: RetryPolicy = RetryPolicy()) -> RepoVerification:
    """Check that ``url`` names a reachable, non-empty repository holding source code.

    Never raises: no client (no token, no network) or an API we cannot reach is
    ``not_checked``; a missing, empty or code-less repository is ``failed``.
    """
    parsed = parse_repo_url(url)
    if parsed is None:
        return RepoVerification("failed", "not a https://github.com/OWNER/REPO URL")
    if client is None:
        return RepoVerification("not_checked", "no GitHub token or network access in this run")
    full_name = "/".join(parsed)
    try:
        repo = _call(lambda: client.get_repo(full_name), f"repository {full_name}", policy)
        owner = repo.owner.login
        if expected_owner is not None and owner.lower() != expected_owner.lower():
            return RepoVerification("failed", f"repository belongs to {owner}, not the PR author {expected_owner}")
        if not repo.size:
            return RepoVerification("failed", "repository is empty")
        tree = _call(lambda: repo.get_git_tree(repo.default_branch, recursive=True),
                     f"tree of {full_name}", policy)
    except GitHubError as e:
        cause = e.__cause__
        status = cause.status if isinstance(cause, GithubException) else None
        if status == 404:
            return RepoVerification("failed", "repository not found, or private and not readable with this token")
        if status == 409:
            return RepoVerification("failed", "repository is empty")
        return RepoVerification("not_checked", str(e))
    except Exception as e:  # never crash the grade over a verification  # noqa: BLE001
        return RepoVerification("not_checked", f"verification failed unexpectedly: {type(e).__name__}: {e}")
    code = [el.path for el in tree.tree if el.type == "blob" and el.path.lower().endswith(CODE_SUFFIXES)]
    if not code:
        return RepoVerification("failed", f"no source code files in the default branch {repo.default_branch}")
    return RepoVerification("verified", f"{full_name}: {len(code)} code file(s) on {repo.default_branch}")


def confirm_pr(client: Github, repo: str, pr_number: int, head_sha: str, *, head_repo: str | None = None,
               policy: RetryPolicy = RetryPolicy()) -> PullInfo:
    """PR ``pr_number`` as the API sees it; GitHubError unless its head is ``head_sha`` (and ``head_repo``)."""
    pull = _call(lambda: client.get_repo(repo).get_pull(pr_number), f"{repo}#{pr_number}", policy)
    actual_repo = pull.head.repo.full_name if pull.head.repo is not None else None
    info = PullInfo(pull.number, pull.head.sha, actual_repo, pull.user.login, pull.state)
    if info.head_sha != head_sha:
        raise StaleRun(f"{repo}#{pr_number}: head is {info.head_sha}, but the run graded {head_sha}: a newer "
                       "push superseded this run (its own run comments), so nothing is posted")
    if head_repo is not None and (actual_repo or "").lower() != head_repo.lower():
        raise PullMismatch(f"{repo}#{pr_number}: head repository is {actual_repo}, but the run came from "
                          f"{head_repo}; nothing is posted")
    return info


def find_pr(client: Github, repo: str, head_sha: str, *, policy: RetryPolicy = RetryPolicy()) -> int | None:
    """The number of the open PR whose head is ``head_sha`` (fork runs carry no PR list), or None."""
    def scan() -> int | None:
        for pull in client.get_repo(repo).get_pulls(state="open"):
            if pull.head.sha == head_sha:
                return pull.number
        return None
    return _call(scan, f"open PRs of {repo}", policy)


def find_merged_pr(client: Github, repository: str, sha: str, *, policy: RetryPolicy = RetryPolicy()) -> MergeInfo:
    """The merged PR that produced commit ``sha`` on the default branch, via ``commits/{sha}/pulls``.

    Prefers the PR whose ``merge_commit_sha`` is ``sha`` (merge or squash
    merge); otherwise accepts a single merged PR. Raises GitHubError otherwise,
    and checks the number and login the API answers before trusting them.
    """
    if not REPOSITORY.match(repository) or not SHA.match(sha):
        raise GraderError(f"bad repository {repository!r} or commit {sha!r}")

    def read() -> tuple[list[PullRequest], list[PullRequest]]:
        pulls = list(client.withLazy(True).get_repo(repository).get_commit(sha).get_pulls())  # lazy: only GET commits/{sha}/pulls
        merged = [p for p in pulls if p.merged_at is not None]
        return pulls, [p for p in merged if p.merge_commit_sha == sha] or merged
    try:
        pulls, chosen = _call(read, f"pull requests of {repository}@{sha}", policy)
    except GitHubError as e:
        cause = e.__cause__
        if not isinstance(cause, GithubException):
            raise
        hint = " (token needs contents: read and pull-requests: read)" if cause.status in (401, 403, 404) else ""
        raise GitHubError(f"{repository}@{sha}: listing pull requests failed: HTTP {cause.status}{hint}") from cause
    if len(chosen) != 1:
        raise GitHubError(f"{repository}@{sha}: expected one merged pull request, found {len(chosen)} "
                          f"(of {len(pulls)} associated); was this commit pushed without a PR?")
    number, login = chosen[0].number, chosen[0].user.login
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise GitHubError(f"{repository}@{sha}: API returned a bad PR number {number!r}")
    if not isinstance(login, str) or not LOGIN.match(login):
        raise GitHubError(f"{repository}@{sha}: API returned a bad login {login!r}")
    return MergeInfo(athlete_login=login, pr_number=number)


def changed_files(client: Github, repo: str, pr_number: int, *,
                  policy: RetryPolicy = RetryPolicy()) -> tuple[list[ChangedFile], int]:
    """The PR's changed files as the API lists them, and the PR's own count of changed files."""
    def read() -> tuple[list[ChangedFile], int]:
        pull = client.get_repo(repo).get_pull(pr_number)
        files = [ChangedFile(f.filename, f.status, f.previous_filename) for f in pull.get_files()]  # type: ignore[arg-type]
        return files, pull.changed_files
    return _call(read, f"files of {repo}#{pr_number}", policy)


def upsert_comment(client: Github, repo_full_name: str, pr_number: int, body: str, marker: str,
                   bot_login: str = DEFAULT_BOT_LOGIN, *, policy: RetryPolicy = RetryPolicy()) -> CommentOutcome:
    """Create or update the one comment of ``bot_login`` on the PR that carries ``marker``.

    Only the bot's own comments count, so a comment someone else wrote with the
    marker in it is left alone. The whole operation is retried (it looks again
    before creating), so a retried POST cannot leave two comments.
    """
    if marker not in body:
        raise ValueError("the comment body must contain its marker, or the next run could not find it")

    def upsert() -> CommentOutcome:
        pull = client.get_repo(repo_full_name).get_pull(pr_number)
        for comment in pull.get_issue_comments():
            if comment.user is not None and comment.user.login == bot_login and marker in (comment.body or ""):
                if comment.body == body:
                    return CommentOutcome("unchanged", comment.id, comment.html_url)
                comment.edit(body)
                return CommentOutcome("updated", comment.id, comment.html_url)
        created = pull.create_issue_comment(body)
        return CommentOutcome("created", created.id, created.html_url)
    return _call(upsert, f"comment on {repo_full_name}#{pr_number}", policy)


@dataclass(frozen=True)
class BoardPull:
    """The pull request carrying the bot's records when main does not take its push."""

    number: int
    url: str
    action: Literal["created", "updated"]
    auto_merge: bool
    note: str


def open_board_pr(client: Github, repo: str, branch: str, *, base: str = "main", title: str, body: str,
                  check_name: str | None = None, policy: RetryPolicy = RetryPolicy()) -> BoardPull:
    """Open (or find) the PR from ``branch`` into ``base`` and ask GitHub to merge it once its rules pass.

    A PR opened with the workflow's own token starts no workflow, so the required
    check would never report: with ``check_name`` the PR's head gets a commit
    status of that name (the records touch no submission, which is what the
    check passes anyway). Auto-merge is GraphQL-only and off unless the
    repository allows it; when it cannot be enabled the PR stays open for an
    organizer and ``note`` says why.
    """
    owner = repo.split("/")[0]

    def find_or_create() -> tuple[PullRequest, Literal["created", "updated"]]:
        gh_repo = client.get_repo(repo)
        for pull in gh_repo.get_pulls(state="open", head=f"{owner}:{branch}", base=base):
            return pull, "updated"
        return gh_repo.create_pull(base=base, head=branch, title=title, body=body, maintainer_can_modify=False), \
            "created"
    pull, action = _call(find_or_create, f"leaderboard PR from {branch} in {repo}", policy)
    if check_name:
        head = pull.head.sha
        _call(lambda: client.get_repo(repo).get_commit(head).create_status(
            "success", description="score records and leaderboard only: no submission to grade",
            context=check_name), f"status {check_name!r} on {head[:12]}", policy)
    auto, note = True, "auto-merge is on: GitHub merges it once the branch rules are met"
    try:
        _call(lambda: pull.enable_automerge(merge_method="MERGE"), f"auto-merge of {repo}#{pull.number}",
              RetryPolicy(max_attempts=1))
    except GitHubError as e:
        auto, note = False, f"auto-merge could not be enabled ({e}); an organizer merges it"
    return BoardPull(pull.number, pull.html_url, action, auto, note)
