"""Where a freshly graded entry would stand on the current board, and what +10% on each score would do.

Provisional and for the student only: the board is built by ``grader.board.leaderboard``
from the committed ``submissions/*/score.json``, and the entry is placed by its
efficiency among that division's ranked entries (the entry's own record, when it
is a re-grade, left out). The ranking of record comes from the standings, which
re-time the leaders side by side; a per-PR grade only says where it would go.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader.board import leaderboard, record
from grader.board.leaderboard import Board
from grader.core.config import Competition
from grader.core.errors import GraderError
from grader.judge import scoring
from grader.judge.result import GradeResult

GAIN = 0.10


@dataclass(frozen=True)
class WhatIf:
    change: str  # "speedup +10%"
    efficiency: float
    rank: int


@dataclass(frozen=True)
class Placement:
    division: str
    rank: int
    entries: int  # ranked entries of the division, this one included
    efficiency: float
    above: tuple[str, float] | None  # the slug and efficiency of the entry right above
    what_ifs: tuple[WhatIf, ...]

    def line(self) -> str:
        """One phrase for the terminal summary."""
        gains = ", ".join(f"{w.change}: {w.efficiency:.3f} (#{w.rank})" for w in self.what_ifs)
        return (f"would rank #{self.rank} of {self.entries} in the {self.division.capitalize()} Division "
                f"(provisional, from the committed score records); efficiency {self.efficiency:.3f} → {gains}")


def _rank(efficiency: float, others: list[float]) -> int:
    """1 + the entries strictly ahead (ties go to the earlier entry, which is on the board already)."""
    return 1 + sum(e >= efficiency for e in others)


def place(result: GradeResult, board: Board, penalty_per_pp: float) -> Placement | None:
    """The entry's provisional place, or None when it has no scores or no division."""
    scores, sub = result.normalized_scores, result.submission
    if scores is None or sub is None:
        return None
    table = next((t for t in board.divisions if t.key == sub.division), None)
    ranked = [] if table is None else (
        [(row.record.slug, row.efficiency) for row in table.of_record]
        + [(row.record.slug, row.record.scores.efficiency) for row in table.rows if row.record.scores is not None])
    others = sorted(((slug, eff) for slug, eff in ranked if slug != sub.slug), key=lambda x: -x[1])
    values = [eff for _, eff in others]
    mine = scores.efficiency
    rank = _rank(mine, values)
    speedup, compression, delta = scores.speedup, scores.compression, scores.accuracy_delta_pp
    variants = [(f"speedup +{GAIN:.0%}", scoring.efficiency(speedup * (1 + GAIN), compression, delta, penalty_per_pp)),
                (f"compression +{GAIN:.0%}",
                 scoring.efficiency(speedup, compression * (1 + GAIN), delta, penalty_per_pp))]
    if delta < 0:
        variants.append((f"accuracy loss -{GAIN:.0%}",
                         scoring.efficiency(speedup, compression, delta * (1 - GAIN), penalty_per_pp)))
    what_ifs = tuple(WhatIf(change, eff, _rank(eff, values)) for change, eff in variants)
    above = others[rank - 2] if rank > 1 else None
    return Placement(sub.division, rank, len(values) + 1, mine, above, what_ifs)


def where_it_stands(result: GradeResult, folder: Path, competition: Competition) -> Placement | None:
    """Where the entry in ``folder`` would rank among the committed score records beside it.

    None when it has no scores, or when there is no board to compare with: no score record
    beside it (a folder outside a ``submissions/`` tree), or a record there that does not read.
    """
    submissions = folder.resolve().parent
    try:
        records = [r for r in record.load_all(submissions) if r.slug != folder.resolve().name]
        if not records:
            return None
        board = leaderboard.build(records, leaderboard.current_grader(), competition.per_athlete,
                                  competition.chart_entries, competition.name)
    except GraderError:
        return None
    return place(result, board, competition.accuracy_penalty_per_pp)


def render(placement: Placement) -> str:
    """The report's "Where it stands" section (Markdown)."""
    from grader.core import markdown

    above = (f" The entry right above is `{markdown.text(placement.above[0], 64)}` at "
             f"{placement.above[1]:.3f}." if placement.above else "")
    rows = [[w.change, f"{w.efficiency:.3f}", f"#{w.rank}"] for w in placement.what_ifs]
    return "\n".join([
        f"Provisional: with efficiency **{placement.efficiency:.3f}** this entry would rank "
        f"**#{placement.rank} of {placement.entries}** in the {placement.division.capitalize()} Division, among "
        f"the committed score records (the standings re-time the leaders for the ranking of record).{above}",
        "",
        markdown.table(["If", "Efficiency", "Rank"], rows, right=(1, 2)),
    ])
