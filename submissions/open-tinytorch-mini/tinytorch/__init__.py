"""A small TinyTorch-style package, written for this example entry: the inference half of the course's layers.

The layout follows TinyTorch's (``tinytorch.core.tensor``, ``tinytorch.core.layers``),
so a model written against the course's classes imports the same way here.
"""

from tinytorch.core.layers import Conv2d, Flatten, Linear, MaxPool2d, Module, ReLU, Sequential
from tinytorch.core.tensor import Tensor

__all__ = ["Conv2d", "Flatten", "Linear", "MaxPool2d", "Module", "ReLU", "Sequential", "Tensor"]
