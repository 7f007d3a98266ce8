"""``leaderboard.md``: score records in, one deterministic Markdown page out.

``build`` turns records (and the latest ``standings.json``, when there is one)
into ranked rows (pure); ``render`` turns those rows into Markdown (pure);
the caller writes it (``grader.core.files.write_atomic``). A standings run's ranking is the
ranking of record; entries it did not time (or that changed since) are listed
as provisional, ranked by their own per-PR grading. The same records always
give the same bytes: no clock, total sort orders, fixed number formats, and
``grader.core.markdown.table`` (padding that does not depend on the machine).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from grader import __version__
from grader.board.record import BaselineMetrics, ScoreRecord
from grader.core import markdown
from grader.core.errors import GraderError
from grader.core.markdown import repo_link, text
from grader.core.names import REPOSITORY
from grader.core.paths import BASELINE_WEIGHTS

PerAthlete = Literal["best", "latest"]
DIVISIONS: tuple[tuple[str, str], ...] = (("closed", "Closed Division"), ("open", "Open Division"))
HEADERS = ("Rank", "Athlete", "Speedup (95% CI)", "Compression", "Accuracy", "Δ accuracy", "Efficiency",
           "Techniques", "Repo", "PR", "Graded")
RIGHT_ALIGNED = (0, 2, 3, 4, 5, 6)  # rank and the numbers
RECORD_HEADERS = ("Rank", "Athlete", "Speedup (95% CI)", "Compression", "Accuracy", "Δ accuracy", "Efficiency",
                  "Versus next", "Per-PR grading", "Repo", "PR")
RECORD_RIGHT = (0, 2, 3, 4, 5, 6)
SUPERSEDED_HEADERS = ("Entry", "Athlete", "Speedup (95% CI)", "Compression", "Accuracy", "Efficiency",
                      "Why not ranked")
SUPERSEDED_RIGHT = (2, 3, 4, 5)


@dataclass(frozen=True)
class CurrentGrader:
    """What records are compared with: this grader's version and the baseline weights' sha256.

    ``baseline_sha256`` may be None only when there are no records to judge.
    """

    version: str
    baseline_sha256: str | None


@dataclass(frozen=True)
class LeaderboardRow:
    rank: int
    record: ScoreRecord
    stale: bool


@dataclass(frozen=True)
class RecordRow:
    """A row of the ranking of record: the entry's standings figures, and how it compares with the next row."""

    rank: int
    tied: bool
    record: ScoreRecord
    speedup: float
    speedup_low: float | None
    speedup_high: float | None
    efficiency: float
    next_record: ScoreRecord | None
    next_resolved: bool
    next_compared: bool  # False when the row between them in the run has left the ranking of record


@dataclass(frozen=True)
class StandingsRun:
    """What the ranking of record came from."""

    started_at: str
    machines: tuple[str, ...]  # one per group (job), "CPU model, N cores"
    grader_version: str
    entries: int
    rounds: int
    pairs_per_round: int
    speed_quantile: float
    confidence: float
    stale: str | None  # why its grader or baseline differs from the current one
    excluded: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Superseded:
    """A valid entry left off the division's tables by the per-athlete rule, and the entry ranked instead."""

    record: ScoreRecord
    kept: ScoreRecord  # the same athlete's entry that is ranked in this division


@dataclass(frozen=True)
class DivisionTable:
    key: str
    title: str
    rows: tuple[LeaderboardRow, ...]  # provisional: ranked by per-PR gradings
    superseded: tuple[Superseded, ...]  # in rank order (efficiency, then the earlier entry)
    of_record: tuple[RecordRow, ...] = ()


@dataclass(frozen=True)
class NotRanked:
    record: ScoreRecord
    reason: str


@dataclass(frozen=True)
class Reference:
    """The baseline's metrics and the record whose grading run measured them."""

    metrics: BaselineMetrics
    measured_in: ScoreRecord


@dataclass(frozen=True)
class Board:
    title: str
    per_athlete: PerAthlete
    chart_entries: int
    record_count: int
    divisions: tuple[DivisionTable, ...]
    not_ranked: tuple[NotRanked, ...]
    stale: tuple[tuple[ScoreRecord, str], ...]
    reference: Reference | None
    standings: StandingsRun | None = None


def baseline_sha256(weights: Path) -> str:
    """sha256 of the baseline weights file; GraderError naming it when it is missing."""
    try:
        return hashlib.sha256(weights.read_bytes()).hexdigest()
    except OSError as e:
        raise GraderError(f"{weights}: cannot read the baseline weights to tell stale records apart: "
                          f"{e.strerror or e}") from e


