"""Open Division example from TinyTorch: train the slim CNN, save it as float16 for the entry's tinytorch classes.

Run from the repository root (the grader never runs this file; it grades the
committed weights.npz):

    OPENBLAS_NUM_THREADS=1 python submissions/open-tinytorch-mini/train.py --data DIR

DIR holds the full CIFAR-10 python layout (training batches included). The
network is the competition CNN's family at widths 16/32/64 (conv1, conv2
channels, fc1 units), trained with the course's NumPy trainer
(grader/measure/training.py: AdamW, cosine schedule, flip + crop), seed 2, 15 epochs.
The run checkpoints after every epoch: rerun the same command to resume.

The weights are stored as float16 under the layer names of the entry's own
package (``features.0`` = Conv2d, ``features.3`` = Conv2d, ``classifier.0`` =
Linear, ``classifier.2`` = Linear), in the layout those classes use, so model.py
loads them into ``tinytorch.Sequential`` without rewriting anything.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from grader.measure import data, training

WIDTHS = (16, 32, 64)
EPOCHS = 15
SEED = 2
HERE = Path(__file__).parent
LAYERS = {"conv1": "features.0", "conv2": "features.3", "fc1": "classifier.0", "fc2": "classifier.2"}


def to_package_layout(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The trainer's arrays under the package's names, float16 (Conv2d: OIHW, Linear: in x out)."""
    return {f"{LAYERS[layer]}.{kind}": params[f"{layer}.{kind}"].astype(np.float16)
            for layer in LAYERS for kind in ("weight", "bias")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path, default=Path("open-tinytorch-mini-checkpoint.npz"))
    args = parser.parse_args()
    root = data.locate(args.data)
    config = training.TrainConfig(epochs=EPOCHS, seed=SEED, widths=WIDTHS)
    params = training.train(config, data.load_split(root, "train"), data.load_split(root, "test"),
                            args.checkpoint, log=lambda m: print(m, flush=True))
    np.savez(HERE / "weights.npz", **to_package_layout(params))
    print(f"wrote {HERE / 'weights.npz'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
