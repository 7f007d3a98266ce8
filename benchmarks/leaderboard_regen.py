"""Regenerate leaderboard.md from 1,000 synthetic score records, twice; print wall times and byte identity.

Run: PYTHONPATH=. python benchmarks/leaderboard_regen.py [--records 1000]
Each regeneration is what `tinymlperf leaderboard` does: read and schema-check every
submissions/*/score.json, rank, render, write atomically.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import scorefactory as sf  # noqa: E402

from grader.board import leaderboard, record  # noqa: E402
from grader.core import files  # noqa: E402


def regenerate(submissions: Path, out: Path) -> float:
    start = time.perf_counter()
    records = record.load_all(submissions)
    board = leaderboard.build(records, leaderboard.CurrentGrader(sf.VERSION, sf.BASELINE_SHA), "best", 10)
    files.write_atomic(out, leaderboard.render(board))
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1000)
    n = parser.parse_args().records
    rng = random.Random(6)
    with tempfile.TemporaryDirectory() as tmp:
        submissions = Path(tmp) / "submissions"
        for i in range(n):
            status = rng.choice(["valid"] * 8 + ["failed", "error"])
            checks = [{"id": "accuracy_drop", "status": "fail", "message": "lost 11 pp"}] if status == "failed" else None
            sf.write(submissions, sf.score(
                f"entry-{i:04d}", login=f"athlete-{rng.randrange(n // 2)}", pr=i + 1, status=status, checks=checks,
                error="worker timed out" if status == "error" else None,
                division=rng.choice(["closed", "open"]), efficiency=round(rng.uniform(0.5, 50), 3),
                name=f"Athlete {i} | <b>x</b> @mention", graded_at=f"2025-03-{rng.randrange(1, 29):02d}T10:00:00Z",
                grader_version=rng.choice([sf.VERSION] * 9 + ["0.0.9"])))
        out = Path(tmp) / "leaderboard.md"
        first = regenerate(submissions, out)
        first_bytes = out.read_bytes()
        second = regenerate(submissions, out)
        same = out.read_bytes() == first_bytes
        print(f"records: {n}")
        print(f"regeneration 1: {first:.3f} s")
        print(f"regeneration 2: {second:.3f} s")
        print(f"leaderboard.md: {len(first_bytes)} bytes; identical bytes: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
