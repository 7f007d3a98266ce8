"""The size measure behind compression: weights and code, compressed, comments free."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from grader.measure import size


def test_comments_and_docstrings_cost_nothing(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "model.py").write_text("def load(folder):\n    return 1\n")
    (tmp_path / "b" / "model.py").write_text('"""A long module docstring."""\n# a comment\n'
                                             'def load(folder):\n    """Explained."""\n    return 1  # why\n')
    assert size.measure(tmp_path / "a").code_bytes == size.measure(tmp_path / "b").code_bytes


def test_weights_hidden_in_a_literal_are_counted(tmp_path: Path) -> None:
    values = np.random.default_rng(0).standard_normal(2000).tolist()
    (tmp_path / "model.py").write_text(f"W = {values!r}\ndef load(folder):\n    return W\n")
    assert size.measure(tmp_path).code_bytes > 10_000


def test_build_recipe_is_not_part_of_the_model(tmp_path: Path) -> None:
    (tmp_path / "model.py").write_text("def load(folder):\n    return 1\n")
    before = size.measure(tmp_path).size_bytes
    (tmp_path / "build.py").write_text("X = " + repr(list(range(5000))) + "\n")
    assert size.measure(tmp_path).size_bytes == before


def test_zeros_and_small_dtypes_shrink_the_size(tmp_path: Path) -> None:
    w = np.random.default_rng(0).standard_normal((256, 256)).astype(np.float32)
    np.savez(tmp_path / "weights.npz", w=w)
    dense = size.measure(tmp_path)
    w[np.abs(w) < 1.0] = 0
    np.savez(tmp_path / "weights.npz", w=(w * 40).astype(np.int8))
    small = size.measure(tmp_path)
    assert small.weight_bytes * 6 < dense.weight_bytes  # int8 is 4x, the zeros compress the rest
    assert (small.parameters, small.dtypes) == (65536, {"int8": 65536})
    assert small.nonzeros < 0.4 * 65536
