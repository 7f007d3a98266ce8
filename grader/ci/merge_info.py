"""Trusted facts about merged entries: the push event, git history and the merged PR's author.

The leaderboard never believes a name a student typed: the athlete is the login
of the merged PR's author, found through the GitHub API from the commit on
main (``grader.ci.github_api.find_merged_pr`` answers a ``PullLookup``), and
the commit and time come from git and the event payload.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.contract.layout import RECORD_FILE
from grader.core import config
from grader.core.errors import GraderError
from grader.core.names import REPOSITORY

NULL_SHA = "0" * 40


@dataclass(frozen=True)
class MergeInfo:
    """Who merged what: the PR author's login and the PR number, checked for shape."""

    athlete_login: str
    pr_number: int | None  # None: committed to main directly by an organizer


# (repository "owner/name", commit sha) -> MergeInfo; injectable so callers can reuse a client.
PullLookup = Callable[[str, str], MergeInfo]


def _git(cwd: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, check=False,
                              timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise GraderError(f"git {' '.join(args)}: {e}") from e
    if done.returncode != 0:
        raise GraderError(f"git {' '.join(args)} in {cwd}: {done.stderr.strip() or 'failed'}")
    return done.stdout.strip()


def source_commit(submissions: Path, ref: str, slug: str) -> str | None:
    """The newest first-parent commit at ``ref`` that changed ``submissions/<slug>`` (its score.json aside).

    On main that is the merge (or squash) commit of the entry's PR. None when
    the folder does not exist at ``ref``.
    """
    out = _git(submissions, "log", "-1", "--first-parent", "--format=%H", ref, "--",
               slug, f":(exclude){slug}/score.json")
    return out or None


def commit_time(submissions: Path, ref: str) -> str:
    """Committer time of ``ref`` (ISO 8601 with offset): a trusted, repeatable date."""
    return _git(submissions, "show", "-s", "--format=%cI", ref)


def _field(data: Any, *keys: str, source: str) -> Any:
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            raise GraderError(f"{source}: event payload has no {'.'.join(keys)}")
        data = data[key]
    return data


def event_repository(event: dict[str, Any], source: str) -> str:
    """``repository.full_name`` of the event, checked."""
    name = _field(event, "repository", "full_name", source=source)
    if not isinstance(name, str) or not REPOSITORY.match(name):
        raise GraderError(f"{source}: repository.full_name {name!r} is not owner/name")
    return name


def event_graded_at(event_name: str, event: dict[str, Any], submissions: Path, graded_commit: str,
                    source: str) -> str:
    """When the run graded: the pushed head commit's timestamp, or for a regrade the graded commit's time."""
    if event_name == "push":
        stamp = _field(event, "head_commit", "timestamp", source=source)
        if not isinstance(stamp, str):
            raise GraderError(f"{source}: head_commit.timestamp is not a string")
        return stamp
    if event_name == "workflow_dispatch":
        return commit_time(submissions, graded_commit)
    raise GraderError(f"{source}: unsupported event {event_name!r} (push or workflow_dispatch)")


def _folders(submissions: Path, ref: str) -> list[str]:
    out = _git(submissions, "ls-tree", "-d", "--name-only", ref, "--", ".")
    slug = config.load().submission.slug
    return sorted(name for name in out.splitlines() if slug.fullmatch(name))


def _is_commit(submissions: Path, sha: str) -> bool:
    try:
        _git(submissions, "cat-file", "-e", f"{sha}^{{commit}}")
    except GraderError:
        return False
    return True


def _recorded_sha(record: Path) -> str | None:
    """``merge_commit_sha`` of an existing record, or None when absent or unreadable (it gets rewritten)."""
    try:
        value = json.loads(record.read_text(encoding="utf-8")).get("merge_commit_sha")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def to_grade(submissions: Path, after: str, before: str | None, everything: bool,
             gave_up: Callable[[str, str | None], bool] = lambda slug, source: False) -> list[str]:
    """Slugs the run must grade, sorted.

    Everything for a regrade (or when ``before`` is unknown); else folders the
    push changed (score.json aside), plus any folder whose record is missing or
    names another commit: GitHub cancels a pending run when a third push queues
    in the same concurrency group, and this makes the next run pick its entry up.
    Such a catch-up is skipped once ``gave_up(slug, source_commit)`` says the
    entry failed to publish too often at that commit (the push that changes it
    and a regrade-all still grade it).
    """
    folders = _folders(submissions, after)
    if everything or not before or before == NULL_SHA or not _is_commit(submissions, before):
        return folders
    changed = set()
    for path in _git(submissions, "diff", "--relative", "--name-only", before, after, "--", ".").splitlines():
        parts = path.split("/")
        if len(parts) >= 2 and parts[1:] != [RECORD_FILE]:
            changed.add(parts[0])
    for slug in folders:
        source = source_commit(submissions, after, slug)
        if _recorded_sha(submissions / slug / RECORD_FILE) != source and not gave_up(slug, source):
            changed.add(slug)
    return [slug for slug in folders if slug in changed]
