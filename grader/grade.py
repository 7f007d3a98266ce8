"""Grade one submission folder: validate, rebuild, accuracy, paired timing, size, rules -> result.

The orchestration only: every measurement is a function of its own module and
all submission code runs in ``grader.sandbox`` workers. Student problems end as
checks in a ``failed`` result (exit 1); only our side failing (data, sandbox,
protocol) ends as ``error`` (exit 2).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grader import __version__, data, hardware, rules, sandbox, scoring, size, timing
from grader.config import Competition
from grader.config import Sandbox as SandboxLimits
from grader.errors import DataError, GraderError, SandboxError, SubmissionError
from grader.github import RepoVerification
from grader.isolation import Requested, ci_policy
from grader.record import RECORD_NAME
from grader.rules import Check
from grader.validate import validate_folder

PREDICT_BATCH = 500
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


@dataclass(frozen=True)
class ModelRun:
    """A model's accuracy-pass predictions, clean and dithered."""

    predictions: np.ndarray
    dithered_predictions: np.ndarray


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dither(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Add independent -1/0/+1 noise to every pixel, clipped to 0..255."""
    noise = rng.integers(-1, 2, size=images.shape, dtype=np.int16)
    return np.clip(images.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def predict_all(worker: sandbox.ModelWorker, images: np.ndarray) -> np.ndarray:
    return np.concatenate([worker.predict(images[i:i + PREDICT_BATCH]) for i in range(0, len(images), PREDICT_BATCH)])


def _seed_or_fresh(seed: int | None) -> int:
    """The caller's seed (reproducible runs), else a fresh one so no entry can predict the dither noise."""
    return seed if seed is not None else int.from_bytes(os.urandom(8), "little")


def accuracy_pass(folder: Path, limits: SandboxLimits, isolation: Requested, images: np.ndarray,
                  dithered: np.ndarray, denied: list[str], hide: tuple[Path, ...] = ()) -> ModelRun:
    """Predict the test set twice (clean, dithered) in one worker; labels never enter it."""
    worker = sandbox.ModelWorker(folder, limits, isolation=isolation, hide=hide)
    with worker:
        run = ModelRun(predict_all(worker, images), predict_all(worker, dithered))
    denied.extend(worker.log.denied if worker.log else ())
    return run


def _copy_flat(src: Path, dst: Path, skip: set[str]) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for path in sorted(src.iterdir()):
        if path.is_file() and not path.is_symlink() and path.name not in skip:
            shutil.copyfile(path, dst / path.name)


def _same_arrays(a: Path, b: Path) -> str | None:
    """None when both .npz files hold the same arrays bit for bit, else what differs."""
    with np.load(a, allow_pickle=False) as x, np.load(b, allow_pickle=False) as y:
        if sorted(x.files) != sorted(y.files):
            return f"array names differ: {sorted(x.files)} vs {sorted(y.files)}"
        for name in sorted(x.files):
            u, v = x[name], y[name]
            if u.dtype != v.dtype or u.shape != v.shape or u.tobytes() != v.tobytes():
                return f"array {name!r} differs"
    return None


def _calibration_images(data_dir: Path, count: int) -> np.ndarray:
    """The first ``count`` training images, handed to a build recipe (never test images)."""
    try:
        return data.load_batch(data_dir / data.TRAIN_BATCHES[0]).images[:count]
    except DataError as e:
        raise DataError(f"{e}. An entry with a build.py recipe gets its {count} calibration images from "
                        f"{data.TRAIN_BATCHES[0]}, so grading it needs the training batches as well as "
                        "test_batch (README: Getting the data)") from e


def rebuild(request: GradeRequest, submission, work: Path, calibration: np.ndarray,
            denied: list[str]) -> tuple[Path, bool | None, str]:
    """Assemble the entry's model folder, running its recipe when it has one.

    Returns the folder, whether shipped weights match the rebuild (None when
    nothing was shipped or there is no recipe) and a sentence saying so.
    """
    model_dir = work / "entry"
    _copy_flat(request.folder, model_dir, skip={RECORD_NAME})
    if not submission.has_recipe:
        return model_dir, None, "no recipe: the folder's weights are graded as shipped"
    outcome = sandbox.run_recipe(request.folder, request.baseline_dir, calibration, work / "built",
                                 request.config.sandbox, isolation=request.isolation,
                                 hide=sandbox.hidden_paths(request.data_dir))
    denied.extend(outcome.log.denied)
    if not outcome.weights:
        raise SubmissionError("build.py wrote no .npz weight file into its output folder")
    mismatches = []
    for name in sorted(submission.weight_files):
        if name not in outcome.weights:
            mismatches.append(f"{name} is shipped but the recipe did not produce it")
        elif (why := _same_arrays(request.folder / name, outcome.weights[name])) is not None:
            mismatches.append(f"{name}: {why}")
    for name, path in outcome.weights.items():
        shutil.copyfile(path, model_dir / name)
    if not submission.weight_files:
        return model_dir, None, f"rebuilt {', '.join(sorted(outcome.weights))} from the baseline with build.py"
    if mismatches:
        return model_dir, False, "shipped weights differ from the rebuild: " + "; ".join(mismatches)
    return model_dir, True, "shipped weights equal the rebuild array for array, bit for bit"


def _metrics(run: ModelRun, labels: np.ndarray, seconds: list[float], images_per_sample: int,
             footprint: size.Footprint) -> dict:
    per_image_ms = [1000.0 * s / images_per_sample for s in seconds]
    return {
        "accuracy_pct": 100.0 * float(np.mean(run.predictions == labels)),
        "dithered_accuracy_pct": 100.0 * float(np.mean(run.dithered_predictions == labels)),
        "latency_ms_median": float(np.median(per_image_ms)),
        "latency_ms_p90": float(np.percentile(per_image_ms, 90)),
        "size_bytes": footprint.size_bytes,
        "parameters": footprint.parameters,
        "nonzeros": footprint.nonzeros,
        "dtypes": footprint.dtypes,
    }


def _mismatches(run: timing.PairedRun, reference: ModelRun, labels: list[np.ndarray]) -> int:
    """Timed labels that differ from the accuracy pass's labels for the same (dithered) images."""
    return sum(int(np.sum(got != reference.dithered_predictions[idx]))
               for idx, got in zip(run.indices, labels, strict=True))


def empty_result(request: GradeRequest, submission_json: dict | None, baseline_sha: str) -> dict:
    """The result skeleton: what is known before anything is measured."""
    return {
        "schema_version": 1,
        "grader_version": __version__,
        "status": "error",
        "error": None,
        "submission": submission_json,
        "baseline_metrics": None,
        "optimized_metrics": None,
        "normalized_scores": None,
        "timing": None,
        "checks": [],
        "isolation": {"level": "none", "details": []},
        "repo_verification": {"status": "not_checked", "reason": "not reached"},
        "hardware": hardware.describe(),
        "baseline_sha256": baseline_sha,
        "timestamp": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
    }


def _metadata_checks(submission, verification: RepoVerification) -> list[Check]:
    repo_status = {"verified": "pass", "failed": "fail", "not_checked": "not_checked"}[verification.status]
    return [
        Check("format", "pass", "submission folder passes every static check"),
        Check("honor_code", "pass", "honor code statement present"),
        Check("techniques_documented", "pass", f"{len(submission.techniques_used)} technique(s) documented"),
        Check("repo_link", repo_status, verification.reason),
    ]


def grade(request: GradeRequest, progress: Progress = lambda message: None) -> dict:
    """Grade ``request.folder``; return a result dict valid against result.schema.json."""
    baseline_sha = file_sha256(request.baseline_dir / "weights.npz")
    validation = validate_folder(request.folder, request.config)
    submission = validation.submission
    result = empty_result(request, submission.to_json() if submission else None, baseline_sha)
    if not validation.ok or submission is None:
        result["status"] = "failed"
        result["checks"] = [Check("format", "fail", str(p)).to_json() for p in validation.problems]
        return result

    verification = (request.verify_repo(submission.github_repo) if request.verify_repo
                    else RepoVerification("not_checked", "repository not checked (no GitHub token or network)"))
    result["repo_verification"] = {"status": verification.status, "reason": verification.reason}
    checks = _metadata_checks(submission, verification)
    seed = _seed_or_fresh(request.seed)
    try:
        measured = _measure(request, submission, seed, progress)
    except SubmissionError as e:
        result["status"] = "failed"
        result["checks"] = [c.to_json() for c in checks] + [Check("runs", "fail", str(e)).to_json()]
        return result
    except (SandboxError, GraderError) as e:
        result["error"] = str(e)
        return result
    evidence, result_parts = measured
    checks += rules.evaluate(evidence, request.config)
    result.update(result_parts)
    result["checks"] = [c.to_json() for c in checks]
    result["status"] = rules.status_of(checks)
    return result


def _measure(request: GradeRequest, submission, seed: int, progress: Progress) -> tuple[rules.Evidence, dict]:
    config = request.config
    refusal, ci_note = ci_policy(request.isolation, config.sandbox.allow_weak_isolation_in_ci)
    if refusal is not None:
        raise SandboxError(refusal)
    hide = sandbox.hidden_paths(request.data_dir)
    test = data.load_split(request.data_dir, "test")
    rng = np.random.default_rng(seed)
    dithered = dither(test.images, rng)
    denied: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tinymlperf-grade-") as tmp:
        work = Path(tmp)
        calibration = np.empty((0, 3, 32, 32), np.uint8)
        if submission.has_recipe:
            calibration = _calibration_images(request.data_dir, config.calibration_images)
            progress("running the build recipe in the sandbox")
        model_dir, weights_match, weights_detail = rebuild(request, submission, work, calibration, denied)

        # Timing comes first and runs on the dithered images, whose noise is drawn fresh for this
        # grade: no worker of this entry has seen them yet, so nothing can be answered from a table
        # shipped in the folder or a cache left behind by an earlier worker. The accuracy pass
        # afterwards predicts the same dithered images, and the two must agree (the determinism check).
        progress("timing: paired samples, baseline vs entry on one CPU, freshly dithered test images")
        cpu = max(os.sched_getaffinity(0))
        base_worker = sandbox.ModelWorker(request.baseline_dir, config.sandbox, cpu=cpu, isolation=request.isolation,
                                          hide=hide)
        entry_worker = sandbox.ModelWorker(model_dir, config.sandbox, cpu=cpu, isolation=request.isolation, hide=hide)
        with base_worker, entry_worker:
            run = timing.run_pairs(base_worker, entry_worker, dithered, config.timing, rng=random.Random(seed),
                                   progress=lambda n, est: progress(
                                       f"timing: {n} pairs" + (f", speedup {est.speedup:.3f}x ±{est.half_width:.1%}"
                                                               if est and est.half_width is not None else "")))
        denied.extend(entry_worker.log.denied if entry_worker.log else ())

        progress("accuracy: baseline, 10,000 test images clean and dithered")
        baseline_run = accuracy_pass(request.baseline_dir, config.sandbox, request.isolation, test.images, dithered,
                                     denied=[], hide=hide)
        progress("accuracy: entry, 10,000 test images clean and dithered")
        entry_run = accuracy_pass(model_dir, config.sandbox, request.isolation, test.images, dithered, denied, hide)
        walls = entry_worker.isolation.with_note(ci_note)
        entry_footprint = size.measure(model_dir)
    baseline_footprint = size.measure(request.baseline_dir)

    speed = timing.estimate(run.baseline_s, run.entry_s, config.timing.confidence)
    warnings = timing.warnings(run.baseline_s, run.entry_s, speed, config.timing, run.stop)
    per_sample = config.timing.queries_per_sample * config.timing.batch_size
    baseline_metrics = _metrics(baseline_run, test.labels, run.baseline_s, per_sample, baseline_footprint)
    entry_metrics = _metrics(entry_run, test.labels, run.entry_s, per_sample, entry_footprint)
    scores = scoring.score(speed, baseline_footprint.size_bytes, entry_footprint.size_bytes,
                           baseline_metrics["accuracy_pct"], entry_metrics["accuracy_pct"],
                           config.accuracy_penalty_per_pp)
    mismatches = _mismatches(run, entry_run, run.entry_labels)
    baseline_mismatches = _mismatches(run, baseline_run, run.baseline_labels)
    if baseline_mismatches:
        warnings.append(f"the baseline's timed predictions differ from its accuracy pass on {baseline_mismatches} "
                        "images (float noise between batch sizes)")
    evidence = rules.Evidence(
        division=submission.division, scores=scores,
        entry_accuracy_pct=entry_metrics["accuracy_pct"],
        entry_dithered_accuracy_pct=entry_metrics["dithered_accuracy_pct"],
        baseline_accuracy_pct=baseline_metrics["accuracy_pct"],
        baseline_dithered_accuracy_pct=baseline_metrics["dithered_accuracy_pct"],
        inconsistent_images=mismatches, timed_images=sum(len(i) for i in run.indices),
        idle_cpu_entry_s=run.idle_cpu_entry, idle_cpu_baseline_s=run.idle_cpu_baseline,
        baseline_timed_s=sum(run.baseline_s), entry_timed_s=sum(run.entry_s),
        timing_warnings=tuple(warnings), denied=tuple(dict.fromkeys(denied)),
        weights_match=weights_match, weights_detail=weights_detail, claimed=submission.claimed,
    )
    parts = {
        "baseline_metrics": baseline_metrics,
        "optimized_metrics": entry_metrics,
        "normalized_scores": scores.to_json(),
        "timing": {
            "pairs": speed.pairs,
            "batch_size": config.timing.batch_size,
            "queries_per_sample": config.timing.queries_per_sample,
            "warmup_samples": config.timing.warmup_samples,
            "baseline_seconds": run.baseline_s,
            "entry_seconds": run.entry_s,
            "log_ratio_mean": speed.log_mean,
            "log_ratio_sd": speed.log_sd,
            "ci_half_width": speed.half_width,
            "confidence": speed.confidence,
            "cv_baseline": timing.cv(run.baseline_s),
            "cv_entry": timing.cv(run.entry_s),
            "stop_reason": run.stop,
            "idle_cpu_seconds": {"baseline": run.idle_cpu_baseline, "entry": run.idle_cpu_entry},
            "warnings": warnings,
        },
        "isolation": walls.to_json(),
    }
    return evidence, parts


def summary_line(result: dict) -> str:
    """One line for the terminal: the status and, when graded, the scores."""
    s = result["normalized_scores"]
    if result["status"] == "error":
        return f"could not grade: {result['error']}"
    failed = [c["id"] for c in result["checks"] if c["status"] == "fail"]
    head = "valid" if result["status"] == "valid" else f"failed ({', '.join(failed)})"
    if s is None:
        return head
    ci = ("inconclusive" if s["speedup_ci_low"] is None
          else f"{s['speedup_ci_low']:.3f}-{s['speedup_ci_high']:.3f}")
    return (f"{head}: speedup {s['speedup']:.3f}x (95% CI {ci}), compression {s['compression']:.3f}x, "
            f"accuracy {result['optimized_metrics']['accuracy_pct']:.2f}% ({s['accuracy_delta_pp']:+.2f} pp), "
            f"efficiency {s['efficiency']:.3f}")


BASELINE_SAMPLES = 30


def measure_baseline(data_dir: Path, config: Competition, baseline_dir: Path, *,
                     isolation: Requested = "auto", seed: int | None = None,
                     progress: Progress = lambda message: None) -> dict:
    """The baseline's own metrics on this machine (baseline.schema.json): accuracy, latency, size."""
    seed = _seed_or_fresh(seed)
    test = data.load_split(data_dir, "test")
    progress("accuracy: baseline, 10,000 test images clean and dithered")
    hide = sandbox.hidden_paths(data_dir)
    run = accuracy_pass(baseline_dir, config.sandbox, isolation, test.images,
                        dither(test.images, np.random.default_rng(seed)), denied=[], hide=hide)
    per_sample = config.timing.queries_per_sample * config.timing.batch_size
    order = np.random.default_rng(seed).permutation(len(test.images))
    seconds = []
    progress(f"latency: {BASELINE_SAMPLES} samples of {config.timing.queries_per_sample} queries")
    worker = sandbox.ModelWorker(baseline_dir, config.sandbox, cpu=max(os.sched_getaffinity(0)), isolation=isolation,
                                 hide=hide)
    with worker:
        for i in range(config.timing.warmup_samples + BASELINE_SAMPLES):
            elapsed, _ = worker.time_queries(test.images[order[i * per_sample:(i + 1) * per_sample]],
                                             config.timing.batch_size)
            if i >= config.timing.warmup_samples:
                seconds.append(elapsed)
    return {
        "schema_version": 1,
        "grader_version": __version__,
        "baseline_sha256": file_sha256(baseline_dir / "weights.npz"),
        "metrics": _metrics(run, test.labels, seconds, per_sample, size.measure(baseline_dir)),
        "latency_samples_seconds": seconds,
        "queries_per_sample": config.timing.queries_per_sample,
        "batch_size": config.timing.batch_size,
        "isolation": worker.isolation.to_json(),
        "hardware": hardware.describe(),
        "timestamp": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
    }
