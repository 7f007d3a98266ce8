"""Standings statistics with injected per-round log speedups: intervals, ranking, ties, resolved orderings, links."""

from __future__ import annotations

import math

import pytest

from grader.board.standings_stats import Measurement, compare, entry_interval, interval, link_groups, rank
from grader.measure import stats

LN = math.log


def m(key: str, speedups: list[float], group: int = 0, factor: float = 1.0) -> Measurement:
    return Measurement(key, group, tuple(LN(s) for s in speedups), LN(factor))


def test_entry_interval_is_the_t_interval_of_the_per_round_logs() -> None:
    rounds = [2.0, 2.2, 1.9, 2.1, 2.05]
    logs = [LN(s) for s in rounds]
    got = interval(logs, 0.95)
    margin = stats.t_quantile(0.975, 4) * stats.stdev(logs) / math.sqrt(5)
    assert got.mean == pytest.approx(stats.mean(logs))
    assert (got.low, got.high) == (pytest.approx(got.mean - margin), pytest.approx(got.mean + margin))
    assert got.df == 4


def test_round_to_round_variation_widens_the_interval() -> None:
    steady = interval([LN(2.0), LN(2.01), LN(1.99), LN(2.0)], 0.95)
    drifting = interval([LN(1.7), LN(2.3), LN(1.8), LN(2.2)], 0.95)
    assert steady.mean == pytest.approx(drifting.mean, abs=0.02)
    assert (drifting.high - drifting.low) > 10 * (steady.high - steady.low)


def test_one_round_is_inconclusive_not_a_guess() -> None:
    one = interval([LN(2.0)], 0.95)
    assert one.low is None and one.high is None and one.se is None


def test_ranking_follows_efficiency_not_speedup() -> None:
    ms = [m("fast-big", [3.0, 3.1, 2.9], factor=1.0), m("slow-small", [2.0, 2.1, 1.9], factor=2.0)]
    order = rank(["fast-big", "slow-small"], ms, link_groups(ms), 0.95)
    assert [s.key for s in order] == ["slow-small", "fast-big"]
    assert order[0].log_efficiency == pytest.approx(stats.mean([LN(2.0), LN(2.1), LN(1.9)]) + LN(2.0))


def test_drift_shared_by_both_entries_resolves_a_close_ordering() -> None:
    # The machine slows down round by round; A is always 3% faster than B in the same round.
    drift = [1.0, 0.8, 1.2, 0.9, 1.1]
    ms = [m("a", [2.06 * d for d in drift]), m("b", [2.0 * d for d in drift])]
    order = rank(["a", "b"], ms, link_groups(ms), 0.95)
    assert [s.key for s in order] == ["a", "b"]
    assert order[0].next is not None and order[0].next.resolved and order[0].next.paired
    assert [(s.rank, s.tied) for s in order] == [(1, False), (2, False)]
    # Each entry's own interval is wide (the drift is in it), yet the ordering is certain.
    assert order[0].log_speedup.high - order[0].log_speedup.low > 0.2


def test_unresolved_neighbours_are_tied_and_share_a_rank() -> None:
    ms = [m("a", [3.0, 3.0, 3.0, 3.0]),
          m("b", [2.0, 2.3, 1.8, 2.2]), m("c", [2.1, 1.9, 2.25, 1.95]),
          m("d", [1.0, 1.0, 1.0, 1.0])]
    order = rank(["a", "b", "c", "d"], ms, link_groups(ms), 0.95)
    assert [s.key for s in order] == ["a", "b", "c", "d"]
    assert [(s.rank, s.tied) for s in order] == [(1, False), (2, True), (2, True), (4, False)]
    assert [s.next.resolved for s in order[:3]] == [True, False, True]


def test_a_chain_of_unresolved_neighbours_is_one_tie() -> None:
    ms = [m("a", [2.2, 2.0, 2.1]), m("b", [2.1, 2.05, 2.0]), m("c", [2.0, 2.1, 1.95])]
    order = rank(["a", "b", "c"], ms, link_groups(ms), 0.95)
    assert [s.rank for s in order] == [1, 1, 1] and all(s.tied for s in order)


