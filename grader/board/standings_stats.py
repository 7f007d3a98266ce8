"""Standings statistics: pure functions of per-round timings (numbers in, verdicts out).

A standings run times every entry in *rounds*; in each round an entry is timed
paired with the baseline. The estimate pools the rounds (``pooled``): an
entry's speedup is the ratio of the baseline's ``quantile`` time per query,
over every entry's pairs of the group, to the entry's own ``quantile`` time
per query, over its rounds: each model's speed when the machine was quiet, as
a grade defines the speedup (``timing.estimate``), from all the job's samples
at once. Why pooled and not a mean of per-round ratios: the machine switches
between a quiet and a contended state every few seconds, about a round's
length, and the ratio differs between them (the Closed example 1.78x quiet,
2.1x contended), so a round the machine spent contended reads high and a mean
over rounds reads how many such rounds the run drew (measured: two sets of
three runs of five entries spread at most 2.1% and 1.2% by the pooled
estimate, up to 5.5% and 6.8% by the mean of the same rounds' own ratios;
``benchmarks/standings.py``).

All the uncertainty the board states comes from round-to-round variation, so
drift (a noisy neighbour for ten minutes, a thermal step) widens the interval
instead of hiding in it. ``pooled`` returns, per entry and round, the
*jackknife value* of the pooled estimate: the estimate minus (rounds - 1)
times how far leaving that round out moves it from the leave-one-out mean. The
values average to the estimate and their spread is the (grouped) jackknife's
standard error, so everything below treats them as per-round log speedups:

- an entry's speedup is exp(mean of its per-round values), with the t-interval
  on that mean (df = rounds - 1);
- two entries are ordered by the per-round *paired differences* of their log
  efficiencies (the same rounds, so drift that hit both cancels); the ordering
  is *resolved* when the t-interval of the mean difference excludes 0;
- neighbours whose ordering is not resolved are shown as tied; a chain of
  unresolved neighbours is one tie.

Efficiency = speedup x factor, where factor (compression and accuracy penalty)
is deterministic, so a log efficiency is a log speedup plus a constant.

Groups. When the entries do not fit one job they are timed in several groups,
each possibly on another machine, and consecutive groups share *anchor*
entries. Group g's scale is tied to group g-1's by the mean, over the shared
anchors, of (anchor's mean log speedup in g-1) - (its mean in g); the variance
of that link is the sum of both sides' squared standard errors over k², k
anchors. Offsets add along the chain, so do their variances: group g's offset
has variance sum of the g link variances, and its standard error grows like
sqrt(g) times one link's (about se·sqrt(2/k) per link for an anchor's
per-group standard error se). Every interval here uses t with rounds - 1
degrees of freedom; each variance term has at least that many, so this is
conservative (Welch-Satterthwaite would give more).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from grader.measure import stats


@dataclass(frozen=True)
class RoundSamples:
    """One entry's paired samples in one round, in seconds per query of each model."""

    baseline: tuple[float, ...]
    entry: tuple[float, ...]


def _pooled_logs(rounds: Mapping[str, Sequence[RoundSamples]], keep: Sequence[int],
                 quantile: float) -> dict[str, float]:
    """ln(baseline's quantile / entry's quantile) per entry over the rounds ``keep``; the baseline over all entries."""
    baseline = [t for samples in rounds.values() for r in keep for t in samples[r].baseline]
    q_base = stats.percentile(baseline, 100.0 * quantile)
    return {key: math.log(q_base / stats.percentile([t for r in keep for t in samples[r].entry], 100.0 * quantile))
            for key, samples in rounds.items()}


def pooled(rounds: Mapping[str, Sequence[RoundSamples]], quantile: float) -> dict[str, tuple[float, ...]]:
    """Per entry, per round: the jackknife values of the pooled log speedup (their mean is the estimate).

    The estimate pools every round (the module's docstring says why); leaving round i out of
    every entry and the baseline alike gives theta_(-i), and round i's value is
    theta + (R - 1) (mean_j theta_(-j) - theta_(-i)). Two entries' values are paired by round,
    and their difference is the jackknife of the difference of their estimates, in which the
    shared baseline cancels: two entries are ordered by their own quiet speeds.
    """
    counts = {len(samples) for samples in rounds.values()}
    if len(counts) != 1 or 0 in counts:
        raise ValueError(f"every entry needs the same, non-zero number of rounds, got {sorted(counts)}")
    if not 0.0 < quantile < 1.0:
        raise ValueError("quantile must be in (0, 1)")
    n = counts.pop()
    if any(not r.baseline or not r.entry or min(*r.baseline, *r.entry) <= 0
           for samples in rounds.values() for r in samples):
        raise ValueError("every round needs positive per-query times of both models")
    whole = _pooled_logs(rounds, range(n), quantile)
    if n == 1:
        return {key: (v,) for key, v in whole.items()}
    left_out = [_pooled_logs(rounds, [r for r in range(n) if r != i], quantile) for i in range(n)]
    out = {}
    for key, theta in whole.items():
        loo = [lo[key] for lo in left_out]
        centre = stats.mean(loo)
        out[key] = tuple(theta + (n - 1) * (centre - v) for v in loo)
    return out


