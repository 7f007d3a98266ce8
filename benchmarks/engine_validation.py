"""Does the grader's timing measure what it claims? Checked against references measured another way.

For each entry below, the grader's timing engine (``grade.time_entry``: sandboxed workers, the
null model, calibrated samples, CPU time read from the kernel) reads the speedup at three sample
lengths (``min_sample_seconds`` halved, as configured, doubled), and a reference is measured
differently:

- **known work ratios**: the baseline itself (A/A, 1.00), its forward pass twice per query
  (0.50) and ten times per query (0.10);
- **steady state in one process**, for every entry: both models imported into this process,
  interleaved blocks of 40 images per model (each after 5 warm-up queries, models in random
  order), timed with ``time.thread_time``; the ratio of the two models' ``speed_quantile``
  block times (the grader's own definition of the speedup, measured without the grader). The
  models are imported afresh every round behind a random 0-70,000 bytes of other allocations,
  so the blocks span several heap layouts (see below).
- **steady state in two plain processes**: the same blocks, each model in a process of its own
  (forked from this one, no sandbox, no null model, no calibration), both pinned to the core
  the grader uses. This is the grader's situation minus its machinery, so it isolates what the
  machinery adds. The one-process reference carries a bias of its own: two models sharing one
  heap and one interpreter run at speeds that depend on where each one's arrays landed (seen
  here: the Open example read 3.73x in two processes and 3.87x in one, the same minutes; the
  same pair reloaded in one process after 0–70,000 bytes of unrelated allocations read
  3.73–3.80x, interleaved). Both references are printed. The issue's limit applies to the
  one-process reference; the two-process one is a cross-check, tallied apart: on a machine in
  which another tenant comes and goes, the two references (measured in alternate halves of the
  same minutes) themselves differed by up to 13% in one round (the Closed example at 23:21 UTC,
  ``results/engine_validation-2026-12-02T2321Z.txt``), so no reading can sit within 3% of both.

**Interleaved in time.** On a shared machine the ratio itself moves: another process's traffic
in the shared caches slows a model that streams its weights from memory more than one that
reuses them (seen here: the Closed example's in-process ratio was 1.76x, 1.96x and 2.21x at
three times of one morning; the ten-times model read 0.10x and 0.135x minutes apart). So the
readings and the reference are taken in rounds: each round takes one grader reading per
sample length, in random order, then a chunk of reference blocks; every figure is compared
with the reference measured across the same minutes.

**Combining readings.** A figure per sample length combines that length's readings, each
weighted by the inverse variance its own interval states (``combined``): a grade keeps timing
until its interval is narrow (restarting stateless workers when the images run out), so a
reading whose interval says the machine gave it little quiet time counts for as little as it
would in a grade that had time to go on. The unweighted mean is printed beside it.
``--also-quantile Q`` judges the same readings and blocks at another speed quantile.

Targets (issue #17): A/A 1.00 +- 0.01; twice 0.50 +- 0.015; ten times 0.100 within 4%; the
examples within 3% of their steady-state ratio; halving or doubling the sample length moves no
reading by more than 2%. Every figure printed is measured here and now; nothing is assumed.

    python benchmarks/engine_validation.py --data DIR [--rounds 4] [--budget 6] [--only aa,twice]

DIR needs the training batches too (the Closed example's recipe gets calibration images).
"""

from __future__ import annotations

import os

# The reference runs BLAS in this process: one thread, as in the sandbox workers (before numpy loads).
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse
import dataclasses
import importlib.util
import math
import multiprocessing
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from statistics import NormalDist

import numpy as np

from grader.baseline import model as baseline_model
from grader.core import config
from grader.grading import grade
from grader.measure import accuracy, data, hardware, timing
from grader.sandbox import parent as sandbox

