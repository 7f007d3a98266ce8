"""The standings timing loop: one group of entries timed in rounds, on one CPU, every worker fresh each round.

Every round times every entry once, paired with the baseline, in a fresh
random order, so drift over the run hits all entries alike. No worker ever
sees a test image twice, so no answer can come from a cache: at the
``user+netns`` level (workers fresh each round and stateless: nothing they
write survives them) each entry gets a fresh permutation of the whole dithered
test set every round, so images repeat only across rounds, to workers that
cannot remember them; at the ``process`` level (a worker can leave files for
the next) each entry gets its own permutation consumed round by round, disjoint
shares. ``time_round`` is the one place that turns "an entry and the baseline,
one round" into a log speedup; it calls ``grader.measure.timing``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import random
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from grader import __version__
from grader.board import leaderboard, record, standings, standings_stats
from grader.board.record import ScoreRecord
from grader.ci import actions
from grader.contract.layout import WEIGHTS_FILE
from grader.contract.validate import validate_folder
from grader.core import config, schema
from grader.core.config import Competition, Timing
from grader.core.errors import EXIT_OK, SandboxError, SubmissionError, UsageError
from grader.core.paths import BASELINE_DIR
from grader.grading import grade
from grader.judge import rules
from grader.measure import data, hardware, timing
from grader.measure.accuracy import dither
from grader.sandbox import parent as sandbox
from grader.sandbox.isolation import STATELESS, Requested

Progress = Callable[[str], None]


@dataclass(frozen=True)
class RoundTiming:
    """One entry's round: its samples and log speedup, and the labels it gave (for the accuracy check)."""

    log_speedup: float  # the round's own estimate (the standings pool the rounds' samples instead)
    samples: standings_stats.RoundSamples  # seconds per query of each model, the pairs used
    indices: np.ndarray  # into the images the round was given, in timed order
    labels: np.ndarray  # the entry's labels for those images
    seconds: float  # wall time of the round, both models, warm-up included
    baseline_seconds: float  # wall time of the baseline's and the null model's timed samples
    idle_cpu_entry: float  # CPU the entry's worker used while the baseline was timed


def round_params(competition: Competition) -> Timing:
    """The grade's timing settings, with exactly ``pairs_per_round`` pairs and no time budget."""
    pairs = competition.standings.pairs_per_round
    return replace(competition.timing, min_pairs=pairs, max_pairs=pairs, budget_seconds=math.inf,
                   confidence=competition.standings.confidence)


def time_round(baseline: timing.Timed, entry: timing.Timed, overhead: timing.Timed, images: np.ndarray,
               params: Timing, rng: random.Random, clock: Callable[[], float] = time.perf_counter) -> RoundTiming:
    """Time ``entry`` paired with ``baseline`` (and the null model, ``overhead``) on ``images`` -> one round.

    The grade's timing engine as is: calibration, warm-ups, harness subtraction, CPU time and the
    classification of every turn; a round whose pairs were all discarded is the entry's failure.
    """
    start = clock()
    run = timing.run_pairs(baseline, entry, overhead, images, params, rng=rng)
    est = run.estimate(params)
    if est is None:
        raise SubmissionError("timing_integrity: no usable timing pairs in the round: "
                              + "; ".join(dict.fromkeys(p.invalid or "" for p in run.pairs[:20])))
    others_timed = math.fsum(p.timed_wall_s("baseline") + p.timed_wall_s("overhead") for p in run.pairs)
    queries = run.calibration.net_queries
    samples = standings_stats.RoundSamples(tuple(t / queries for t in run.baseline_s),
                                           tuple(t / queries for t in run.entry_s))
    return RoundTiming(est.log_speedup, samples, np.concatenate(run.indices), np.concatenate(run.entry_labels), clock() - start,
                       others_timed, run.idle_cpu_entry)


def accuracy_problem(correct: int, total: int, recorded_pct: float, tolerance_pp: float) -> str | None:
    """Why the labels an entry gave while timed contradict its recorded accuracy, or None.

    Allowed: the dither tolerance plus four binomial standard errors below the record.
    """
    if total == 0:
        return "no images were timed"
    pct = 100.0 * correct / total
    p = min(max(recorded_pct / 100.0, 0.0), 1.0)
    margin = tolerance_pp + 400.0 * math.sqrt(p * (1.0 - p) / total)
    if pct < recorded_pct - margin:
        return (f"its answers while timed were {pct:.2f}% correct on {total} dithered test images, "
                f"against {recorded_pct:.2f}% in its score record (allowed {margin:.2f} pp less)")
    return None