@dataclass(frozen=True)
class Measurement:
    """One entry's per-round log speedups in one group (``pooled``'s values), and its log efficiency factor."""

    key: str
    group: int
    log_speedups: tuple[float, ...]
    log_factor: float = 0.0  # ln(compression / (1 + penalty x accuracy loss))


@dataclass(frozen=True)
class Interval:
    """A mean on the log scale with its standard error and t-interval; low/high None when inconclusive."""

    mean: float
    se: float | None
    df: int
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Link:
    """How a group's log speedups are shifted onto group 0's scale."""

    group: int
    offset: float  # added to this group's log speedups
    variance: float  # of the offset; 0 for group 0
    anchors: tuple[str, ...]  # shared with the previous group


@dataclass(frozen=True)
class Ordering:
    """Whether ``ahead`` is ahead of ``behind``: the interval of their mean log-efficiency difference."""

    ahead: str
    behind: str
    difference: Interval
    paired: bool  # from per-round paired differences (same group) rather than linked estimates
    resolved: bool


@dataclass(frozen=True)
class Standing:
    """One entry's place: ``rank`` is shared by a tie; ``next`` orders it against the entry below."""

    key: str
    position: int
    rank: int
    tied: bool
    log_speedup: Interval
    log_efficiency: float
    group: int
    next: Ordering | None


def interval(values: Sequence[float], confidence: float, extra_variance: float = 0.0) -> Interval:
    """Mean of ``values`` with a t-interval (df = n - 1); ``extra_variance`` adds to the mean's variance."""
    if not values:
        raise ValueError("no values")
    n = len(values)
    m = stats.mean(values)
    if n < 2:
        return Interval(m, None, 0, None, None)
    se = math.sqrt(stats.stdev(values) ** 2 / n + extra_variance)
    margin = stats.t_quantile(0.5 + confidence / 2, n - 1) * se
    return Interval(m, se, n - 1, m - margin, m + margin)


def _shifted(i: Interval, by: float) -> Interval:
    return Interval(i.mean + by, i.se, i.df,
                    None if i.low is None else i.low + by, None if i.high is None else i.high + by)


def _by_group(measurements: Iterable[Measurement]) -> dict[int, dict[str, Measurement]]:
    groups: dict[int, dict[str, Measurement]] = {}
    for m in measurements:
        if m.key in groups.setdefault(m.group, {}):
            raise ValueError(f"{m.key} is measured twice in group {m.group}")
        groups[m.group][m.key] = m
    if sorted(groups) != list(range(len(groups))):
        raise ValueError(f"groups must be numbered 0..{len(groups) - 1}, got {sorted(groups)}")
    rounds = {len(m.log_speedups) for g in groups.values() for m in g.values()}
    if len(rounds) != 1 or 0 in rounds:
        raise ValueError(f"every measurement needs the same, non-zero number of rounds, got {sorted(rounds)}")
    return groups


def _se2(m: Measurement) -> float:
    n = len(m.log_speedups)
    return stats.stdev(m.log_speedups) ** 2 / n if n > 1 else math.inf


def link_groups(measurements: Sequence[Measurement]) -> dict[int, Link]:
    """Each group's offset onto group 0's scale, chained through the anchors it shares with the group before."""
    groups = _by_group(measurements)
    links = {0: Link(0, 0.0, 0.0, ())}
    for g in range(1, len(groups)):
        anchors = tuple(sorted(set(groups[g - 1]) & set(groups[g])))
        if not anchors:
            raise ValueError(f"group {g} shares no anchor entry with group {g - 1}: their scales cannot be tied")
        k = len(anchors)
        step = stats.mean([stats.mean(groups[g - 1][a].log_speedups) - stats.mean(groups[g][a].log_speedups)
                           for a in anchors])
        step_var = math.fsum(_se2(groups[g - 1][a]) + _se2(groups[g][a]) for a in anchors) / k ** 2
        before = links[g - 1]
        links[g] = Link(g, before.offset + step, before.variance + step_var, anchors)
    return links