def current_grader(weights: Path = BASELINE_WEIGHTS) -> CurrentGrader:
    """This grader: its version and the sha256 of ``weights`` (default: the packaged baseline's)."""
    return CurrentGrader(__version__, baseline_sha256(weights))


def stale_reason(record: ScoreRecord, current: CurrentGrader) -> str | None:
    """Why ``record`` no longer matches the current grader, or None when it does."""
    reasons = []
    if record.grader_version != current.version:
        reasons.append(f"grader {record.grader_version} (current {current.version})")
    if record.baseline_sha256 != current.baseline_sha256:
        reasons.append(f"baseline weights {record.baseline_sha256[:12]} (current {str(current.baseline_sha256)[:12]})")
    return "; ".join(reasons) or None


def _earlier(r: ScoreRecord) -> tuple[str, int, str]:
    return (r.graded_at, r.pr_number or 0, r.slug)


def _rank_key(r: ScoreRecord) -> tuple[float, str, int, str]:
    assert r.scores is not None
    return (-r.scores.efficiency, *_earlier(r))


def _not_ranked_reason(r: ScoreRecord) -> str:
    if r.status == "error":
        return f"could not be graded: {r.error or 'no detail'}"
    if r.failed_checks:
        return "; ".join(f"{c.id}: {c.message}" for c in r.failed_checks)
    return "failed a rule (no check detail recorded)"


def _choose(entries: list[ScoreRecord], per_athlete: PerAthlete) -> ScoreRecord:
    if per_athlete == "best":
        return min(entries, key=_rank_key)
    return max(entries, key=_earlier)


def _of_record(standings: dict[str, Any] | None, division: str,
               by_slug: dict[str, ScoreRecord]) -> tuple[RecordRow, ...]:
    """The standings rows whose score record is still the one that was timed (same merge commit, valid)."""
    if standings is None:
        return ()
    kept = [row for row in standings["divisions"][division]
            if (r := by_slug.get(row["slug"])) is not None and r.status == "valid" and r.scores is not None
            and r.merge_commit_sha == row["merge_commit_sha"]]
    out = []
    for i, row in enumerate(kept):
        # A row that dropped out breaks the comparison chain: the rows around it were not compared.
        following = kept[i + 1] if i + 1 < len(kept) else None
        nxt = row["next"]
        adjacent = following is not None and nxt is not None and nxt["slug"] == following["slug"]
        out.append(RecordRow(row["rank"], row["tied"], by_slug[row["slug"]], row["speedup"]["estimate"],
                             row["speedup"]["low"], row["speedup"]["high"], row["efficiency"],
                             by_slug[following["slug"]] if following else None,
                             adjacent and bool(nxt and nxt["resolved"]), adjacent))
    return tuple(out)


def _standings_run(standings: dict[str, Any], current: CurrentGrader) -> StandingsRun:
    reasons = []
    if standings["grader_version"] != current.version:
        reasons.append(f"grader {standings['grader_version']} (current {current.version})")
    if standings["baseline_sha256"] != current.baseline_sha256:
        reasons.append(f"baseline weights {standings['baseline_sha256'][:12]} "
                       f"(current {str(current.baseline_sha256)[:12]})")
    return StandingsRun(
        started_at=standings["started_at"],
        machines=tuple(f"{g['hardware']['cpu_model']}, {g['hardware']['cores']} cores" for g in standings["groups"]),
        grader_version=standings["grader_version"],
        entries=len({s for g in standings["groups"] for s in g["entries"]}),
        rounds=standings["rounds"], pairs_per_round=standings["pairs_per_round"],
        speed_quantile=standings["speed_quantile"],
        confidence=standings["confidence"], stale="; ".join(reasons) or None,
        excluded=tuple((e["slug"], e["reason"]) for e in standings["excluded"]))