# The references run with the workers' allocator and BLAS settings: GLIBC_TUNABLES, one thread, and no
# OpenBLAS override the workers would not get (their environment is allowlisted). This VM's environment
# sets OPENBLAS_CORETYPE=Haswell and OPENBLAS_L2_SIZE; the workers' OpenBLAS picks its own kernel for the
# CPU, and a reference on the Haswell kernels read the Closed example 1.80x where the same plain processes
# with the workers' settings read 2.07x and the grader's workers 2.08x (medians over 8-10 fresh processes).
WORKER_SETTINGS = {k: v for k, v in sandbox._environment(Path("/nonexistent")).items()
                    if k.endswith("_THREADS") or k == "GLIBC_TUNABLES"}
BLAS_OVERRIDES = ("OPENBLAS_", "GOTO", "MKL_", "OMP_", "BLIS_", "VECLIB_", "NUMEXPR_")
if any(k.startswith(BLAS_OVERRIDES) and k not in WORKER_SETTINGS for k in os.environ) \
        or any(os.environ.get(k) != v for k, v in WORKER_SETTINGS.items()):
    os.execve(sys.executable, [sys.executable, *sys.argv],
              {**{k: v for k, v in os.environ.items() if not k.startswith(BLAS_OVERRIDES)}, **WORKER_SETTINGS,
               # kept aside for benchmarks/worker_environment.py, which shows what they change
               **{f"TINYMLPERF_ORIGINAL_{k}": v for k, v in os.environ.items()
                  if k.startswith(BLAS_OVERRIDES) and k not in WORKER_SETTINGS}})

ROOT = Path(__file__).resolve().parent.parent
BASELINE = Path(baseline_model.__file__).parent
CLOSED = ROOT / "submissions" / "closed-int8-prune"
OPEN = ROOT / "submissions" / "open-slim-int8"
REPEAT = '''

_forward_once = Model.predict


def _forward_repeated(self, images):
    for _ in range({times} - 1):
        _forward_once(self, images)
    return _forward_once(self, images)


Model.predict = _forward_repeated
'''
BLOCK_IMAGES, BLOCK_WARMUP = 40, 5


def repeated(root: Path, name: str, times: int) -> Path:
    """The baseline doing its forward pass ``times`` times per query."""
    folder = root / name
    folder.mkdir()
    source = (BASELINE / "model.py").read_text()
    (folder / "model.py").write_text(source + (REPEAT.format(times=times) if times > 1 else ""))
    shutil.copyfile(BASELINE / "weights.npz", folder / "weights.npz")
    return folder


def built_closed(root: Path, data_dir: Path, cfg: config.Competition) -> Path:
    """The Closed example's model folder: its code plus the weights its recipe builds from the baseline."""
    folder = root / "closed"
    folder.mkdir()
    for path in CLOSED.glob("*.py"):
        shutil.copyfile(path, folder / path.name)
    calibration = data.load_batch(data.locate(data_dir) / data.TRAIN_BATCHES[0]).images[:cfg.calibration_images]
    outcome = sandbox.run_recipe(CLOSED, BASELINE, calibration, root / "closed-built", cfg.sandbox)
    for name, path in outcome.weights.items():
        shutil.copyfile(path, folder / name)
    return folder


def load_model(folder: Path, name: str):
    """Import a model.py into this process (our own examples only: this is the trusted reference)."""
    spec = importlib.util.spec_from_file_location(f"reference_{name}", folder / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.load(folder)


def _timed_block(model, block: np.ndarray) -> float:
    for i in range(BLOCK_WARMUP):
        model.predict(block[i:i + 1])
    began = time.thread_time()
    for i in range(len(block)):
        model.predict(block[i:i + 1])
    return time.thread_time() - began


def reference_blocks(models: tuple, images: np.ndarray, rng: np.random.Generator,
                     blocks: int) -> list[tuple[float, float]]:
    """(baseline, entry) CPU seconds of ``blocks`` interleaved blocks in this process."""
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {max(cpus)})  # one core, the one the grader pins its workers to
    try:
        logs = []
        for _ in range(blocks):
            block = images[rng.choice(len(images), BLOCK_IMAGES, replace=False)]
            times = {}
            for who, model in sorted(models, key=lambda _: rng.random()):
                times[who] = _timed_block(model, block)
            logs.append((times["baseline"], times["entry"]))
        return logs
    finally:
        os.sched_setaffinity(0, cpus)


