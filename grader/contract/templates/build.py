"""Build recipe for a TinyMLPerf Closed Division entry (made by `tinymlperf new`).

The grader calls ``build(baseline_dir, calibration_images, out_dir)`` in its
sandbox: read the baseline's float32 weights from ``baseline_dir/weights.npz``,
optionally look at the unlabelled calibration images (uint8 N x 3 x 32 x 32),
and write your entry's .npz weight file(s) into ``out_dir``. Then it loads your
model with ``model.load(folder)`` from your files plus what you wrote here.

No retraining in the Closed Division: transform the given weights (quantize,
prune, fold, reorder, factorize...). Only numpy and the standard modules the
competition allows may be imported.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def optimize(params: dict[str, np.ndarray], calibration_images: np.ndarray) -> dict[str, np.ndarray]:
    """Turn the baseline parameters into yours. OPTIMIZE HERE.

    As written it returns the baseline unchanged, so the entry scores like the
    baseline. E.g. quantize each weight to int8 with a per-channel scale, store
    the scales as extra arrays, and teach model.py to use them.
    """
    return dict(params)


def build(baseline_dir: Path, calibration_images: np.ndarray, out_dir: Path) -> None:
    """Write ``out_dir/weights.npz`` from ``baseline_dir/weights.npz``."""
    with np.load(Path(baseline_dir) / "weights.npz", allow_pickle=False) as archive:
        params = {name: archive[name] for name in archive.files}
    params = optimize(params, calibration_images)
    np.savez(Path(out_dir) / "weights.npz", **params)
