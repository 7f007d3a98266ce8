"""Grade one submission folder: validate, rebuild, paired timing, accuracy, size, rules -> a ``GradeResult``.

The orchestration only: every measurement is a function of its own module and
all submission code runs in ``grader.sandbox.parent`` workers. ``_measure`` runs
the steps in order (rebuild, time, accuracy, size, score), each a function below;
what a step measured is noted in ``SoFar`` so a grade stopped by a later step
still reports it. Student problems end as checks in a ``failed`` result (exit 1);
only our side failing (data, sandbox, protocol) ends as ``error`` (exit 2).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import math
import os
import random
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grader import __version__
from grader.contract.layout import RECORD_FILE, WEIGHTS_FILE
from grader.contract.submission import RepoVerification, Submission
from grader.contract.validate import CODE_SUFFIX, validate_folder
from grader.core.config import Competition, Timing
from grader.core.errors import BudgetExceeded, DataError, GraderError, SandboxError, SubmissionError
from grader.judge import rules, scoring
from grader.judge.result import (
    CalibrationReport,
    GradeResult,
    Hardware,
    IdleCpu,
    IsolationReport,
    Measured,
    Metrics,
    RepoReport,
    Stage,
    SubmissionInfo,
    TimingReport,
    TimingSample,
)
from grader.judge.rules import Check, Status
from grader.judge.scoring import Scores
from grader.measure import budget, data, hardware, size, timing
from grader.measure.accuracy import ModelRun, accuracy_pass, dither
from grader.sandbox import parent as sandbox
from grader.sandbox.isolation import STATELESS, Isolation, Requested, ci_policy

NULL_MODEL_DIR = Path(__file__).resolve().parents[1] / "null_model"
INTERVAL_COVERS = ("sampling noise within this run, on this machine; not a machine that was never quiet during it, "
                   "run-to-run drift, the memory layout the workers got, or another CPU model or Python/BLAS build "
                   "(standings re-time entries side by side for that)")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class GradeRequest:
    folder: Path
    data_dir: Path  # a ``cifar-10-batches-py`` folder
    config: Competition
    baseline_dir: Path
    isolation: Requested = "auto"
    seed: int | None = None  # dither noise and timing order; drawn fresh per run when None
    verify_repo: Callable[[str], RepoVerification] | None = None


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class SoFar:
    """What a grade has measured so far; kept in the result when a later stage fails (mutable on purpose)."""

    stage: Stage = "build"
    isolation: Isolation | None = None
    ci_note: str | None = None  # the note weak isolation in CI carries (``ci_policy``)
    entry_ms_per_image: float | None = None
    baseline_ms_per_image: float | None = None
    latency_ratio: float | None = None
    accuracy_pct: float | None = None
    accuracy_images: int | None = None
    size_bytes: int | None = None
    baseline_size_bytes: int | None = None

    def note_isolation(self, isolation: Isolation) -> None:
        self.isolation = isolation

    def note_latency(self, latency: budget.Latency) -> None:
        self.entry_ms_per_image, self.baseline_ms_per_image = latency.entry_ms, latency.baseline_ms
        self.latency_ratio = latency.ratio if math.isfinite(latency.ratio) else None

    def measured(self) -> Measured | None:
        """The numbers so far, at the current stage; None when nothing was measured yet."""
        measured = Measured(self.stage, self.entry_ms_per_image, self.baseline_ms_per_image, self.latency_ratio,
                            self.accuracy_pct, self.accuracy_images, self.size_bytes, self.baseline_size_bytes)
        return measured if any(v is not None for v in dataclasses.astuple(measured)[1:]) else None


@dataclass(frozen=True)
class GradeImages:
    """The test set as a grade uses it: clean, freshly dithered, and the folders workers must not see."""

    images: np.ndarray
    labels: np.ndarray
    dithered: np.ndarray
    hide: tuple[Path, ...]


@dataclass(frozen=True)
class TimedEntry:
    """A timing run and the isolation the entry's worker had."""

    run: timing.PairedRun
    isolation: Isolation


