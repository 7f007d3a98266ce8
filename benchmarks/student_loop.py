"""How long a student waits for a verdict on two hostile-by-accident entries, graded for real.

* **slow**: a ``predict`` spending a fixed amount of pure-Python work per image
  (``--work`` loop iterations; 2,000,000 is about 50 ms on this project's machine);
* **import loop**: a ``model.py`` that never finishes importing.

Each is graded with the packaged ``competition.yaml`` (its ``budgets:``), the real
CIFAR-10 test set and the sandbox level this machine allows; the script prints the
wall time each grade took, its one-line summary, the failing check's message and
the ``measured`` numbers kept in the result. Issue #14 asks both to end within 90 s.

    TINYMLPERF_DATA=/work/data/ci python benchmarks/student_loop.py [--work 2000000] [--isolation auto]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.baseline import model as baseline_model  # noqa: E402
from grader.core import config
from grader.grading import grade  # noqa: E402
from grader.measure import data, hardware
from tests.grading_helpers import SLOW_MODEL  # noqa: E402

BASELINE_DIR = Path(baseline_model.__file__).parent
META = """\
division: open
athlete_name: Benchmark Student
github_repo: https://github.com/benchmark-student/tinytorch
techniques_used:
  - a per-image Python loop (deliberately slow)
honor_code: I certify that this submission follows the rules
"""
SLOW = textwrap.dedent(SLOW_MODEL)  # the tests' slow model (tests/measure/test_budget.py)
IMPORT_LOOP = """
while True:
    pass


def load(folder):
    return None
"""


def _entry(root: Path, slug: str, source: str) -> Path:
    folder = root / slug
    folder.mkdir()
    (folder / "submission.yaml").write_text(META)
    (folder / "model.py").write_text(textwrap.dedent(source))
    shutil.copyfile(BASELINE_DIR / "weights.npz", folder / "weights.npz")
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=int, default=2_000_000, help="loop iterations per image of the slow model")
    parser.add_argument("--isolation", choices=["auto", "process"], default="auto")
    parser.add_argument("--limit", type=float, default=90.0, help="seconds each grade must end within")
    args = parser.parse_args()
    competition = config.load()
    data_dir = data.resolve(None, download=False)
    h = hardware.describe()
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {h['cpu_model']}, {h['cores']} cores · "
          f"load average {' '.join(f'{x:.2f}' for x in __import__('os').getloadavg())}")
    print(f"# budgets: {competition.budgets}")
    failures = 0
    with tempfile.TemporaryDirectory(prefix="student-loop-") as tmp:
        for slug, source in (("slow-model", SLOW.format(work=args.work)), ("import-loop", IMPORT_LOOP)):
            folder = _entry(Path(tmp), slug, source)
            request = grade.GradeRequest(folder=folder, data_dir=data_dir, config=competition,
                                         baseline_dir=BASELINE_DIR, isolation=args.isolation)
            started = time.monotonic()
            result = grade.grade(request)
            took = time.monotonic() - started
            failed = result.failed_checks
            within = took <= args.limit
            failures += not within
            print(f"\n## {slug}: {took:.1f} s ({'within' if within else 'OVER'} {args.limit:g} s), "
                  f"isolation {result.isolation.level}")
            print(grade.summary_line(result))
            for check in failed:
                print(f"  {check.id}: {check.message}")
            print(f"  measured: {json.dumps(result.measured.to_json() if result.measured else None, sort_keys=True)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