def idle_problem(idle_cpu: float, window: float) -> str | None:
    """Why an entry's worker worked while it was not being timed (it slows what is), or None."""
    if idle_cpu > rules.IDLE_CPU_FRACTION * window:
        return (f"its worker used {idle_cpu:.3f} s CPU while other models were timed ({window:.3f} s): "
                "background work while idle is not allowed")
    return None


def _cpu(worker: sandbox.ModelWorker) -> float | None:
    """The worker's CPU seconds, or None when it is gone."""
    try:
        return worker.cpu_seconds()
    except (SandboxError, OSError):
        return None


def _prepare_entries(slugs: Sequence[str], submissions: Path, data_dir: Path, competition: Competition,
                     baseline_dir: Path, work: Path, *, isolation: Requested, excluded: dict[str, str],
                     setup: dict[str, float], progress: Progress, clock: Callable[[], float]) -> dict[str, Path]:
    """Validate and rebuild (recipe entries) each entry once -> its model folder; what fails is excluded."""
    folders: dict[str, Path] = {}
    calibration = np.empty((0, 3, 32, 32), np.uint8)
    for slug in slugs:
        began = clock()
        progress(f"preparing {slug}")
        folder = submissions / slug
        validation = validate_folder(folder, competition)
        if not validation.ok or validation.submission is None:
            excluded[slug] = "no longer passes validation: " + "; ".join(map(str, validation.problems[:3]))
            continue
        sub = validation.submission
        if sub.has_recipe and not len(calibration):
            calibration = grade._calibration_images(data_dir, competition.calibration_images)
        request = grade.GradeRequest(folder=folder, data_dir=data_dir, config=competition,
                                     baseline_dir=baseline_dir, isolation=isolation)
        try:
            folders[slug] = grade.rebuild(request, sub, work / slug, calibration)
        except SubmissionError as e:
            excluded[slug] = f"could not be rebuilt: {e}"
        setup[slug] = clock() - began
    return folders


def _start_workers(folders: Mapping[str, Path], competition: Competition, stack: ExitStack, *, cpu: int,
                   isolation: Requested, excluded: dict[str, str], round_number: int) -> dict[str, sandbox.ModelWorker]:
    """Fresh workers for one round; an entry that cannot be loaded is excluded with its reason."""
    workers: dict[str, sandbox.ModelWorker] = {}
    for slug, model_dir in folders.items():
        if slug in excluded:
            continue
        try:
            workers[slug] = stack.enter_context(sandbox.ModelWorker(model_dir, competition.sandbox, cpu=cpu,
                                                                    isolation=isolation))
        except SubmissionError as e:
            excluded[slug] = f"could not be loaded in round {round_number}: {e}"
    return workers