def build(records: Sequence[ScoreRecord], current: CurrentGrader, per_athlete: PerAthlete,
          chart_entries: int, title: str = "TinyMLPerf", standings: dict[str, Any] | None = None) -> Board:
    """Rank ``records``: one entry per athlete and division, ties to the earlier entry.

    Only ``valid`` records are ranked; ``per_athlete`` picks the best (highest
    efficiency) or the latest of an athlete's valid entries in a division; the
    athlete's other valid entries are listed under the division as superseded,
    naming the entry ranked instead. Every record that is not valid is listed as
    not ranked, with its reason. With ``standings``
    (a schema-checked ``standings.json``), the entries it timed whose records
    are unchanged form the ranking of record; the other ranked entries are provisional.
    """
    if records and current.baseline_sha256 is None:
        raise GraderError("the current baseline sha256 is needed to judge records")
    stale = {r.source: stale_reason(r, current) for r in records}
    by_slug = {r.slug: r for r in records}
    tables = []
    for key, heading in DIVISIONS:
        valid = [r for r in records if r.division == key and r.status == "valid" and r.scores is not None]
        by_athlete: dict[str, list[ScoreRecord]] = {}
        for r in valid:
            by_athlete.setdefault(r.athlete_login.lower(), []).append(r)
        of_record = _of_record(standings, key, by_slug)
        timed = {row.record.slug for row in of_record}
        kept = {athlete: _choose(entries, per_athlete) for athlete, entries in by_athlete.items()}
        chosen = sorted(kept.values(), key=_rank_key)
        provisional = [r for r in chosen if r.slug not in timed]
        rows = tuple(LeaderboardRow(i + 1, r, stale[r.source] is not None) for i, r in enumerate(provisional))
        shown = timed | {r.slug for r in chosen}
        # A timed entry stays in the ranking of record even when its athlete has a newer choice: it is shown there.
        superseded = tuple(Superseded(r, kept[r.athlete_login.lower()])
                           for r in sorted(valid, key=_rank_key) if r.slug not in shown)
        tables.append(DivisionTable(key, heading, rows, superseded, of_record))
    not_ranked = tuple(NotRanked(r, _not_ranked_reason(r))
                       for r in sorted(records, key=lambda r: (r.division, *_earlier(r)))
                       if not (r.status == "valid" and r.scores is not None))
    fresh = [r for r in records if stale[r.source] is None and r.baseline is not None]
    newest = max(fresh, key=_earlier, default=None)
    reference = None if newest is None or newest.baseline is None else Reference(newest.baseline, newest)
    return Board(
        title=title, per_athlete=per_athlete, chart_entries=chart_entries, record_count=len(records),
        divisions=tuple(tables), not_ranked=not_ranked,
        stale=tuple((r, reason) for r in sorted(records, key=lambda r: r.slug)
                    if (reason := stale[r.source]) is not None),
        reference=reference,
        standings=None if standings is None else _standings_run(standings, current),
    )


# ---------------------------------------------------------------- rendering


def _num(value: float, digits: int = 2) -> str:
    out = f"{value:.{digits}f}"
    return "0." + "0" * digits if out == "-0." + "0" * digits else out


def _signed_pp(value: float) -> str:
    out = _num(value)
    return out + " pp" if out.startswith("-") else f"+{out} pp"


def _pr_link(r: ScoreRecord) -> str:
    # Built only from schema-checked parts: owner/name pattern and a positive integer.
    if r.pr_number is None:
        return "organizer commit"
    if not REPOSITORY.match(r.repository) or type(r.pr_number) is not int:
        raise GraderError(f"{r.source}: repository or pr_number has a bad shape")
    return f"[#{r.pr_number}](https://github.com/{r.repository}/pull/{r.pr_number})"


def _athlete(r: ScoreRecord) -> str:
    name = text(r.athlete_name, 60)
    login = text(r.athlete_login, 40)
    return f"{name} ({login})" if name else login


def _techniques(items: Iterable[str]) -> str:
    items = [t for t in items if text(t)]
    shown = [text(t, 60) for t in items[:4]]
    if len(items) > 4:
        shown.append(f"+{len(items) - 4} more")
    return ", ".join(shown) or "—"


def _repo(r: ScoreRecord) -> str:
    link = repo_link(r.github_repo) if r.github_repo else "—"
    return link if r.repo_verification_status == "verified" else f"{link} (not verified)"


def _speedup(r: ScoreRecord) -> str:
    assert r.scores is not None
    s = r.scores
    if s.speedup_ci_low is None or s.speedup_ci_high is None:
        return f"{_num(s.speedup)}× (CI inconclusive)"
    return f"{_num(s.speedup)}× ({_num(s.speedup_ci_low)}–{_num(s.speedup_ci_high)})"


def _row(row: LeaderboardRow) -> tuple[str, ...]:
    r = row.record
    assert r.scores is not None
    graded = r.graded_date + (" (stale)" if row.stale else "")
    accuracy = "—" if r.accuracy_pct is None else f"{_num(r.accuracy_pct)}%"
    return (str(row.rank), _athlete(r), _speedup(r), f"{_num(r.scores.compression)}×", accuracy,
            _signed_pp(r.scores.accuracy_delta_pp), _num(r.scores.efficiency), _techniques(r.techniques),
            _repo(r), _pr_link(r), graded)