def quantile_ratio(blocks: list[tuple[float, float]], quantile: float) -> float:
    """The reference's speedup, defined as the grader's is: baseline's over entry's ``quantile`` block time."""
    baseline, entry = zip(*blocks, strict=True)
    return float(np.quantile(baseline, quantile) / np.quantile(entry, quantile))


def log_variance(est: timing.SpeedupEstimate) -> float:
    """A reading's variance on the log scale, from its own interval (inf without one)."""
    if est.ci_low is None or est.ci_high is None:
        return math.inf
    z = NormalDist().inv_cdf(0.5 + est.confidence / 2)
    return ((math.log(est.ci_high) - math.log(est.ci_low)) / (2 * z)) ** 2


def combined(readings: list[tuple[float, float]]) -> float:
    """Readings of one quantity, each (log value, variance), combined with inverse-variance weights.

    A grade does the equivalent: it keeps timing until its interval is narrow, so a reading
    whose own interval says the machine gave it little quiet time counts for little, as it
    would in a grade that had time to go on. Readings without an interval count for nothing
    (the unweighted mean when none has one).
    """
    weighted = [(v, 1.0 / var) for v, var in readings if math.isfinite(var) and var > 0]
    if not weighted:
        return float(np.mean([v for v, _ in readings]))
    return math.fsum(v * w for v, w in weighted) / math.fsum(w for _, w in weighted)


def _block_server(conn, folder: Path, name: str, images: np.ndarray, core: int) -> None:
    """A plain process holding one model: times the blocks it is sent (indices), replies CPU seconds."""
    os.sched_setaffinity(0, {core})
    model = load_model(folder, name)
    while (indices := conn.recv()) is not None:
        conn.send(_timed_block(model, images[indices]))


class TwoProcessReference:
    """Each model in a plain forked process of its own, pinned to the grader's core; blocks interleaved."""

    def __init__(self, folders: dict[str, Path], images: np.ndarray) -> None:
        core = max(os.sched_getaffinity(0))
        context = multiprocessing.get_context("fork")
        self.servers = {}
        for who, folder in folders.items():
            ours, theirs = context.Pipe()
            process = context.Process(target=_block_server, args=(theirs, folder, who, images, core), daemon=True)
            process.start()
            self.servers[who] = (ours, process)

    def blocks(self, n_images: int, rng: np.random.Generator, blocks: int) -> list[tuple[float, float]]:
        """(baseline, entry) CPU seconds of ``blocks`` interleaved blocks."""
        logs = []
        for _ in range(blocks):
            indices = rng.choice(n_images, BLOCK_IMAGES, replace=False)
            times = {}
            for who in sorted(self.servers, key=lambda _: rng.random()):
                conn = self.servers[who][0]
                conn.send(indices)
                times[who] = conn.recv()
            logs.append((times["baseline"], times["entry"]))
        return logs

    def close(self) -> None:
        for conn, process in self.servers.values():
            conn.send(None)
            process.join(timeout=10)


