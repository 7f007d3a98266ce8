"""Standings: which entries are re-timed together, in which groups, at what cost, and the result file.

A standings run re-times the top ``standings.top_n`` valid entries of each
division (one per athlete, as the board picks them) in one job, so their
speedups come from one machine at one time instead of from per-PR gradings on
different runners hours apart. The timing loop lives in
``grader.grading.standings_run``; the statistics in ``grader.board.standings_stats``. This
module is pure: score records in, a plan out; group results in,
``standings.json`` (schemas/standings.schema.json) out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from grader.board import leaderboard, standings_stats
from grader.board.record import ScoreRecord
from grader.core import schema
from grader.core.config import Competition
from grader.core.errors import GraderError
from grader.measure import timing

SCHEMA = "standings"
GROUP_SCHEMA = "standings_group"
STANDINGS_NAME = "standings.json"
TEST_IMAGES = 10_000
# Per entry and job, beyond the timed samples: validating, rebuilding (a recipe
# entry) and loading its worker. benchmarks/standings.py prints it per entry
# ("setup seconds"): 0.1-0.8 s on the project machine for the five entries there,
# the Closed example's rebuild the slowest; 2 s leaves room for slower runners.
SETUP_SECONDS_PER_ENTRY = 2.0
# Per timed turn (a model's warm-up and its request: pipe round trips, CPU-time reads) and per
# query of the null model (the harness alone), beyond the models' own per-image latency.
TURN_SECONDS = 1e-3
HARNESS_SECONDS_PER_QUERY = 2e-5
# Every worker is started afresh each round (standings_run.time_group): an entry's load plus
# its share of the baseline's and the null model's, per round (0.1-0.3 s per worker measured here).
LOAD_SECONDS_PER_ROUND = 0.5


@dataclass(frozen=True)
class Candidate:
    """An entry chosen for a standings run, with what the plan needs from its score record."""

    slug: str
    division: str
    provisional_rank: int
    baseline_ms: float  # per image, from the record's grading run
    entry_ms: float  # baseline_ms / recorded speedup


@dataclass(frozen=True)
class Plan:
    candidates: tuple[Candidate, ...]
    groups: tuple[tuple[str, ...], ...]
    group_minutes: tuple[float, ...]  # estimated, per job
    whole_test_set: bool = True  # the estimate's assumption: workers at user+netns (see images_per_round)

    @property
    def minutes(self) -> float:
        return math.fsum(self.group_minutes)

    def to_json(self) -> dict[str, Any]:
        return {"groups": [list(g) for g in self.groups], "group_minutes": list(self.group_minutes),
                "minutes": self.minutes}


def choose(records: Sequence[ScoreRecord], current: leaderboard.CurrentGrader,
           competition: Competition) -> tuple[Candidate, ...]:
    """The top N of each division as the board ranks them now (closed first, then open)."""
    board = leaderboard.build(records, current, competition.per_athlete, 0, competition.name)
    out = []
    for table in board.divisions:
        for row in table.rows[:competition.standings.top_n]:
            r = row.record
            assert r.scores is not None
            base = r.baseline.latency_ms_median if r.baseline is not None else None
            if base is None:
                raise GraderError(f"{r.source}: no baseline latency recorded, so its timing cost is unknown")
            out.append(Candidate(r.slug, r.division, row.rank, base, base / r.scores.speedup))
    return tuple(out)


def images_per_round(competition: Competition, whole_test_set: bool, test_images: int = TEST_IMAGES) -> int:
    """Test images one entry is offered in one round (within a round it never sees one twice).

    ``whole_test_set``: the round's workers are fresh and stateless (the ``user+netns`` level:
    nothing written survives a worker), so every round offers a fresh permutation of the whole
    test set and images repeat only across rounds, to workers that cannot remember them.
    Otherwise (``process`` level: a worker can leave files for the next) an equal share, never
    reused for that entry. The timing engine calibrates its samples within it.
    """
    return test_images if whole_test_set else test_images // competition.standings.rounds


def round_seconds(baseline_ms: float, entry_ms: float, competition: Competition, images: int) -> float:
    """Estimated seconds of one entry's round, the workers already started: what the timing engine does.

    Warm-up images and ``calibration_samples`` samples of ``min_queries_per_sample`` queries per
    model, then ``pairs_per_round`` pairs: the faster model's long request lasts ``min_sample_seconds``
    (within the ``images`` offered: ``timing.plan_queries``), the slower model's as long
    (``equal_duration_samples``), each with its short request, the null model as many queries as
    the faster; every turn (a model's request and its warm-up) adds ``TURN_SECONDS``.
    """
    t = competition.timing
    pairs = competition.standings.pairs_per_round
    params = replace(t, min_pairs=pairs, max_pairs=pairs)
    b, e = baseline_ms / 1000.0 * t.batch_size, entry_ms / 1000.0 * t.batch_size  # per query
    left = images - (t.warmup_queries + t.calibration_samples * t.min_queries_per_sample) * t.batch_size
    queries, _ = timing.plan_queries(b, e, params, left)
    short = timing.short_queries(queries, params)
    slower = timing.slower_queries(queries, b, e, params)
    fast_s, slow_s = sorted((b, e))
    turns = 3 * (2 if short else 1)
    per_pair = ((queries + short) * fast_s + (slower + timing.turn_short_queries(slower, params, short > 0))
                * slow_s + (queries + short) * HARNESS_SECONDS_PER_QUERY
                + (2 if short else 1) * t.warmup_queries * (b + e) + turns * TURN_SECONDS)
    calibration = t.calibration_samples * (t.min_queries_per_sample * (b + e + HARNESS_SECONDS_PER_QUERY)
                                           + t.warmup_queries * (b + e) + 3 * TURN_SECONDS)
    return calibration + pairs * per_pair


def entry_seconds(c: Candidate, competition: Competition, whole_test_set: bool = True) -> float:
    """Estimated seconds one entry costs one job: its rounds (both models of every sample, fresh workers) plus setup."""
    per_round = round_seconds(c.baseline_ms, c.entry_ms, competition, images_per_round(competition, whole_test_set))
    return competition.standings.rounds * (per_round + LOAD_SECONDS_PER_ROUND) + SETUP_SECONDS_PER_ENTRY


def split(slugs: Sequence[str], seconds: dict[str, float], max_seconds: float,
          anchors: int) -> tuple[tuple[str, ...], ...]:
    """Consecutive groups within ``max_seconds``; each group after the first starts with the
    last ``anchors`` entries of the group before."""
    if math.fsum(seconds[s] for s in slugs) <= max_seconds or len(slugs) <= 1:
        return (tuple(slugs),)
    groups: list[tuple[str, ...]] = []
    current: list[str] = []
    i = 0
    while i < len(slugs):
        if math.fsum(seconds[s] for s in current) + seconds[slugs[i]] <= max_seconds or not current:
            current.append(slugs[i])
            i += 1
            continue
        if len(current) <= anchors:
            raise GraderError(f"max_job_minutes {max_seconds / 60:g} fits no more than the {anchors} anchor "
                              "entries in a group: raise max_job_minutes or lower anchors")
        groups.append(tuple(current))
        current = current[-anchors:]
    if len(current) > anchors or not groups:
        groups.append(tuple(current))
    return tuple(groups)


def plan(candidates: Sequence[Candidate], competition: Competition, whole_test_set: bool = True) -> Plan:
    """Groups and estimated runner minutes for ``candidates``, their workers at ``user+netns``
    (``whole_test_set``, as on CI) or at ``process`` level (a share of the test set a round)."""
    t, share = competition.timing, images_per_round(competition, whole_test_set)
    needed = (t.warmup_queries + (t.calibration_samples + competition.standings.pairs_per_round)
              * t.min_queries_per_sample) * t.batch_size
    if needed > share:
        raise GraderError(f"standings: a round needs at least {needed} images per entry (warm-up, calibration and "
                          f"{competition.standings.pairs_per_round} samples of {t.min_queries_per_sample} queries), "
                          f"more than its share of the {TEST_IMAGES} test images over {competition.standings.rounds} "
                          "rounds (at process level an entry never sees an image twice): lower rounds or "
                          "pairs_per_round")
    seconds = {c.slug: entry_seconds(c, competition, whole_test_set) for c in candidates}
    groups = split([c.slug for c in candidates], seconds, competition.standings.max_job_minutes * 60,
                   competition.standings.anchors) if candidates else ()
    return Plan(tuple(candidates), groups, tuple(math.fsum(seconds[s] for s in g) / 60 for g in groups),
                whole_test_set)


def parse_groups(text: str, source: str) -> tuple[tuple[str, ...], ...]:
    """A plan's groups as the plan job wrote them: a JSON list of lists of slugs."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise GraderError(f"{source}: not JSON: {e}") from e
    if not isinstance(raw, list) or not all(isinstance(g, list) and g and all(isinstance(x, str) for x in g)
                                            for g in raw):
        raise GraderError(f"{source}: expected a list of non-empty lists of slugs")
    return tuple(tuple(g) for g in raw)


def describe_plan(p: Plan, competition: Competition) -> str:
    """What a run will do and cost, printed before it starts."""
    s = competition.standings
    lines = [f"standings: {len(p.candidates)} entries (top {s.top_n} per division), {s.rounds} rounds of "
             f"{s.pairs_per_round} pairs each, in {len(p.groups)} job(s)",
             "  images: " + ("the whole test set afresh every round (workers at user+netns: fresh and stateless)"
                             if p.whole_test_set else
                             f"1/{s.rounds} of the test set a round, never repeated (workers at process level)")]
    for i, (g, m) in enumerate(zip(p.groups, p.group_minutes, strict=True)):
        lines.append(f"  group {i}: {len(g)} entries, ~{m:.1f} runner minutes: {', '.join(g)}")
    lines.append(f"estimated runner minutes: {p.minutes:.1f} (from the records' per-image latencies; "
                 "job setup such as installing and the data download not included)")
    return "\n".join(lines)


# ------------------------------------------------------------------ combining group results


def _factor(r: ScoreRecord, penalty: float) -> float:
    """ln(efficiency / speedup): compression and the accuracy penalty, which re-timing does not change."""
    assert r.scores is not None
    return math.log(r.scores.compression / (1.0 + penalty * max(0.0, -r.scores.accuracy_delta_pp)))


def _interval_json(i: standings_stats.Interval) -> dict[str, float | None]:
    return {"log_mean": i.mean, "se": i.se, "low": None if i.low is None else math.exp(i.low),
            "high": None if i.high is None else math.exp(i.high), "estimate": math.exp(i.mean)}


def group_measurements(group: dict[str, Any], excluded: Mapping[str, str], log_factors: Mapping[str, float],
                       competition: Competition, source: str) -> list[standings_stats.Measurement]:
    """The ranked entries of one group result, each with its pooled per-round values (``standings_stats.pooled``).

    An entry left out (it failed, or its answers or idle CPU while timed were wrong) is left
    out of the baseline's pool too: its rounds may have slowed the baseline.
    """
    kept = [e for e in group["entries"] if e["slug"] not in excluded]
    rounds = {e["slug"]: [standings_stats.RoundSamples(tuple(r["baseline"]), tuple(r["entry"])) for r in e["rounds"]]
              for e in kept}
    try:
        values = standings_stats.pooled(rounds, competition.standings.speed_quantile) if rounds else {}
    except ValueError as e:
        raise GraderError(f"{source}: group {group['group']}: {e}") from e
    return [standings_stats.Measurement(e["slug"], group["group"], values[e["slug"]], log_factors.get(e["slug"], 0.0))
            for e in kept]


def combine(groups: Sequence[dict[str, Any]], records: Sequence[ScoreRecord], competition: Competition,
            expected: Plan, source: str = "group results") -> dict[str, Any]:
    """``standings.json`` from the group results of one run and the score records they timed.

    Each group must have timed exactly the entries ``expected`` (the plan, recomputed from
    the same records) gave it: a group result cannot add or drop an entry.
    """
    if not groups:
        raise GraderError(f"{source}: no group results to combine")
    groups = sorted(groups, key=lambda g: g["group"])
    if [g["group"] for g in groups] != list(range(len(expected.groups))):
        raise GraderError(f"{source}: the plan has groups 0..{len(expected.groups) - 1}, "
                          f"the results have {[g['group'] for g in groups]}")
    for g in groups:
        # An entry excluded after its rounds (its answers while timed) keeps its raw rounds in "entries".
        got = sorted({e["slug"] for e in g["entries"]} | {e["slug"] for e in g["excluded"]})
        if got != sorted(expected.groups[g["group"]]):
            raise GraderError(f"{source}: group {g['group']} timed {got}, the plan gave it "
                              f"{sorted(expected.groups[g['group']])}")
    for key in ("run_id", "grader_version", "baseline_sha256", "rounds", "pairs_per_round", "confidence"):
        if len({str(g[key]) for g in groups}) != 1:
            raise GraderError(f"{source}: the groups disagree on {key}: they are not from one standings run")
    by_slug = {r.slug: r for r in records}
    penalty = competition.accuracy_penalty_per_pp
    excluded = {e["slug"]: e["reason"] for g in groups for e in g["excluded"]}
    measurements = []
    for g in groups:
        for e in g["entries"]:
            r = by_slug.get(e["slug"])
            if r is None or r.scores is None or r.status != "valid":
                raise GraderError(f"{source}: {e['slug']} was timed but has no valid score record")
        factors = {e["slug"]: _factor(by_slug[e["slug"]], penalty) for e in g["entries"]}
        measurements += group_measurements(g, excluded, factors, competition, source)
    confidence = groups[0]["confidence"]
    try:
        links = standings_stats.link_groups(measurements) if measurements else {}
    except ValueError as e:
        raise GraderError(f"{source}: {e}") from e
    timed = {(e["slug"], g["group"]): e for g in groups for e in g["entries"]}
    divisions = {}
    for division in ("closed", "open"):
        keys = sorted({m.key for m in measurements if by_slug[m.key].division == division})
        divisions[division] = [_standing_json(s, by_slug[s.key], timed[(s.key, s.group)])
                               for s in standings_stats.rank(keys, measurements, links, confidence)]
    first = groups[0]
    return {
        "schema_version": 1,
        "run_id": first["run_id"],
        "grader_version": first["grader_version"],
        "baseline_sha256": first["baseline_sha256"],
        "started_at": min(g["started_at"] for g in groups),
        "rounds": first["rounds"],
        "pairs_per_round": first["pairs_per_round"],
        "speed_quantile": competition.standings.speed_quantile,
        "confidence": confidence,
        "groups": [{"group": g["group"], "hardware": g["hardware"], "started_at": g["started_at"],
                    "minutes": g["minutes"], "entries": [e["slug"] for e in g["entries"]],
                    **{k: g[k] for k in ("isolation", "images_per_round") if k in g},
                    "anchors": list(links[g["group"]].anchors) if g["group"] in links else [],
                    "log_offset": links[g["group"]].offset if g["group"] in links else 0.0,
                    "log_offset_se": math.sqrt(links[g["group"]].variance) if g["group"] in links else 0.0}
                   for g in groups],
        "divisions": divisions,
        "excluded": [{"slug": s, "reason": excluded[s]} for s in sorted(excluded)],
    }


def _standing_json(s: standings_stats.Standing, r: ScoreRecord, timed: dict[str, Any]) -> dict[str, Any]:
    nxt = None
    if s.next is not None:
        d = s.next.difference
        nxt = {"slug": s.next.behind, "resolved": s.next.resolved, "paired": s.next.paired,
               "log_difference": d.mean, "ratio_low": None if d.low is None else math.exp(d.low),
               "ratio_high": None if d.high is None else math.exp(d.high)}
    return {
        "slug": s.key,
        "merge_commit_sha": r.merge_commit_sha,
        "position": s.position,
        "rank": s.rank,
        "tied": s.tied,
        "group": s.group,
        "speedup": _interval_json(s.log_speedup),
        "efficiency": math.exp(s.log_efficiency),
        "log_speedups": timed["log_speedups"],
        "timed_accuracy_pct": timed["timed_accuracy_pct"],
        "next": nxt,
    }


def summary(result: dict[str, Any]) -> str:
    """One line per ranked entry and per entry left out, for the terminal."""
    lines = []
    for division, rows in sorted(result["divisions"].items()):
        for row in rows:
            s = row["speedup"]
            ci = "inconclusive" if s["low"] is None else f"{s['low']:.3f}-{s['high']:.3f}"
            lines.append(f"  {division} {row['rank']}{'=' if row['tied'] else ''} {row['slug']}: speedup "
                         f"{s['estimate']:.3f}x ({ci}), efficiency {row['efficiency']:.3f}")
    lines += [f"  left out {e['slug']}: {e['reason']}" for e in result["excluded"]]
    return "\n".join(lines)


def read(path: Path) -> dict[str, Any]:
    """Read and check ``standings.json``."""
    checked: dict[str, Any] = schema.read(path, SCHEMA)
    return checked
