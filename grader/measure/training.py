"""Reproducible NumPy training of the baseline CNN (the course's own stack, no PyTorch).

Seeded and deterministic given the same thread count: the shuffle and the
augmentation of epoch ``e`` come from ``numpy.random.default_rng([seed, e])``,
so a run resumed from a checkpoint draws exactly what an uninterrupted run would.
A checkpoint (parameters, Adam moments, epoch) is written atomically after every epoch.

    python -m grader.measure.training --data DIR

reproduces the committed ``grader/baseline/weights.npz`` (defaults: 40 epochs,
batch 128, AdamW lr 2e-3 with a cosine schedule, seed 0; the checkpoint goes to
``baseline-checkpoint.npz``; rerun the same command to resume). DIR holds the
full CIFAR-10 python layout; build it from the shared JPEG archive with
``python ../shared/data/cifar10_from_jpeg.py ../shared/data/cifar10-jpeg.tar.gz DIR``.

The forward pass is the baseline's own ``model.py`` (one implementation of the
layers); this module adds only what training needs: backward passes, Adam with a
cosine learning-rate schedule, and random flip + crop augmentation.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grader.baseline import model as net
from grader.core import files
from grader.measure import data


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters; the defaults reproduce the committed weights."""

    epochs: int = 40
    batch_size: int = 128
    learning_rate: float = 2e-3
    weight_decay: float = 5e-4
    seed: int = 0
    crop_padding: int = 4
    widths: tuple[int, int, int] = (32, 64, 128)  # conv1, conv2 channels and fc1 units


def param_shapes(conv1: int = 32, conv2: int = 64, hidden: int = 128) -> dict[str, tuple[int, ...]]:
    """Shapes of the competition CNN's family: the baseline is (32, 64, 128)."""
    return {
        "conv1.weight": (conv1, 3, 3, 3), "conv1.bias": (conv1,),
        "conv2.weight": (conv2, conv1, 3, 3), "conv2.bias": (conv2,),
        "fc1.weight": (conv2 * 64, hidden), "fc1.bias": (hidden,),
        "fc2.weight": (hidden, 10), "fc2.bias": (10,),
    }


def init_params(seed: int, shapes: dict[str, tuple[int, ...]] | None = None) -> dict[str, np.ndarray]:
    """He-normal weights and zero biases, float32 (the baseline's shapes by default)."""
    rng = np.random.default_rng([seed, 10**6])
    params = {}
    for name, shape in (shapes or net.PARAM_SHAPES).items():
        if name.endswith("bias"):
            params[name] = np.zeros(shape, np.float32)
        else:
            fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
            params[name] = (rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)).astype(np.float32)
    return params


