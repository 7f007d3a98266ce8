"""Tensor: a NumPy array in ``.data`` with the few operations the layers need (no autograd at inference)."""

from __future__ import annotations

import numpy as np


class Tensor:
    """An n-dimensional float32 array; ``.data`` is the NumPy array itself, as in TinyTorch."""

    def __init__(self, data, dtype=np.float32) -> None:
        self.data = np.asarray(data.data if isinstance(data, Tensor) else data, dtype=dtype)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    def reshape(self, *shape: int) -> Tensor:
        return Tensor(self.data.reshape(*shape))

    def __matmul__(self, other: Tensor) -> Tensor:
        return Tensor(self.data @ other.data)

    def __add__(self, other: Tensor) -> Tensor:
        return Tensor(self.data + (other.data if isinstance(other, Tensor) else other))

    def __repr__(self) -> str:
        return f"Tensor(shape={self.shape}, dtype={self.data.dtype})"
