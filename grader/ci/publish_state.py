"""Entries the leaderboard workflow could not publish, and how often it tried (``leaderboard-failures.json``).

One entry whose record cannot be written (its result is unusable, or the API
finds no merged PR for its commit) must not stop the others, nor be graded
again on every push forever. The publish step records each such entry with the
entry's source commit and an attempt count; the planner grades it again only
while ``attempts < max_attempts`` for that same commit (a new commit to the
folder starts over), and the board lists it under "Not on the board". All
functions here are pure except ``read``/``write``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from grader.core import markdown, schema
from grader.core.errors import GraderError
from grader.core.markdown import text

SCHEMA = "publish_state"
STATE_NAME = "leaderboard-failures.json"
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Failure:
    """One entry that could not be published for ``source_commit``, after ``attempts`` tries."""

    slug: str
    source_commit: str
    attempts: int
    reason: str


@dataclass(frozen=True)
class PublishState:
    """Every unpublished entry, by slug (sorted), and the retry bound."""

    failures: tuple[Failure, ...] = ()
    max_attempts: int = MAX_ATTEMPTS

    def get(self, slug: str) -> Failure | None:
        return next((f for f in self.failures if f.slug == slug), None)


def read(path: Path) -> PublishState:
    """The state in ``path``; an empty state when the file does not exist. GraderError when it is damaged."""
    if not path.exists():
        return PublishState()
    data = schema.read(path, SCHEMA, 4 * 1024 * 1024)
    return PublishState(tuple(Failure(slug, f["source_commit"], f["attempts"], f["reason"])
                              for slug, f in sorted(data["failures"].items())), data["max_attempts"])


def to_json(state: PublishState) -> dict[str, object]:
    return {"schema_version": 1, "max_attempts": state.max_attempts,
            "failures": {f.slug: {"source_commit": f.source_commit, "attempts": f.attempts, "reason": f.reason}
                         for f in state.failures}}


def write(path: Path, state: PublishState) -> None:
    """Write ``state``; with no failures left the file is removed (nothing on main to look at)."""
    if not state.failures:
        path.unlink(missing_ok=True)
        return
    schema.write(path, to_json(state), SCHEMA)


def failed(state: PublishState, slug: str, source_commit: str, reason: str) -> PublishState:
    """``state`` with one more failed attempt for ``slug`` at ``source_commit`` (a new commit counts from 1)."""
    if not reason:
        raise GraderError(f"a failure of {slug} needs a reason")
    previous = state.get(slug)
    attempts = previous.attempts + 1 if previous and previous.source_commit == source_commit else 1
    entry = Failure(slug, source_commit, attempts, reason[:2000])
    others = [f for f in state.failures if f.slug != slug]
    return replace(state, failures=tuple(sorted([*others, entry], key=lambda f: f.slug)))


def cleared(state: PublishState, slug: str) -> PublishState:
    """``state`` without ``slug`` (it was published, or its folder is gone)."""
    return replace(state, failures=tuple(f for f in state.failures if f.slug != slug))


def gave_up(state: PublishState, slug: str, source_commit: str | None) -> bool:
    """True when ``slug`` at ``source_commit`` already failed ``max_attempts`` times: do not grade it again."""
    entry = state.get(slug)
    return entry is not None and entry.source_commit == source_commit and entry.attempts >= state.max_attempts


def render_section(state: PublishState) -> str:
    """The board's "Not on the board" section (Markdown), or ``""`` when every entry was published."""
    if not state.failures:
        return ""
    rows = [(text(f.slug, 64), f"`{f.source_commit[:12]}`",
             f"{f.attempts} of {state.max_attempts}" + (" (gave up)" if f.attempts >= state.max_attempts else ""),
             text(f.reason, 400)) for f in state.failures]
    return "\n".join(["## Not on the board", "",
                      "These merged entries could not be recorded. The leaderboard workflow tries again on the "
                      f"next run, at most {state.max_attempts} times per commit; an organizer can fix the cause "
                      "and run the workflow by hand (*Run workflow*), or push a new commit to the folder.", "",
                      markdown.table(("Entry", "Commit", "Attempts", "Why"), rows), ""])