def time_group(slugs: Sequence[str], accuracy_pct: Mapping[str, float], submissions: Path, data_dir: Path,
               competition: Competition, baseline_dir: Path, *, group: int, run_id: str,
               isolation: Requested = "auto", seed: int | None = None,
               progress: Progress = lambda message: None,
               clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """Time one group; the result is valid against standings_group.schema.json.

    ``accuracy_pct`` is each entry's recorded accuracy: an entry whose answers while timed
    fall well below it is excluded (it may have found a faster, wrong path).
    """
    started_at = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    t0 = clock()
    seed = seed if seed is not None else int.from_bytes(os.urandom(8), "little")
    rng = random.Random(seed)
    test = data.load_split(data_dir, "test")
    dithered = dither(test.images, np.random.default_rng(seed))
    params = round_params(competition)
    share = standings.images_per_round(competition, False, len(dithered))
    rounds = competition.standings.rounds
    cpu = max(os.sched_getaffinity(0))
    excluded: dict[str, str] = {}
    setup: dict[str, float] = {}
    levels: set[str] = set()  # the isolation levels the timed entries' workers got (they decide the images)
    with tempfile.TemporaryDirectory(prefix="tinymlperf-standings-") as tmp, timing.parent_off_cpu(cpu):
        folders = _prepare_entries(slugs, submissions, data_dir, competition, baseline_dir, Path(tmp),
                                   isolation=isolation, excluded=excluded, setup=setup, progress=progress, clock=clock)
        orders = {slug: np.array(rng.sample(range(len(dithered)), len(dithered))) for slug in folders}
        logs: dict[str, list[float]] = {slug: [] for slug in folders}
        samples: dict[str, list[standings_stats.RoundSamples]] = {slug: [] for slug in folders}
        correct = dict.fromkeys(folders, 0)
        total = dict.fromkeys(folders, 0)
        # CPU an entry's worker used while something else was timed, and how long that was:
        # the baseline within its own rounds, every other entry's round in full.
        idle_cpu = dict.fromkeys(folders, 0.0)
        idle_window = dict.fromkeys(folders, 0.0)
        for r in range(rounds):
            # Every worker, the baseline's too, is started afresh each round: where a process's
            # arrays land in memory moves its speed by a few percent (and the baseline's moves
            # every ratio at once), so rounds sample layouts and the interval covers them. Each
            # round's images are new to the entry's worker: at user+netns the worker is stateless, so
            # a fresh permutation of the whole test set is; at process level, the entry's next share.
            with ExitStack() as stack:
                base = stack.enter_context(sandbox.ModelWorker(baseline_dir, competition.sandbox, cpu=cpu,
                                                               isolation=isolation))
                null = stack.enter_context(sandbox.ModelWorker(grade.NULL_MODEL_DIR, competition.sandbox, cpu=cpu,
                                                               isolation=isolation))
                workers = _start_workers(folders, competition, stack, cpu=cpu, isolation=isolation,
                                         excluded=excluded, round_number=r + 1)
                for slug in rng.sample(list(workers), len(workers)):
                    if slug in excluded:
                        continue
                    level = workers[slug].isolation.level  # the entry's own worker decides its images
                    levels.add(level)
                    stateless = level == STATELESS
                    chosen = (np.array(rng.sample(range(len(dithered)), len(dithered))) if stateless
                              else orders[slug][r * share:(r + 1) * share])
                    others = [o for o in workers if o != slug and o not in excluded]
                    before = {o: _cpu(workers[o]) for o in others}
                    try:
                        rt = time_round(base, workers[slug], null, dithered[chosen], params, rng)
                    except (SubmissionError, SandboxError) as e:
                        if _cpu(base) is None:
                            raise
                        excluded[slug] = f"failed in round {r + 1}: {e}"
                        workers[slug].close()
                        continue
                    for o in others:
                        after, earlier = _cpu(workers[o]), before[o]
                        if after is None or earlier is None:
                            excluded.setdefault(o, f"its worker was gone in round {r + 1}")
                            continue
                        idle_cpu[o] += after - earlier
                        idle_window[o] += rt.seconds
                    idle_cpu[slug] += rt.idle_cpu_entry
                    idle_window[slug] += rt.baseline_seconds
                    logs[slug].append(rt.log_speedup)
                    samples[slug].append(rt.samples)
                    correct[slug] += int(np.sum(rt.labels == test.labels[chosen][rt.indices]))
                    total[slug] += len(rt.indices)
            progress(f"round {r + 1}/{rounds}: " + ", ".join(
                f"{s} {math.exp(logs[s][-1]):.3f}x" for s in folders if s not in excluded and logs[s]))
    for slug in folders:
        if slug not in excluded:
            problem = (idle_problem(idle_cpu[slug], idle_window[slug])
                       or accuracy_problem(correct[slug], total[slug], accuracy_pct[slug],
                                           competition.accuracy.dither_max_diff_pp))
            if problem:
                excluded[slug] = problem
    return {
        "schema_version": 1,
        "run_id": run_id,
        "group": group,
        "grader_version": __version__,
        "baseline_sha256": grade.file_sha256(baseline_dir / WEIGHTS_FILE),
        "hardware": hardware.describe(),
        "started_at": started_at,
        "minutes": (clock() - t0) / 60.0,
        "rounds": rounds,
        "pairs_per_round": competition.standings.pairs_per_round,
        "confidence": competition.standings.confidence,
        "isolation": STATELESS if levels == {STATELESS} else "process",
        "images_per_round": "whole_test_set" if levels == {STATELESS} else "disjoint_shares",
        "entries": [{"slug": s, "log_speedups": logs[s],
                     "rounds": [{"baseline": list(r.baseline), "entry": list(r.entry)} for r in samples[s]],
                     "timed_images": total[s],
                     "timed_accuracy_pct": 100.0 * correct[s] / total[s] if total[s] else None,
                     "setup_seconds": setup[s]}
                    for s in slugs if s in folders and len(logs[s]) == rounds],
        "excluded": [{"slug": s, "reason": excluded[s][:1000]} for s in slugs if s in excluded],
    }


def run_all(p: standings.Plan, records: dict[str, ScoreRecord], submissions: Path, data_dir: Path,
            competition: Competition, baseline_dir: Path, *, run_id: str, isolation: Requested = "auto",
            seed: int | None = None, progress: Progress = lambda message: None) -> list[dict[str, Any]]:
    """Every group of ``p`` in turn on this machine (a local standings run); their results, in order."""
    out = []
    for i, slugs in enumerate(p.groups):
        progress(f"group {i}: {len(slugs)} entries")
        accuracy = {s: records[s].accuracy_pct or 0.0 for s in slugs}
        out.append(time_group(slugs, accuracy, submissions, data_dir, competition, baseline_dir, group=i,
                              run_id=run_id, isolation=isolation, seed=None if seed is None else seed + i,
                              progress=progress))
    return out


@dataclass(frozen=True)
class StandingsOptions:
    """``standings``: one of the workflow's modes (``plan_only``, ``group``, ``combine``), or all of it locally."""

    submissions: Path = Path("submissions")
    out: Path = Path("standings.json")
    plan_only: bool = False
    group: int | None = None  # time only this group of the plan (one job)
    combine: tuple[Path, ...] = ()  # the groups' results to combine into ``out``; runs no submission code
    group_out: Path = Path("standings-group.json")
    github_output: Path | None = None  # with plan_only: indices=[0, 1, ...] and groups=[[slug, ...], ...]
    expect_groups: str | None = None  # with combine: the plan job's groups (JSON) instead of planning again
    run_id: str | None = None  # identifies one run across its groups (default: random)
    config: Path | None = None
    isolation: Requested = "auto"
    seed: int | None = None


def run(options: StandingsOptions, *, find_data: Callable[[], Path], progress: Progress) -> int:
    """Print the plan and its cost, then do the mode's part and write its file; exit 0 when written."""
    competition = config.load(options.config)
    records = record.load_all(options.submissions)
    # the estimate assumes the strong level (as on CI) unless process isolation is asked for
    plan = standings.plan(standings.choose(records, leaderboard.current_grader(), competition), competition,
                          whole_test_set=options.isolation != "process")
    print(standings.describe_plan(plan, competition), flush=True)
    if options.combine:
        if options.expect_groups is not None:
            plan = standings.Plan((), standings.parse_groups(options.expect_groups, "--expect-groups"), ())
        groups = [schema.read(path, standings.GROUP_SCHEMA) for path in options.combine]
        result = standings.combine(groups, records, competition, plan, ", ".join(map(str, options.combine)))
        schema.write(options.out, result, standings.SCHEMA)
        print(f"{options.out}: written from {len(groups)} group result(s)")
        return EXIT_OK
    if options.plan_only:
        if options.github_output:
            actions.write_output(options.github_output, "indices", json.dumps(list(range(len(plan.groups)))))
            actions.write_output(options.github_output, "groups", json.dumps([list(g) for g in plan.groups]))
        return EXIT_OK
    if not plan.groups:
        print("standings: no valid entries to time")
        return EXIT_OK
    by_slug = {r.slug: r for r in records}
    run_id = options.run_id or os.urandom(6).hex()
    started = time.monotonic()
    if options.group is not None:
        k = options.group
        if not 0 <= k < len(plan.groups):
            raise UsageError(f"standings: --group {k}: the plan has groups 0..{len(plan.groups) - 1}")
        accuracy = {s: by_slug[s].accuracy_pct or 0.0 for s in plan.groups[k]}
        timed = time_group(plan.groups[k], accuracy, options.submissions, find_data(), competition, BASELINE_DIR,
                           group=k, run_id=run_id, isolation=options.isolation, seed=options.seed,
                           progress=progress)
        schema.write(options.group_out, timed, standings.GROUP_SCHEMA)
        print(f"{options.group_out}: group {k} timed in {timed['minutes']:.1f} minutes")
        return EXIT_OK
    groups = run_all(plan, by_slug, options.submissions, find_data(), competition, BASELINE_DIR, run_id=run_id,
                     isolation=options.isolation, seed=options.seed, progress=progress)
    result = standings.combine(groups, records, competition, plan)
    schema.write(options.out, result, standings.SCHEMA)
    print(f"{options.out}: written; measured {(time.monotonic() - started) / 60:.1f} minutes "
          f"(estimated {plan.minutes:.1f})")
    print(standings.summary(result))
    return EXIT_OK
