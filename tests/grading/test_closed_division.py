"""The Closed Division by construction: a Closed entry's weights come from its recipe applied to the baseline.

Each attack is written the way a student who wants retrained weights in a Closed
entry would write it: ship them as a file and copy them in the recipe (refused by
validate), or hide them in a documentation file and reach it from the recipe or
the model through ``os`` found without an import statement (the file is not in
the copy of the entry either of them gets). Data hidden in code literals is
bounded by ``closed_max_code_bytes`` (SECURITY.md, "Closed Division").
"""

from __future__ import annotations

import dataclasses
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest

from grader.baseline import model as baseline_model
from grader.cli import main as cli
from grader.contract.validate import validate_folder
from grader.core import config
from grader.grading import grade
from tests.grading_helpers import BASELINE_DIR, META, checks_of, request

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "submissions" / "closed-int8-prune"
CONFIG = config.load()

# Reaches os and open without an import statement: the import allowlist is a speed bump, not the wall.
REACH_OS = """
import numpy as np
from pathlib import Path

BUILTINS = __builtins__ if isinstance(__builtins__, dict) else vars(__builtins__)
OS = next(c for c in (0).__class__.__base__.__subclasses__() if c.__name__ == "_wrap_close").__init__.__globals__


def smuggled(folder):
    \"\"\"fc2.bias from any text file of ``folder`` that carries it, else None.\"\"\"
    for name in sorted(OS["listdir"](str(folder))):
        if name.endswith((".py", ".npz")):
            continue
        with BUILTINS["open"](OS["path"].join(str(folder), name), "r") as fh:
            for line in fh:
                if line.startswith("fc2.bias="):
                    return np.frombuffer(bytes.fromhex(line.split("=", 1)[1].strip()), np.float32).copy()
    return None
"""

PASS_THROUGH_RECIPE = REACH_OS + """

def build(baseline_dir, calibration_images, out_dir):
    with np.load(Path(baseline_dir) / "weights.npz", allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    ATTACK_IN_RECIPE
    np.savez(Path(out_dir) / "weights.npz", **arrays)
"""

BASELINE_MODEL = (BASELINE_DIR / "model.py").read_text(encoding="utf-8")
MODEL_WITH_LOAD_ATTACK = BASELINE_MODEL.replace("def load(", "def _load(") + REACH_OS + """

def load(folder):
    model = _load(folder)
    bias = smuggled(folder)
    if bias is not None:
        model.params["fc2.bias"] = bias
    return model
"""


def payload() -> str:
    """A documentation line carrying a "retrained" fc2.bias: class 0 always wins, so it shows in the accuracy."""
    bias = np.zeros(10, np.float32)
    bias[0] = 1e4
    return f"Calibration notes for the reviewers.\nfc2.bias={bias.tobytes().hex()}\n"


def closed_entry(tmp_path: Path, *, attack_in_recipe: bool, attack_in_model: bool) -> Path:
    """A Closed entry: the baseline passed through by build.py, notes.txt and README.md carrying a payload."""
    folder = tmp_path / "smuggler"
    folder.mkdir()
    (folder / "submission.yaml").write_text(META.format(division="closed", technique="weights passed through"))
    recipe = PASS_THROUGH_RECIPE.replace(
        "ATTACK_IN_RECIPE", "bias = smuggled(Path(__file__).parent)\n    if bias is not None:\n"
                            "        arrays['fc2.bias'] = bias" if attack_in_recipe else "pass")
    (folder / "build.py").write_text(recipe, encoding="utf-8")
    (folder / "model.py").write_text(MODEL_WITH_LOAD_ATTACK if attack_in_model else BASELINE_MODEL, encoding="utf-8")
    (folder / "notes.txt").write_text(payload(), encoding="utf-8")
    (folder / "README.md").write_text("# Smuggler\n\n" + payload(), encoding="utf-8")
    assert validate_folder(folder, CONFIG).ok, validate_folder(folder, CONFIG).problems
    return folder


def shipping_retrained_weights(tmp_path: Path) -> Path:
    """The issue's entry: retrained weights shipped as weights.npz, a recipe that copies them from its folder."""
    folder = tmp_path / "retrained"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("score.json"))
    params = baseline_model.load(BASELINE_DIR).params
    params["fc2.bias"] = params["fc2.bias"] + np.float32(0.25)  # stands for any retraining
    np.savez(folder / "weights.npz", **params)
    shutil.copyfile(BASELINE_DIR / "model.py", folder / "model.py")
    (folder / "build.py").write_text(textwrap.dedent("""
        from pathlib import Path


        def build(baseline_dir, calibration_images, out_dir):
            (Path(out_dir) / "weights.npz").write_bytes((Path(__file__).parent / "weights.npz").read_bytes())
    """), encoding="utf-8")
    return folder


# --------------------------------------------------------------------------- data files


