"""How far a student's own speedup can honestly sit from the grader's: one pair, several ways of timing it.

A TinyTorch student times baseline and entry on their laptop with the course's
Benchmark harness: wall-clock means of repeated predictions, BLAS with as many
threads as the laptop has, often a batch of images. The grader times batch-1
CPU time on one pinned core. This script times the same pair (the baseline
and an entry folder, default submissions/open-slim-int8) each of those ways on
this machine, and prints every speedup and the largest ratio between two of
them: the spread due to method alone, before any difference of CPU, cache or
BLAS build. ``grader.judge.rules.HARDWARE_SPEEDUP_BAND`` must be at least that
spread, or honest students get flagged.

    OPENBLAS_NUM_THREADS=1 python benchmarks/claimed_speedup_spread.py [--entry DIR] [--seconds 2]

Each setting runs in its own process (BLAS reads its thread count once, at load).
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _load(folder: Path):
    spec = importlib.util.spec_from_file_location(f"entry_{abs(hash(folder))}", folder / "model.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(folder))
    spec.loader.exec_module(module)
    sys.path.remove(str(folder))
    return module.load(folder)


def _time(model, images, seconds: float, clock) -> float:
    """Mean seconds per image of ``model.predict`` over rounds of ``images`` lasting ``seconds``."""
    for _ in range(3):
        model.predict(images)
    rounds, start = 0, clock()
    while clock() - start < seconds:
        model.predict(images)
        rounds += 1
    return (clock() - start) / (rounds * len(images))


def measure(entry: Path, batch: int, clock_name: str, seconds: float) -> float:
    """Baseline time / entry time, interleaved three times (in this process's BLAS setting)."""
    import numpy as np

    clock = {"wall": time.perf_counter, "cpu": time.process_time}[clock_name]
    images = np.random.default_rng(0).integers(0, 256, (batch, 3, 32, 32), dtype=np.uint8)
    baseline, model = _load(ROOT / "grader" / "baseline"), _load(entry)
    base = sum(_time(baseline, images, seconds, clock) for _ in range(3))
    ours = sum(_time(model, images, seconds, clock) for _ in range(3))
    return base / ours


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entry", type=Path, default=ROOT / "submissions" / "open-slim-int8")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        batch, clock = args.one.split(",")
        print(json.dumps(measure(args.entry.resolve(), int(batch), clock, args.seconds)))
        return 0
    results = {}
    for threads, batch, clock in itertools.product(("1", "2"), (1, 32), ("wall", "cpu")):
        if threads == "2" and clock == "cpu":
            continue  # CPU time of two threads is not what a laptop user reads off a stopwatch
        env = {**os.environ, "OPENBLAS_NUM_THREADS": threads, "OMP_NUM_THREADS": threads}
        out = subprocess.run([sys.executable, __file__, "--entry", str(args.entry), "--seconds", str(args.seconds),
                              "--one", f"{batch},{clock}"], env=env, capture_output=True, text=True, check=True)
        results[f"threads={threads} batch={batch} {clock}"] = float(out.stdout)
        print(f"threads={threads} batch={batch:>2} {clock:>4}: speedup {results[list(results)[-1]]:.3f}x", flush=True)
    low, high = min(results.values()), max(results.values())
    print(f"spread: {low:.3f}x to {high:.3f}x, ratio {high / low:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