@dataclass(frozen=True)
class AccuracyRuns:
    """Both models' accuracy passes."""

    baseline: ModelRun
    entry: ModelRun


@dataclass(frozen=True)
class Footprints:
    baseline: size.Footprint
    entry: size.Footprint


@dataclass(frozen=True)
class Measurement:
    """Everything a grade that ran to the end measured: the rules' evidence and the result's parts."""

    evidence: rules.Evidence
    baseline_metrics: Metrics
    optimized_metrics: Metrics
    scores: Scores
    timing: TimingReport
    isolation: IsolationReport


def _seed_or_fresh(seed: int | None) -> int:
    """The caller's seed (reproducible runs), else a fresh one so no entry can predict the dither noise."""
    return seed if seed is not None else int.from_bytes(os.urandom(8), "little")


def _copy_flat(src: Path, dst: Path, keep: Callable[[str], bool]) -> None:
    """Copy the regular files of ``src`` whose name ``keep`` accepts into a new folder ``dst``,
    and the ``.py`` files of its package folder (validate allows one; links are copied as links,
    which the sandbox then refuses)."""
    dst.mkdir(parents=True)
    for path in sorted(src.iterdir()):
        if path.is_file() and not path.is_symlink() and keep(path.name):
            shutil.copyfile(path, dst / path.name)
        elif path.is_dir() and not path.is_symlink() and path.name != "__pycache__":
            shutil.copytree(path, dst / path.name, symlinks=True, ignore=_not_package_code)


def _not_package_code(folder: str, names: list[str]) -> set[str]:
    return {n for n in names if n == "__pycache__" or not (n.endswith(CODE_SUFFIX) or Path(folder, n).is_dir())}


def _is_code(name: str) -> bool:
    return name.endswith(CODE_SUFFIX)


def _calibration_images(data_dir: Path, count: int) -> np.ndarray:
    """The first ``count`` training images, handed to a build recipe (never test images)."""
    try:
        return data.load_batch(data_dir / data.TRAIN_BATCHES[0]).images[:count]
    except DataError as e:
        raise DataError(f"{e}. An entry with a build.py recipe gets its {count} calibration images from "
                        f"{data.TRAIN_BATCHES[0]}, so grading it needs the training batches as well as "
                        "test_batch (README: Getting the data)") from e


def rebuild(request: GradeRequest, submission: Submission, work: Path, calibration: np.ndarray,
            so_far: SoFar | None = None) -> Path:
    """Assemble, under ``work``, the folder whose model is graded; run the entry's recipe when it has one.

    Closed Division: the recipe's copy of the entry and the graded folder hold the
    entry's ``.py`` files only, the latter plus the ``.npz`` files the recipe wrote.
    The weights can then come only from the recipe applied to the baseline: no
    shipped file (validate refuses data; documentation is left behind) reaches
    either, and what code literals can carry is bounded by ``closed_max_code_bytes``.
    Open Division: the whole entry (not the bot's score.json), the recipe's
    weights replacing shipped files of the same name. The recipe runs within the build
    budget; with ``so_far`` (a grade), its worker's isolation is noted there even when it fails.
    """
    closed = submission.division == "closed"
    model_dir = work / "entry"
    _copy_flat(request.folder, model_dir, _is_code if closed else lambda name: name != RECORD_FILE)
    if not submission.has_recipe:
        return model_dir
    recipe_dir = work / "recipe-entry"
    if closed:
        _copy_flat(request.folder, recipe_dir, _is_code)
    outcome = sandbox.run_recipe(recipe_dir if closed else request.folder, request.baseline_dir, calibration,
                                 work / "built", request.config.sandbox, isolation=request.isolation,
                                 hide=sandbox.hidden_paths(request.data_dir),
                                 budget_seconds=request.config.budgets.build_seconds,
                                 on_isolation=so_far.note_isolation if so_far is not None else None)
    for name, path in outcome.weights.items():
        shutil.copyfile(path, model_dir / name)
    return model_dir


