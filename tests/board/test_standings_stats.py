"""Standings statistics with injected timings: the pooled estimate, intervals, ranking, ties, resolved orderings, links."""

from __future__ import annotations

import math
import random

import pytest

from grader.board.standings_stats import Measurement, RoundSamples, compare, entry_interval, interval, link_groups, pooled, rank
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


# ------------------------------------------------------------------ pooling the rounds' samples

QUIET_RATIO = 1.78  # the Closed example's ratio when the machine is quiet; 2.1x when contended (timing.estimate)


def simulated_rounds(rng: random.Random, contended_share: list[float], ratios: dict[str, float],
                     pairs: int = 20) -> dict[str, list[RoundSamples]]:
    """Per-query times on a machine that is contended for ``contended_share[r]`` of round r: contention slows
    the baseline 1.5x and the entries 1.27x (so the ratio reads 18% high), plus a few percent of noise."""
    rounds: dict[str, list[RoundSamples]] = {k: [] for k in ratios}
    for share in contended_share:
        for key, ratio in ratios.items():
            base, entry = [], []
            for _ in range(pairs):
                contended = rng.random() < share
                noise = math.exp(rng.gauss(0, 0.03))
                base.append((1.5 if contended else 1.0) * noise * math.exp(rng.gauss(0, 0.02)))
                entry.append((1.27 if contended else 1.0) / ratio * noise * math.exp(rng.gauss(0, 0.02)))
            rounds[key].append(RoundSamples(tuple(base), tuple(entry)))
    return rounds


def test_the_pooled_estimate_is_the_ratio_of_the_quantiles_of_all_rounds_samples() -> None:
    rounds = {"a": [RoundSamples((4.0, 6.0), (2.0, 3.0)), RoundSamples((5.0, 8.0), (1.0, 4.0))],
              "b": [RoundSamples((3.0, 7.0), (1.5, 1.6)), RoundSamples((9.0, 2.0), (1.7, 1.8))]}
    values = pooled(rounds, 0.5)
    baseline = stats.percentile([4.0, 6.0, 5.0, 8.0, 3.0, 7.0, 9.0, 2.0], 50.0)  # every entry's pairs
    assert stats.mean(values["a"]) == pytest.approx(LN(baseline / stats.percentile([2.0, 3.0, 1.0, 4.0], 50.0)))
    assert stats.mean(values["b"]) == pytest.approx(LN(baseline / stats.percentile([1.5, 1.6, 1.7, 1.8], 50.0)))


def test_rounds_the_machine_spent_contended_do_not_move_the_pooled_estimate() -> None:
    """Three of ten rounds mostly contended: the mean of the rounds' own quartile ratios (the grade's estimate per
    round) reads high, the pooled 10% quantiles do not."""
    rng = random.Random(3)
    shares = [0.2] * 7 + [0.9] * 3
    rounds = simulated_rounds(rng, shares, {"closed": QUIET_RATIO})
    got = math.exp(stats.mean(pooled(rounds, 0.1)["closed"]))
    per_round = [LN(stats.percentile(r.baseline, 25.0) / stats.percentile(r.entry, 25.0)) for r in rounds["closed"]]
    assert got == pytest.approx(QUIET_RATIO, rel=0.01)
    assert math.exp(stats.mean(per_round)) > QUIET_RATIO * 1.04


def test_the_pooled_interval_covers_the_quiet_ratio_at_its_stated_confidence() -> None:
    """300 simulated standings runs, each round contended for a random share of its pairs."""
    rng = random.Random(11)
    covered, runs = 0, 300
    for _ in range(runs):
        rounds = simulated_rounds(rng, [rng.uniform(0.0, 0.8) for _ in range(10)], {"closed": QUIET_RATIO})
        i = interval(pooled(rounds, 0.1)["closed"], 0.95)
        assert i.low is not None and i.high is not None
        covered += i.low <= LN(QUIET_RATIO) <= i.high
    assert covered / runs >= 0.92


def test_the_shared_baseline_cancels_out_of_an_ordering() -> None:
    """Two entries are ordered by their own speeds: slowing the baseline in one round changes no paired difference."""
    rng = random.Random(5)
    rounds = simulated_rounds(rng, [0.3] * 6, {"a": 2.0, "b": 2.1})
    slowed = {k: [RoundSamples(tuple(3 * t for t in r.baseline), r.entry) if i == 2 else r for i, r in enumerate(v)]
              for k, v in rounds.items()}
    before, after = pooled(rounds, 0.1), pooled(slowed, 0.1)
    assert after["a"] != pytest.approx(before["a"])  # the speedups did move
    for x, y, u, v in zip(before["a"], before["b"], after["a"], after["b"], strict=True):
        assert x - y == pytest.approx(u - v)


def test_leaving_a_round_out_moves_its_jackknife_value_and_the_values_average_to_the_estimate() -> None:
    rng = random.Random(9)
    rounds = simulated_rounds(rng, [0.1, 0.1, 0.1, 0.1, 0.95], {"a": 2.0})
    values = pooled(rounds, 0.25)["a"]
    whole = LN(stats.percentile([t for r in rounds["a"] for t in r.baseline], 25.0)
               / stats.percentile([t for r in rounds["a"] for t in r.entry], 25.0))
    assert stats.mean(values) == pytest.approx(whole)
    assert len(set(values)) > 1 and stats.stdev(values) > 0


@pytest.mark.parametrize("rounds", [
    {"a": [RoundSamples((1.0,), (1.0,))], "b": []},
    {"a": [RoundSamples((1.0,), (1.0,))], "b": [RoundSamples((1.0,), (1.0,))] * 2},
    {"a": [RoundSamples((), (1.0,))]},
    {"a": [RoundSamples((1.0,), (0.0,))]},
], ids=["no-rounds", "unequal-rounds", "no-samples", "zero-time"])
def test_pooled_refuses_rounds_it_cannot_pool(rounds: dict[str, list[RoundSamples]]) -> None:
    with pytest.raises(ValueError):
        pooled(rounds, 0.1)
