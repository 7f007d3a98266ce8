"""How often does ``timing_quality`` warn, with the machine idle and with it loaded? And what do the warned grades read?

Each reading is a grade's timing run exactly as ``tinymlperf grade`` times (``grade.time_entry``
with the packaged competition.yaml: its budget, its target interval, its stopping rule), of the
Open example and of the baseline as its own entry (A/A, where the truth is 1.00x). Conditions
alternate reading by reading:

- **idle**: nothing else runs;
- **loaded**: a process streams 64 MB between two buffers on the other CPU for the whole
  reading (the kind of neighbour that slows the baseline's weight traffic in the shared caches:
  measured here, it moves the baseline's median forward pass from 0.39 to 0.54 ms).

With ``--vary restarts`` the two conditions are instead **restarts** (``timing.restart_workers``:
stateless workers start afresh when the unseen images run out, timing goes on to the target or
the budget) and **no restarts** (timing stops when the images run out), both idle.

Printed per reading: the speedup and its interval, the pairs, why timing stopped, and each
warning; at the end, per condition and entry, how many readings warned and the spread of the
readings. Every figure is measured here and now.

    python benchmarks/timing_quality.py --data DIR [--readings 4] [--vary load|restarts]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from grader.baseline import model as baseline_model
from grader.core import config
from grader.grading import grade
from grader.measure import accuracy, data, hardware, timing

ROOT = Path(__file__).resolve().parent.parent
BASELINE = Path(baseline_model.__file__).parent
OPEN = ROOT / "submissions" / "open-slim-int8"
STREAM = ("import os, numpy as np\nos.sched_setaffinity(0, {cpu})\na = np.ones(64 << 20, np.uint8)\n"
          "b = np.empty_like(a)\nwhile True:\n    np.copyto(b, a)\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--readings", type=int, default=4, help="readings per entry and condition")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--vary", choices=("load", "restarts"), default="load")
    args = parser.parse_args()
    base = config.load()
    conditions = ("idle", "loaded") if args.vary == "load" else ("restarts", "no restarts")
    test = data.load_split(data.resolve(args.data), "test")
    rng = np.random.default_rng(args.seed)
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        print("needs two CPUs: the load runs on the one the workers do not use")
        return 2
    t = base.timing
    print(f"machine: {hardware.describe()['cpu_model']}, {len(cpus)} CPUs; load average {os.getloadavg()[0]:.2f}; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; the grade's timing: budget {t.budget_seconds:g} s, "
          f"target ±{t.target_ci_half_width:.0%}, pairs {t.min_pairs}-{t.max_pairs}, quantile {t.speed_quantile:g}",
          flush=True)
    results: dict[tuple[str, str], list[tuple[float, bool]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        aa = Path(tmp) / "aa"
        shutil.copytree(BASELINE, aa)
        entries = {"A/A": aa, "Open": OPEN}
        for i in range(args.readings):
            for condition in conditions:
                for name, folder in entries.items():
                    load = (subprocess.Popen([sys.executable, "-c", STREAM.format(cpu={cpus[0]})])
                            if condition == "loaded" else None)
                    cfg = dataclasses.replace(base, timing=dataclasses.replace(
                        base.timing, restart_workers=condition != "no restarts"))
                    try:
                        time.sleep(0.5 if load else 0.0)
                        run = grade.time_entry(folder, BASELINE, accuracy.dither(test.images, rng), cfg, "auto",
                                               args.seed + i).run
                    finally:
                        if load:
                            load.kill()
                            load.wait()
                    est = run.estimate(cfg.timing)
                    assert est is not None
                    warned = timing.warnings(run, est, cfg.timing)
                    results.setdefault((condition, name), []).append((est.speedup, bool(warned)))
                    interval = f"±{est.half_width:.1%}" if est.half_width is not None else "no interval"
                    print(f"  {condition:11s} {name:4s} reading {i + 1}: {est.speedup:.4f}x ({interval}, {est.pairs} "
                          f"pairs, {run.worker_starts} worker start(s), stopped: {run.stop}, "
                          f"waited {run.wait_fraction:.0%})"
                          + "".join(f"\n      timing_quality: {w}" for w in warned), flush=True)
    print("\nper condition and entry: readings warned, and the readings' range")
    for (condition, name), rows in sorted(results.items()):
        values = [v for v, _ in rows]
        print(f"  {condition:11s} {name:4s} warned {sum(w for _, w in rows)} of {len(rows)}; "
              f"{min(values):.4f}-{max(values):.4f}x (max/min - 1 = {max(values) / min(values) - 1:.1%}); "
              f"unwarned only: " + (", ".join(f"{v:.4f}" for v, w in rows if not w) or "none"))
    print(f"load average now {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