def build_entry(request: GradeRequest, work: Path, progress: Progress = lambda message: None) -> Path:
    """The folder whose model a grade would time: validated, and rebuilt by its recipe when it has one.

    For the student's tools (profile, compare); raises SubmissionError when the folder does not validate.
    """
    validation = validate_folder(request.folder, request.config)
    if not validation.ok or validation.submission is None:
        raise SubmissionError(f"{request.folder}: does not validate; run tinymlperf validate "
                              f"{request.folder} first ({len(validation.problems)} problem(s))")
    calibration = np.empty((0, 3, 32, 32), np.uint8)
    if validation.submission.has_recipe:
        progress("running the build recipe in the sandbox")
        calibration = _calibration_images(request.data_dir, request.config.calibration_images)
    return rebuild(request, validation.submission, work, calibration)


def _metrics(run: ModelRun, labels: np.ndarray, seconds: list[float], images_per_sample: int,
             footprint: size.Footprint) -> Metrics:
    """One model's metrics: accuracy from its accuracy pass, latency from its timed samples, its size."""
    per_image_ms = [1000.0 * s / images_per_sample for s in seconds]
    return Metrics(
        accuracy_pct=100.0 * float(np.mean(run.predictions == labels)),
        dithered_accuracy_pct=100.0 * float(np.mean(run.dithered_predictions == labels)),
        latency_ms_median=float(np.median(per_image_ms)),
        latency_ms_p90=float(np.percentile(per_image_ms, 90)),
        size_bytes=footprint.size_bytes,
        parameters=footprint.parameters,
        nonzeros=footprint.nonzeros,
        dtypes=tuple(sorted(footprint.dtypes.items())),
    )


def _mismatches(indices: list[np.ndarray], reference: ModelRun, labels: list[np.ndarray]) -> int:
    """Timed labels that differ from the accuracy pass's labels for the same (dithered) images."""
    return sum(int(np.sum(got != reference.dithered_predictions[idx]))
               for idx, got in zip(indices, labels, strict=True))


def _isolation_report(isolation: Isolation) -> IsolationReport:
    return IsolationReport(isolation.level, tuple(isolation.details))


def empty_result(request: GradeRequest | None, submission: Submission | None, baseline_sha: str) -> GradeResult:
    """The result skeleton: what is known before anything is measured."""
    return GradeResult(
        folder=Path(request.folder).resolve().name[:300] if request is not None else None,
        grader_version=__version__,
        status="error",
        error=None,
        submission=SubmissionInfo.from_json(submission.to_json()) if submission is not None else None,
        baseline_metrics=None,
        optimized_metrics=None,
        normalized_scores=None,
        timing=None,
        checks=(),
        isolation=IsolationReport("none", ()),
        repo_verification=RepoReport("not_checked", "not reached"),
        hardware=Hardware.from_json(hardware.describe()),
        baseline_sha256=baseline_sha,
        timestamp=dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
    )


_REPO_STATUS: dict[str, Status] = {"verified": "pass", "failed": "fail", "not_checked": "not_checked"}


def _metadata_checks(submission: Submission, verification: RepoVerification) -> list[Check]:
    repo_status = _REPO_STATUS[verification.status]
    return [
        Check("format", "pass", "submission folder passes every static check"),
        Check("honor_code", "pass", "honor code statement present"),
        Check("techniques_documented", "pass", f"{len(submission.techniques_used)} technique(s) documented"),
        Check("repo_link", repo_status, verification.reason),
    ]


