"""Whether a submission's linked GitHub repository exists and holds code: the ``verify-repo`` step and
how ``grade`` learns the answer.

In CI a separate step verifies the repository (holding the token) and writes the
answer to a file (``repo_verification.schema.json``) that ``grade`` reads, so the
step that runs submission code never has a token in its environment. Locally,
``grade`` asks GitHub directly when it has a client; with neither it is "not checked".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from github import Github

from grader.ci import github_api as gh
from grader.ci import merge_info
from grader.contract.submission import RepoVerification
from grader.contract.validate import validate_folder
from grader.core import config, schema
from grader.core.config import Competition
from grader.core.errors import EXIT_ERROR, EXIT_INVALID, EXIT_OK, GraderError, UsageError

Verifier = Callable[[str], RepoVerification]


def from_file(path: Path) -> Verifier:
    """The answer saved by ``verify-repo --out``; it speaks only for the URL it verified."""
    saved = schema.read(path, "repo_verification")

    def verify(url: str) -> RepoVerification:
        if saved["url"] != url:
            return RepoVerification("not_checked", "the verification file is about another URL")
        return RepoVerification(saved["status"], saved["reason"])
    return verify


def verifier(competition: Competition, *, saved: Path | None, client: Github | None,
             pr_author: str | None) -> Verifier | None:
    """How ``grade`` checks the linked repository: the ``saved`` file, else ``client``, else not at all (None).

    ``pr_author`` must own the repository when the config's ``require_owner_match`` is on.
    """
    if saved is not None:
        return from_file(saved)
    if client is None:
        return None
    owner = pr_author if competition.require_owner_match else None
    return lambda url: gh.verify_repo(url, client=client, expected_owner=owner)


def submission_repo_url(folder: Path, competition: Competition) -> str | None:
    """The ``github_repo`` of ``folder``'s submission.yaml, or None when it does not read."""
    submission = validate_folder(folder, competition).submission
    return submission.github_repo if submission else None


def merged_pr_author(folder: Path | None, repository: str, client: Github) -> str:
    """The author of the merged PR that last changed ``folder`` on HEAD (the leaderboard's athlete)."""
    if folder is None:
        raise UsageError("verify-repo: --merged-pr-author needs --submission")
    source = merge_info.source_commit(folder.parent, "HEAD", folder.name)
    if source is None:
        raise GraderError(f"{folder} is not in HEAD's history")
    return gh.find_merged_pr(client, repository, source).athlete_login


@dataclass(frozen=True)
class VerifyRepoOptions:
    """``verify-repo``: exactly one of ``url`` and ``submission`` (the folder whose submission.yaml links it)."""

    url: str | None
    submission: Path | None
    expected_owner: str | None = None
    pr_author: str | None = None
    merged_pr_author: bool = False
    repository: str = ""  # owner/name of the competition repository, for --merged-pr-author
    config: Path | None = None
    out: Path | None = None


def run(options: VerifyRepoOptions, *, client: Github | None, merge_client: Github) -> int:
    """Verify the repository, print ``status: reason``, write ``out``; exit 0 verified, 1 failed, 2 not checked.

    ``client`` asks about the repository (None: no token, so "not checked");
    ``merge_client`` finds the merged PR for ``merged_pr_author``.
    """
    competition = config.load(options.config)
    if options.url is not None:
        url: str | None = options.url
    elif options.submission is not None:
        url = submission_repo_url(options.submission, competition)
    else:
        raise UsageError("verify-repo: give either URL or --submission DIR")
    if url is None:
        verification = RepoVerification("not_checked", f"{options.submission} has no readable github_repo "
                                                       "(tinymlperf validate says why)")
        url = ""
    else:
        verification = _verify(url, options, competition, client=client, merge_client=merge_client)
    if options.out:
        schema.write(options.out, {"schema_version": 1, "url": url, "status": verification.status,
                                   "reason": verification.reason}, "repo_verification")
    print(f"{verification.status}: {verification.reason}")
    return {"verified": EXIT_OK, "failed": EXIT_INVALID}.get(verification.status, EXIT_ERROR)


def _verify(url: str, options: VerifyRepoOptions, competition: Competition, *, client: Github | None,
            merge_client: Github) -> RepoVerification:
    """Ask GitHub about ``url``, for the owner the options and the competition's owner rule name."""
    owner = options.expected_owner or (options.pr_author if competition.require_owner_match else None)
    if owner is None and options.merged_pr_author and competition.require_owner_match:
        try:
            owner = merged_pr_author(options.submission, options.repository, merge_client)
        except GraderError as e:
            return RepoVerification("not_checked", f"the merged PR's author is unknown: {e}")
    return gh.verify_repo(url, client=client, expected_owner=owner)