def _reference_row(ref: Reference) -> tuple[str, ...]:
    return ("ref", "Baseline CNN (reference)", "1.00×", "1.00×", f"{_num(ref.metrics.accuracy_pct)}%",
            "+0.00 pp", "1.00", "—", "—", _pr_link(ref.measured_in), ref.measured_in.graded_date)


_MERMAID_KEEP = re.compile(r"[^\w .-]", re.UNICODE)


def mermaid_label(value: str, max_length: int = 24) -> str:
    """``value`` reduced to letters, digits, spaces, ``.``, ``-`` and ``_``: nothing Mermaid can parse as syntax."""
    kept = " ".join(_MERMAID_KEEP.sub(" ", value).split())
    return kept[:max_length].rstrip()


def _chart(title: str, bars: Sequence[tuple[str, float]], limit: int) -> list[str]:
    top = bars[:limit]
    if not top:
        return []
    labels = ", ".join(f'"{label}"' for label, _ in top)
    values = ", ".join(_num(value) for _, value in top)
    return ["```mermaid", "xychart-beta", f'    title "{title}: top {len(top)} by efficiency"',
            f"    x-axis [{labels}]", '    y-axis "Efficiency"', f"    bar [{values}]", "```", ""]


def _label(rank: str, r: ScoreRecord) -> str:
    return f"{rank}. {mermaid_label(r.athlete_name) or r.athlete_login}"


