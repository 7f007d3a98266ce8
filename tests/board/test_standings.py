"""Standings: choosing entries, cost and groups, one round's timing, combining groups, the board of record."""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.board import leaderboard, standings
from grader.board.leaderboard import CurrentGrader
from grader.cli import main as cli
from grader.core import config, schema
from grader.core.errors import GraderError
from grader.grading import standings_run
from tests import goldenfile
from tests import scorefactory as sf

COMPETITION = config.load()
CURRENT = CurrentGrader(sf.VERSION, sf.BASELINE_SHA)


def competition(**kw: Any):
    return replace(COMPETITION, standings=replace(COMPETITION.standings, **kw))


def rec(slug: str, login: str, efficiency: float, *, division: str = "closed", speedup: float = 2.0,
        pr: int = 1, sha: str | None = None, **kw: Any):
    data = sf.score(slug, login=login, pr=pr, efficiency=efficiency, speedup=speedup, division=division,
                    name=login.title(), sha=sha, **kw)
    data["baseline"]["latency_ms_median"] = 1.5
    return sf.typed(data)


# -- choosing and planning --------------------------------------------------------------


def test_the_top_n_of_each_division_are_chosen_as_the_board_ranks_them() -> None:
    records = [rec(f"c{i}", f"u{i}", efficiency=float(i), pr=i + 1) for i in range(1, 5)]
    records += [rec("o1", "v1", 3.0, division="open", pr=20), rec("o2", "v2", 1.0, division="open", pr=21),
                rec("c4-old", "u4", 1.0, pr=30),  # the same athlete's weaker entry: not on the board
                rec("bad", "w", 9.0, pr=31, status="failed",
                    checks=[{"id": "accuracy_drop", "status": "fail", "message": "lost 12 pp"}])]
    chosen = standings.choose(records, CURRENT, competition(top_n=3))
    assert [(c.slug, c.provisional_rank) for c in chosen] == [
        ("c4", 1), ("c3", 2), ("c2", 3), ("o1", 1), ("o2", 2)]


def test_stateless_workers_are_offered_the_whole_test_set_every_round_process_level_ones_a_share() -> None:
    comp = competition(rounds=4)
    assert standings.images_per_round(comp, whole_test_set=True) == 10_000
    assert standings.images_per_round(comp, whole_test_set=False) == 10_000 // 4


def test_a_round_at_user_netns_costs_its_pairs_of_samples_whatever_the_number_of_rounds() -> None:
    c = standings.Candidate("a", "closed", 1, baseline_ms=1.5, entry_ms=0.5)
    per_round = [(standings.entry_seconds(c, competition(rounds=n, pairs_per_round=20))
                  - standings.SETUP_SECONDS_PER_ENTRY) / n for n in (4, 8, 16)]
    assert per_round == pytest.approx([per_round[0]] * 3)
    # both models' long and short requests last min_sample_seconds at least, in every pair
    timed = 20 * 2 * 1.125 * COMPETITION.timing.min_sample_seconds
    assert timed < per_round[0] - standings.LOAD_SECONDS_PER_ROUND < 1.5 * timed
    # at process level the share shortens the samples (1/16 of the test set: 625 images for 20 pairs)
    assert standings.entry_seconds(c, competition(rounds=16), whole_test_set=False) \
        < standings.entry_seconds(c, competition(rounds=16))


def test_the_estimate_of_a_round_is_what_the_timing_engine_times_in_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # the fake workers below cost exactly their per-image seconds plus 0.3 ms per call (a turn: warm-up and request)
    monkeypatch.setattr(standings, "TURN_SECONDS", 2 * 0.0003, raising=False)
    monkeypatch.setattr(standings, "HARNESS_SECONDS_PER_QUERY", 0.0, raising=False)
    comp = competition(rounds=1, pairs_per_round=6)
    images = np.random.default_rng(0).integers(0, 256, (10_000, 3, 32, 32), np.uint8)
    for base_s, entry_s in ((2e-3, 1e-3), (1e-3, 4e-3), (3e-4, 3e-4)):
        base, entry, null = trio(FakeWorker(base_s, [1.0]), FakeWorker(entry_s, [1.0]))
        standings_run.time_round(base, entry, null, images, standings_run.round_params(comp), random.Random(1))
        spent = base.cpu + entry.cpu + null.cpu
        c = standings.Candidate("a", "closed", 1, baseline_ms=1000 * base_s, entry_ms=1000 * entry_s)
        estimate = (standings.entry_seconds(c, comp) - standings.SETUP_SECONDS_PER_ENTRY
                    - standings.LOAD_SECONDS_PER_ROUND)
        assert estimate == pytest.approx(spent, rel=1e-6)


