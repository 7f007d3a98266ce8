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
