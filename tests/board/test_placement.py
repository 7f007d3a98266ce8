"""Where a graded entry would stand on the current board, and what +10% on each score would do."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from grader import __version__
from grader.board import leaderboard, placement, record
from grader.core import config
from grader.judge.result import GradeResult
from grader.report import markdown_report as report

ROOT = Path(__file__).resolve().parents[2]
CONFIG = config.load()
SAMPLE = json.loads((ROOT / "tests" / "golden" / "result_sample.json").read_text())
BOARD = leaderboard.build(record.load_all(ROOT / "submissions"),
                          leaderboard.CurrentGrader(__version__, leaderboard.baseline_sha256(
                              ROOT / "grader" / "baseline" / "weights.npz")), CONFIG.per_athlete,
                          CONFIG.chart_entries)


def _closed_leader() -> tuple[str, float]:
    table = next(t for t in BOARD.divisions if t.key == "closed")
    best = min(table.rows, key=lambda row: row.rank).record
    return best.slug, best.scores.efficiency


def _result(slug: str, speedup: float, compression: float, delta: float) -> GradeResult:
    result = copy.deepcopy(SAMPLE)
    result["submission"]["slug"] = slug
    eff = speedup * compression / (1 + max(0.0, -delta))
    result["normalized_scores"].update(speedup=speedup, compression=compression, accuracy_delta_pp=delta,
                                       efficiency=eff)
    return GradeResult.from_json(result, "result.json")


def test_an_entry_just_below_the_leader_ranks_second_and_ten_percent_more_speedup_would_lead() -> None:
    slug, leader = _closed_leader()
    mine = leader * 0.95
    where = placement.place(_result("new-entry", mine, 1.0, 0.0), BOARD, 1.0)
    assert (where.rank, where.above) == (2, (slug, leader))
    gains = {w.change: w for w in where.what_ifs}
    assert gains["speedup +10%"].rank == 1 and abs(gains["speedup +10%"].efficiency - mine * 1.1) < 1e-9
    assert gains["compression +10%"].rank == 1
    assert "accuracy loss -10%" not in gains  # no loss: nothing to gain there


def test_a_regrade_is_not_compared_with_its_own_record() -> None:
    slug, leader = _closed_leader()
    where = placement.place(_result(slug, leader * 0.5, 1.0, 0.0), BOARD, 1.0)
    assert where.rank == 1 and where.above is None


def test_an_accuracy_loss_shows_what_a_smaller_loss_would_do_and_the_report_says_where_it_stands() -> None:
    where = placement.place(_result("new-entry", 2.0, 2.0, -2.0), BOARD, 1.0)
    gains = {w.change: w.efficiency for w in where.what_ifs}
    assert abs(gains["accuracy loss -10%"] - 4.0 / 2.8) < 1e-9
    text = report.render(GradeResult.from_json(SAMPLE, "result.json"), extra=(("Where it stands", placement.render(where)),))
    assert "### Where it stands" in text and f"**#{where.rank} of {where.entries}**" in text


def test_a_result_without_scores_has_no_place() -> None:
    result = copy.deepcopy(SAMPLE)
    result["normalized_scores"] = None
    assert placement.place(GradeResult.from_json(result, "result.json"), BOARD, 1.0) is None


def test_a_folder_with_no_score_record_beside_it_is_not_placed(tmp_path: Path) -> None:
    # "would rank #1 of 1" among no records at all says nothing: the line and section are left out
    (tmp_path / "my-entry").mkdir()
    assert placement.where_it_stands(GradeResult.from_json(SAMPLE, "result.json"), tmp_path / "my-entry",
                                     CONFIG) is None
    alone = tmp_path / "submissions" / "new-entry"
    alone.mkdir(parents=True)
    for slug in ("closed-int8-prune", "open-slim-int8"):
        (tmp_path / "submissions" / slug).mkdir()
        (tmp_path / "submissions" / slug / "score.json").write_bytes((ROOT / "submissions" / slug / "score.json")
                                                                       .read_bytes())
    assert placement.where_it_stands(_result("new-entry", 1.0, 1.0, 0.0), alone, CONFIG) is not None