def grade(request: GradeRequest, progress: Progress = lambda message: None) -> GradeResult:
    """Grade ``request.folder``; its result (``to_json`` is valid against result.schema.json)."""
    baseline_sha = file_sha256(request.baseline_dir / WEIGHTS_FILE)
    validation = validate_folder(request.folder, request.config)
    submission = validation.submission
    result = empty_result(request, submission, baseline_sha)
    if not validation.ok or submission is None:
        return dataclasses.replace(result, status="failed",
                                   checks=tuple(Check("format", "fail", str(p)) for p in validation.problems))

    verification = (request.verify_repo(submission.github_repo) if request.verify_repo
                    else RepoVerification("not_checked", "repository not checked (no GitHub token or network)"))
    result = dataclasses.replace(result, repo_verification=RepoReport(verification.status, verification.reason))
    checks = _metadata_checks(submission, verification)
    seed = _seed_or_fresh(request.seed)
    so_far = SoFar()
    try:
        measured = _measure(request, submission, seed, progress, so_far)
    except SubmissionError as e:
        failure = (Check("time_budget", "fail", str(e)) if isinstance(e, (budget.StageTooSlow, BudgetExceeded))
                   else Check("runs", "fail", str(e)))
        return _stopped(dataclasses.replace(result, status="failed", checks=tuple(checks + [failure])), so_far)
    except (SandboxError, GraderError) as e:
        return _stopped(dataclasses.replace(result, error=str(e)), so_far)
    checks += rules.evaluate(measured.evidence, request.config)
    return dataclasses.replace(
        result, status=rules.status_of(checks), checks=tuple(checks),
        baseline_metrics=measured.baseline_metrics, optimized_metrics=measured.optimized_metrics,
        normalized_scores=measured.scores, timing=measured.timing, isolation=measured.isolation)


def _stopped(result: GradeResult, so_far: SoFar) -> GradeResult:
    """What was measured before the grade stopped, and the isolation its workers actually had."""
    isolation = (_isolation_report(so_far.isolation.with_note(so_far.ci_note)) if so_far.isolation is not None
                 else result.isolation)
    return dataclasses.replace(result, isolation=isolation, measured=so_far.measured())


def _measure(request: GradeRequest, submission: Submission, seed: int, progress: Progress,
             so_far: SoFar) -> Measurement:
    """The grade's steps in order; each notes in ``so_far`` what it measured and where it got to."""
    ci_note = so_far.ci_note = _isolation_allowed(request)
    images = _grade_images(request, seed)
    with tempfile.TemporaryDirectory(prefix="tinymlperf-grade-") as tmp:
        model_dir = _rebuild_step(request, submission, Path(tmp), progress, so_far)
        _note_sizes(model_dir, request.baseline_dir, so_far)
        so_far.stage = "load"
        timed = _time_step(request, model_dir, images, seed, progress, so_far)
        so_far.stage = "accuracy"
        runs = _accuracy_step(request, model_dir, images, progress, so_far)
        so_far.stage = "rules"
        entry_footprint = size.measure(model_dir)
    footprints = Footprints(size.measure(request.baseline_dir), entry_footprint)
    return _score_step(request.config, submission, images.labels, timed, runs, footprints, ci_note)


def _isolation_allowed(request: GradeRequest) -> str | None:
    """Refuse (SandboxError) weak isolation in CI unless the config allows it; the note the result then carries."""
    refusal, ci_note = ci_policy(request.isolation, request.config.sandbox.allow_weak_isolation_in_ci)
    if refusal is not None:
        raise SandboxError(refusal)
    return ci_note


def _grade_images(request: GradeRequest, seed: int) -> GradeImages:
    """The test set, and its dithered copy with noise drawn from ``seed``."""
    hide = sandbox.hidden_paths(request.data_dir)
    test = data.load_split(request.data_dir, "test")
    return GradeImages(test.images, test.labels, dither(test.images, np.random.default_rng(seed)), hide)


def _rebuild_step(request: GradeRequest, submission: Submission, work: Path, progress: Progress,
                  so_far: SoFar) -> Path:
    """The folder whose model is graded, rebuilt by the entry's recipe (with calibration images) when it has one."""
    calibration = np.empty((0, 3, 32, 32), np.uint8)
    if submission.has_recipe:
        calibration = _calibration_images(request.data_dir, request.config.calibration_images)
        progress("running the build recipe in the sandbox")
    return rebuild(request, submission, work, calibration, so_far)