def augment(images: np.ndarray, rng: np.random.Generator, padding: int) -> np.ndarray:
    """Random horizontal flip and random crop (zero padding) of uint8 NCHW images."""
    n, _, h, w = images.shape
    flip = rng.random((n,)) < 0.5
    out = np.where(flip[:, None, None, None], images[:, :, :, ::-1], images)
    padded = np.pad(out, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dy = rng.integers(0, 2 * padding + 1, (n,))
    dx = rng.integers(0, 2 * padding + 1, (n,))
    rows = dy[:, None] + np.arange(h)[None, :]
    cols = dx[:, None] + np.arange(w)[None, :]
    crops: np.ndarray = padded[np.arange(n)[:, None, None, None], np.arange(3)[None, :, None, None],
                               rows[:, None, :, None], cols[:, None, None, :]]
    return crops


def _pool_backward(x: np.ndarray, pooled: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """Route the gradient of a 2x2 max pool to the positions that held the max."""
    n, h, w, c = x.shape
    xr = x.reshape(n, h // 2, 2, w // 2, 2, c)
    mask = xr == pooled[:, :, None, :, None, :]
    routed: np.ndarray = (mask * grad[:, :, None, :, None, :]).reshape(x.shape)
    return routed


def _col2im(cols: np.ndarray, shape: tuple[int, int, int, int]) -> np.ndarray:
    """Adjoint of ``model.im2col``: sum (N*H*W, C*9) patch gradients back into NHWC."""
    n, h, w, c = shape
    cols = cols.reshape(n, h, w, c, 3, 3)
    padded = np.zeros((n, h + 2, w + 2, c), np.float32)
    for kh in range(3):
        for kw in range(3):
            padded[:, kh:kh + h, kw:kw + w, :] += cols[:, :, :, :, kh, kw]
    return padded[:, 1:-1, 1:-1, :]


def loss_and_grads(params: dict[str, np.ndarray], images: np.ndarray,
                   labels: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
    """Mean cross-entropy of a batch and its gradient for every parameter."""
    p = params
    n = images.shape[0]
    c1, c2 = p["conv1.weight"].shape[0], p["conv2.weight"].shape[0]
    x0 = net.normalize(images)
    cols1 = net.im2col(x0)
    w1 = p["conv1.weight"].reshape(c1, -1)
    a1 = (cols1 @ w1.T + p["conv1.bias"]).reshape(n, 32, 32, c1)
    r1 = net.relu(a1)
    p1 = net.maxpool2(r1)
    cols2 = net.im2col(p1)
    w2 = p["conv2.weight"].reshape(c2, -1)
    a2 = (cols2 @ w2.T + p["conv2.bias"]).reshape(n, 16, 16, c2)
    r2 = net.relu(a2)
    p2 = net.maxpool2(r2)
    f = net.flatten(p2)
    h = f @ p["fc1.weight"] + p["fc1.bias"]
    hr = net.relu(h)
    logits = hr @ p["fc2.weight"] + p["fc2.bias"]

    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = float(-log_probs[np.arange(n), labels].mean())

    g = {}
    dlogits = np.exp(log_probs)
    dlogits[np.arange(n), labels] -= 1.0
    dlogits /= n
    g["fc2.weight"] = hr.T @ dlogits
    g["fc2.bias"] = dlogits.sum(axis=0)
    dh = (dlogits @ p["fc2.weight"].T) * (h > 0)
    g["fc1.weight"] = f.T @ dh
    g["fc1.bias"] = dh.sum(axis=0)
    df = dh @ p["fc1.weight"].T
    dp2 = df.reshape(n, c2, 8, 8).transpose(0, 2, 3, 1)
    da2 = _pool_backward(r2, p2, dp2) * (a2 > 0)
    da2 = da2.reshape(-1, c2)
    g["conv2.weight"] = (da2.T @ cols2).reshape(c2, c1, 3, 3)
    g["conv2.bias"] = da2.sum(axis=0)
    dp1 = _col2im(da2 @ w2, p1.shape)
    da1 = (_pool_backward(r1, p1, dp1) * (a1 > 0)).reshape(-1, c1)
    g["conv1.weight"] = (da1.T @ cols1).reshape(c1, 3, 3, 3)
    g["conv1.bias"] = da1.sum(axis=0)
    return loss, {k: v.astype(np.float32, copy=False) for k, v in g.items()}


def cosine_lr(config: TrainConfig, step: int, total_steps: int) -> float:
    """Cosine decay from ``learning_rate`` to zero over the whole run."""
    return 0.5 * config.learning_rate * (1.0 + math.cos(math.pi * step / total_steps))


def adam_step(params: dict[str, np.ndarray], grads: dict[str, np.ndarray],
              state: dict[str, np.ndarray], step: int, lr: float, weight_decay: float) -> None:
    """One AdamW update in place (decoupled weight decay on weights, not biases)."""
    b1, b2, eps = 0.9, 0.999, 1e-8
    for name, grad in grads.items():
        m = state[f"m.{name}"]
        v = state[f"v.{name}"]
        m *= b1
        m += (1 - b1) * grad
        v *= b2
        v += (1 - b2) * grad * grad
        m_hat = m / (1 - b1 ** step)
        v_hat = v / (1 - b2 ** step)
        if not name.endswith("bias"):
            params[name] *= np.float32(1.0 - lr * weight_decay)
        params[name] -= (lr * m_hat / (np.sqrt(v_hat) + eps)).astype(np.float32)


def evaluate(params: dict[str, np.ndarray], images: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy of ``params`` on the given images, in percent."""
    model = net.Model(params)
    correct = 0
    for start in range(0, len(images), 500):
        scores = model.predict(images[start:start + 500])
        correct += int((scores.argmax(axis=1) == labels[start:start + 500]).sum())
    return 100.0 * correct / len(images)


def save_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write an .npz so that a crash leaves either the old file or the new one."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]  # numpy's stub: a key of **arrays could be allow_pickle
    files.write_atomic(path, buffer.getvalue())


def train(config: TrainConfig, train_set: data.Split, test_set: data.Split | None,
          checkpoint: Path, log: Callable[[str], object] = print) -> dict[str, np.ndarray]:
    """Train, resuming from ``checkpoint`` when it exists; return the final parameters."""
    params = init_params(config.seed, param_shapes(*config.widths))
    state = {f"{k}.{n}": np.zeros_like(a) for n, a in params.items() for k in ("m", "v")}
    start_epoch = 0
    if checkpoint.exists():
        with np.load(checkpoint, allow_pickle=False) as ck:
            params = {n: ck[f"param.{n}"] for n in params}
            state = {k: ck[f"adam.{k}"] for k in state}
            start_epoch = int(ck["epoch"])
        log(f"resumed from {checkpoint} after epoch {start_epoch}")
    steps_per_epoch = len(train_set.labels) // config.batch_size
    total_steps = steps_per_epoch * config.epochs
    for epoch in range(start_epoch, config.epochs):
        rng = np.random.default_rng([config.seed, epoch])
        order = rng.permutation(len(train_set.labels))
        began = time.perf_counter()
        losses = []
        for i in range(steps_per_epoch):
            idx = order[i * config.batch_size:(i + 1) * config.batch_size]
            batch = augment(train_set.images[idx], rng, config.crop_padding)
            loss, grads = loss_and_grads(params, batch, train_set.labels[idx])
            step = epoch * steps_per_epoch + i + 1
            adam_step(params, grads, state, step, cosine_lr(config, step - 1, total_steps), config.weight_decay)
            losses.append(loss)
        message = f"epoch {epoch + 1}/{config.epochs} loss {np.mean(losses):.4f} {time.perf_counter() - began:.0f}s"
        if test_set is not None:
            message += f" test {evaluate(params, test_set.images, test_set.labels):.2f}%"
        arrays = {f"param.{n}": a for n, a in params.items()}
        arrays.update({f"adam.{k}": a for k, a in state.items()})
        arrays["epoch"] = np.array(epoch + 1)
        save_atomic(checkpoint, arrays)
        log(message)
    return params


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.measure.training", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder holding cifar-10-batches-py/")
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--seed", type=int, default=TrainConfig.seed)
    parser.add_argument("--learning-rate", type=float, default=TrainConfig.learning_rate)
    parser.add_argument("--checkpoint", type=Path, default=Path("baseline-checkpoint.npz"))
    parser.add_argument("--out", type=Path, default=Path(net.__file__).parent / net.WEIGHTS_FILE)
    args = parser.parse_args(argv)
    config = TrainConfig(epochs=args.epochs, seed=args.seed, learning_rate=args.learning_rate)
    root = data.locate(args.data)
    train_set = data.load_split(root, "train")
    test_set = data.load_split(root, "test")
    params = train(config, train_set, test_set, args.checkpoint, log=lambda m: print(m, flush=True))
    save_atomic(args.out, params)
    print(f"wrote {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
