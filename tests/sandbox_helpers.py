"""Helpers for the sandbox tests: small limits and submission folders written from source text."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from grader.baseline import model as baseline
from grader.core import config
from grader.sandbox.isolation import probe

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


def strong_python() -> str:
    """An interpreter whose workers reach the user+netns level here (root/sudo, readable by every uid).

    Skipped on a machine without it (e.g. an interpreter under /root, mode 700); under CI=true
    (``.ci/run`` builds a world-readable venv) a missing level is a failure, never a skip.
    """
    for python in dict.fromkeys((sys.executable, shutil.which("python3.11"), "/usr/bin/python3")):
        if python and os.path.exists(python) and probe(python)[0] == "user+netns":
            return python
    why = "; ".join(probe(sys.executable)[1])
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but the user+netns sandbox level is not available: {why}")
    pytest.skip(f"user+netns not available here: {why}")


def as_root(argv: list[str]) -> str:
    """stdout of ``argv`` run as root: directly when the suite is root, else through passwordless sudo.

    For a test that looks at what a worker's uid owns (its namespaces, its 0700 folders): the
    grader itself is root or sudo-capable whenever a worker has a uid of its own.
    """
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n", "--"]
    return subprocess.run(prefix + argv, capture_output=True, text=True, check=True, timeout=30).stdout


@contextlib.contextmanager
def world_readable_dir() -> Iterator[Path]:
    """A temp folder every uid may enter and read (pytest's tmp_path is mode 700: no test of a wall)."""
    path = Path(tempfile.mkdtemp(prefix="tinymlperf-test-"))
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# An attacker's model.py prelude that imports nothing but numpy: sys through a class every
# interpreter has (warnings.catch_warnings keeps a reference to the warnings module), then
# posix, signal, threading and ctypes through sys.modules / importlib internals.
ATTACK_PRELUDE = """
import numpy as np
sys = [c for c in ().__class__.__base__.__subclasses__() if c.__name__ == "catch_warnings"][0]()._module.sys
posix = sys.modules["posix"]
_gcd_import = sys.modules["importlib._bootstrap"]._gcd_import
signal = _gcd_import("signal")
threading = sys.modules["threading"]
ctypes = sys.modules.get("ctypes") or _gcd_import("ctypes")

def report(*parts):
    sys.stdout.write("ATTACK " + " ".join(str(p) for p in parts) + "\\n")
    sys.stdout.flush()

def attempt(what, call):
    try:
        report(what, "SUCCEEDED", repr(call())[:200])
    except OSError as e:
        report(what, "refused", e.errno)

class Zeros:
    def predict(self, images):
        return np.zeros((len(images), 10), dtype=np.float32)
"""


def attack_lines(output: str) -> list[str]:
    return [line[len("ATTACK "):] for line in output.splitlines() if line.startswith("ATTACK ")]
