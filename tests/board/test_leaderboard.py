"""Ranking, ties, one entry per athlete, escaping, staleness and not-ranked entries on the board."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from grader.board import leaderboard
from grader.board.leaderboard import CurrentGrader
from grader.board.record import ScoreRecord
from grader.core import schema
from tests import goldenfile
from tests import scorefactory as sf

CURRENT = CurrentGrader(sf.VERSION, sf.BASELINE_SHA)


def board(records: list[ScoreRecord], per_athlete: str = "best", chart: int = 10) -> leaderboard.Board:
    return leaderboard.build(records, CURRENT, per_athlete, chart)  # type: ignore[arg-type]


def ranked(b: leaderboard.Board, division: str = "closed") -> list[str]:
    return [row.record.slug for row in next(t for t in b.divisions if t.key == division).rows]


def scenario() -> list[ScoreRecord]:
    """Every board feature at once: both divisions, a tie, a superseded entry, failures, staleness, hostile text."""
    data = [
        sf.score("ada-int8", login="ada", pr=3, efficiency=4.0, speedup=2.5, compression=1.6, delta=-0.2,
                 graded_at="2025-03-02T09:00:00Z", ci=(2.4, 2.6), techniques=["int8 quantization", "BN folding"]),
        sf.score("ada-first", login="ada", pr=1, efficiency=1.5, graded_at="2025-03-01T09:00:00Z"),
        sf.score("bo-prune", login="bo", pr=5, name="Bo | <b>bold</b>\n@octocat [x](http://evil.example)",
                 efficiency=4.0, graded_at="2025-03-01T10:00:00Z", ci=None, repo_status="failed",
                 repo="javascript:alert(1)", techniques=["`code`", "*star*", "a", "b", "c", "d"]),
        sf.score("cy-tie", login="cy", pr=4, name="Cy", efficiency=4.0, graded_at="2025-03-01T10:00:00Z",
                 delta=0.3),
        sf.score("dee-old", login="dee", pr=2, name="Dee", efficiency=3.0, grader_version="0.0.9",
                 graded_at="2025-02-01T10:00:00Z"),
        sf.score("eve-open", login="eve", pr=7, name="Eve", division="open", efficiency=9.25,
                 baseline_sha256=sf.OTHER_SHA, graded_at="2025-03-03T10:00:00Z"),
        sf.score("fay-fail", login="fay", pr=8, name="Fay", status="failed",
                 checks=[{"id": "accuracy_drop", "status": "fail", "message": "lost 12.0 pp | <i>too much</i>"}],
                 graded_at="2025-03-04T10:00:00Z"),
        sf.score("gus-error", login="gus", pr=9, name="Gus", status="error", error="worker timed out",
                 division="open", graded_at="2025-03-05T10:00:00Z", baseline_accuracy=None),
    ]
    return [sf.typed(d) for d in data]


def test_golden_full_board() -> None:
    goldenfile.check("leaderboard.md", leaderboard.render(board(scenario())))


def test_golden_latest_per_athlete_board() -> None:
    goldenfile.check("leaderboard_latest.md", leaderboard.render(board(scenario(), per_athlete="latest", chart=2)))


def test_golden_empty_board() -> None:
    goldenfile.check("leaderboard_empty.md", leaderboard.render(leaderboard.build([], CurrentGrader("0.1.0", None), "best", 10)))


def test_higher_efficiency_ranks_first() -> None:
    records = [sf.typed(sf.score(s, login=s, pr=i + 1, efficiency=e))
               for i, (s, e) in enumerate([("low", 1.0), ("high", 5.0), ("mid", 2.5)])]
    assert ranked(board(records)) == ["high", "mid", "low"]


def test_a_tie_goes_to_the_earlier_graded_entry() -> None:
    late = sf.typed(sf.score("late", login="a", pr=1, efficiency=3.0, graded_at="2025-03-02T00:00:00Z"))
    early = sf.typed(sf.score("early", login="b", pr=2, efficiency=3.0, graded_at="2025-03-01T00:00:00Z"))
    assert ranked(board([late, early])) == ["early", "late"]


def test_a_tie_on_the_same_date_goes_to_the_lower_pr_number() -> None:
    second = sf.typed(sf.score("second", login="a", pr=11, efficiency=3.0))
    first = sf.typed(sf.score("first", login="b", pr=10, efficiency=3.0))
    assert ranked(board([second, first])) == ["first", "second"]


def test_only_the_best_entry_of_an_athlete_is_ranked() -> None:
    records = [sf.typed(sf.score("a-1", login="Ada", pr=1, efficiency=2.0, graded_at="2025-03-01T00:00:00Z")),
               sf.typed(sf.score("a-2", login="ada", pr=2, efficiency=5.0, graded_at="2025-03-02T00:00:00Z")),
               sf.typed(sf.score("a-3", login="ada", pr=3, efficiency=1.0, graded_at="2025-03-03T00:00:00Z"))]
    b = board(records)
    assert ranked(b) == ["a-2"]
    assert [(s.record.slug, s.kept.slug) for s in b.divisions[0].superseded] == [("a-1", "a-2"), ("a-3", "a-2")]


@pytest.mark.parametrize(("per_athlete", "kept", "why"), [
    ("best", "sol-int8", "behind the same athlete's sol-int8"),
    ("latest", "sol-slim", "graded before the same athlete's sol-slim"),
])
def test_entries_left_off_by_the_per_athlete_rule_are_named_under_their_division(
        per_athlete: str, kept: str, why: str) -> None:
    records = [sf.typed(sf.score("sol-int8", login="sol", pr=1, name="Sol", division="open", efficiency=10.06,
                                 graded_at="2025-03-01T00:00:00Z")),
               sf.typed(sf.score("sol-slim", login="Sol", pr=2, name="Sol", division="open", efficiency=5.5,
                                 speedup=3.15, ci=(3.09, 3.21), compression=16.09, accuracy=68.3, delta=-8.21,
                                 graded_at="2025-03-02T00:00:00Z")),
               sf.typed(sf.score("sol-closed", login="sol", pr=3, name="Sol", efficiency=1.0))]
    out = leaderboard.render(board(records, per_athlete=per_athlete))
    assert ranked(board(records, per_athlete=per_athlete), "open") == [kept]
    closed, opened = out.split("## Open Division")
    heading = f"### Not ranked (only each athlete's {per_athlete} entry is ranked)"
    assert heading not in closed and heading in opened
    rows = [cells for cells in sf.table_rows(opened.split(heading)[1]) if not cells[0].startswith("---")]
    assert rows[0] == list(leaderboard.SUPERSEDED_HEADERS)
    other = "sol-slim" if kept == "sol-int8" else "sol-int8"
    expected = {"sol-slim": ["sol-slim", "Sol (Sol)", "3.15× (3.09–3.21)", "16.09×", "68.30%", "5.50", why],
                "sol-int8": ["sol-int8", "Sol (sol)", "2.00× (1.90–2.10)", "1.00×", "70.00%", "10.06", why]}
    assert rows[1:] == [expected[other]]
    assert "further valid entr" not in out


def test_not_ranked_entries_of_an_athlete_are_listed_by_efficiency_then_the_earlier_entry() -> None:
    records = [sf.typed(sf.score(slug, login="ada", pr=pr, efficiency=eff, graded_at=at))
               for slug, pr, eff, at in [("a-top", 1, 9.0, "2025-03-05T00:00:00Z"),
                                         ("a-late", 2, 3.0, "2025-03-04T00:00:00Z"),
                                         ("a-low", 3, 1.0, "2025-03-01T00:00:00Z"),
                                         ("a-early", 4, 3.0, "2025-03-02T00:00:00Z")]]
    for seed in range(3):
        random.Random(seed).shuffle(records)
        b = board(records)
        assert [s.record.slug for s in b.divisions[0].superseded] == ["a-early", "a-late", "a-low"]


def test_latest_mode_ranks_the_most_recent_valid_entry() -> None:
    records = [sf.typed(sf.score("a-1", login="ada", pr=1, efficiency=5.0, graded_at="2025-03-01T00:00:00Z")),
               sf.typed(sf.score("a-2", login="ada", pr=2, efficiency=1.0, graded_at="2025-03-02T00:00:00Z")),
               sf.typed(sf.score("a-3", login="ada", pr=3, status="failed", graded_at="2025-03-03T00:00:00Z",
                                 checks=[{"id": "x", "status": "fail", "message": "m"}]))]
    assert ranked(board(records, per_athlete="latest")) == ["a-2"]


def test_the_same_athlete_is_ranked_in_each_division() -> None:
    records = [sf.typed(sf.score("a-closed", login="ada", pr=1)),
               sf.typed(sf.score("a-open", login="ada", pr=2, division="open"))]
    b = board(records)
    assert (ranked(b, "closed"), ranked(b, "open")) == (["a-closed"], ["a-open"])


def test_failed_and_errored_entries_are_listed_as_not_ranked_with_their_reason() -> None:
    records = [sf.typed(sf.score("ok", login="a", pr=1)),
               sf.typed(sf.score("bad", login="b", pr=2, status="failed",
                                 checks=[{"id": "speedup_range", "status": "fail", "message": "speedup 0.3x"}])),
               sf.typed(sf.score("boom", login="c", pr=3, status="error", error="worker timed out"))]
    b = board(records)
    assert ranked(b) == ["ok"]
    assert [(n.record.slug, n.reason) for n in b.not_ranked] == [
        ("bad", "speedup_range: speedup 0.3x"), ("boom", "could not be graded: worker timed out")]
    out = leaderboard.render(b)
    assert "## Not ranked" in out and "speedup\\_range: speedup 0.3x" in out


def test_records_from_another_grader_version_or_baseline_are_marked_stale() -> None:
    records = [sf.typed(sf.score("fresh", login="a", pr=1)),
               sf.typed(sf.score("old-grader", login="b", pr=2, grader_version="0.0.9")),
               sf.typed(sf.score("old-base", login="c", pr=3, baseline_sha256=sf.OTHER_SHA))]
    b = board(records)
    assert {r.slug: reason for r, reason in b.stale} == {
        "old-grader": "grader 0.0.9 (current 0.1.0)",
        "old-base": f"baseline weights {sf.OTHER_SHA[:12]} (current {sf.BASELINE_SHA[:12]})"}
    assert {row.record.slug: row.stale for row in b.divisions[0].rows} == {
        "fresh": False, "old-grader": True, "old-base": True}
    assert leaderboard.render(b).count("(stale)") == 2


def test_the_reference_row_uses_the_newest_current_record_baseline() -> None:
    records = [sf.typed(sf.score("older", login="a", pr=1, baseline_accuracy=70.0,
                                 graded_at="2025-03-01T00:00:00Z")),
               sf.typed(sf.score("newer", login="b", pr=2, baseline_accuracy=71.0,
                                 graded_at="2025-03-02T00:00:00Z")),
               sf.typed(sf.score("stale", login="c", pr=3, baseline_accuracy=99.0, grader_version="0.0.1",
                                 graded_at="2025-03-03T00:00:00Z"))]
    b = board(records)
    assert b.reference is not None and b.reference.measured_in.slug == "newer"
    assert ["ref", "Baseline CNN (reference)", "1.00×", "1.00×", "71.00%"] in [
        row[:5] for row in sf.table_rows(leaderboard.render(b))]


def test_without_a_current_baseline_measurement_there_is_no_reference_row() -> None:
    b = board([sf.typed(sf.score("stale", login="c", pr=3, grader_version="0.0.1"))])
    assert b.reference is None
    out = leaderboard.render(b)
    assert "Baseline CNN" not in out and "No reference row" in out


HOSTILE = "Mallory | <img src=x onerror=alert(1)>\n@everyone [click](https://evil.example) ``` \u202egnp.exe"


def test_student_strings_cannot_break_the_table_or_inject_markup() -> None:
    rec = sf.typed(sf.score("mal", login="mallory", pr=6, name=HOSTILE, techniques=[HOSTILE],
                            repo="https://evil.example/x"))
    out = leaderboard.render(board([rec]))
    row = sf.ranked_line(out, "1")
    assert len(re.findall(r"(?<!\\)\|", row)) == len(leaderboard.HEADERS) + 1
    for raw in ("<img", "@everyone", "](https://evil", "https://evil", "\u202e", "```"):
        assert raw not in row


def test_student_strings_cannot_break_the_table_of_entries_behind_the_same_athlete() -> None:
    records = [sf.typed(sf.score("mal", login="mallory", pr=6, name=HOSTILE, efficiency=5.0)),
               sf.typed(sf.score("mal-2", login="mallory", pr=7, name=HOSTILE, efficiency=1.0))]
    out = leaderboard.render(board(records))
    row = next(line for line in out.split("### Not ranked")[1].splitlines() if line.startswith("| mal-2"))
    assert len(re.findall(r"(?<!\\)\|", row)) == len(leaderboard.SUPERSEDED_HEADERS) + 1
    for raw in ("<img", "@everyone", "](https://evil", "https://evil", "\u202e", "```"):
        assert raw not in row


def test_mermaid_labels_keep_only_plain_characters() -> None:
    assert leaderboard.mermaid_label('a"] --> B[x\n%%{init}%%; "') == "a -- B x init"
    rec = sf.typed(sf.score("mal", login="mallory", pr=6, name='"]\nbar [99]'))
    chart = leaderboard.render(board([rec])).split("```mermaid")[1]
    assert 'x-axis ["1. bar 99"]' in chart


def test_the_chart_shows_at_most_chart_entries() -> None:
    records = [sf.typed(sf.score(f"s{i}", login=f"u{i}", pr=i + 1, name=f"U{i}", efficiency=10.0 - i))
               for i in range(5)]
    out = leaderboard.render(board(records, chart=3))
    assert "bar [10.00, 9.00, 8.00]" in out and "top 3 by efficiency" in out
    assert "```mermaid" not in leaderboard.render(board(records, chart=0))


def test_record_order_does_not_change_a_byte() -> None:
    records = scenario()
    expected = leaderboard.render(board(records))
    for seed in range(5):
        shuffled = records[:]
        random.Random(seed).shuffle(shuffled)
        assert leaderboard.render(board(shuffled)) == expected


def test_records_without_the_current_baseline_hash_cannot_be_judged() -> None:
    with pytest.raises(Exception, match="current baseline sha256 is needed"):
        leaderboard.build(scenario(), CurrentGrader("0.1.0", None), "best", 10)


def test_baseline_hash_of_a_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"weights.npz: cannot read the baseline weights"):
        leaderboard.baseline_sha256(tmp_path / "weights.npz")


def test_an_entry_an_organizer_committed_directly_is_ranked_without_a_pr_link() -> None:
    data = sf.score("staff", login="organizer", pr=None)
    assert schema.validate(data, "score") == []
    out = leaderboard.render(board([sf.typed(data)]))
    row = next(cells for cells in sf.table_rows(out) if cells[0] == "1")
    assert "organizer commit" in row and "/pull/" not in " ".join(row)