def _note_sizes(model_dir: Path, baseline_dir: Path, so_far: SoFar) -> None:
    """Both sizes, kept in case a later step stops the grade."""
    with contextlib.suppress(SubmissionError):  # an unreadable file is reported by the stage that loads it
        entry, baseline = size.measure(model_dir).size_bytes, size.measure(baseline_dir).size_bytes
        so_far.size_bytes, so_far.baseline_size_bytes = entry, baseline


def _time_step(request: GradeRequest, model_dir: Path, images: GradeImages, seed: int, progress: Progress,
               so_far: SoFar) -> TimedEntry:
    """Time the entry against the baseline; StageTooSlow when its calibration shows it cannot fit the budget.

    Timing comes first and runs on the dithered images, whose noise is drawn fresh for this
    grade: no worker of this entry has seen them yet, so nothing can be answered from a table
    shipped in the folder or a cache left behind by an earlier worker. The accuracy pass
    afterwards predicts the same dithered images, and the two must agree (the determinism check).
    """
    config = request.config
    progress("timing: paired samples, baseline vs entry on one CPU, freshly dithered test images")
    timed = time_entry(model_dir, request.baseline_dir, images.dithered, config, request.isolation, seed, progress,
                       hide=images.hide, so_far=so_far)
    so_far.note_latency(budget.latency_of(timed.run.calibration, config))
    if timed.run.gave_up is not None:
        raise budget.StageTooSlow(f"timing: {timed.run.gave_up}", {})
    return timed


def _predictions(who: str, progress: Progress) -> Callable[[int, int], None]:
    """The accuracy pass's progress as lines ("accuracy: entry, 5,000 of 20,000 predictions")."""
    return lambda done, total: progress(f"accuracy: {who}, {done:,} of {total:,} predictions")


def _accuracy_step(request: GradeRequest, model_dir: Path, images: GradeImages, progress: Progress,
                   so_far: SoFar) -> AccuracyRuns:
    """Both accuracy passes; the entry's within its budget, keeping the first chunk's accuracy when it cannot fit."""
    config = request.config
    progress("accuracy: baseline, 10,000 test images clean and dithered")
    baseline_run = accuracy_pass(request.baseline_dir, config.sandbox, request.isolation, images.images,
                                 images.dithered, images.hide, progress=_predictions("baseline", progress))
    progress("accuracy: entry, 10,000 test images clean and dithered")
    try:
        entry_run = accuracy_pass(model_dir, config.sandbox, request.isolation, images.images, images.dithered,
                                  images.hide, budgets=config.budgets, progress=_predictions("entry", progress))
    except budget.StageTooSlow as e:
        probe = e.measured["probe"]
        accuracy = 100.0 * float(np.mean(probe.labels == images.labels[:len(probe.labels)]))
        so_far.accuracy_pct, so_far.accuracy_images = accuracy, len(probe.labels)
        raise budget.StageTooSlow(f"{e}; accuracy on those {len(probe.labels)} images: {accuracy:.1f}%",
                                  e.measured) from e
    so_far.accuracy_pct = 100.0 * float(np.mean(entry_run.predictions == images.labels))
    so_far.accuracy_images = len(images.labels)
    return AccuracyRuns(baseline_run, entry_run)


def _timing_sample(pair: timing.Pair) -> TimingSample:
    """A pair's raw counters for the record: the long requests, and the short ones when there were two."""
    overhead, baseline, entry = pair.raw("overhead"), pair.raw("baseline"), pair.raw("entry")
    short = (overhead[1], baseline[1], entry[1]) if len(entry) == 2 else None
    return TimingSample(overhead[0], baseline[0], entry[0], pair.invalid, short)


