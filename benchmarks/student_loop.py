"""How long a student waits, graded for real: from a fresh clone to a first grade, a typical grade, two slow entries.

Four parts (issue #14's targets on this project's 2-core machine):

* **clone** (<= 180 s): the README and docs/submitting.md followed literally, each step a
  subprocess timed on its own: ``git clone`` of this repository (its committed HEAD), a fresh
  virtual environment and ``python -m pip install -e .`` in it (``--install none`` leaves the
  environment out and runs the clone's code with this interpreter), ``tinymlperf new``,
  ``tinymlperf validate`` and ``tinymlperf grade`` of the new entry (a Closed entry: the
  baseline through ``build.py``, as ``new`` makes it). CIFAR-10 is taken as already there
  (``TINYMLPERF_DATA``): the offline converter is a one-off, not part of the loop.
* **typical** (<= 60 s each): a full grade of each committed example entry
  (``submissions/closed-int8-prune``, ``submissions/open-slim-int8``).
* **slow** (<= 90 s): a ``predict`` spending a fixed amount of pure-Python work per image
  (``--work`` loop iterations; 2,000,000 is about 50 ms on this project's machine);
* **import-loop** (<= 90 s): a ``model.py`` that never finishes importing.

Every grade uses the packaged ``competition.yaml`` (or ``--config``), the real CIFAR-10 and the
sandbox level this machine allows. For each part the script prints the wall time against its
target, the one-line summary, a failing check's message and the ``measured`` numbers kept;
then one table of every part. Exit 1 when a part is over its target or did not end as expected.

    TINYMLPERF_DATA=/work/data/full nice -n 19 python benchmarks/student_loop.py [--parts clone,typical,slow,import-loop]
        [--install venv|none] [--work 2000000] [--isolation auto|process] [--config FILE]

It needs the training batches (the Closed entries' recipes get calibration images from data_batch_1).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.baseline import model as baseline_model
from grader.core import config
from grader.grading import grade
from grader.judge.result import GradeResult
from grader.measure import data, hardware
from tests.grading_helpers import SLOW_MODEL

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
TYPICAL = ("closed-int8-prune", "open-slim-int8")
TARGETS = {"clone": 180.0, "typical": 60.0, "slow": 90.0, "import-loop": 90.0}
PARTS = tuple(TARGETS)


@dataclass(frozen=True)
class Outcome:
    """One timed thing: what, how long, its target, and whether it ended as it should."""

    part: str
    what: str
    seconds: float
    target: float
    ok: bool  # ended as expected (a graded line; the slow entries failed with numbers)

    @property
    def within(self) -> bool:
        return self.ok and self.seconds <= self.target


def _entry(root: Path, slug: str, source: str) -> Path:
    folder = root / slug
    folder.mkdir()
    (folder / "submission.yaml").write_text(META)
    (folder / "model.py").write_text(textwrap.dedent(source))
    shutil.copyfile(BASELINE_DIR / "weights.npz", folder / "weights.npz")
    return folder


def _show(result: GradeResult) -> None:
    print(grade.summary_line(result))
    for check in result.failed_checks:
        print(f"  {check.id}: {check.message}")
    print(f"  measured: {json.dumps(result.measured.to_json() if result.measured else None, sort_keys=True)}")


def _grade(folder: Path, data_dir: Path, competition: config.Competition, isolation: str) -> tuple[GradeResult, float]:
    request = grade.GradeRequest(folder=folder, data_dir=data_dir, config=competition, baseline_dir=BASELINE_DIR,
                                 isolation="process" if isolation == "process" else "auto")
    started = time.monotonic()
    result = grade.grade(request)
    return result, time.monotonic() - started


def _step(what: str, argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Run one step of the student's loop; its wall seconds (exit 1 of validate/grade is the entry's, not ours)."""
    started = time.monotonic()
    done = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    took = time.monotonic() - started
    tail = (done.stdout.strip().splitlines() or [""])[-1]
    print(f"  {took:6.1f} s  {what}: exit {done.returncode}  {tail[:200]}", flush=True)
    if done.returncode not in (0, 1) or (done.returncode and what not in ("validate", "grade")):
        raise SystemExit(f"{what} failed (exit {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return took


def clone_to_first_grade(tmp: Path, data_dir: Path, install: str, isolation: str, config_file: Path | None
                         ) -> list[Outcome]:
    """From ``git clone`` to the first grade of the student's own entry, as the docs say, each step timed."""
    clone, env = tmp / "clone", {**os.environ, "TINYMLPERF_DATA": str(data_dir)}
    env.pop("PYTHONPATH", None)
    started = time.monotonic()
    _step("git clone", ["git", "clone", "--quiet", str(ROOT), str(clone)], tmp, env)
    if install == "venv":
        venv = tmp / "venv"
        _step("python -m venv", [sys.executable, "-m", "venv", str(venv)], tmp, env)
        _step("pip install -e .", [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "-e", "."],
              clone, env)
        cli = [str(venv / "bin" / "tinymlperf")]
    else:
        env["PYTHONPATH"] = str(clone)
        cli = [sys.executable, "-m", "grader"]
    extra = ["--config", str(config_file)] if config_file else []
    _step("new", [*cli, "new", "my-entry", "--division", "closed", "--athlete", "Benchmark Student", *extra],
          clone, env)
    _step("validate", [*cli, "validate", "submissions/my-entry", *extra], clone, env)
    grade_s = _step("grade", [*cli, "grade", "submissions/my-entry", "--report", "report.md",
                              "--isolation", isolation, *extra], clone, env)
    total = time.monotonic() - started
    result = json.loads((clone / "result.json").read_text())
    graded = result["status"] == "valid"
    return [Outcome("clone", "fresh clone -> first graded own entry", total, TARGETS["clone"], graded),
            Outcome("typical", "grade of the new entry (CLI, in the clone)", grade_s, TARGETS["typical"], graded)]


def typical_grades(data_dir: Path, competition: config.Competition, isolation: str) -> list[Outcome]:
    out = []
    for slug in TYPICAL:
        result, took = _grade(ROOT / "submissions" / slug, data_dir, competition, isolation)
        print(f"\n## typical: {slug}: {took:.1f} s, isolation {result.isolation.level}")
        _show(result)
        out.append(Outcome("typical", f"grade of submissions/{slug}", took, TARGETS["typical"],
                           result.status == "valid"))
    return out


def slow_entries(tmp: Path, data_dir: Path, competition: config.Competition, isolation: str, work: int,
                 parts: set[str]) -> list[Outcome]:
    out = []
    for part, source in (("slow", SLOW.format(work=work)), ("import-loop", IMPORT_LOOP)):
        if part not in parts:
            continue
        result, took = _grade(_entry(tmp, part, source), data_dir, competition, isolation)
        print(f"\n## {part}: {took:.1f} s, isolation {result.isolation.level}")
        _show(result)
        stopped = result.status == "failed" and result.check("time_budget") is not None
        with_numbers = result.measured is not None and (part != "slow" or result.measured.entry_ms_per_image)
        out.append(Outcome(part, f"{part} entry stopped by a time budget, with numbers", took, TARGETS[part],
                           bool(stopped and with_numbers)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    parser.add_argument("--install", choices=["venv", "none"], default="venv",
                        help="clone part: a fresh venv with pip install -e . (venv), or this interpreter (none)")
    parser.add_argument("--work", type=int, default=2_000_000, help="loop iterations per image of the slow model")
    parser.add_argument("--isolation", choices=["auto", "process"], default="auto")
    parser.add_argument("--config", type=Path, help="competition config (default: the packaged competition.yaml)")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if not parts <= set(PARTS):
        parser.error(f"--parts: unknown {', '.join(sorted(parts - set(PARTS)))}")
    competition = config.load(args.config)
    data_dir = data.resolve(None, download=False)
    h = hardware.describe()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {h['cpu_model']}, {h['cores']} cores · "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} · git {head.stdout.strip()}")
    print(f"# budgets: {competition.budgets}")
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="student-loop-") as name:
        tmp = Path(name)
        if "clone" in parts:
            print(f"\n## clone: git clone -> {'fresh venv + pip install -e .' if args.install == 'venv' else 'no install'}"
                  " -> new -> validate -> grade", flush=True)
            outcomes += clone_to_first_grade(tmp, data_dir, args.install, args.isolation, args.config)
        if "typical" in parts:
            outcomes += typical_grades(data_dir, competition, args.isolation)
        outcomes += slow_entries(tmp, data_dir, competition, args.isolation, args.work, parts)
    print("\n| part | what | seconds | target | verdict |\n|---|---|---:|---:|---|")
    for o in outcomes:
        verdict = "within" if o.within else ("OVER" if o.ok else "did not end as expected")
        print(f"| {o.part} | {o.what} | {o.seconds:.1f} | {o.target:g} | {verdict} |")
    print(f"# load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if all(o.within for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
