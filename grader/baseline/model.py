"""The TinyMLPerf baseline: the TinyTorch competition CNN in plain NumPy.

Conv2d(3->32, 3x3, pad 1) -> ReLU -> MaxPool 2x2 -> Conv2d(32->64, 3x3, pad 1)
-> ReLU -> MaxPool 2x2 -> Flatten (4096, channel-major) -> Linear(4096->128)
-> ReLU -> Linear(128->10); 545,098 float32 parameters.

This file follows the submission contract every entry follows:
``load(folder) -> model`` and ``model.predict(images) -> scores`` with
``images`` uint8 ``N x 3 x 32 x 32`` and scores float32 ``N x 10``.
It imports nothing but numpy, so it runs inside the grader's sandbox like any
student's ``model.py``, and a Closed Division entry can start from a copy.

The implementation is a clean vectorized im2col + GEMM, which is what a student
has after the course: no fused kernels, no tricks (those are the students' game).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Per-channel statistics of the CIFAR-10 training images (0..1 scale); the
# model normalizes its own input so every entry sees the same raw uint8 pixels.
MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)
STD = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32)

# Array name -> shape. Conv weights are (out, in, kh, kw); Linear weights are
# (in, out), as in TinyTorch.
PARAM_SHAPES: dict[str, tuple[int, ...]] = {
    "conv1.weight": (32, 3, 3, 3),
    "conv1.bias": (32,),
    "conv2.weight": (64, 32, 3, 3),
    "conv2.bias": (64,),
    "fc1.weight": (4096, 128),
    "fc1.bias": (128,),
    "fc2.weight": (128, 10),
    "fc2.bias": (10,),
}

WEIGHTS_FILE = "weights.npz"


def normalize(images: np.ndarray) -> np.ndarray:
    """uint8 N x 3 x 32 x 32 -> float32 N x 32 x 32 x 3 (NHWC), standardized."""
    x = images.transpose(0, 2, 3, 1).astype(np.float32) * np.float32(1.0 / 255.0)
    return (x - MEAN) / STD


def im2col(x: np.ndarray) -> np.ndarray:
    """NHWC activations -> (N*H*W, C*9) patches for a 3x3 convolution with padding 1.

    Column order is (channel, kh, kw), matching ``weight.reshape(out, -1)``.
    """
    n, h, w, c = x.shape
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(1, 2))
    return windows.reshape(n * h * w, c * 9)


def conv3x3(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """3x3 convolution, stride 1, padding 1, on NHWC activations."""
    n, h, w, _ = x.shape
    out = im2col(x) @ weight.reshape(weight.shape[0], -1).T + bias
    return out.reshape(n, h, w, weight.shape[0])


def maxpool2(x: np.ndarray) -> np.ndarray:
    """2x2 max pooling, stride 2, on NHWC activations."""
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def flatten(x: np.ndarray) -> np.ndarray:
    """NHWC -> N x (C*H*W) in channel-major order, like TinyTorch's Flatten on NCHW."""
    return x.transpose(0, 3, 1, 2).reshape(x.shape[0], -1)


class Model:
    """The baseline CNN with its parameters."""

    def __init__(self, params: dict[str, np.ndarray]) -> None:
        self.params = params

    def predict(self, images: np.ndarray) -> np.ndarray:
        """uint8 N x 3 x 32 x 32 images -> float32 N x 10 class scores (logits)."""
        p = self.params
        x = normalize(images)
        x = maxpool2(relu(conv3x3(x, p["conv1.weight"], p["conv1.bias"])))
        x = maxpool2(relu(conv3x3(x, p["conv2.weight"], p["conv2.bias"])))
        x = relu(flatten(x) @ p["fc1.weight"] + p["fc1.bias"])
        return x @ p["fc2.weight"] + p["fc2.bias"]


def check_params(params: dict[str, np.ndarray], source: str) -> dict[str, np.ndarray]:
    """Return float32 copies of ``params``; raise ValueError naming any bad array."""
    missing = sorted(set(PARAM_SHAPES) - set(params))
    extra = sorted(set(params) - set(PARAM_SHAPES))
    if missing or extra:
        raise ValueError(f"{source}: expected arrays {sorted(PARAM_SHAPES)}; missing {missing}, unexpected {extra}")
    checked = {}
    for name, shape in PARAM_SHAPES.items():
        array = params[name]
        if array.shape != shape:
            raise ValueError(f"{source}: array {name!r} has shape {array.shape}, expected {shape}")
        if array.dtype != np.float32:
            raise ValueError(f"{source}: array {name!r} has dtype {array.dtype}, expected float32")
        checked[name] = np.ascontiguousarray(array)
    return checked


def load(folder: str | Path) -> Model:
    """Load the baseline from ``folder/weights.npz``."""
    path = Path(folder) / WEIGHTS_FILE
    with np.load(path, allow_pickle=False) as archive:
        params = {name: archive[name] for name in archive.files}
    return Model(check_params(params, str(path)))