def _score_step(config: Competition, submission: Submission, labels: np.ndarray, timed: TimedEntry,
                runs: AccuracyRuns, footprints: Footprints, ci_note: str | None) -> Measurement:
    """The speedup estimate, both models' metrics, the scores, and the evidence the rules judge."""
    run = timed.run
    speed = run.estimate(config.timing)
    if speed is None or speed.pairs < 2:
        raise SubmissionError("timing_integrity: no usable timing pairs: "
                              + "; ".join(dict.fromkeys(p.invalid or "" for p in run.pairs[:50])))
    warnings = timing.warnings(run, speed, config.timing)
    per_sample = run.calibration.net_queries * config.timing.batch_size
    baseline_metrics = _metrics(runs.baseline, labels, run.baseline_s, per_sample, footprints.baseline)
    entry_metrics = _metrics(runs.entry, labels, run.entry_s, per_sample, footprints.entry)
    scores = scoring.score(speed, footprints.baseline.size_bytes, footprints.entry.size_bytes,
                           baseline_metrics.accuracy_pct, entry_metrics.accuracy_pct, config.accuracy_penalty_per_pp)
    mismatches = _mismatches(run.indices, runs.entry, run.entry_labels)
    baseline_mismatches = _mismatches(run.baseline_indices, runs.baseline, run.baseline_labels)
    if baseline_mismatches:
        warnings.append(f"the baseline's timed predictions differ from its accuracy pass on {baseline_mismatches} "
                        "images (float noise between batch sizes)")
    evidence = rules.Evidence(
        division=submission.division, scores=scores,
        entry_accuracy_pct=entry_metrics.accuracy_pct,
        entry_dithered_accuracy_pct=entry_metrics.dithered_accuracy_pct,
        baseline_accuracy_pct=baseline_metrics.accuracy_pct,
        baseline_dithered_accuracy_pct=baseline_metrics.dithered_accuracy_pct,
        inconsistent_images=mismatches, timed_images=sum(len(i) for i in run.indices),
        idle_cpu_entry_s=run.idle_cpu_entry, idle_cpu_baseline_s=run.idle_cpu_baseline,
        baseline_timed_s=math.fsum(p.timed_wall_s("baseline") for p in run.pairs),
        entry_timed_s=math.fsum(p.timed_wall_s("entry") for p in run.pairs),
        timing_pairs=len(run.pairs), timing_pairs_discarded=len(run.pairs) - speed.pairs,
        multi_core_samples=sum(p.multi_core for p in run.pairs),
        discard_reasons=tuple(dict.fromkeys(p.invalid for p in run.pairs if p.invalid)),
        timing_warnings=tuple(warnings), claimed=submission.claimed,
    )
    return Measurement(evidence, baseline_metrics, entry_metrics, scores,
                       timing_report(run, speed, config.timing, warnings),
                       _isolation_report(timed.isolation.with_note(ci_note)))


def time_entry(model_dir: Path, baseline_dir: Path, images: np.ndarray, config: Competition,
               isolation: Requested, seed: int, progress: Progress = lambda message: None, *,
               hide: tuple[Path, ...] = (), so_far: SoFar | None = None) -> TimedEntry:
    """Time ``model_dir`` against the baseline, with the null model measuring the harness, on one CPU.

    ``hide``: folders the workers must not see (the test data), as ``sandbox.hidden_paths`` names them.
    With ``so_far`` (a grade), the entry runs within its budgets (``config.budgets``): loading, and
    the timing run, which stops after calibration when the entry is too slow (``budget.too_slow``);
    the entry's isolation is noted in ``so_far`` even when it fails.
    """
    cpu = max(os.sched_getaffinity(0))
    budgets = config.budgets if so_far is not None else None
    base_worker, entry_worker, null_worker = (
        sandbox.ModelWorker(folder, config.sandbox, cpu=cpu, isolation=isolation, hide=hide,
                            load_seconds=budgets.load_seconds if budgets and folder == model_dir else None)
        for folder in (baseline_dir, model_dir, NULL_MODEL_DIR))
    def give_up(cal: timing.Calibration) -> str | None:
        """Note the calibrated latencies (kept should a pair crash later), then stop a too-slow entry."""
        if so_far is not None:
            so_far.note_latency(budget.latency_of(cal, config))
        return budget.too_slow(cal, config)
    try:
        with base_worker, entry_worker, null_worker, timing.parent_off_cpu(cpu), \
                (entry_worker.within(*_bounded("timing", budgets.timing_seconds)) if budgets
                 else contextlib.nullcontext()):
            if so_far is not None:
                so_far.stage = "timing"
            workers = (base_worker, entry_worker, null_worker)
            restartable = config.timing.restart_workers and all(w.isolation.level == STATELESS for w in workers)
            run = timing.run_pairs(
                base_worker, entry_worker, null_worker, images, config.timing, rng=random.Random(seed),
                progress=lambda n, est: progress(f"timing: {n} pair{'s' * (n != 1)}" + (
                    f", speedup {est.speedup:.3f}x ±{est.half_width:.1%}" if est and est.half_width is not None
                    else "")), give_up=give_up if budgets else None,
                refresh=(lambda: restart(workers, progress)) if restartable else None)
    finally:
        if so_far is not None:
            with contextlib.suppress(SandboxError):
                so_far.isolation = entry_worker.isolation
    return TimedEntry(run, entry_worker.isolation)


