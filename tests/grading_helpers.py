"""Shared pieces of the end-to-end grading tests: the real rules on a small timing budget, entry folders."""

from __future__ import annotations

import dataclasses
import shutil
import textwrap
from pathlib import Path

import yaml

import grader
from grader.baseline import model as baseline_model
from grader.core import config
from grader.grading import grade

BASELINE_DIR = Path(baseline_model.__file__).parent
META = """\
division: {division}
athlete_name: Test Athlete
github_repo: https://github.com/test-athlete/tinytorch
techniques_used:
  - {technique}
honor_code: I certify that this submission follows the rules
"""


def fast_config() -> config.Competition:
    """The real rules with a timing budget small enough for a test."""
    base = config.load()
    return dataclasses.replace(base, calibration_images=50, timing=dataclasses.replace(
        base.timing, min_sample_seconds=0.005, calibration_samples=1, min_pairs=4, max_pairs=8,
        budget_seconds=5))


def fast_config_file(target: Path) -> Path:
    """The packaged rules with ``fast_config``'s timing budget, as a file for ``--config``."""
    raw = yaml.safe_load((Path(grader.__file__).parent / "competition.yaml").read_text(encoding="utf-8"))
    raw["calibration_images"] = 50
    raw["timing"].update(min_sample_seconds=0.005, calibration_samples=1, min_pairs=4, max_pairs=8, budget_seconds=5)
    target.write_text(yaml.safe_dump(raw, sort_keys=True), encoding="utf-8")
    return target


def request(folder: Path, small_data: Path, **changes: object) -> grade.GradeRequest:
    fields = {"isolation": "process", "seed": 1, "config": fast_config(), **changes}
    return grade.GradeRequest(folder=folder, data_dir=small_data, baseline_dir=BASELINE_DIR, **fields)


def entry(tmp_path: Path, division: str, model_source: str | None = None, technique: str = "a technique") -> Path:
    """A submission folder: the baseline's model.py (or ``model_source``) and weights, valid metadata."""
    folder = tmp_path / "entry"
    folder.mkdir()
    (folder / "submission.yaml").write_text(META.format(division=division, technique=technique))
    if model_source is None:
        shutil.copyfile(BASELINE_DIR / "model.py", folder / "model.py")
    else:
        (folder / "model.py").write_text(textwrap.dedent(model_source))
    shutil.copyfile(BASELINE_DIR / "weights.npz", folder / "weights.npz")
    return folder


def checks_of(result: dict) -> dict[str, dict]:
    return {c["id"]: c for c in result["checks"]}


# A model that spends a fixed amount of pure-Python work per image (no sleep: the sandbox allows no time module).
SLOW_MODEL = """
    import numpy as np

    def load(folder):
        return Slow()

    class Slow:
        def predict(self, images):
            out = []
            for image in images:
                total = 0
                for i in range({work}):
                    total += i
                out.append(int(image[0, 0, 0]) % 10)
            return np.array(out, dtype=np.int64)
"""
