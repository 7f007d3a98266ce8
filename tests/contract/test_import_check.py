"""validate's static import check: what the sandbox would refuse, said in a second, with its line."""

from __future__ import annotations

import shutil
from pathlib import Path

from grader.contract.validate import validate_folder
from grader.core import config
from tests.grading_helpers import BASELINE_DIR, META

CONFIG = config.load()


def _entry(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "my-entry"
    folder.mkdir()
    (folder / "submission.yaml").write_text(META.format(division="open", technique="int8 weights"))
    shutil.copyfile(BASELINE_DIR / "weights.npz", folder / "weights.npz")
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def _denied(folder: Path) -> list[str]:
    return [str(p) for p in validate_folder(folder, CONFIG).problems if p.code == "import-denied"]


def test_imports_the_sandbox_refuses_are_problems_naming_file_line_and_the_allowed_list(tmp_path: Path) -> None:
    model = (BASELINE_DIR / "model.py").read_text() + "\nimport os\nfrom time import perf_counter\n" \
        "def later():\n    import torch.nn\n"
    folder = _entry(tmp_path, {"model.py": model})
    lines = model.count("\n")
    denied = _denied(folder)
    assert [d.split(": import ")[1].split(":")[0] for d in denied] == ["os", "time", "torch"]
    assert denied[0].startswith(f"{folder}/model.py:{lines - 3}:1: import os: the sandbox refuses this module; "
                                "allowed: numpy, math,")
    assert "(competition.yaml sandbox.allowed_imports)" in denied[0]
    assert not validate_folder(folder, CONFIG).ok


def test_the_entrys_own_modules_are_allowed_and_checked_in_turn(tmp_path: Path) -> None:
    model = (BASELINE_DIR / "model.py").read_text() + "\nimport helpers\n"
    folder = _entry(tmp_path, {"model.py": model, "helpers.py": "import numpy\nimport scipy.special\n"})
    denied = _denied(folder)
    assert len(denied) == 1 and denied[0].startswith(f"{folder}/helpers.py:2:1: import scipy:")


def test_a_file_the_grader_never_runs_may_import_anything(tmp_path: Path) -> None:
    folder = _entry(tmp_path, {"model.py": (BASELINE_DIR / "model.py").read_text(),
                               "train.py": "import argparse\nimport torch\n"})
    assert _denied(folder) == []
    assert validate_folder(folder, CONFIG).ok


def test_the_committed_examples_pass_the_import_check() -> None:
    root = Path(__file__).parents[2] / "submissions"
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        assert _denied(folder) == [], folder


def _package_entry(tmp_path: Path, package: dict[str, str], model_import: str) -> Path:
    """An entry whose model.py starts with ``model_import`` and which ships the package folder ``package``."""
    folder = _entry(tmp_path, {"model.py": model_import + "\n" + (BASELINE_DIR / "model.py").read_text()})
    for name, text in package.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


TINY = {"tinytorch/__init__.py": "", "tinytorch/core/__init__.py": "",
        "tinytorch/core/tensor.py": "import numpy as np\n", "tinytorch/core/layers.py": "from .tensor import np\n"}


def test_the_package_modules_the_model_imports_are_checked_with_their_line(tmp_path: Path) -> None:
    # what `from tinytorch.core.layers import X` runs: the package's __init__ files, layers and what it imports
    package = {**TINY, "tinytorch/__init__.py": "import numpy\nimport pickle\n",
               "tinytorch/core/layers.py": "from .tensor import np\nfrom . import data\n",
               "tinytorch/core/tensor.py": "import numpy as np\n\nimport os\n",
               "tinytorch/core/data.py": "from ..utils import cache\n",
               "tinytorch/utils.py": "import time\ncache = {}\n"}
    folder = _package_entry(tmp_path, package, "from tinytorch.core.layers import np")
    assert [d.split(": the sandbox")[0] for d in _denied(folder)] == [
        f"{folder}/tinytorch/__init__.py:2:1: import pickle",
        f"{folder}/tinytorch/core/tensor.py:3:1: import os",
        f"{folder}/tinytorch/utils.py:1:1: import time",
    ]


def test_a_package_module_nothing_imports_is_not_checked(tmp_path: Path) -> None:
    # the student's whole TinyTorch may ship; what the model never imports never runs (as train.py)
    package = {**TINY, "tinytorch/core/dataloader.py": "import os\nimport pickle\n"}
    folder = _package_entry(tmp_path, package, "from tinytorch.core import layers")
    assert _denied(folder) == []
    (tmp_path / "b").mkdir()
    folder = _package_entry(tmp_path / "b", package, "import tinytorch.core.dataloader")
    assert [d.split(": the sandbox")[0].rsplit("/", 1)[1] for d in _denied(folder)] == \
        ["dataloader.py:1:1: import os", "dataloader.py:2:1: import pickle"]
