"""Property tests: no input a student can commit makes validate raise; every problem is well formed."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from grader.contract import weightfile
from grader.contract.validate import validate_folder
from grader.core import config, schema, yamlsrc
from grader.core.problem import Problem, display_path

CONFIG = config.load()
EXAMPLE = Path(__file__).parents[1] / "examples" / "valid" / "closed-minimal"
KEYS = ["division", "athlete_name", "github_repo", "techniques_used", "honor_code", "description", "claimed",
        "accuracy_pct", "speedup", "compression"]
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30),
                    st.sampled_from(["closed", "open", "TODO", "I certify that this submission follows the rules",
                                     "https://github.com/a/b", "&a", "*a", "!!python/name:os.system", "- x"]))
documents = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=10)), children,
                                               max_size=6)),
    max_leaves=25,
)


def check_folder(files: dict[str, bytes]) -> None:
    """Validate a copy of a valid entry with ``files`` replaced; assert a well-formed result."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "entry"
        shutil.copytree(EXAMPLE, folder)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        result = validate_folder(folder, CONFIG)
        assert result.submission is not None or result.problems  # no valid entry without its submission.yaml
        assert schema.validate(result.to_json(), "validation") == []  # the --json document stays schema-valid
        assert list(result.problems) == sorted(result.problems, key=Problem.sort_key)
        shown = display_path(folder)
        for problem in result.problems:
            assert problem.file == shown or problem.file.startswith(shown + "/"), problem
            assert problem.message and "\n" not in str(problem)
            assert problem.line is None or problem.line >= 1
            assert problem.column is None or problem.column >= 1


@pytest.mark.slow
@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_as_submission_yaml(raw: bytes) -> None:
    check_folder({"submission.yaml": raw})


@pytest.mark.slow
@settings(FUZZ, max_examples=60)
@given(documents)
@example({"\x85\nkey": None})  # found by this test: an unknown key once put a newline into the message
def test_random_yaml_documents(document: object) -> None:
    for style in (False, True, None):
        check_folder({"submission.yaml": yaml.safe_dump(document, default_flow_style=style).encode()})


@FUZZ
@given(st.text(alphabet=st.sampled_from(list("ab: -[]{}&*!|>'\"#\n\t,?%@`\\.0")), max_size=120))
def test_yaml_punctuation_soup(text: str) -> None:
    doc = yamlsrc.load(text.encode(), "f.yaml")
    assert doc.ok or doc.data is None  # data is never half-built from a broken file
    assert all(p.line is not None and p.line >= 1 for p in doc.problems if p.code != "yaml-syntax")


@pytest.mark.slow
@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_as_python_and_weights(raw: bytes) -> None:
    check_folder({"model.py": raw, "weights.npz": raw})


@pytest.mark.slow
@FUZZ
@given(st.data())
def test_mutated_npz_never_raises(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w.npz"
        np.savez(path, a=np.arange(6, dtype=np.float32).reshape(2, 3), b=np.int8(3))
        raw = bytearray(path.read_bytes())
        for _ in range(data.draw(st.integers(1, 8))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
        path.write_bytes(bytes(raw))
        for problem in weightfile.check(path, "w.npz", 10_000):
            assert problem.file == "w.npz" and problem.message
