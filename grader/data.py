"""CIFAR-10 in the official "python version" layout: find it, load it, check it.

The layout is ``cifar-10-batches-py/`` with ``data_batch_1..5``, ``test_batch``
and ``batches.meta``: pickled dicts with bytes keys, ``b'data'`` uint8
[N, 3072] channel-major and ``b'labels'`` a list of ints.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from grader.errors import DataError

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
IMAGE_SHAPE = (3, 32, 32)


@dataclass(frozen=True)
class Split:
    """Images uint8 N x 3 x 32 x 32 and labels int64 N."""

    images: np.ndarray
    labels: np.ndarray


# The only globals a batch file may name: what pickling a numpy array needs.
# Official batches were written by Python 2 with ``numpy.core``; newer files say
# ``numpy._core``. Anything else would be code, and a batch file is data.
_ALLOWED_GLOBALS = {
    ("multiarray", "_reconstruct"): np.ndarray.__reduce__(np.zeros(1))[0],
    ("numeric", "_frombuffer"): getattr(np, "frombuffer"),
    ("", "ndarray"): np.ndarray,
    ("", "dtype"): np.dtype,
}


class _BatchUnpickler(pickle.Unpickler):
    """Unpickle plain containers, bytes and numpy arrays only."""

    def find_class(self, module: str, name: str) -> object:
        if module in ("numpy", "numpy.core.multiarray", "numpy._core.multiarray",
                      "numpy.core.numeric", "numpy._core.numeric"):
            key = ("" if module == "numpy" else module.rsplit(".", 1)[1], name)
            if key in _ALLOWED_GLOBALS:
                return _ALLOWED_GLOBALS[key]
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def load_batch(path: Path) -> Split:
    """Read one batch file; a corrupt, truncated or odd file raises DataError naming it."""
    try:
        with open(path, "rb") as handle:
            batch = _BatchUnpickler(handle, encoding="bytes").load()
    except FileNotFoundError as e:
        raise DataError(f"{path}: missing CIFAR-10 batch file") from e
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, OverflowError, MemoryError) as e:
        raise DataError(f"{path}: not a readable CIFAR-10 batch (corrupt or truncated): {e}") from e
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(f"{path}: not a CIFAR-10 batch (expected a dict with b'data' and b'labels')")
    raw, labels = batch[b"data"], batch[b"labels"]
    if not isinstance(raw, np.ndarray) or raw.dtype != np.uint8 or raw.ndim != 2 or raw.shape[1] != 3072:
        raise DataError(f"{path}: b'data' must be a uint8 array of shape [N, 3072]")
    if not isinstance(labels, list) or len(labels) != raw.shape[0]:
        raise DataError(f"{path}: b'labels' must be a list with one label per image")
    label_array = np.asarray(labels, dtype=np.int64)
    if label_array.size and (label_array.min() < 0 or label_array.max() > 9):
        raise DataError(f"{path}: labels must be integers 0..9")
    return Split(raw.reshape(-1, *IMAGE_SHAPE), label_array)


def locate(root: Path) -> Path:
    """Return the ``cifar-10-batches-py`` folder at or directly below ``root``."""
    for candidate in (root, root / FOLDER):
        if (candidate / TEST_BATCH).is_file():
            return candidate
    raise DataError(f"{root}: no CIFAR-10 test batch here (looked for {TEST_BATCH} and {FOLDER}/{TEST_BATCH})")


def load_split(folder: Path, split: Literal["train", "test"]) -> Split:
    """Load the training (50,000) or test (10,000) images from a ``cifar-10-batches-py`` folder."""
    names = TRAIN_BATCHES if split == "train" else (TEST_BATCH,)
    parts = [load_batch(folder / name) for name in names]
    return Split(np.concatenate([p.images for p in parts]), np.concatenate([p.labels for p in parts]))
