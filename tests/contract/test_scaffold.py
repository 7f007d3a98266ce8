"""``tinymlperf new``: a folder that validates and runs as it is; never overwrites."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from grader.baseline import model as baseline_model
from grader.cli import main as cli
from grader.contract import scaffold
from grader.contract.validate import validate_folder
from grader.core import config

CONFIG = config.load()


@pytest.fixture
def baseline_dir(tmp_path: Path) -> Path:
    """A stand-in for grader/baseline with random float32 weights of the right shapes."""
    folder = tmp_path / "baseline"
    folder.mkdir()
    rng = np.random.default_rng(0)
    params = {name: (rng.standard_normal(shape) * 0.05).astype(np.float32)
              for name, shape in baseline_model.PARAM_SHAPES.items()}
    np.savez(folder / "weights.npz", **params)
    return folder


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_new_closed_then_validate_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    code, out, _ = run(["new", "x", "--division", "closed"], capsys)
    assert code == 0 and out.startswith("created submissions/x (closed division)\n")
    assert sorted(p.name for p in (tmp_path / "submissions" / "x").iterdir()) == ["build.py", "model.py",
                                                                                   "submission.yaml"]
    assert run(["validate", "submissions/x"], capsys) == (0, "submissions/x: valid\n", "")
    assert [p.name for p in (tmp_path / "submissions").iterdir()] == ["x"]  # no staging folder left


def test_new_open_copies_the_baseline_weights(tmp_path: Path, baseline_dir: Path) -> None:
    folder = scaffold.create("my-open", "open", tmp_path / "submissions", CONFIG, athlete_name="Ada Lovelace",
                             github_repo="https://github.com/ada/tinytorch",
                             baseline_weights=baseline_dir / "weights.npz")
    result = validate_folder(folder, CONFIG)
    assert result.ok and result.submission is not None
    assert result.submission.to_json()["athlete_name"] == "Ada Lovelace"
    assert (folder / "weights.npz").read_bytes() == (baseline_dir / "weights.npz").read_bytes()


def test_model_py_is_the_baseline_with_a_banner(tmp_path: Path) -> None:
    folder = scaffold.create("x", "closed", tmp_path, CONFIG)
    baseline = resources.files("grader.baseline").joinpath("model.py").read_text(encoding="utf-8")
    text = (folder / "model.py").read_text(encoding="utf-8")
    assert text.endswith(baseline) and "OPTIMIZE HERE" in text[: -len(baseline)]
    assert "OPTIMIZE HERE" in (folder / "build.py").read_text(encoding="utf-8")


def test_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    existing = tmp_path / "x"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    code, out, err = run(["new", "x", "--division", "closed", "--root", str(tmp_path)], capsys)
    assert (code, out) == (1, "") and "already exists" in err
    assert [p.name for p in existing.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("argv, message", [
    (["new", "Bad_Slug", "--division", "closed"], "not a valid slug"),
    (["new", "x", "--division", "closed", "--github-repo", "http://example.com/x"], "github_repo: must be"),
    (["new", "x", "--division", "closed", "--athlete", " "], "athlete_name: must be"),
    (["new", "x", "--division", "middle"], "invalid choice"),
])
def test_bad_arguments_exit_2_and_create_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 argv: list[str], message: str) -> None:
    code, out, err = run(argv + ["--root", str(tmp_path / "subs")], capsys)
    assert code == 2 and message in err
    assert not (tmp_path / "subs").exists() or list((tmp_path / "subs").iterdir()) == []


def test_open_without_baseline_weights_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["new", "x", "--division", "open", "--root", str(tmp_path),
                        "--baseline-weights", str(tmp_path / "missing.npz")], capsys)
    assert code == 2 and "baseline weights not found" in err and not (tmp_path / "x").exists()


_RUN_ENTRY = """
import importlib.util, sys
from pathlib import Path
import numpy as np

entry, baseline, out = map(Path, sys.argv[1:4])

def module(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod

images = np.random.default_rng(1).integers(0, 256, (4, 3, 32, 32), dtype=np.uint8)
if (entry / "build.py").exists():
    module(entry / "build.py").build(baseline, images[:2], out)
else:
    out = entry
scores = module(entry / "model.py").load(out).predict(images)
expected = module(baseline / "model.py").load(baseline).predict(images)
assert scores.shape == (4, 10), scores.shape
np.testing.assert_array_equal(scores, expected)
print("ok")
"""


@pytest.mark.slow
@pytest.mark.parametrize("division", ["closed", "open"])
def test_scaffold_builds_and_predicts_like_the_baseline(tmp_path: Path, baseline_dir: Path, division: str) -> None:
    """The recipe and model run as written (in a real interpreter) and reproduce the baseline's scores."""
    (baseline_dir / "model.py").write_bytes(resources.files("grader.baseline").joinpath("model.py").read_bytes())
    folder = scaffold.create("x", division, tmp_path / "subs", CONFIG,  # type: ignore[arg-type]
                             baseline_weights=baseline_dir / "weights.npz")
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.run([sys.executable, "-c", _RUN_ENTRY, str(folder), str(baseline_dir), str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ok\n"
