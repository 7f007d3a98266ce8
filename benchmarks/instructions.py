"""A deterministic cross-check beside the wall-clock speedup: instructions per image under cachegrind.

For each entry of the standings benchmark (the two examples and three made-up entries,
``benchmarks/standings.py``) and the baseline, the model runs in a plain process under
``valgrind --tool=cachegrind --cache-sim=no`` twice, predicting ``--few`` and then ``--many``
single-image queries on the same fixed images; instructions per image is the difference of the
two totals over the difference in images (start-up, imports and ``load`` cancel). Counted
instructions do not depend on the machine's load or its neighbours, so the figure is the same
on every run; it is not a speedup (a cache miss costs more than an add), so it is shown beside
the timed one, never ranked by. With ``--standings`` one standings group is timed too and the two
ratios are printed side by side.

Only our own entries run here, outside the sandbox: this is a benchmark of trusted code, not a
way to run a student's. ~20 s per entry (the baseline runs ~40x slower under valgrind).

    TINYMLPERF_DATA=/work/data/full PYTHONPATH=. python benchmarks/instructions.py [--standings]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import standings as bench  # noqa: E402  (benchmarks/standings.py: the same five entries)

from grader.core import config
from grader.grading import standings_run
from grader.measure import data
from grader.sandbox import parent as sandbox

RUNNER = '''
import importlib.util, sys
from pathlib import Path
import numpy as np
folder, n = Path(sys.argv[1]), int(sys.argv[2])
spec = importlib.util.spec_from_file_location("entry", folder / "model.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
model = module.load(folder)
images = np.load(sys.argv[3])
for i in range(n):
    model.predict(images[i:i + 1])
'''


def instructions(folder: Path, n: int, images: Path, work: Path) -> int:
    """Total instructions (cachegrind's ``I refs``) of loading ``folder``'s model and predicting ``n`` images."""
    out = work / f"cachegrind.{folder.name}.{n}"
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0",
           "GLIBC_TUNABLES": sandbox.MALLOC_TUNABLES}
    subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={out}",
                    sys.executable, "-c", RUNNER, str(folder), str(n), str(images)],
                   check=True, capture_output=True, env=env)
    summary = re.search(r"^summary:\s+(\d+)", out.read_text(), re.MULTILINE)
    if summary is None:
        raise SystemExit(f"{out}: no summary line in cachegrind's output")
    return int(summary.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("TINYMLPERF_DATA", "")))
    parser.add_argument("--few", type=int, default=5)
    parser.add_argument("--many", type=int, default=25)
    parser.add_argument("--standings", action="store_true", help="also time one standings group, for comparison")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind not found (apt-get install valgrind)")
    competition = config.load()
    data_dir = data.locate(args.data)
    test = data.load_split(data_dir, "test")
    with tempfile.TemporaryDirectory(prefix="instructions-bench-") as tmp:
        work = Path(tmp)
        submissions = work / "submissions"
        submissions.mkdir()
        slugs = bench.make_entries(submissions)
        # The Closed example's weights come from its recipe, run in the sandbox as the grader does.
        closed = submissions / "closed-int8-prune"
        calibration = data.load_batch(data_dir / data.TRAIN_BATCHES[0]).images[:competition.calibration_images]
        built = sandbox.run_recipe(closed, bench.BASELINE, calibration, work / "closed-built", competition.sandbox)
        model_dirs = {slug: submissions / slug for slug in slugs}
        model_dirs["closed-int8-prune"] = work / "closed-model"
        model_dirs["closed-int8-prune"].mkdir()
        for path in closed.glob("*.py"):
            shutil.copyfile(path, model_dirs["closed-int8-prune"] / path.name)
        for name, path in built.weights.items():
            shutil.copyfile(path, model_dirs["closed-int8-prune"] / name)
        images = work / "images.npy"
        np.save(images, test.images[:args.many])
        per_image = {}
        for slug, folder in {"baseline": bench.BASELINE, **model_dirs}.items():
            few, many = (instructions(folder, n, images, work) for n in (args.few, args.many))
            per_image[slug] = (many - few) / (args.many - args.few)
            print(f"{slug:18s} {per_image[slug] / 1e6:7.3f} M instructions per image "
                  f"(totals {few:,} and {many:,} for {args.few} and {args.many} images)", flush=True)
        timed = {}
        if args.standings:
            accuracy = {"closed-int8-prune": 76.40}
            accuracy.update({slug: bench.clean_accuracy(submissions / slug, test) for slug in slugs[1:]})
            group = standings_run.time_group(slugs, accuracy, submissions, data_dir, competition, bench.BASELINE,
                                             group=0, run_id="instructions")
            timed = {e["slug"]: float(np.exp(np.mean(e["log_speedups"]))) for e in group["entries"]}
    print("\nentry               instruction ratio (baseline / entry)" + ("   timed speedup" if timed else ""))
    for slug in slugs:
        ratio = per_image["baseline"] / per_image[slug]
        print(f"  {slug:18s} {ratio:6.3f}x" + (f"                              {timed[slug]:.3f}x" if slug in timed else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
