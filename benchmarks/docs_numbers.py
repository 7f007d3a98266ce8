"""Regenerate the measured numbers docs/submitting.md shows, stamped with the machine and the date.

* the one-line result of ``tinymlperf grade`` for the float16 entry of "A complete small
  example" (the docs' own example blocks, graded as a student would);
* the ``time_budget`` message of a model spending about 50 ms per image in a Python loop
  (``benchmarks/student_loop.py``'s slow model).

Each replaces the ``text`` block after its ``<!-- measured: NAME -->`` marker; the stamp
after ``<!-- measured: NAME-stamp -->`` (up to ``<!-- /measured -->``) says where and when.
It needs the training batches (the example is a Closed entry with a recipe):

    TINYMLPERF_DATA=/work/data/full python benchmarks/docs_numbers.py
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.student_loop import META, SLOW  # noqa: E402
from grader.baseline import model as baseline_model  # noqa: E402
from grader.core import config
from grader.grading import grade  # noqa: E402
from grader.judge.result import GradeResult
from grader.measure import data, hardware

DOC = ROOT / "docs" / "submitting.md"
EXAMPLE = re.compile(r"<!-- example: ([^ ]+) -->\n```[^\n]*\n(.*?)^```", re.S | re.M)
BASELINE_DIR = Path(baseline_model.__file__).parent


def _grade(folder: Path, data_dir: Path) -> tuple[GradeResult, float]:
    request = grade.GradeRequest(folder=folder, data_dir=data_dir, config=config.load(), baseline_dir=BASELINE_DIR)
    started = time.monotonic()
    result = grade.grade(request)
    return result, time.monotonic() - started


def _stamp(what: str, seconds: float) -> str:
    h = hardware.describe()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"(Measured by `python benchmarks/docs_numbers.py` on {h['cpu_model']}, {h['cores']} cores, "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {load}: {what} took "
            f"{seconds:.0f} s. Yours will differ in the timing digits.)")


def replace(text: str, name: str, block: str, stamp: str) -> str:
    """``text`` with the block after ``<!-- measured: name -->`` and its stamp replaced."""
    block_re = re.compile(rf"(<!-- measured: {re.escape(name)} -->\n```text\n).*?(^```)", re.S | re.M)
    stamp_re = re.compile(rf"(<!-- measured: {re.escape(name)}-stamp -->\n).*?(<!-- /measured -->)", re.S)
    if not block_re.search(text) or not stamp_re.search(text):
        raise SystemExit(f"{DOC}: no '<!-- measured: {name} -->' block with its stamp")
    text = block_re.sub(lambda m: m.group(1) + block + "\n" + m.group(2), text, count=1)
    return stamp_re.sub(lambda m: m.group(1) + stamp + "\n" + m.group(2), text, count=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    data_dir = data.resolve(None, download=False)
    text = DOC.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="docs-numbers-") as tmp:
        folder = Path(tmp) / "my-entry"
        folder.mkdir()
        for name, body in EXAMPLE.findall(text):
            (folder / name).write_text(body, encoding="utf-8")
        result, took = _grade(folder, data_dir)
        line = grade.summary_line(result)
        print(f"grade-line ({took:.0f} s): {line}", flush=True)
        if result.status != "valid":
            raise SystemExit("the docs' example did not grade valid; the docs say it does")
        text = replace(text, "grade-line", line, _stamp("grading the float16 entry of A complete small example", took))

        slow = Path(tmp) / "slow-model"
        slow.mkdir()
        (slow / "submission.yaml").write_text(META)
        (slow / "model.py").write_text(SLOW.format(work=2_000_000))
        shutil.copyfile(BASELINE_DIR / "weights.npz", slow / "weights.npz")
        result, took = _grade(slow, data_dir)
        message = next(c.message for c in result.checks if c.id == "time_budget")
        print(f"time-budget ({took:.0f} s): {message}", flush=True)
        text = replace(text, "time-budget", message, _stamp("that grade", took))
    DOC.write_text(text, encoding="utf-8")
    print(f"{DOC.relative_to(ROOT)}: updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
