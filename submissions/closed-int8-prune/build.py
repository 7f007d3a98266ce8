"""Closed Division recipe: per-channel INT8 quantization plus magnitude pruning, no retraining.

The grader calls ``build(baseline_dir, calibration_images, out_dir)`` in its
sandbox with the baseline's float32 weights; this writes ``weights.npz``:

- every weight matrix quantized to int8 with one float32 scale per output
  channel (symmetric, scale = max|w| / 127), which keeps each filter's own range;
- the 4096x128 ``fc1`` matrix (96% of the parameters) pruned by magnitude:
  the smallest 50% of its weights set to zero before quantization;
- biases kept in float32 (0.04% of the parameters).

The calibration images are not needed: weight-only quantization has no
activation ranges to calibrate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FC1_SPARSITY = 0.5


def quantize_per_channel(weight: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 quantization with one scale per slice along ``axis`` (the output channels)."""
    reduce = tuple(i for i in range(weight.ndim) if i != axis)
    scale = np.abs(weight).max(axis=reduce, keepdims=True) / 127.0
    scale = np.where(scale == 0, 1.0, scale).astype(np.float32)
    q = np.clip(np.round(weight / scale), -127, 127).astype(np.int8)
    return q, scale.reshape(-1)


def prune_by_magnitude(weight: np.ndarray, sparsity: float) -> np.ndarray:
    """Zero the ``sparsity`` fraction of entries with the smallest absolute value."""
    threshold = np.quantile(np.abs(weight), sparsity)
    return np.where(np.abs(weight) <= threshold, 0.0, weight).astype(np.float32)


def build(baseline_dir: Path, calibration_images: np.ndarray, out_dir: Path) -> None:
    with np.load(Path(baseline_dir) / "weights.npz", allow_pickle=False) as archive:
        base = {name: archive[name] for name in archive.files}
    arrays: dict[str, np.ndarray] = {}
    for layer, axis in (("conv1", 0), ("conv2", 0), ("fc1", 1), ("fc2", 1)):
        weight = base[f"{layer}.weight"]
        if layer == "fc1":
            weight = prune_by_magnitude(weight, FC1_SPARSITY)
        arrays[f"{layer}.q"], arrays[f"{layer}.scale"] = quantize_per_channel(weight, axis)
        arrays[f"{layer}.bias"] = base[f"{layer}.bias"].astype(np.float32)
    np.savez(Path(out_dir) / "weights.npz", **arrays)