def restart(workers: tuple[sandbox.ModelWorker, ...], progress: Progress) -> None:
    """Fresh workers in place of ``workers`` (the test images ran out; stateless ones may see them again)."""
    progress("timing: the test images ran out, starting fresh workers to go on")
    for w in workers:
        w.restart()


def _bounded(stage: str, budget_seconds: float) -> tuple[float, str, str]:
    """``ModelWorker.within``'s arguments for a stage's wall-clock bound."""
    seconds, text = budget.wall_bound(stage, budget_seconds)
    return seconds, stage, text


def timing_report(run: timing.PairedRun, speed: timing.SpeedupEstimate, params: Timing,
                  warnings: list[str]) -> TimingReport:
    """The ``timing`` part of the result: the plan, every pair's raw times, the estimate."""
    cal = run.calibration
    wall, stop = run.wall_estimate(params), run.stop
    if wall is None or stop == "too_slow":  # an estimate exists, so valid pairs were timed
        raise ValueError("a timing report needs timed pairs")
    return TimingReport(
        pairs=speed.pairs,
        pairs_discarded=len(run.pairs) - speed.pairs,
        batch_size=params.batch_size,
        queries_per_sample=cal.queries_per_sample,
        short_queries=cal.short_queries,
        slower_queries=cal.slower_queries or None,
        worker_starts=run.worker_starts,
        speed_quantile=speed.quantile,
        warmup_queries=params.warmup_queries,
        calibration=CalibrationReport(cal.overhead_query_s, cal.baseline_query_s, cal.entry_query_s,
                                      cal.shortened_by_supply),
        baseline_seconds=tuple(run.baseline_s),
        entry_seconds=tuple(run.entry_s),
        overhead_seconds=tuple(run.overhead_s),
        samples=tuple(_timing_sample(p) for p in run.pairs),
        log_ratio_mean=speed.paired_log_mean,
        log_ratio_sd=speed.log_sd,
        ci_half_width=speed.half_width,
        confidence=speed.confidence,
        interval_covers=INTERVAL_COVERS,
        wall_speedup=wall.speedup,
        wait_fraction=run.wait_fraction,
        cv_baseline=timing.cv(run.baseline_s),
        cv_entry=timing.cv(run.entry_s),
        stop_reason=stop,
        idle_cpu_seconds=IdleCpu(run.idle_cpu_baseline, run.idle_cpu_entry),
        warnings=tuple(warnings),
    )


