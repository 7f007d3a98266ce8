"""Job 2 of the leaderboard workflow: turn one trusted re-grade into ``submissions/<slug>/score.json``.

Runs no submission code. Everything written comes from a schema-checked
``result.json``, git history of main, the event payload and the GitHub API.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.board import record
from grader.ci import publish_state
from grader.ci.merge_info import PullLookup, event_graded_at, event_repository, source_commit
from grader.contract.layout import RECORD_FILE
from grader.core import config, schema
from grader.core.errors import GraderError
from grader.core.names import SHA
from grader.judge.result import GradeResult


@dataclass(frozen=True)
class Outcome:
    """What ``record_result`` did: ``written`` or ``skipped`` (with why), and the record's path."""

    action: str
    path: Path
    detail: str


def _existing(path: Path) -> record.ScoreRecord | None:
    try:
        return record.read(path) if path.exists() else None
    except GraderError:
        return None  # a damaged record is replaced, never trusted


def record_result(result_path: Path, slug: str, submissions: Path, event: dict[str, Any], event_name: str,
                  graded_commit: str, lookup: PullLookup, event_source: str = "event.json") -> Outcome:
    """Write the score record for the grade of ``slug`` at ``graded_commit`` into its folder on main.

    Skips (writes nothing) when the folder is gone from main or changed after
    ``graded_commit``: a newer run grades that version. The PR author is reused
    from an existing record only when it names the same merge commit (a student
    cannot know that sha in advance); otherwise it is looked up through the API.
    """
    if not config.load().submission.slug.fullmatch(slug):
        raise GraderError(f"bad slug {slug!r}")
    if not SHA.match(graded_commit):
        raise GraderError(f"graded commit {graded_commit!r} is not a 40-hex sha")
    result = GradeResult.from_json(schema.read(result_path, "result"), str(result_path))
    graded_slug = record.submission_of(result, str(result_path)).slug
    if graded_slug != slug:
        raise GraderError(f"{result_path}: graded slug {graded_slug!r} is not {slug!r}")
    out = submissions / slug / RECORD_FILE
    graded_source = source_commit(submissions, graded_commit, slug)
    head_source = source_commit(submissions, "HEAD", slug)
    if graded_source is None or head_source is None:
        return Outcome("skipped", out, f"{slug} is not on main at both {graded_commit[:12]} and HEAD")
    if graded_source != head_source:
        return Outcome("skipped", out, f"{slug} changed after {graded_commit[:12]} (now {head_source[:12]}); "
                                       "the run for that change records it")
    repository = event_repository(event, event_source)
    previous = _existing(out)
    if previous and previous.merge_commit_sha == head_source and previous.repository == repository:
        login, number = previous.athlete_login, previous.pr_number
    else:
        info = lookup(repository, head_source)
        login, number = info.athlete_login, info.pr_number
    graded_at = event_graded_at(event_name, event, submissions, graded_commit, event_source)
    provenance = record.Provenance(athlete_login=login, repository=repository, pr_number=number,
                                   merge_commit_sha=head_source, graded_at=graded_at)
    record.write(out, record.build(result, provenance, str(result_path)))
    merged_by = f"PR #{number}" if number else "organizer commit"
    return Outcome("written", out, f"{slug}: {merged_by} by {login}, status {result.status}")


def chunks(slugs: list[str], size: int, max_chunks: int = 256) -> list[str]:
    """``slugs`` split into space-joined groups for a job matrix (GitHub allows 256 jobs per matrix)."""
    if not slugs:
        return []
    size = max(size, 1, math.ceil(len(slugs) / max_chunks))
    return [" ".join(slugs[i:i + size]) for i in range(0, len(slugs), size)]


@dataclass(frozen=True)
class Published:
    """What ``publish_all`` did for one slug: ``written``, ``skipped`` or ``failed`` (with why)."""

    slug: str
    action: str
    detail: str
    attempts: int = 0


def publish_all(slugs: list[str], results: Path, submissions: Path, event: dict[str, Any], event_name: str,
                graded_commit: str, lookup: PullLookup, state: publish_state.PublishState,
                event_source: str = "event.json") -> tuple[list[Published], publish_state.PublishState]:
    """Record every slug's result on its own: one failure never stops the others.

    A slug fails when its grade left no ``result.json`` or its record cannot be
    written (an unusable result, no merged PR for its commit); it is counted in
    the returned state against its current source commit, so the planner
    retries it a bounded number of times. Programming errors still raise.
    """
    done: list[Published] = []
    for slug in slugs:
        source = source_commit(submissions, "HEAD", slug) if config.load().submission.slug.fullmatch(slug) else None
        result_path = results / slug / "result.json"
        try:
            if not result_path.is_file():
                raise GraderError(f"{slug}: the grade job left no result.json (see that job's log)")
            outcome = record_result(result_path, slug, submissions, event, event_name, graded_commit, lookup,
                                    event_source)
        except GraderError as e:
            if source is None:
                done.append(Published(slug, "skipped", f"{slug} is no longer on main ({e})"))
                state = publish_state.cleared(state, slug)
                continue
            state = publish_state.failed(state, slug, source, str(e))
            entry = state.get(slug)
            done.append(Published(slug, "failed", str(e), entry.attempts if entry else 0))
            continue
        if outcome.action == "written" or source is None:
            state = publish_state.cleared(state, slug)
        done.append(Published(slug, outcome.action, outcome.detail))
    return done, state
