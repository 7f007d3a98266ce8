"""Layers in the course's shapes: Conv2d weights (out, in, kh, kw) on NCHW input, Linear weights (in, out)."""

from __future__ import annotations

import numpy as np

from tinytorch.core.tensor import Tensor


class Module:
    """A layer: ``forward`` on Tensors, ``parameters()`` by name, ``load_state_dict`` from arrays."""

    def forward(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def __call__(self, x: Tensor) -> Tensor:
        return self.forward(x)

    def named_parameters(self, prefix: str = "") -> dict[str, Tensor]:
        return {f"{prefix}{name}": value for name, value in vars(self).items() if isinstance(value, Tensor)}

    def load_state_dict(self, arrays: dict[str, np.ndarray]) -> None:
        """Copy each named array into the parameter of that name; names and shapes must match exactly."""
        own = self.named_parameters()
        if set(own) != set(arrays):
            raise ValueError(f"expected parameters {sorted(own)}, got {sorted(arrays)}")
        for name, tensor in own.items():
            if arrays[name].shape != tensor.shape:
                raise ValueError(f"{name}: expected shape {tensor.shape}, got {arrays[name].shape}")
            tensor.data = np.asarray(arrays[name], dtype=np.float32)


class Linear(Module):
    def __init__(self, in_features: int, out_features: int) -> None:
        self.weight = Tensor(np.zeros((in_features, out_features)))
        self.bias = Tensor(np.zeros(out_features))

    def forward(self, x: Tensor) -> Tensor:
        return x @ self.weight + self.bias


class ReLU(Module):
    def forward(self, x: Tensor) -> Tensor:
        return Tensor(np.maximum(x.data, 0.0))


class Flatten(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], -1)


class MaxPool2d(Module):
    """Non-overlapping max pooling (stride = kernel size) on NCHW input."""

    def __init__(self, kernel_size: int = 2) -> None:
        self.kernel_size = kernel_size

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        k = self.kernel_size
        return Tensor(x.data.reshape(n, c, h // k, k, w // k, k).max(axis=(3, 5)))


class Conv2d(Module):
    """Stride-1 convolution with zero padding, computed as im2col + one matrix product."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, padding: int = 1) -> None:
        self.kernel_size, self.padding = kernel_size, padding
        self.weight = Tensor(np.zeros((out_channels, in_channels, kernel_size, kernel_size)))
        self.bias = Tensor(np.zeros(out_channels))

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        k, p = self.kernel_size, self.padding
        padded = np.pad(x.data, ((0, 0), (0, 0), (p, p), (p, p)))
        oh, ow = h + 2 * p - k + 1, w + 2 * p - k + 1
        windows = np.lib.stride_tricks.sliding_window_view(padded, (k, k), axis=(2, 3))  # n, c, oh, ow, k, k
        cols = windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * k * k)
        out = cols @ self.weight.data.reshape(self.weight.shape[0], -1).T + self.bias.data
        return Tensor(out.reshape(n, oh, ow, -1).transpose(0, 3, 1, 2))


class Sequential(Module):
    """Layers applied in order; parameters are named ``<index>.<name>`` as in the course."""

    def __init__(self, *layers: Module) -> None:
        self.layers = list(layers)

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    def named_parameters(self, prefix: str = "") -> dict[str, Tensor]:
        found = {}
        for index, layer in enumerate(self.layers):
            found.update(layer.named_parameters(f"{prefix}{index}."))
        return found

    def load_state_dict(self, arrays: dict[str, np.ndarray]) -> None:
        own = self.named_parameters()
        if set(own) != set(arrays):
            raise ValueError(f"expected parameters {sorted(own)}, got {sorted(arrays)}")
        for index, layer in enumerate(self.layers):
            prefix = f"{index}."
            layer.load_state_dict({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
