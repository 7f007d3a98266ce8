"""Does the grader measure what it claims? Four checks of the engine on this machine.

1. A/A: the baseline graded as an entry. Its speedup interval should contain 1.00
   and the speedup should be within 2% of 1.
2. Known ratio: an entry whose predict runs the baseline's forward pass twice
   per query. Its speedup should read 0.50 +- 0.02.
3. Repeatability: five full gradings of the Closed example; max/min speedup.
4. Wall time of a full grade of the Closed example (target: 120 s on 2 cores).

Every figure printed is measured here and now; nothing is assumed.

    python benchmarks/engine_validation.py --data DIR [--repeats 5]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from grader import config, data, grade
from grader.baseline import model as baseline_model

ROOT = Path(__file__).resolve().parent.parent
BASELINE = Path(baseline_model.__file__).parent
CLOSED = ROOT / "submissions" / "closed-int8-prune"
META = """\
division: open
athlete_name: Benchmark
github_repo: https://github.com/example/benchmark
techniques_used:
  - "{technique}"
honor_code: I certify that this submission follows the rules
"""
TWICE = '''

_forward_once = Model.predict


def _forward_twice(self, images):
    _forward_once(self, images)
    return _forward_once(self, images)


Model.predict = _forward_twice
'''


def entry(root: Path, name: str, technique: str, extra_source: str = "") -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "submission.yaml").write_text(META.format(technique=technique))
    (folder / "model.py").write_text((BASELINE / "model.py").read_text() + extra_source)
    shutil.copyfile(BASELINE / "weights.npz", folder / "weights.npz")
    return folder


def run(folder: Path, data_dir: Path) -> tuple[dict, float]:
    request = grade.GradeRequest(folder=folder, data_dir=data_dir, config=config.load(), baseline_dir=BASELINE)
    began = time.perf_counter()
    result = grade.grade(request)
    return result, time.perf_counter() - began


def describe(label: str, result: dict, seconds: float) -> str:
    s, t = result["normalized_scores"], result["timing"]
    if s is None:
        return f"{label}: {result['status']} {result['error'] or result['checks']}"
    return (f"{label}: speedup {s['speedup']:.4f}x, 95% CI {s['speedup_ci_low']:.4f}-{s['speedup_ci_high']:.4f} "
            f"(±{t['ci_half_width']:.2%}), {t['pairs']} pairs, stop: {t['stop_reason']}, "
            f"CV {t['cv_baseline']:.1%}/{t['cv_entry']:.1%}, status {result['status']}, wall {seconds:.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    data_dir = data.resolve(args.data)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        result, seconds = run(entry(root, "aa", "the baseline itself (A/A)"), data_dir)
        print(describe("A/A", result, seconds))
        s = result["normalized_scores"]
        print(f"    CI contains 1.00: {s['speedup_ci_low'] <= 1.0 <= s['speedup_ci_high']}; "
              f"|speedup - 1| = {abs(s['speedup'] - 1):.4f} (target <= 0.02)")
        result, seconds = run(entry(root, "twice", "the forward pass twice per query", TWICE), data_dir)
        print(describe("2x work", result, seconds))
        print(f"    |speedup - 0.50| = {abs(result['normalized_scores']['speedup'] - 0.5):.4f} (target <= 0.02)")
    speedups, walls = [], []
    for i in range(args.repeats):
        result, seconds = run(CLOSED, data_dir)
        print(describe(f"closed example #{i + 1}", result, seconds))
        speedups.append(result["normalized_scores"]["speedup"])
        walls.append(seconds)
    print(f"closed example over {args.repeats} gradings: speedup min {min(speedups):.4f}x, "
          f"max {max(speedups):.4f}x, max/min {max(speedups) / min(speedups):.4f} (target <= 1.04); "
          f"wall time min {min(walls):.1f} s, max {max(walls):.1f} s (target <= 120 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