def test_a_plan_that_would_show_an_entry_an_image_twice_is_refused() -> None:
    comp = competition(rounds=100, pairs_per_round=20)  # 100 images a round, 113 needed
    with pytest.raises(GraderError, match="more than its share of the 10000 test images"):
        standings.plan([], comp, whole_test_set=False)
    assert standings.plan([], comp, whole_test_set=True).groups == ()  # stateless workers: the whole set a round


def test_entries_that_fit_one_job_are_one_group() -> None:
    assert standings.split(list("abc"), dict.fromkeys("abc", 10.0), 30.0, 1) == (("a", "b", "c"),)


def test_entries_beyond_one_job_are_split_into_groups_sharing_anchors() -> None:
    groups = standings.split(list("abcdefg"), dict.fromkeys("abcdefg", 10.0), 40.0, 2)
    assert groups == (("a", "b", "c", "d"), ("c", "d", "e", "f"), ("e", "f", "g"))
    for before, after in zip(groups, groups[1:], strict=False):
        assert before[-2:] == after[:2]
    assert set().union(*groups) == set("abcdefg")


def test_a_job_too_small_for_more_than_its_anchors_is_an_error() -> None:
    with pytest.raises(GraderError, match="fits no more than the 2 anchor entries"):
        standings.split(list("abcd"), dict.fromkeys("abcd", 10.0), 20.0, 2)


def test_the_plan_prints_its_estimated_runner_minutes() -> None:
    comp = competition(max_job_minutes=1.0, anchors=1)
    cands = [standings.Candidate(s, "closed", i + 1, 1.5, 0.75) for i, s in enumerate("abcd")]
    p = standings.plan(cands, comp)
    assert len(p.groups) > 1 and p.minutes == pytest.approx(sum(p.group_minutes))
    text = standings.describe_plan(p, comp)
    assert f"estimated runner minutes: {p.minutes:.1f}" in text and f"in {len(p.groups)} job(s)" in text
    assert "the whole test set afresh every round (workers at user+netns" in text
    shares = standings.describe_plan(standings.plan(cands, comp, whole_test_set=False), comp)
    assert "1/10 of the test set a round, never repeated (workers at process level)" in shares


# -- one round ----------------------------------------------------------------------------


class FakeWorker:
    """``per_image`` CPU seconds per image times the machine's ``slowness``, plus a harness cost per request;
    labels = first pixel mod 10. ``peers`` burn ``burn`` CPU seconds per second this worker is timed."""

    def __init__(self, per_image: float, machine: list[float], burn: float = 0.0) -> None:
        self.per_image, self.machine, self.burn = per_image, machine, burn
        self.seen: list[np.ndarray] = []
        self.cpu = 0.0
        self.peers: list[FakeWorker] = []

    def time_queries(self, images: np.ndarray, batch_size: int) -> tuple[float, np.ndarray]:
        self.seen.append(images)
        seconds = self.per_image * len(images) * self.machine[0] + 0.0003
        self.cpu += seconds
        for peer in self.peers:
            peer.cpu += peer.burn * seconds
        return seconds, images[:, 0, 0, 0].astype(np.int64) % 10

    def cpu_seconds(self) -> float:
        return self.cpu

    def wait_seconds(self) -> float:
        return 0.0


def trio(base: FakeWorker, entry: FakeWorker) -> tuple[FakeWorker, FakeWorker, FakeWorker]:
    null = FakeWorker(0.0, base.machine)
    for w in (base, entry, null):
        w.peers = [p for p in (base, entry, null) if p is not w]
    return base, entry, null


def test_one_round_is_the_log_speedup_of_its_pairs() -> None:
    machine = [1.0]
    comp = competition(pairs_per_round=4)
    params = standings_run.round_params(comp)
    assert (params.min_pairs, params.max_pairs, params.budget_seconds) == (4, 4, math.inf)
    images = np.random.default_rng(0).integers(0, 256, (standings.images_per_round(comp, False), 3, 32, 32), np.uint8)
    base, entry, null = trio(FakeWorker(2e-3, machine), FakeWorker(1e-3, machine))
    rt = standings_run.time_round(base, entry, null, images, params, random.Random(1))
    assert rt.log_speedup == pytest.approx(math.log(2.0))
    assert len(rt.indices) % 4 == 0 and len(set(rt.indices.tolist())) == len(rt.indices)
    assert np.array_equal(rt.labels, images[rt.indices][:, 0, 0, 0].astype(np.int64) % 10)