def _interval(value: float, low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return f"{_num(value)}× (CI inconclusive)"
    return f"{_num(value)}× ({_num(low)}–{_num(high)})"


def _record_row(row: RecordRow, confidence: float) -> tuple[str, ...]:
    r = row.record
    assert r.scores is not None
    if row.next_record is None:
        versus = "—"
    elif not row.next_compared:
        versus = f"not compared with {_athlete(row.next_record)} in this run"
    elif row.next_resolved:
        versus = f"ahead of {_athlete(row.next_record)}, {confidence:.0%}"
    else:
        versus = f"tied with {_athlete(row.next_record)} (not resolved)"
    accuracy = "—" if r.accuracy_pct is None else f"{_num(r.accuracy_pct)}%"
    return (f"{row.rank}=" if row.tied else str(row.rank), _athlete(r),
            _interval(row.speedup, row.speedup_low, row.speedup_high), f"{_num(r.scores.compression)}×", accuracy,
            _signed_pp(r.scores.accuracy_delta_pp), _num(row.efficiency), versus,
            f"{_num(r.scores.speedup)}× on {r.graded_date}", _repo(r), _pr_link(r))


def _of_record_lines(table: DivisionTable, board: Board) -> list[str]:
    run = board.standings
    if run is None or not table.of_record:
        return []
    reference = []
    if board.reference:
        ref = _reference_row(board.reference)
        reference = [(*ref[:7], "—", "—", "—", ref[9])]
    lines = ["### Ranking of record", "",
             markdown.table(RECORD_HEADERS, [*reference, *(_record_row(row, run.confidence)
                                                           for row in table.of_record)], right=RECORD_RIGHT), ""]
    bars = [(_label(f"{row.rank}{'=' if row.tied else ''}", row.record), row.efficiency) for row in table.of_record]
    lines += _chart(table.title, bars, board.chart_entries)
    return lines
def _division(table: DivisionTable, board: Board) -> list[str]:
    lines = [f"## {table.title}", ""]
    if not table.rows and not table.of_record:
        lines += ["_No ranked entries yet._", ""]
        return lines
    lines += _of_record_lines(table, board)
    if table.of_record and table.rows:
        lines += ["### Provisional", "", "Graded per PR, each on its own runner and at its own time; "
                  "not yet timed in a standings run.", ""]
    if table.rows:
        reference = [_reference_row(board.reference)] if board.reference else []
        lines += [markdown.table(HEADERS, [*reference, *(_row(row) for row in table.rows)], right=RIGHT_ALIGNED), ""]
    if not table.of_record:
        bars = [(_label(str(row.rank), row.record), row.record.scores.efficiency)
                for row in table.rows if row.record.scores]
        lines += _chart(table.title, bars, board.chart_entries)
    return lines + _superseded_lines(table, board.per_athlete)


def _superseded_row(s: Superseded, per_athlete: PerAthlete) -> tuple[str, ...]:
    r = s.record
    assert r.scores is not None
    accuracy = "—" if r.accuracy_pct is None else f"{_num(r.accuracy_pct)}%"
    relation = "behind" if per_athlete == "best" else "graded before"
    return (text(r.slug, 64), _athlete(r), _speedup(r), f"{_num(r.scores.compression)}×", accuracy,
            _num(r.scores.efficiency), f"{relation} the same athlete's {text(s.kept.slug, 64)}")


def _superseded_lines(table: DivisionTable, per_athlete: PerAthlete) -> list[str]:
    """The division's valid entries that the per-athlete rule keeps off its tables, each named with why."""
    if not table.superseded:
        return []
    rule = "best" if per_athlete == "best" else "latest"
    rows = [_superseded_row(s, per_athlete) for s in table.superseded]
    return [f"### Not ranked (only each athlete's {rule} entry is ranked)", "",
            markdown.table(SUPERSEDED_HEADERS, rows, right=SUPERSEDED_RIGHT), ""]


def _not_ranked(board: Board) -> list[str]:
    if not board.not_ranked:
        return []
    rows = [(dict(DIVISIONS)[n.record.division], _athlete(n.record), text(n.record.slug, 64), _pr_link(n.record),
             n.record.graded_date, text(n.reason, 400)) for n in board.not_ranked]
    return ["## Not ranked", "", "These entries were graded but failed a rule or could not be graded, "
            "so they are not ranked.", "",
            markdown.table(("Division", "Athlete", "Entry", "PR", "Graded", "Reason"), rows), ""]


def _stale(board: Board) -> list[str]:
    if not board.stale:
        return []
    lines = ["## Stale records", "", "Graded by another grader version or baseline than the current one; "
             "the next regrade-all (workflow_dispatch of the leaderboard workflow) refreshes them.", ""]
    lines += [f"- {text(r.slug, 64)} ({_pr_link(r)}): {text(reason, 300)}" for r, reason in board.stale]
    return lines + [""]


def _standings_intro(run: StandingsRun | None) -> list[str]:
    if run is None:
        return ["No standings run yet: every rank below is provisional, from each entry's own grading "
                "(its own runner, its own time).", ""]
    machines = "; ".join(dict.fromkeys(run.machines))
    jobs = ("one job on " + run.machines[0] if len(run.machines) == 1 else
            f"{len(run.machines)} jobs linked through shared anchor entries, on {machines}")
    lines = [f"**Ranking of record**: the standings run of {run.started_at[:10]}, "
             f"grader {text(run.grader_version, 64)}: "
             f"{run.entries} entries timed together in {text(jobs, 600)}; {run.rounds} rounds, each timing every "
             f"entry paired with the baseline ({run.pairs_per_round} pairs) in random order. Speedup = the "
             f"baseline's over the entry's {run.speed_quantile:.0%} quantile time per query, over all the rounds "
             f"(the machine's quiet speed); intervals ({run.confidence:.0%}) include the round-to-round variation "
             f"(jackknife over rounds); an ordering is resolved when the {run.confidence:.0%} interval of the two "
             "entries' per-round differences excludes zero, and "
             "unresolved neighbours share a rank (=). Compression and accuracy come from each entry's grading. "
             "Entries graded since the run are provisional until the next one.", ""]
    if run.stale:
        lines += [f"This standings run used {text(run.stale, 300)}: the next run refreshes it.", ""]
    if run.excluded:
        lines += ["Left out of the standings run:", ""]
        lines += [f"- {text(slug, 64)}: {text(reason, 400)}" for slug, reason in run.excluded]
        lines += [""]
    return lines


def render(board: Board) -> str:
    """The whole ``leaderboard.md`` for ``board``."""
    lines = [f"# {text(board.title, 80)} leaderboard", "",
             "<!-- Generated by `tinymlperf leaderboard` from submissions/*/score.json; do not edit by hand. -->",
             ""]
    if board.record_count == 0:
        return "\n".join([*lines, "_No graded entries yet._", ""])
    rule = "best" if board.per_athlete == "best" else "latest"
    lines += [f"Ranked by efficiency score (speedup × compression, penalized for accuracy loss). "
              f"One entry per athlete and division (their {rule} valid entry); ties go to the earlier entry.", ""]
    lines += _standings_intro(board.standings)
    if board.reference:
        ref = board.reference
        lines += [f"Reference row: the baseline CNN as measured in the grading run of {_pr_link(ref.measured_in)} "
                  f"({ref.measured_in.graded_date}); its speedup, compression and efficiency are 1 by definition.",
                  ""]
    else:
        lines += ["No reference row: no record from the current grader and baseline has baseline metrics.", ""]
    for table in board.divisions:
        lines += _division(table, board)
    lines += _not_ranked(board) + _stale(board)
    return "\n".join(lines).rstrip("\n") + "\n"