def test_equal_estimates_are_ordered_by_key_so_output_is_deterministic() -> None:
    ms = [m("zed", [2.0, 2.0, 2.0]), m("amy", [2.0, 2.0, 2.0])]
    assert [s.key for s in rank(["zed", "amy"], ms, link_groups(ms), 0.95)] == ["amy", "zed"]


def test_compare_names_the_entry_ahead_whatever_the_argument_order() -> None:
    ms = [m("a", [2.0, 2.1, 2.05]), m("b", [1.0, 1.05, 1.02])]
    links = link_groups(ms)
    assert compare("b", "a", ms, links, 0.95).ahead == "a"
    assert compare("a", "b", ms, links, 0.95).difference.mean == pytest.approx(
        compare("b", "a", ms, links, 0.95).difference.mean)


def test_groups_are_tied_through_their_anchors() -> None:
    # Group 1 ran on a machine where everything measured 10% slower relative to the baseline.
    g0 = [m("a", [3.0, 3.03, 2.97]), m("b", [2.0, 2.02, 1.98]), m("c", [1.5, 1.51, 1.49])]
    g1 = [m("b", [1.8, 1.818, 1.782], 1), m("c", [1.35, 1.359, 1.341], 1), m("d", [1.2, 1.212, 1.188], 1),
          m("e", [2.25, 2.2725, 2.2275], 1)]
    ms = g0 + g1
    links = link_groups(ms)
    assert links[1].anchors == ("b", "c")
    assert links[1].offset == pytest.approx(LN(1 / 0.9), rel=1e-3)
    home, d = entry_interval("d", ms, links, 0.95)
    assert home.group == 1 and math.exp(d.mean) == pytest.approx(1.2 / 0.9, rel=1e-3)
    order = rank(["a", "b", "c", "d", "e"], ms, links, 0.95)
    assert [s.key for s in order] == ["a", "e", "b", "c", "d"]
    assert [s.group for s in order] == [0, 1, 0, 0, 1]  # an anchor is reported from its first group
    # a and e were never timed together: linked estimates; e and b were (group 1): paired rounds.
    assert [s.next.paired for s in order[:4]] == [False, True, True, True]
    assert all(s.next.resolved for s in order[:4])


def test_link_variance_adds_along_the_chain() -> None:
    def group(g: int, keys: list[str]) -> list[Measurement]:
        return [m(k, [2.0, 2.2, 1.8], g) for k in keys]
    ms = group(0, ["a", "b"]) + group(1, ["b", "c"]) + group(2, ["c", "d"])
    links = link_groups(ms)
    se2 = stats.stdev([LN(2.0), LN(2.2), LN(1.8)]) ** 2 / 3
    assert links[1].variance == pytest.approx(2 * se2)  # one anchor: both sides' se^2
    assert links[2].variance == pytest.approx(4 * se2)  # two links: variances add
    widths = [entry_interval(k, ms, links, 0.95)[1] for k in ("a", "c", "d")]
    assert widths[0].se < widths[1].se < widths[2].se
    assert widths[2].se == pytest.approx(math.sqrt(se2 + 2 * 2 * se2))


def test_more_anchors_make_a_tighter_link() -> None:
    one = link_groups([m("a", [2.0, 2.2, 1.8]), m("b", [2.0, 2.2, 1.8]),
                       m("b", [2.0, 2.2, 1.8], 1), m("c", [2.0, 2.2, 1.8], 1)])
    two = link_groups([m("a", [2.0, 2.2, 1.8]), m("b", [2.0, 2.2, 1.8]),
                       m("a", [2.0, 2.2, 1.8], 1), m("b", [2.0, 2.2, 1.8], 1), m("c", [2.0, 2.2, 1.8], 1)])
    assert two[1].variance == pytest.approx(one[1].variance / 2)


def test_a_group_without_anchors_cannot_be_linked() -> None:
    with pytest.raises(ValueError, match="group 1 shares no anchor entry with group 0"):
        link_groups([m("a", [2.0, 2.1]), m("b", [2.0, 2.1], 1)])


def test_groups_must_share_a_round_count_and_be_numbered_from_zero() -> None:
    with pytest.raises(ValueError, match="same, non-zero number of rounds"):
        link_groups([m("a", [2.0, 2.1]), m("b", [2.0, 2.1, 2.2])])
    with pytest.raises(ValueError, match="numbered 0..0"):
        link_groups([m("a", [2.0, 2.1], 1)])
