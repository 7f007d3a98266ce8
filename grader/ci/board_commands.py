"""The steps that publish the board, each returning its exit code.

``to_grade`` (which merged entries a leaderboard run grades), ``publish`` (every
re-graded entry's ``score.json``; one failure never stops the others), ``record``
(one entry's ``score.json``, also by hand for an organizer's own commit),
``board_pr`` (the PR carrying the bot's records) and ``leaderboard`` (rebuild or
check ``leaderboard.md``). The ``tinymlperf`` CLI turns flags into these arguments
and builds the GitHub clients; who is looked up how, and which outcome is which
exit code, is decided here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from github import Github

from grader import __version__
from grader.board import leaderboard, record, standings
from grader.ci import actions, merge_info, publish, publish_state
from grader.ci import github_api as gh
from grader.ci.annotations import emit
from grader.core import config, files, names
from grader.core.errors import EXIT_INVALID, EXIT_OK, UsageError
from grader.core.paths import BASELINE_WEIGHTS


def _state_path(state: Path | None, submissions: Path) -> Path:
    """``leaderboard-failures.json`` beside the submissions folder unless given (the board reads it there)."""
    return state or submissions.parent / publish_state.STATE_NAME


@dataclass(frozen=True)
class ToGradeOptions:
    """``to-grade``: the entries a push (``before``..``after``) or a regrade-all (``everything``) must grade."""

    submissions: Path
    after: str = "HEAD"
    before: str | None = None
    everything: bool = False
    chunk_size: int = 4
    state: Path | None = None


def run_to_grade(options: ToGradeOptions) -> int:
    """Print the slugs to grade as the planner's JSON list of chunks (entries given up on are left out)."""
    state = publish_state.read(_state_path(options.state, options.submissions))
    slugs = merge_info.to_grade(options.submissions, options.after, options.before, options.everything,
                                lambda slug, source: publish_state.gave_up(state, slug, source))
    print(json.dumps(publish.chunks(slugs, options.chunk_size)))
    return EXIT_OK


@dataclass(frozen=True)
class RecordOptions:
    """``record``: one trusted re-grade of ``slug`` to turn into its ``score.json``."""

    result: Path
    slug: str
    event: dict[str, Any]  # the event payload
    event_source: str  # where the payload came from, for messages
    event_name: str
    graded_commit: str
    submissions: Path


def pull_lookup(organizer: str | None, client: Github | None) -> merge_info.PullLookup:
    """Who a merged entry belongs to: the ``organizer`` who committed it to main directly, else the merged
    PR's author, asked through ``client``."""
    if organizer is not None:
        if not names.LOGIN.match(organizer):
            raise UsageError(f"record: --organizer {organizer!r} is not a GitHub login")
        info = merge_info.MergeInfo(athlete_login=organizer, pr_number=None)
        return lambda repo, sha: info
    if client is None:
        raise UsageError("record: without --organizer the merged PR is looked up, which needs a GitHub client")
    return lambda repo, sha: gh.find_merged_pr(client, repo, sha)


def run_record(options: RecordOptions, *, lookup: merge_info.PullLookup) -> int:
    """Write (or skip, saying why) the entry's score record; ``lookup`` says whose entry it is."""
    outcome = publish.record_result(options.result, options.slug, options.submissions, options.event,
                                    options.event_name, options.graded_commit, lookup, options.event_source)
    print(f"{outcome.path}: {outcome.action}: {outcome.detail}")
    return EXIT_OK


@dataclass(frozen=True)
class PublishOptions:
    """``publish``: every graded entry of the run (``results/<slug>/result.json``) into its ``score.json``."""

    slugs: tuple[str, ...]
    results: Path
    event: dict[str, Any]
    event_source: str
    event_name: str
    graded_commit: str
    submissions: Path
    state: Path | None = None
    summary: Path | None = None
    github_output: Path | None = None


def parse_chunks(chunks: str) -> tuple[str, ...]:
    """The slugs of the planner's JSON list of space-joined chunks (``to-grade``'s output)."""
    try:
        return tuple(" ".join(json.loads(chunks)).split())
    except (ValueError, TypeError) as e:
        raise UsageError(f"publish: --chunks is not the planner's JSON list: {e}") from e


