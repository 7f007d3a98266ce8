"""The standings loop with real sandboxed workers: what each round starts."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from grader.board.standings_stats import RoundSamples
from grader.core import config, schema
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


class StubWorker:
    """A worker that got isolation ``level``; it never answers (the round's timing is stubbed below)."""

    level = "process"

    def __init__(self, folder: Path, *args: object, **kwargs: object) -> None:
        self.isolation = SimpleNamespace(level=self.level)

    def __enter__(self) -> StubWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def close(self) -> None:
        return None

    def cpu_seconds(self) -> float:
        return 0.0


def images_offered(level: str, tmp_path: Path, small_data: Path, monkeypatch: pytest.MonkeyPatch,
                   rounds: int = 3) -> tuple[dict[str, Any], dict[str, list[np.ndarray]]]:
    """Time two entries in ``rounds`` rounds with workers at ``level`` -> the group result and, per entry and
    round, which test images (their indices) the round offered it."""
    offered: dict[int, list[np.ndarray]] = {}

    def numbered(images: np.ndarray, rng: object) -> np.ndarray:  # each image carries its index in its pixels
        out = np.zeros_like(images)
        out[:, 0, 0, 0], out[:, 0, 0, 1] = np.arange(len(images)) % 256, np.arange(len(images)) // 256
        return out

    def time_round(base: object, entry: StubWorker, null: object, images: np.ndarray, *args: object) -> Any:
        offered.setdefault(id(entry), []).append(images[:, 0, 0, 0].astype(int) + 256 * images[:, 0, 0, 1].astype(int))
        n = len(images) // 2  # the engine times some of what it is offered
        samples = RoundSamples((0.002, 0.0021), (0.001, 0.0011))
        return standings_run.RoundTiming(0.1, samples, np.arange(n), np.zeros(n, np.int64), 0.01, 0.01, 0.0)

    def prepare(slugs: list[str], *args: object, setup: dict[str, float], **kwargs: object) -> dict[str, Path]:
        setup.update(dict.fromkeys(slugs, 0.0))
        return {slug: tmp_path / slug for slug in slugs}

    workers: dict[str, list[int]] = {}

    class Worker(StubWorker):
        def __init__(self, folder: Path, *args: object, **kwargs: object) -> None:
            super().__init__(folder)
            workers.setdefault(Path(folder).name, []).append(id(self))

    Worker.level = level
    monkeypatch.setattr(standings_run.sandbox, "ModelWorker", Worker)
    monkeypatch.setattr(standings_run, "dither", numbered)
    monkeypatch.setattr(standings_run, "time_round", time_round)
    monkeypatch.setattr(standings_run, "_prepare_entries", prepare)
    base = config.load()
    competition = replace(base, standings=replace(base.standings, rounds=rounds))
    group = standings_run.time_group(["a", "b"], {"a": 0.0, "b": 0.0}, tmp_path, small_data, competition,
                                     BASELINE_DIR, group=0, run_id="t", seed=1)
    assert schema.validate(group, "standings_group") == []
    return group, {slug: [offered[w][0] for w in ids] for slug, ids in workers.items() if slug in "ab"}


def test_at_user_netns_every_round_offers_each_entry_the_whole_test_set_afresh(
        tmp_path: Path, small_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    group, offered = images_offered("user+netns", tmp_path, small_data, monkeypatch)
    n = 1000  # small_data's test set
    for rounds in offered.values():
        assert len(rounds) == 3
        for images in rounds:  # the whole set, never an image twice within the round
            assert sorted(images.tolist()) == list(range(n))
        assert len({tuple(images.tolist()) for images in rounds}) == 3  # a fresh permutation each round
    assert not np.array_equal(offered["a"][0], offered["b"][0])
    assert [e["timed_images"] for e in group["entries"]] == [3 * n // 2] * 2  # repeats count for the accuracy
    assert (group["isolation"], group["images_per_round"]) == ("user+netns", "whole_test_set")


def test_at_process_level_each_entry_gets_disjoint_shares_of_the_test_set(
        tmp_path: Path, small_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    group, offered = images_offered("process", tmp_path, small_data, monkeypatch)
    assert (group["isolation"], group["images_per_round"]) == ("process", "disjoint_shares")
    for rounds in offered.values():
        assert [len(images) for images in rounds] == [1000 // 3] * 3
        seen = np.concatenate(rounds).tolist()
        assert len(set(seen)) == len(seen)  # no image twice for the entry, across all its rounds