def test_a_round_reports_the_cpu_an_entry_used_while_the_baseline_was_timed() -> None:
    comp = competition(pairs_per_round=4)
    params = standings_run.round_params(comp)
    images = np.random.default_rng(0).integers(0, 256, (standings.images_per_round(comp, False), 3, 32, 32), np.uint8)
    base, entry, null = trio(FakeWorker(2e-3, [1.0]), FakeWorker(1e-3, [1.0], burn=0.5))
    rt = standings_run.time_round(base, entry, null, images, params, random.Random(1))
    assert rt.idle_cpu_entry >= 0.5 * rt.baseline_seconds
    assert standings_run.idle_problem(rt.idle_cpu_entry, rt.baseline_seconds) is not None
    assert standings_run.idle_problem(0.01 * rt.baseline_seconds, rt.baseline_seconds) is None


def test_answers_far_below_the_record_while_timed_exclude_an_entry() -> None:
    assert standings_run.accuracy_problem(700, 1000, 70.0, 1.0) is None
    assert standings_run.accuracy_problem(640, 1000, 70.0, 1.0) is None  # within dither + 4 standard errors
    problem = standings_run.accuracy_problem(100, 1000, 70.0, 1.0)
    assert problem is not None and "10.00% correct on 1000" in problem and "70.00%" in problem


# -- combining groups ---------------------------------------------------------------------


HARDWARE = {"cpu_model": "Test CPU", "cores": 2, "ram_bytes": 1, "os": "linux", "python": "3.11",
            "numpy": "2", "blas": "openblas"}


def group_result(group: int, entries: dict[str, list[float]], *, run_id: str = "r1",
                 excluded: dict[str, str] | None = None, cpu: str = "Test CPU") -> dict[str, Any]:
    data = {"schema_version": 1, "run_id": run_id, "group": group, "grader_version": sf.VERSION,
            "baseline_sha256": sf.BASELINE_SHA, "hardware": {**HARDWARE, "cpu_model": cpu},
            "started_at": f"2025-04-0{group + 1}T04:00:00+00:00", "minutes": 12.5, "rounds": 4,
            "pairs_per_round": 20, "confidence": 0.95,
            "entries": [sf.timed_entry(s, vals) for s, vals in entries.items()],
            "excluded": [{"slug": s, "reason": r} for s, r in (excluded or {}).items()]}
    assert schema.validate(data, "standings_group") == []
    return data


def board_records() -> list:
    return [rec("ada-int8", "ada", 4.0, speedup=2.0, compression=2.0, pr=3, delta=0.0),
            rec("bo-prune", "bo", 3.9, speedup=1.95, compression=2.0, pr=5, delta=0.0),
            rec("cy-slim", "cy", 2.0, speedup=1.0, compression=2.0, pr=6, delta=0.0),
            rec("dee-open", "dee", 9.0, division="open", speedup=3.0, compression=3.0, pr=7, delta=0.0),
            rec("eve-new", "eve", 8.0, division="open", speedup=2.0, compression=4.0, pr=8, delta=0.0)]


def plan_of(*groups: tuple[str, ...]) -> standings.Plan:
    return standings.Plan((), tuple(groups), ())


def pooled(speedups: list[float]) -> float:
    """The standings' estimate for ``sf.timed_entry(slug, speedups)``: the baseline's quantile time per query (the same
    in every pair) over the entry's, pooled over the rounds' pairs."""
    entry = np.repeat([sf.TIMED_BASELINE_S / v for v in speedups], sf.TIMED_PAIRS)
    return sf.TIMED_BASELINE_S / float(np.quantile(entry, COMPETITION.standings.speed_quantile))


def one_group_run() -> dict[str, Any]:
    records = board_records()
    g = group_result(0, {"ada-int8": [2.05, 2.1, 1.9, 2.05], "bo-prune": [2.0, 2.2, 1.8, 2.1],
                         "cy-slim": [1.0, 1.1, 0.9, 1.05], "dee-open": [3.0, 3.3, 2.8, 3.1]})
    return standings.combine([g], records, COMPETITION, plan_of(("ada-int8", "bo-prune", "cy-slim", "dee-open")))


