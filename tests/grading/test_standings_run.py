"""The standings loop with real sandboxed workers: what each round starts."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from grader.core import config
from grader.core.paths import BASELINE_DIR
from grader.grading import standings_run
from grader.sandbox import parent as sandbox

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.cifar, pytest.mark.slow]


def test_every_round_times_fresh_workers_so_the_rounds_sample_memory_layouts(
        tmp_path: Path, small_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[Path] = []

    class Counted(sandbox.ModelWorker):
        def __init__(self, folder: Path, *args: object, **kwargs: object) -> None:
            started.append(Path(folder))
            super().__init__(folder, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(standings_run.sandbox, "ModelWorker", Counted)
    subs = tmp_path / "submissions"
    shutil.copytree(ROOT / "submissions" / "open-slim-int8", subs / "open-slim-int8")
    base = config.load()
    competition = replace(base, standings=replace(base.standings, rounds=3, pairs_per_round=3))
    group = standings_run.time_group(["open-slim-int8"], {"open-slim-int8": 68.3}, subs, small_data, competition,
                                     BASELINE_DIR, group=0, run_id="t", isolation="process", seed=1)
    (entry,) = group["entries"]
    assert len(entry["log_speedups"]) == 3
    # the baseline, the null model and the entry (its rebuilt copy), each started once per round
    names = [p.name for p in started]
    assert [sorted(names[i:i + 3]) for i in range(0, len(names), 3)] == [["baseline", "entry", "null_model"]] * 3