def summary_line(result: GradeResult) -> str:
    """One line for the terminal: the status and, when graded, the scores; else the first reason and the numbers."""
    s = result.normalized_scores
    if result.status == "error":
        return f"could not grade: {result.error}"
    failing = result.failed_checks
    failed = list(dict.fromkeys(c.id for c in failing))
    head = "valid" if result.status == "valid" else f"failed ({', '.join(failed)})"
    if s is None:
        if not failing:
            return head
        more = len(failing) - 1
        head += f": {failing[0].message}" + (f" (and {more} more problem{'s' * (more > 1)})" if more else "")
        numbers = measured_line(result.measured)
        return head + (f"; measured so far: {numbers}" if numbers else "")
    ci = ("inconclusive" if s.speedup_ci_low is None
          else f"{s.speedup_ci_low:.3f}-{s.speedup_ci_high:.3f}")
    entry = result.optimized_metrics
    assert entry is not None, "normalized_scores without optimized_metrics"
    return (f"{head}: speedup {s.speedup:.3f}x (95% CI {ci}), compression {s.compression:.3f}x, "
            f"accuracy {entry.accuracy_pct:.2f}% ({s.accuracy_delta_pp:+.2f} pp), efficiency {s.efficiency:.3f}")


def measured_line(measured: Measured | None) -> str:
    """The numbers a stopped grade kept, in one phrase ('' when none)."""
    if not measured:
        return ""
    parts = []
    if measured.entry_ms_per_image is not None:
        ratio = measured.latency_ratio
        parts.append(f"{measured.entry_ms_per_image:.2f} ms per image"
                     + (f" ({ratio:.2f}x the baseline's {measured.baseline_ms_per_image:.2f} ms)"
                        if ratio is not None else ""))
    if measured.accuracy_pct is not None:
        parts.append(f"accuracy {measured.accuracy_pct:.2f}% on {measured.accuracy_images:,} images")
    if measured.size_bytes is not None:
        parts.append(f"size {measured.size_bytes:,} B"
                     + (f" (baseline {measured.baseline_size_bytes:,} B)"
                        if measured.baseline_size_bytes is not None else ""))
    return ", ".join(parts)


def could_not_grade(folder: Path, config: Competition | None, baseline_dir: Path, message: str) -> GradeResult:
    """An ``error`` result for a grade that could not start (no data, no such folder, a config that does not
    read): written like any other; its submission is read only when the config and the folder are there."""
    submission = validate_folder(folder, config).submission if config is not None and folder.is_dir() else None
    return dataclasses.replace(empty_result(None, submission, file_sha256(baseline_dir / WEIGHTS_FILE)),
                               folder=Path(folder).resolve().name[:300] or None, error=message)


def measure_baseline(data_dir: Path, config: Competition, baseline_dir: Path, *,
                     isolation: Requested = "auto", seed: int | None = None,
                     progress: Progress = lambda message: None) -> dict:
    """The baseline's own metrics on this machine (baseline.schema.json): accuracy, latency, size.

    The latency comes from an A/A timing run (the baseline against itself, the null model
    measuring the harness), so it is the baseline's own per-image time, as in a grade.
    """
    seed = _seed_or_fresh(seed)
    test = data.load_split(data_dir, "test")
    dithered = dither(test.images, np.random.default_rng(seed))
    progress("accuracy: baseline, 10,000 test images clean and dithered")
    hide = sandbox.hidden_paths(data_dir)
    run = accuracy_pass(baseline_dir, config.sandbox, isolation, test.images, dithered, hide)
    progress("latency: the baseline timed against itself")
    timed = time_entry(baseline_dir, baseline_dir, dithered, config, isolation, seed, progress, hide=hide)
    seconds = timed.run.baseline_s
    per_sample = timed.run.calibration.net_queries * config.timing.batch_size
    return {
        "schema_version": 1,
        "grader_version": __version__,
        "baseline_sha256": file_sha256(baseline_dir / WEIGHTS_FILE),
        "metrics": _metrics(run, test.labels, seconds, per_sample, size.measure(baseline_dir)).to_json(),
        "latency_samples_seconds": seconds,
        "queries_per_sample": timed.run.calibration.net_queries,
        "batch_size": config.timing.batch_size,
        "isolation": timed.isolation.to_json(),
        "hardware": hardware.describe(),
        "timestamp": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
    }