def test_combining_ranks_each_division_by_standings_efficiency() -> None:
    out = one_group_run()
    assert schema.validate(out, "standings") == []
    closed = out["divisions"]["closed"]
    assert [(r["slug"], r["rank"], r["tied"]) for r in closed] == [
        ("bo-prune", 1, True), ("ada-int8", 1, True), ("cy-slim", 3, False)]
    assert closed[0]["next"]["resolved"] is False and closed[1]["next"]["resolved"] is True
    assert closed[2]["efficiency"] == pytest.approx(2.0 * pooled([1.0, 1.1, 0.9, 1.05]))
    assert [r["slug"] for r in out["divisions"]["open"]] == ["dee-open"]


def test_a_group_result_cannot_add_or_drop_an_entry_of_the_plan() -> None:
    g = group_result(0, {"ada-int8": [2.0] * 4, "cy-slim": [1.0] * 4})
    with pytest.raises(GraderError, match="group 0 timed .* the plan gave it"):
        standings.combine([g], board_records(), COMPETITION, plan_of(("ada-int8", "bo-prune", "cy-slim")))


def test_groups_of_different_runs_are_not_combined() -> None:
    a = group_result(0, {"ada-int8": [2.0] * 4, "bo-prune": [1.9] * 4})
    b = group_result(1, {"bo-prune": [1.9] * 4, "cy-slim": [1.0] * 4}, run_id="other")
    with pytest.raises(GraderError, match="disagree on run_id"):
        standings.combine([a, b], board_records(), COMPETITION,
                          plan_of(("ada-int8", "bo-prune"), ("bo-prune", "cy-slim")))


def test_two_groups_on_different_machines_are_tied_through_their_anchor() -> None:
    a = group_result(0, {"ada-int8": [2.0, 2.02, 1.98, 2.0], "bo-prune": [1.5, 1.52, 1.48, 1.5]})
    b = group_result(1, {"bo-prune": [1.2, 1.22, 1.18, 1.2], "cy-slim": [0.8, 0.81, 0.79, 0.8]}, cpu="Slower CPU")
    out = standings.combine([a, b], board_records(), COMPETITION,
                            plan_of(("ada-int8", "bo-prune"), ("bo-prune", "cy-slim")))
    assert out["groups"][1]["anchors"] == ["bo-prune"]
    offset = pooled([1.5, 1.52, 1.48, 1.5]) / pooled([1.2, 1.22, 1.18, 1.2])  # the anchor's two estimates
    assert math.exp(out["groups"][1]["log_offset"]) == pytest.approx(offset)
    cy = next(r for r in out["divisions"]["closed"] if r["slug"] == "cy-slim")
    assert cy["speedup"]["estimate"] == pytest.approx(pooled([0.8, 0.81, 0.79, 0.8]) * offset)
    assert cy["group"] == 1 and out["groups"][1]["log_offset_se"] > 0


def test_an_excluded_entry_is_not_ranked_and_says_why() -> None:
    g = group_result(0, {"ada-int8": [2.0] * 4, "cy-slim": [1.0, 1.1, 0.9, 1.0]},
                     excluded={"bo-prune": "failed in round 2: the worker died"})
    out = standings.combine([g], board_records(), COMPETITION, plan_of(("ada-int8", "bo-prune", "cy-slim")))
    assert [r["slug"] for r in out["divisions"]["closed"]] == ["ada-int8", "cy-slim"]
    assert out["excluded"] == [{"slug": "bo-prune", "reason": "failed in round 2: the worker died"}]


# -- the board ------------------------------------------------------------------------------


def test_golden_board_with_a_ranking_of_record_and_provisional_entries() -> None:
    records = board_records()
    out = one_group_run()
    # ada-int8 was re-graded after the run (a new merge commit): its standings row no longer applies.
    records = [r if r.slug != "ada-int8" else replace(r, merge_commit_sha="f" * 40) for r in records]
    board = leaderboard.build(records, CURRENT, "best", 10, standings=out)
    closed, opened = board.divisions
    assert [row.record.slug for row in closed.of_record] == ["bo-prune", "cy-slim"]
    assert [row.record.slug for row in closed.rows] == ["ada-int8"]  # provisional
    assert [row.record.slug for row in opened.of_record] == ["dee-open"]
    assert [row.record.slug for row in opened.rows] == ["eve-new"]
    # The dropped row sat between them, so the remaining neighbours were never compared: no "ahead of".
    assert closed.of_record[0].next_resolved is False and closed.of_record[0].next_compared is False
    assert "not compared with Cy (cy) in this run" in leaderboard.render(board)
    goldenfile.check("leaderboard_standings.md", leaderboard.render(board))


