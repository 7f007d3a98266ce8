"""Do the grader's workers time models as plain processes do? A check of the environment a reference needs.

For the Closed and Open examples against the baseline, the same protocol (blocks of 40 single-image
queries after 5 warm-ups, the two models alternated in random order, CPU time per block; the median of
30 per-block ratios) is run in N fresh incarnations of each of:

- **grader workers**: ``grader.sandbox.parent.ModelWorker`` pairs (the sandbox, its allowlisted
  environment, CPU time read by the parent);
- **plain processes, workers' settings**: a fresh interpreter holding both models, with the workers'
  thread counts and malloc tunables and no OpenBLAS override;
- **plain processes, this environment**: the same, inheriting this shell's environment as is.

Printed: each incarnation's three ratios and each kind's median and range. A reference measured
outside the workers is only comparable when the first two agree; the third shows what an inherited
setting (here: ``OPENBLAS_CORETYPE``, which picks OpenBLAS's kernels) does to a ratio.

    TINYMLPERF_DATA=DIR python benchmarks/worker_environment.py [--incarnations 8]

DIR needs the training batches (the Closed example's recipe gets calibration images).
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import engine_validation as ev  # noqa: E402  (re-executes with the workers' settings)
from grader.core import config  # noqa: E402
from grader.measure import data, hardware  # noqa: E402
from grader.sandbox import parent as sandbox  # noqa: E402

BLOCKS, BLOCK, WARM = 30, 40, 5
CHILD = r'''
import importlib.util, math, os, sys, time
from pathlib import Path
import numpy as np
os.sched_setaffinity(0, {int(sys.argv[4])})
images = np.load(sys.argv[3])
rng = np.random.default_rng(int(sys.argv[5]))
def load(folder, name):
    spec = importlib.util.spec_from_file_location(name, Path(folder) / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.load(Path(folder))
models = {"baseline": load(sys.argv[1], "baseline"), "entry": load(sys.argv[2], "entry")}
logs = []
for _ in range(BLOCKS):
    block = images[rng.choice(len(images), BLOCK, replace=False)]
    seconds = {}
    for who in rng.permutation(["baseline", "entry"]):
        for i in range(WARM):
            models[who].predict(block[i:i + 1])
        began = time.thread_time()
        for i in range(len(block)):
            models[who].predict(block[i:i + 1])
        seconds[who] = time.thread_time() - began
    logs.append(math.log(seconds["baseline"] / seconds["entry"]))
print(math.exp(float(np.median(logs))))
'''


def plain(folder: Path, images_file: Path, cpu: int, seed: int, env: dict[str, str]) -> float:
    constants = f"BLOCKS, BLOCK, WARM = {BLOCKS}, {BLOCK}, {WARM}\n"
    done = subprocess.run([sys.executable, "-c", constants + CHILD, str(ev.BASELINE), str(folder), str(images_file), str(cpu),
                           str(seed)], env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    return float(done.stdout.split()[-1])


def in_workers(folder: Path, images: np.ndarray, cpu: int, rng: np.random.Generator,
               cfg: config.Competition) -> float:
    with sandbox.ModelWorker(ev.BASELINE, cfg.sandbox, cpu=cpu, isolation="auto") as base, \
            sandbox.ModelWorker(folder, cfg.sandbox, cpu=cpu, isolation="auto") as entry:
        others = os.sched_getaffinity(0) - {cpu}
        before = os.sched_getaffinity(0)
        if others:
            os.sched_setaffinity(0, others)
        try:
            logs = []
            for _ in range(BLOCKS):
                block = images[rng.choice(len(images), BLOCK, replace=False)]
                seconds = {}
                for who, worker in sorted((("baseline", base), ("entry", entry)), key=lambda _: rng.random()):
                    worker.time_queries(block[:WARM], 1)
                    began = worker.cpu_seconds()
                    worker.time_queries(block, 1)
                    seconds[who] = worker.cpu_seconds() - began
                logs.append(math.log(seconds["baseline"] / seconds["entry"]))
        finally:
            os.sched_setaffinity(0, before)
    return math.exp(float(np.median(logs)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incarnations", type=int, default=8)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("TINYMLPERF_DATA", "")))
    args = parser.parse_args()
    cfg = config.load()
    data_dir = data.resolve(args.data)
    test = data.load_split(data_dir, "test")
    cpu = max(os.sched_getaffinity(0))
    rng = np.random.default_rng(1)
    inherited = dict(os.environ)  # after the re-execution: the workers' settings
    original = {**inherited, **{k[len("TINYMLPERF_ORIGINAL_"):]: v for k, v in inherited.items()
                                if k.startswith("TINYMLPERF_ORIGINAL_")}}
    hw = hardware.describe()
    print(f"machine: {hw['cpu_model']}, {hw['cores']} cores; load average {os.getloadavg()[0]:.2f}; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; this environment's BLAS overrides: "
          + (", ".join(f"{k}={v}" for k, v in sorted(original.items()) if k.startswith(ev.BLAS_OVERRIDES)
                       and k not in ev.WORKER_SETTINGS) or "none"), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        images_file = Path(tmp) / "test.npy"
        np.save(images_file, test.images)
        for name, folder in (("closed", ev.built_closed(Path(tmp), data_dir, cfg)), ("open", ev.OPEN)):
            kinds: dict[str, list[float]] = {"grader workers": [], "plain, workers' settings": [],
                                             "plain, this environment": []}
            for k in range(args.incarnations):
                kinds["grader workers"].append(in_workers(folder, test.images, cpu, rng, cfg))
                kinds["plain, workers' settings"].append(plain(folder, images_file, cpu, 100 + k, inherited))
                kinds["plain, this environment"].append(plain(folder, images_file, cpu, 100 + k, original))
                print(f"{name} incarnation {k + 1}: " + ", ".join(f"{kind} {v[-1]:.4f}x" for kind, v in kinds.items()),
                      flush=True)
            for kind, values in kinds.items():
                print(f"{name}: {kind}: median {np.median(values):.4f}x, range {min(values):.4f}-{max(values):.4f}x "
                      f"over {len(values)} incarnations", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