def judge(label: str, runs: dict[float, list[timing.PairedRun]], ref_logs: dict[str, list[tuple[float, float]]],
          params: config.Timing, quantile: float, known: float | None, tolerance: float, knobs: list[float],
          rounds: int, secondary: bool) -> tuple[int, int]:
    """Print one case's figures at ``quantile`` (readings and references alike).

    Returns the number of figures off the issue's targets (the known work ratio, else the
    one-process reference; and the sample-length sensitivity), and the number off against the
    two-process reference, the cross-check.
    """
    failures, cross = 0, 0
    refs = {k: quantile_ratio(v, quantile) for k, v in ref_logs.items()}
    print(f"{label}{' (the same readings, judged at this quantile)' if secondary else ''}: "
          + "; ".join(f"reference in {k} {v:.4f}x ({quantile:.0%} quantiles of {len(ref_logs[k])} blocks)"
                      for k, v in refs.items())
          + (f"; known work ratio {known:.3f}x" if known is not None else ""))
    values = []
    for knob in knobs:
        readings = []
        for run in runs[knob]:
            est = run.estimate(dataclasses.replace(params, speed_quantile=quantile))
            assert est is not None
            readings.append((est.log_speedup, log_variance(est)))
        value = math.exp(combined(readings))
        values.append(value)
        target_name, target = ("known ratio", known) if known is not None else ("one process", refs["one process"])
        off = value / target - 1
        failures += abs(off) > tolerance
        verdicts = [f"vs {target_name} {off:+.2%} {'ok' if abs(off) <= tolerance else 'OFF'}"]
        for name, ref in refs.items():
            if name == target_name:
                continue
            off = value / ref - 1
            counted = known is None  # the other reference of an example is the cross-check
            cross += counted and abs(off) > tolerance
            verdicts.append(f"vs {name} {off:+.2%}" + (f" (cross-check {'ok' if abs(off) <= tolerance else 'off'})"
                                                       if counted else ""))
        print(f"  min_sample {knob * 1000:4.0f} ms: {value:.4f}x over {rounds} readings weighted by their own "
              f"intervals (unweighted {math.exp(float(np.mean([v for v, _ in readings]))):.4f}x; "
              f"limit ±{tolerance:.1%}); " + "; ".join(verdicts))
    spread = max(values) / min(values) - 1
    failures += spread > 0.02
    print(f"  sample-length sensitivity: max/min - 1 = {spread:.2%} (limit 2%) {'ok' if spread <= 0.02 else 'OFF'}")
    return failures, cross


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=4, help="rounds of (3 grader readings, reference blocks)")
    parser.add_argument("--budget", type=float, default=6.0, help="timing budget of one grader reading, seconds")
    parser.add_argument("--blocks", type=int, default=50, help="reference blocks per round")
    parser.add_argument("--only", default="aa,twice,ten,closed,open")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quantile", type=float, default=None, help="override timing.speed_quantile")
    parser.add_argument("--also-quantile", type=float, action="append", default=[],
                        help="also judge the same readings and blocks at this quantile (repeatable)")
    parser.add_argument("--short-fraction", type=float, default=None,
                        help="override timing.short_sample_fraction (0: one request per sample, the old design)")
    args = parser.parse_args()
    data_dir = data.resolve(args.data)
    base_cfg = config.load()
    if args.short_fraction is not None:
        base_cfg = dataclasses.replace(base_cfg, timing=dataclasses.replace(
            base_cfg.timing, short_sample_fraction=args.short_fraction))
    if args.quantile is not None:
        base_cfg = dataclasses.replace(base_cfg, timing=dataclasses.replace(
            base_cfg.timing, speed_quantile=args.quantile))
    test = data.load_split(data_dir, "test")
    hw = hardware.describe()
    print(f"machine: {hw['cpu_model']}, {hw['cores']} cores; load average {os.getloadavg()[0]:.2f}; "
          f"{args.rounds} rounds per entry of 3 grader readings ({args.budget:g} s budget each) and "
          f"{args.blocks} reference blocks; short_sample_fraction {base_cfg.timing.short_sample_fraction:g}; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    quantile = base_cfg.timing.speed_quantile
    knobs = [base_cfg.timing.min_sample_seconds / 2, base_cfg.timing.min_sample_seconds,
             base_cfg.timing.min_sample_seconds * 2]
    rng = np.random.default_rng(args.seed)
    order = random.Random(args.seed)
    quantiles = [quantile, *args.also_quantile]
    failures = dict.fromkeys(quantiles, 0)
    cross = dict.fromkeys(quantiles, 0)
    readings_total, warned_total = 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cases = {"aa": ("A/A (baseline as entry)", lambda: repeated(root, "aa", 1), 1.0, 0.01),
                 "twice": ("baseline forward pass twice", lambda: repeated(root, "twice", 2), 0.5, 0.03),
                 "ten": ("baseline forward pass ten times", lambda: repeated(root, "ten", 10), 0.1, 0.04),
                 "closed": ("Closed example (closed-int8-prune)", lambda: built_closed(root, data_dir, base_cfg),
                            None, 0.03),
                 "open": ("Open example (open-slim-int8)", lambda: OPEN, None, 0.03)}
        for key in args.only.split(","):
            label, make, known, tolerance = cases[key]
            folder = make()
            plain = TwoProcessReference({"baseline": BASELINE, "entry": folder}, test.images)
            runs: dict[float, list[timing.PairedRun]] = {k: [] for k in knobs}
            ref_logs: dict[str, list[tuple[float, float]]] = {"one process": [], "two processes": []}
            notes = []
            for r in range(args.rounds):
                for knob in order.sample(knobs, len(knobs)):
                    cfg = dataclasses.replace(base_cfg, timing=dataclasses.replace(
                        base_cfg.timing, min_sample_seconds=knob, budget_seconds=args.budget,
                        target_ci_half_width=1e-6, max_pairs=10_000))
                    run = grade.time_entry(folder, BASELINE, accuracy.dither(test.images, rng), cfg, "auto",
                                           args.seed + r).run
                    est = run.estimate(cfg.timing)
                    runs[knob].append(run)
                    warned = timing.warnings(run, est, dataclasses.replace(cfg.timing, target_ci_half_width=0.02))
                    readings_total += 1
                    warned_total += bool(warned)
                    notes += [f"round {r + 1}, {knob * 1000:g} ms: {w}" for w in warned]
                    interval = f"±{est.half_width:.1%}" if est.half_width is not None else "no interval"
                    print(f"  round {r + 1} min_sample {knob * 1000:4.0f} ms: {est.speedup:.4f}x "
                          f"({interval}, {est.pairs} pairs of {run.calibration.queries_per_sample}"
                          f"-{run.calibration.short_queries} queries, waited {run.wait_fraction:.0%})", flush=True)
                pad = bytearray(int(rng.integers(0, 70_000)))  # this round's heap layout for the one-process models
                models = (("baseline", load_model(BASELINE, f"baseline{r}")), ("entry", load_model(folder, f"{key}{r}")))
                for _half in range(2):  # the two references alternate in halves, so drift hits both alike
                    ref_logs["one process"] += reference_blocks(models, test.images, rng, args.blocks // 2)
                    ref_logs["two processes"] += plain.blocks(len(test.images), rng, args.blocks // 2)
                del models, pad
                print("  round {} reference: {}".format(r + 1, ", ".join(
                    f"{quantile_ratio(v[-(args.blocks // 2) * 2:], quantile):.4f}x in {k}"
                    for k, v in ref_logs.items())),
                    flush=True)
            plain.close()
            for q in quantiles:
                off, off_cross = judge(label, runs, ref_logs, base_cfg.timing, q, known, tolerance, knobs,
                                       args.rounds, q != quantiles[0])
                failures[q] += off
                cross[q] += off_cross
            for note in notes:
                print(f"    timing_quality would warn ({note})")
    print("\n" + "; ".join(f"{n} figure(s) off target at quantile {q:g} ({cross[q]} more off the two-process "
                           "cross-check)" for q, n in failures.items())
          + f"; timing_quality would have warned on {warned_total} of {readings_total} readings (at quantile "
          f"{quantile:g}); load average now {os.getloadavg()[0]:.2f}")
    return 1 if failures[quantile] else 0


if __name__ == "__main__":
    sys.exit(main())