def test_the_board_of_record_says_which_orderings_are_resolved_and_shows_ties() -> None:
    text = leaderboard.render(leaderboard.build(board_records(), CURRENT, "best", 10, standings=one_group_run()))
    rows = {cells[1]: cells for cells in sf.table_rows(text) if len(cells) > 1}
    assert rows["Bo (bo)"][0] == "1=" and rows["Ada (ada)"][0] == "1=" and rows["Cy (cy)"][0] == "3"
    assert rows["Bo (bo)"][7] == "tied with Ada (ada) (not resolved)"
    assert rows["Ada (ada)"][7] == "ahead of Cy (cy), 95%"
    assert "Test CPU, 2 cores" in text and "### Provisional" in text


def test_a_board_with_standings_is_the_same_bytes_whatever_the_record_order() -> None:
    out = one_group_run()
    records = board_records()
    expected = leaderboard.render(leaderboard.build(records, CURRENT, "best", 10, standings=out))
    for seed in range(3):
        random.Random(seed).shuffle(records)
        assert leaderboard.render(leaderboard.build(records, CURRENT, "best", 10, standings=out)) == expected


def test_a_timed_entry_stays_in_the_ranking_of_record_and_only_untimed_ones_are_listed_behind_their_athlete() -> None:
    # ada-int8 was timed; since then ada merged a better entry (ranked provisionally) and a weaker one.
    records = [*board_records(),
               rec("ada-new", "ada", 6.0, speedup=3.0, compression=2.0, pr=9, delta=0.0,
                   graded_at="2025-03-05T12:00:00Z"),
               rec("ada-weak", "ada", 1.0, pr=10, delta=0.0, graded_at="2025-03-06T12:00:00Z")]
    board = leaderboard.build(records, CURRENT, "best", 10, standings=one_group_run())
    closed = board.divisions[0]
    assert "ada-int8" in [row.record.slug for row in closed.of_record]
    assert [row.record.slug for row in closed.rows] == ["ada-new"]
    assert [(s.record.slug, s.kept.slug) for s in closed.superseded] == [("ada-weak", "ada-new")]
    text = leaderboard.render(board)
    section = text.split("## Closed Division")[1].split("## Open Division")[0]
    assert section.index("### Ranking of record") < section.index("### Provisional") < section.index(
        "### Not ranked (only each athlete's best entry is ranked)")
    assert "| ada-weak | Ada (ada) |" in section and "behind the same athlete's ada-new" in section


def test_standings_from_another_grader_are_flagged() -> None:
    out = {**one_group_run(), "grader_version": "0.0.9"}
    text = leaderboard.render(leaderboard.build(board_records(), CURRENT, "best", 10, standings=out))
    assert "This standings run used grader 0.0.9 (current 0.1.0)" in text


def test_an_unknown_schema_version_is_refused(tmp_path: Path) -> None:
    (tmp_path / "standings.json").write_text(schema.dumps({**one_group_run(), "schema_version": 2}))
    with pytest.raises(GraderError, match="schema_version"):
        standings.read(tmp_path / "standings.json")


def test_a_damaged_standings_file_stops_the_board_naming_it(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    weights = tmp_path / "weights.npz"
    weights.write_bytes(b"w")
    sha = hashlib.sha256(b"w").hexdigest()
    sf.write(tmp_path / "submissions", sf.score("ada-int8", login="ada", baseline_sha256=sha))
    bad = {**one_group_run(), "divisions": {"closed": [{"slug": "ada-int8"}], "open": []}}
    (tmp_path / "standings.json").write_text(schema.dumps(bad))
    code = cli.main(["leaderboard", "--submissions", str(tmp_path / "submissions"), "--out",
                     str(tmp_path / "leaderboard.md"), "--standings", str(tmp_path / "standings.json"),
                     "--baseline-weights", str(weights)])
    assert code == 2
    assert f"{tmp_path / 'standings.json'}: does not match standings.schema.json: divisions.closed.0" in (
        capsys.readouterr().err)
    assert not (tmp_path / "leaderboard.md").exists()


def test_a_group_result_whose_entries_have_unequal_rounds_is_refused_naming_the_file_and_group() -> None:
    g = group_result(0, {"ada-int8": [2.0] * 4, "bo-prune": [1.9] * 4})
    g["entries"][1]["rounds"] = g["entries"][1]["rounds"][:3]  # schema-valid, but not one run's rounds
    assert schema.validate(g, "standings_group") == []
    with pytest.raises(GraderError, match=r"results/group-0\.json: group 0: every entry needs the same"):
        standings.combine([g], board_records(), COMPETITION, plan_of(("ada-int8", "bo-prune")),
                          "results/group-0.json")