def run_publish(options: PublishOptions, *, client: Github) -> int:
    """Publish every entry; exit 0 even when some failed (annotations, summary, output ``unpublished``, state)."""
    state_path = _state_path(options.state, options.submissions)
    done, state = publish.publish_all(
        list(options.slugs), options.results, options.submissions, options.event, options.event_name,
        options.graded_commit, lambda repo, sha: gh.find_merged_pr(client, repo, sha),
        publish_state.read(state_path), options.event_source)
    publish_state.write(state_path, state)
    lines = []
    for item in done:
        if item.action == "failed":
            tries = f"attempt {item.attempts} of {state.max_attempts}"
            print(emit(f"{item.detail} ({tries})", title=f"Not published: {item.slug}",
                                      file=f"submissions/{item.slug}"))
            lines.append(f"- ❌ `{item.slug}` not published ({tries}): {item.detail}")
        else:
            print(f"{item.slug}: {item.action}: {item.detail}")
            lines.append(f"- `{item.slug}` {item.action}: {item.detail}")
    if options.summary:
        actions.append_summary(options.summary, "\n".join(["### Leaderboard records", "", *lines, ""]))
    if options.github_output:
        actions.write_output(options.github_output, "unpublished",
                             " ".join(i.slug for i in done if i.action == "failed"))
    return EXIT_OK


@dataclass(frozen=True)
class BoardPrOptions:
    """``board-pr``: the branch the bot pushed its records to and the PR to open for it."""

    repo: str
    branch: str
    base: str = "main"
    title: str = "leaderboard: record re-graded entries"
    body: str = ""
    check: str = "Grade submission"  # required check reported as passed on the head ("" for none)


def run_board_pr(options: BoardPrOptions, *, client: Github) -> int:
    """Open (or find) the PR, enable auto-merge, and say what was done as a notice."""
    pull = gh.open_board_pr(client, options.repo, options.branch, base=options.base, title=options.title,
                            check_name=options.check, body=options.body)
    print(f"::notice title=Leaderboard PR::{pull.action} {pull.url}; {pull.note}")
    return EXIT_OK


@dataclass(frozen=True)
class LeaderboardOptions:
    """``leaderboard``: the records to build ``out`` from, or only ``check`` that ``out`` is up to date."""

    submissions: Path
    out: Path
    check: bool = False
    config: Path | None = None
    baseline_weights: Path = BASELINE_WEIGHTS
    standings: Path = Path("standings.json")  # the latest standings run, read when it exists


def unpublished_section(submissions: Path) -> str:
    """The board's "Not on the board" section from leaderboard-failures.json beside submissions/."""
    section = publish_state.render_section(publish_state.read(submissions.parent / publish_state.STATE_NAME))
    return f"\n{section}" if section else ""


def run_leaderboard(options: LeaderboardOptions) -> int:
    """Write ``out`` (exit 0), or with ``check`` say whether it is up to date (exit 0) or not (exit 1)."""
    competition = config.load(options.config)
    records = record.load_all(options.submissions)
    # With no records nothing can be stale, so the weights are only needed once records exist.
    sha = leaderboard.baseline_sha256(options.baseline_weights) if records else None
    latest = standings.read(options.standings) if options.standings.exists() else None
    board = leaderboard.build(records, leaderboard.CurrentGrader(__version__, sha), competition.per_athlete,
                              competition.chart_entries, competition.name, standings=latest)
    content = leaderboard.render(board) + unpublished_section(options.submissions)
    if options.check:
        try:
            same = options.out.read_text(encoding="utf-8") == content
        except OSError:
            same = False
        print(f"{options.out}: {'up to date' if same else 'out of date; run tinymlperf leaderboard'}")
        return EXIT_OK if same else EXIT_INVALID
    files.write_atomic(options.out, content)
    print(f"{options.out}: written from {len(records)} score record(s)")
    return EXIT_OK
