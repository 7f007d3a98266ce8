"""Helpers for the sandbox tests: small limits and submission folders written from source text."""

from __future__ import annotations

import dataclasses
import shutil
import textwrap
from pathlib import Path

import numpy as np

from grader import config
from grader.baseline import model as baseline

BASELINE_SOURCE = Path(baseline.__file__)


def small_limits(**changes: object) -> config.Sandbox:
    """The competition's sandbox limits, shrunk so hostile cases end within seconds."""
    limits = dataclasses.replace(config.load().sandbox, memory_mb=1024, cpu_seconds=20, wall_seconds=20,
                                 file_bytes=8 * 1024 * 1024, output_bytes=4096)
    return dataclasses.replace(limits, **changes)


def random_weights(folder: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    np.savez(folder / baseline.WEIGHTS_FILE,
             **{name: (rng.standard_normal(shape) * 0.05).astype(np.float32)
                for name, shape in baseline.PARAM_SHAPES.items()})


def baseline_folder(root: Path) -> Path:
    """A folder with the real baseline model.py and random float32 weights."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(BASELINE_SOURCE, root / "model.py")
    random_weights(root)
    return root


def write_model(root: Path, source: str, files: dict[str, str] | None = None) -> Path:
    """A submission folder whose model.py is ``source`` (dedented)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "model.py").write_text(textwrap.dedent(source))
    for name, text in (files or {}).items():
        (root / name).write_text(textwrap.dedent(text))
    return root


def write_recipe(root: Path, source: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "build.py").write_text(textwrap.dedent(source))
    return root


ZEROS_MODEL = """
    import numpy as np

    class Model:
        def predict(self, images):
            return np.zeros((len(images), 10), dtype=np.float32)

    def load(folder):
        return Model()
"""


def images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