def _home(groups: dict[int, dict[str, Measurement]], key: str) -> Measurement:
    """The measurement an entry is reported from: its lowest-numbered group (the shortest chain of links)."""
    for g in sorted(groups):
        if key in groups[g]:
            return groups[g][key]
    raise KeyError(key)


def _chain_variance(links: dict[int, Link], g: int, h: int) -> float:
    """Variance of offset_g - offset_h: the links between them (independent), summed."""
    lo, hi = sorted((g, h))
    return links[hi].variance - links[lo].variance


def _difference(a: str, b: str, groups: dict[int, dict[str, Measurement]], links: dict[int, Link],
                confidence: float) -> tuple[Interval, bool]:
    """Log efficiency of ``a`` minus ``b`` with its interval, and whether it came from paired rounds."""
    shared = [g for g in sorted(groups) if a in groups[g] and b in groups[g]]
    if shared:
        ma, mb = groups[shared[0]][a], groups[shared[0]][b]
        diffs = [x - y for x, y in zip(ma.log_speedups, mb.log_speedups, strict=True)]
        return _shifted(interval(diffs, confidence), ma.log_factor - mb.log_factor), True
    ma, mb = _home(groups, a), _home(groups, b)
    n = len(ma.log_speedups)
    mean = (stats.mean(ma.log_speedups) + links[ma.group].offset + ma.log_factor
            - stats.mean(mb.log_speedups) - links[mb.group].offset - mb.log_factor)
    if n < 2:
        return Interval(mean, None, 0, None, None), False
    se = math.sqrt(_se2(ma) + _se2(mb) + _chain_variance(links, ma.group, mb.group))
    margin = stats.t_quantile(0.5 + confidence / 2, n - 1) * se
    return Interval(mean, se, n - 1, mean - margin, mean + margin), False


def _ordering(ahead: str, behind: str, diff: Interval, paired: bool) -> Ordering:
    return Ordering(ahead, behind, diff, paired, diff.low is not None and diff.low > 0)


def compare(a: str, b: str, measurements: Sequence[Measurement], links: dict[int, Link],
            confidence: float) -> Ordering:
    """``a`` versus ``b`` on log efficiency; ``ahead`` is whichever has the larger mean.

    Paired per-round differences when some group timed both (drift cancels);
    else the difference of their linked estimates, with both standard errors
    and the links between their groups added in variance.
    """
    diff, paired = _difference(a, b, _by_group(measurements), links, confidence)
    if diff.mean < 0:
        a, b = b, a
        diff = Interval(-diff.mean, diff.se, diff.df, None if diff.high is None else -diff.high,
                        None if diff.low is None else -diff.low)
    return _ordering(a, b, diff, paired)


def entry_interval(key: str, measurements: Sequence[Measurement], links: dict[int, Link],
                   confidence: float) -> tuple[Measurement, Interval]:
    """An entry's log speedup on group 0's scale, with the offset's variance in its interval."""
    home = _home(_by_group(measurements), key)
    link = links[home.group]
    return home, _shifted(interval(home.log_speedups, confidence, link.variance), link.offset)


def rank(keys: Iterable[str], measurements: Sequence[Measurement], links: dict[int, Link],
         confidence: float) -> tuple[Standing, ...]:
    """Order ``keys`` by estimated log efficiency (ties in the estimate by key) and mark unresolved neighbours.

    A run of neighbours whose orderings are all unresolved shares the rank of its first member.
    """
    rows = []
    for key in set(keys):
        home, speed = entry_interval(key, measurements, links, confidence)
        rows.append((key, home, speed, speed.mean + home.log_factor))
    rows.sort(key=lambda r: (-r[3], r[0]))
    groups = _by_group(measurements)
    nexts: list[Ordering | None] = []
    for i, row in enumerate(rows):
        if i + 1 == len(rows):
            nexts.append(None)
            continue
        # Oriented as ranked: when the paired mean disagrees in sign with the estimates' order
        # (possible across groups), the difference's interval cannot exclude 0 on the ranked side.
        diff, paired = _difference(row[0], rows[i + 1][0], groups, links, confidence)
        nexts.append(_ordering(row[0], rows[i + 1][0], diff, paired))
    out = []
    rank_of = 1
    for i, (key, home, speed, log_eff) in enumerate(rows):
        if i > 0 and (prev := nexts[i - 1]) is not None and prev.resolved:
            rank_of = i + 1
        before, after = (nexts[i - 1] if i > 0 else None), nexts[i]
        tied = (before is not None and not before.resolved) or (after is not None and not after.resolved)
        out.append(Standing(key, i + 1, rank_of, tied, speed, log_eff, home.group, nexts[i]))
    return tuple(out)
