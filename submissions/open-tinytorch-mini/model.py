"""Open Division example from TinyTorch: the model is written with the entry's own ``tinytorch`` package.

The package folder ``tinytorch/`` ships in the entry (the one package folder a
submission may hold); its classes are the course's shapes (Tensor with
``.data``, Conv2d, Linear, ReLU, MaxPool2d, Flatten, Sequential). The weights are
float16 (train.py), widened to float32 at load; the network is the competition
CNN at widths 16/32/64.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinytorch import Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential, Tensor

MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32).reshape(1, 3, 1, 1)
STD = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32).reshape(1, 3, 1, 1)


class Model:
    def __init__(self, conv1: int, conv2: int, hidden: int) -> None:
        self.features = Sequential(Conv2d(3, conv1), ReLU(), MaxPool2d(2), Conv2d(conv1, conv2), ReLU(), MaxPool2d(2),
                                   Flatten())
        self.classifier = Sequential(Linear(conv2 * 64, hidden), ReLU(), Linear(hidden, 10))

    def predict(self, images: np.ndarray) -> np.ndarray:
        x = Tensor((images.astype(np.float32) / 255.0 - MEAN) / STD)
        return self.classifier(self.features(x)).data


def load(folder: str | Path) -> Model:
    with np.load(Path(folder) / "weights.npz", allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    conv1, conv2, hidden = (arrays["features.0.weight"].shape[0], arrays["features.3.weight"].shape[0],
                            arrays["classifier.0.weight"].shape[1])
    model = Model(conv1, conv2, hidden)
    model.features.load_state_dict({k[len("features."):]: v for k, v in arrays.items() if k.startswith("features.")})
    model.classifier.load_state_dict({k[len("classifier."):]: v for k, v in arrays.items()
                                      if k.startswith("classifier.")})
    return model
