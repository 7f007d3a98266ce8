"""The one package folder an entry may ship (its TinyTorch subset): validate, size, rebuild and the sandbox."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest

from grader.contract.validate import PACKAGE_MAX_DEPTH, validate_folder
from grader.core import config
from grader.core.errors import SubmissionError
from grader.grading import grade
from grader.measure import size
from grader.sandbox.parent import ModelWorker
from tests.sandbox_helpers import images, small_limits, strong_python, world_readable_dir

REPO = Path(__file__).parents[2]
CONFIG = config.load()

PACKAGE_MODEL = """
import numpy as np
from mynet.core.layers import Dense

class Model:
    def __init__(self, layer):
        self.layer = layer

    def predict(self, images):
        return self.layer(images.reshape(len(images), -1)[:, :10].astype(np.float32))

def load(folder):
    return Model(Dense(2.0))
"""
LAYERS = """
import numpy as np

class Dense:
    def __init__(self, scale):
        self.scale = np.float32(scale)

    def __call__(self, x):
        return x * self.scale
"""


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(textwrap.dedent(text))
    return folder


def open_entry(tmp_path: Path, name: str = "entry", package: str = "mynet", **extra: str) -> Path:
    """A valid Open entry whose model.py uses its package ``mynet`` (mynet/core/layers.py)."""
    folder = tmp_path / name
    shutil.copytree(REPO / "submissions" / "open-slim-int8", folder,
                    ignore=shutil.ignore_patterns("score.json", "train.py", "__pycache__"))
    write(folder, {"model.py": PACKAGE_MODEL.replace("mynet", package), f"{package}/__init__.py": "",
                   f"{package}/core/__init__.py": "", f"{package}/core/layers.py": LAYERS, **extra})
    return folder


def codes(folder: Path, cfg: config.Competition = CONFIG) -> list[tuple[str, int | None, str]]:
    prefix = folder.as_posix() + "/"
    return [(p.file.removeprefix(prefix), p.line, p.code) for p in validate_folder(folder, cfg).problems]


# --- validate -----------------------------------------------------------------------------------------

def test_an_entry_with_one_package_folder_is_valid(tmp_path: Path) -> None:
    assert codes(open_entry(tmp_path)) == []


@pytest.mark.parametrize("name, why", [("numpy", "allowed module"), ("json", "allowed module"),
                                       ("pickle", "standard library"), ("os", "standard library"),
                                       ("model", "grader uses"), ("grader", "grader uses")])
def test_a_package_may_not_shadow_a_module(tmp_path: Path, name: str, why: str) -> None:
    folder = open_entry(tmp_path, package=name)
    problems = validate_folder(folder, CONFIG).problems
    assert [(p.file.rsplit("/", 1)[-1], p.code) for p in problems] == [(name, "package-name")]
    assert why in problems[0].message


def test_only_one_package_folder(tmp_path: Path) -> None:
    folder = open_entry(tmp_path)
    write(folder, {"other/__init__.py": ""})
    assert codes(folder) == [("other", None, "package-count")]


def test_package_structure_is_checked_with_file_and_line(tmp_path: Path) -> None:
    folder = open_entry(tmp_path)
    write(folder, {"mynet/core/deeper/__init__.py": "", "mynet/ops/helpers.py": "x = (\n",
                   "mynet/weights.npz": "not code", "mynet/notes.txt": "docs", "mynet/bad-name.py": ""})
    (folder / "mynet" / "link.py").symlink_to("../model.py")
    assert PACKAGE_MAX_DEPTH == 2
    assert codes(folder) == [
        ("mynet", None, "symlink"),
        ("mynet/bad-name.py", None, "package-file"),
        ("mynet/core/deeper", None, "package-depth"),
        ("mynet/notes.txt", None, "package-file"),
        ("mynet/ops", None, "package-init"),
        ("mynet/ops/helpers.py", 1, "python-syntax"),
        ("mynet/weights.npz", None, "package-file"),
    ]


def test_package_files_count_in_the_entry_limits(tmp_path: Path) -> None:
    folder = open_entry(tmp_path)
    write(folder, {f"mynet/m{i}.py": "" for i in range(CONFIG.submission.max_files)})
    assert codes(folder) == [("", None, "limit-files")] or [c for _, _, c in codes(folder)] == ["limit-files"]


def test_a_closed_package_cannot_carry_data(tmp_path: Path) -> None:
    folder = tmp_path / "closed"
    shutil.copytree(REPO / "submissions" / "closed-int8-prune", folder)
    (folder / "score.json").unlink()
    write(folder, {"mynet/__init__.py": ""})
    assert codes(folder) == []
    # weights in the package: a data file is refused whatever its name
    write(folder, {"mynet/table.npz": "x", "mynet/table.yaml": "x"})
    assert sorted(c for _, _, c in codes(folder)) == ["package-file", "package-file"]
    for name in ("table.npz", "table.yaml"):
        (folder / "mynet" / name).unlink()
    # weights in a literal of the package: the package's bytes count in closed_max_code_bytes
    room = CONFIG.submission.closed_max_code_bytes - sum(p.stat().st_size for p in folder.rglob("*.py"))
    write(folder, {"mynet/table.py": "T = " + repr(b"\x01" * room)})
    assert codes(folder) == [("", None, "limit-closed-code-bytes")] or \
        [c for _, _, c in codes(folder)] == ["limit-closed-code-bytes"]


# --- size and the graded copy ---------------------------------------------------------------------------

def test_package_code_counts_in_the_size(tmp_path: Path) -> None:
    folder = open_entry(tmp_path)
    with_package = size.measure(folder)
    shutil.rmtree(folder / "mynet")
    without = size.measure(folder)
    assert with_package.code_bytes > without.code_bytes
    assert with_package.weight_bytes == without.weight_bytes
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "x.py").write_text("y = 1\n" * 100)
    assert size.measure(folder).code_bytes == without.code_bytes


@pytest.mark.parametrize("keep", [grade._is_code, lambda name: True])
def test_the_graded_copy_holds_the_package_code_only(tmp_path: Path, keep) -> None:
    folder = open_entry(tmp_path)
    write(folder, {"mynet/__pycache__/layers.cpython-311.pyc": "cache"})
    grade._copy_flat(folder, tmp_path / "copy", keep)
    copied = sorted(p.relative_to(tmp_path / "copy").as_posix() for p in (tmp_path / "copy").rglob("*") if p.is_file())
    assert [p for p in copied if p.startswith("mynet")] == ["mynet/__init__.py", "mynet/core/__init__.py",
                                                            "mynet/core/layers.py"]


# --- the sandbox --------------------------------------------------------------------------------------------

def run(folder: Path, **kwargs: object) -> np.ndarray:
    batch = images(4)
    with ModelWorker(folder, small_limits(), **kwargs) as worker:
        return worker.predict(batch)


def levels() -> list:
    return [pytest.param({"isolation": "process"}, id="process"), pytest.param("strong", id="user+netns")]


def resolve(level: object) -> dict:
    return {"isolation": "auto", "python": strong_python()} if level == "strong" else dict(level)  # type: ignore


@pytest.mark.slow
@pytest.mark.parametrize("level", levels())
def test_an_entry_imports_its_own_package(tmp_path: Path, level: object) -> None:
    kwargs = resolve(level)
    with world_readable_dir() as shared:
        folder = open_entry(shared)
        expected = images(4).reshape(4, -1)[:, :10].astype(np.float32) * 2
        assert np.array_equal(run(folder, **kwargs), expected.argmax(axis=1))


@pytest.mark.slow
@pytest.mark.parametrize("level", levels())
def test_the_package_is_held_to_the_allowlist_and_the_walls(tmp_path: Path, level: object) -> None:
    kwargs = resolve(level)
    with world_readable_dir() as shared:
        folder = open_entry(shared)
        write(folder, {"mynet/core/layers.py": "import os\n" + LAYERS})
        with pytest.raises(SubmissionError, match=r"mynet/core/layers.py:1: ImportError: tinymlperf sandbox: "
                                                  r"import os denied"):
            run(folder, **kwargs)
        write(folder, {"mynet/core/layers.py": "import pathlib\npathlib.Path('/etc/passwd').read_text()\n"})
        with pytest.raises(SubmissionError, match=r"open '/etc/passwd' for reading"):
            run(folder, **kwargs)


@pytest.mark.slow
def test_only_the_entry_that_ships_the_package_can_import_it(tmp_path: Path) -> None:
    open_entry(tmp_path, "owner")
    other = open_entry(tmp_path, "other")
    shutil.rmtree(other / "mynet")
    with pytest.raises(SubmissionError, match="import mynet denied"):
        run(other, isolation="process")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pickle", "numpy", "json"])
def test_a_shadowing_package_is_never_served(tmp_path: Path, name: str) -> None:
    folder = open_entry(tmp_path, package="mynet")
    # numpy imports pickle lazily (np.save of objects, np.load): a folder package would stand in for it
    write(folder, {f"{name}/__init__.py": "raise SystemExit('shadow imported')\n"})
    with pytest.raises(SubmissionError, match=f"package folder '{name}' shadows a standard or allowed module"):
        run(folder, isolation="process")


@pytest.mark.slow
@pytest.mark.parametrize("reach, event", [
    ("pathlib.os.system('touch /tmp/tinymlperf-package-pwned')", "os.system"),
    ("pathlib.sys.modules['os'].listdir('/root')", "os.listdir '/root'"),
    ("pathlib.sys.modules['importlib'].import_module('subprocess').run(['true'])", "subprocess.Popen"),
    ("pathlib.sys.modules['ctypes'].string_at(id(1), 8)", "ctypes.string_at"),
])
def test_the_package_reaching_os_through_loaded_modules_meets_the_same_walls(tmp_path: Path, reach: str,
                                                                             event: str) -> None:
    # no import statement at all: os, importlib and ctypes taken from modules already loaded, as model.py could
    folder = open_entry(tmp_path)
    write(folder, {"mynet/core/layers.py": f"import pathlib\n{reach}\n" + LAYERS})
    with pytest.raises(SubmissionError, match=rf"mynet/core/layers.py:2: PermissionError: tinymlperf sandbox: "
                                              rf"{re.escape(event)} denied"):
        run(folder, isolation="process")
    assert not Path("/tmp/tinymlperf-package-pwned").exists()