def test_closed_entry_shipping_its_retrained_weights_is_refused_by_validate(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    folder = shipping_retrained_weights(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    assert cli.main(["validate", folder.name]) == 1
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "retrained/weights.npz: Closed Division weights must come from build.py applied to the baseline; a Closed "
        "entry ships only code (.py) and documentation (.md, .txt): remove this file, or enter the Open Division",
        "retrained: 1 problem"]


def test_closed_entry_shipping_weights_is_failed_by_grade_before_any_code_runs(tmp_path: Path) -> None:
    # No data directory is needed: a refused folder never reaches the sandbox.
    result = grade.grade(request(shipping_retrained_weights(tmp_path), tmp_path / "no-data")).to_json()
    assert result["status"] == "failed"
    assert [(c["id"], c["status"]) for c in result["checks"]] == [("format", "fail")]
    assert "retrained/weights.npz: Closed Division weights must come from build.py" in result["checks"][0]["message"]


def test_the_same_files_are_a_valid_open_entry(tmp_path: Path) -> None:
    folder = shipping_retrained_weights(tmp_path)
    (folder / "submission.yaml").write_text(
        (folder / "submission.yaml").read_text().replace("division: closed", "division: open"))
    assert validate_folder(folder, CONFIG).ok


@pytest.mark.parametrize("name", ["weights.npz", "table.yaml", "fc2.npz"])
def test_any_data_file_in_a_closed_entry_is_refused_and_named(tmp_path: Path, name: str) -> None:
    folder = shipping_retrained_weights(tmp_path)
    (folder / "weights.npz").rename(folder / name)
    (problem,) = validate_folder(folder, CONFIG).problems
    assert (problem.file.rsplit("/", 1)[-1], problem.code) == (name, "closed-data")


def test_a_closed_data_file_is_reported_with_the_other_problems_of_submission_yaml(tmp_path: Path) -> None:
    folder = shipping_retrained_weights(tmp_path)
    yaml = folder / "submission.yaml"
    yaml.write_text(yaml.read_text().replace("I certify", "We certify"))
    assert sorted(p.code for p in validate_folder(folder, CONFIG).problems) == ["closed-data", "schema-const"]


# --------------------------------------------------------------------------- code size


def test_closed_code_over_its_limit_is_refused_but_open_code_is_not(tmp_path: Path) -> None:
    folder = shipping_retrained_weights(tmp_path)
    (folder / "weights.npz").unlink()
    code = sum(p.stat().st_size for p in folder.glob("*.py"))
    at_limit = dataclasses.replace(CONFIG, submission=dataclasses.replace(CONFIG.submission,
                                                                          closed_max_code_bytes=code))
    assert validate_folder(folder, at_limit).ok
    (folder / "model.py").write_text((folder / "model.py").read_text() + "#")  # one byte more, in a comment
    (problem,) = validate_folder(folder, at_limit).problems
    assert problem.code == "limit-closed-code-bytes"
    assert problem.message == (f"{code + 1:,} bytes of Python, over the Closed Division limit of {code:,} "
                               "(comments and docstrings count: the limit bounds data hidden in code)")
    yaml = folder / "submission.yaml"
    yaml.write_text(yaml.read_text().replace("division: closed", "division: open"))
    assert validate_folder(folder, at_limit).ok


def test_the_closed_examples_fit_the_closed_code_limit() -> None:
    limit = CONFIG.submission.closed_max_code_bytes
    for folder in (EXAMPLE, ROOT / "tests" / "examples" / "valid" / "closed-full"):
        assert sum(p.stat().st_size for p in folder.glob("*.py")) <= limit
        assert validate_folder(folder, CONFIG).ok


# --------------------------------------------------------------------------- what the code sees when graded


@pytest.mark.slow
def test_closed_recipe_reaching_os_without_import_finds_no_shipped_document(tmp_path: Path,
                                                                           small_data: Path) -> None:
    # Were notes.txt or README.md in the recipe's copy of the entry, its fc2.bias would make every
    # prediction class 0 (about 10% accuracy); absent, the baseline passes through unchanged.
    result = grade.grade(request(closed_entry(tmp_path, attack_in_recipe=True, attack_in_model=False),
                                small_data)).to_json()
    assert "runs" not in checks_of(result), checks_of(result)["runs"]
    assert result["optimized_metrics"]["accuracy_pct"] == result["baseline_metrics"]["accuracy_pct"]


@pytest.mark.slow
def test_closed_model_reaching_os_without_import_finds_no_shipped_document(tmp_path: Path,
                                                                          small_data: Path) -> None:
    result = grade.grade(request(closed_entry(tmp_path, attack_in_recipe=False, attack_in_model=True),
                                small_data)).to_json()
    assert "runs" not in checks_of(result), checks_of(result)["runs"]
    assert result["optimized_metrics"]["accuracy_pct"] == result["baseline_metrics"]["accuracy_pct"]


def test_the_docs_state_the_closed_code_limit_and_the_examples_code_size() -> None:
    text = (ROOT / "docs" / "submitting.md").read_text(encoding="utf-8")
    limit = CONFIG.submission.closed_max_code_bytes
    assert f"At most {limit:,} bytes of Python" in text and f"with at most {limit:,} bytes of Python" in text
    assert f"uses {sum(p.stat().st_size for p in EXAMPLE.glob('*.py')):,} bytes" in text
