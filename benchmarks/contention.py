"""Does the machine's state move the speedup, and which estimator reads the same from one grading to the next?

Times the baseline against itself (A/A) and the two examples through the grader's own engine
(``grade.time_entry`` with the timing settings a grade uses: stop rule, budget, fresh workers
for every reading), ``--readings`` times each, the entries alternating so every one sees the
same hours. Per reading it prints:

- the speedup of record: the ratio of the models' ``speed_quantile`` (lower-quartile) sample
  times, with its interval;
- the geometric mean of the paired ratios (the grader's estimator before it), from the same pairs;
- each model's sample times at the 10th, 50th and 90th percentile relative to its lower
  quartile: a machine that switches between a quiet and a contended state shows a p90 far above
  the p10, where noise alone keeps them within a few percent;
- the share of pairs whose baseline sample was over 1.2x its lower quartile ("contended").

Then, per entry, the spread (max/min - 1) of each estimator across the readings: the run-to-run
variation a student sees when regrading the same folder.

    python benchmarks/contention.py --data DIR [--readings 5] [--only aa,closed,open] [--isolation process]

DIR needs the training batches too (the Closed example's recipe gets calibration images).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import engine_validation as ev  # noqa: E402 - re-executes this script with the workers' BLAS settings

from grader.core import config  # noqa: E402
from grader.grading import grade  # noqa: E402
from grader.measure import accuracy, data, hardware, timing  # noqa: E402

CONTENDED = 1.2  # a baseline sample this much over its lower quartile counts as contended


def describe(run: timing.PairedRun, params: config.Timing) -> tuple[float, float, str]:
    """(speedup of record, paired geometric mean, one line) for one reading."""
    est = run.estimate(params)
    assert est is not None, "a reading without usable pairs"
    interval = f"{est.ci_low:.3f}-{est.ci_high:.3f}" if est.ci_low is not None else "no interval"
    shape = []
    for who, values in (("baseline", run.baseline_s), ("entry", run.entry_s)):
        q = np.percentile(values, [10, 25, 50, 90])
        shape.append(f"{who} p10/p50/p90 = {q[0] / q[1]:.2f}/{q[2] / q[1]:.2f}/{q[3] / q[1]:.2f} of q25 "
                     f"{q[1] * 1000:.1f} ms")
    contended = float(np.mean(np.array(run.baseline_s) > CONTENDED * np.percentile(run.baseline_s, 25)))
    paired = math.exp(est.paired_log_mean)
    line = (f"{est.speedup:.4f}x ({interval}, {est.pairs} pairs, stopped by {run.stop}); paired mean {paired:.4f}x; "
            f"contended {contended:.0%}; " + "; ".join(shape))
    return est.speedup, paired, line


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--readings", type=int, default=5)
    parser.add_argument("--only", default="aa,closed,open")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--isolation", choices=["auto", "process"], default="auto",
                        help="the workers' isolation (auto: the strongest this machine allows)")
    args = parser.parse_args()
    data_dir = data.resolve(args.data)
    cfg = config.load()
    test = data.load_split(data_dir, "test")
    hw = hardware.describe()
    print(f"machine: {hw['cpu_model']}, {hw['cores']} cores; {args.readings} readings per entry with the grade's "
          f"timing settings (speed_quantile {cfg.timing.speed_quantile:g}, min_pairs {cfg.timing.min_pairs}, "
          f"target ±{cfg.timing.target_ci_half_width:.0%}, budget {cfg.timing.budget_seconds:g} s); "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", flush=True)
    rng = np.random.default_rng(args.seed)
    results: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        makers = {"aa": lambda: ev.repeated(root, "aa", 1), "closed": lambda: ev.built_closed(root, data_dir, cfg),
                  "open": lambda: ev.OPEN}
        folders = {key: makers[key]() for key in args.only.split(",")}
        for reading in range(args.readings):
            for key, folder in folders.items():
                images = accuracy.dither(test.images, rng)
                run = grade.time_entry(folder, ev.BASELINE, images, cfg, args.isolation, args.seed + reading).run
                record, paired, line = describe(run, cfg.timing)
                results.setdefault(key, []).append((record, paired))
                print(f"  {key:6s} reading {reading + 1}: {line}", flush=True)
    print()
    for key, values in results.items():
        record, paired = (np.array(v) for v in zip(*values, strict=True))
        print(f"{key}: speedup of record {record.min():.4f}-{record.max():.4f}x, spread {record.max() / record.min() - 1:.1%}; "
              f"paired mean {paired.min():.4f}-{paired.max():.4f}x, spread {paired.max() / paired.min() - 1:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
