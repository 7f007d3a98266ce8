"""What a data literal hidden in a Closed Division entry's code can carry, and what accuracy it buys.

A Closed entry ships code only (validate refuses data files), so retrained
parameters can reach its model only as literals in its ``.py`` files, and the
Closed code-size limit (``submission: closed_max_code_bytes``) bounds them.
This measures what the cheapest retraining, the part of the network a small
literal can hold, buys over the baseline on the 10,000 CIFAR-10 test images:

* the baseline's features are frozen: ``z = flatten(conv(image)) @ fc1.weight``
  (128 numbers per image), computed once for the 50,000 training and 10,000
  test images;
* on top of them, a ladder of refits by full-batch Adam on the cross entropy,
  starting from the baseline's values: ``fc2.bias`` (10 parameters),
  ``fc2`` (1,290), ``fc2`` + ``fc1.bias`` (1,418);
* each refit on the training labels (retraining as a cheat would do it) and on
  the test labels (the CIFAR-10 test set is public: the worst case);
* each refit shipped as int8 (one float16 scale per output column, float16
  biases): the bytes of that payload, of the payload base85-encoded in a
  literal (5 characters per 4 bytes), and the test accuracy it gives;
* the same ladder on a model whose fc1 was crushed to ternary weights
  (-s, 0, +s per column: a Closed recipe may do that), to show how much of a
  compression loss a refit recovers; the accuracy-gain rule cannot see that
  (and, for comparison, what the same model recovers without labels, fc2 fit
  to the baseline's logits on the calibration images, as a recipe may);
* what a literal up to the Closed code-size limit can carry: fc2, fc1.bias
  and low-rank updates ``U @ V`` of fc1, up to the largest rank whose int8
  payload fits in the limit.

A literal of N bytes of UTF-8 source carries less than N bytes of information
(the source must be valid UTF-8 text and a string literal excludes its quote
and NUL), so at most N int8 parameters or N/2 float16 ones: that bound holds
whatever the encoding.

    OPENBLAS_NUM_THREADS=1 python benchmarks/closed_literal_bound.py --data DIR [--steps 400]

It needs the full CIFAR-10 set (training batches too) and holds the 4,096-d
features of all 60,000 images (about 1 GB); refits are full-batch Adam, so the
gains it prints are what a cheap attempt buys, not the most an attacker can.
"""

from __future__ import annotations

import argparse
import base64
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grader.baseline import model as net
from grader.core import config
from grader.measure import data

BASELINE_DIR = Path(net.__file__).parent
BATCH = 500
LR_U = 1e-4


def flat_features(images: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
    """``flatten(conv(images))``: the 4,096 numbers per image that fc1 reads, float32."""
    out = []
    for start in range(0, len(images), BATCH):
        x = net.normalize(images[start:start + BATCH])
        x = net.maxpool2(net.relu(net.conv3x3(x, params["conv1.weight"], params["conv1.bias"])))
        x = net.maxpool2(net.relu(net.conv3x3(x, params["conv2.weight"], params["conv2.bias"])))
        out.append(net.flatten(x))
    return np.concatenate(out)


def ternary(weight: np.ndarray) -> np.ndarray:
    """Each column to {-s, 0, +s}: zero below 0.7 x mean |w|, s the mean |w| of the rest (TWN)."""
    threshold = 0.7 * np.abs(weight).mean(axis=0, keepdims=True)
    keep = np.abs(weight) > threshold
    scale = (np.abs(weight) * keep).sum(axis=0, keepdims=True) / np.maximum(keep.sum(axis=0, keepdims=True), 1)
    return (np.sign(weight) * keep * scale).astype(np.float32)


@dataclass
class Head:
    """The trainable top of the network: relu(z + fc1_bias) @ fc2_weight + fc2_bias."""

    fc1_bias: np.ndarray
    fc2_weight: np.ndarray
    fc2_bias: np.ndarray

    def logits(self, z: np.ndarray) -> np.ndarray:
        return np.maximum(z + self.fc1_bias, 0.0) @ self.fc2_weight + self.fc2_bias

    def accuracy(self, z: np.ndarray, labels: np.ndarray) -> float:
        return 100.0 * float(np.mean(self.logits(z).argmax(axis=1) == labels))


def refit(head: Head, z: np.ndarray, labels: np.ndarray, which: tuple[str, ...], steps: int) -> Head:
    """Full-batch Adam on the mean cross entropy, only the arrays named in ``which`` move."""
    params = {"fc1_bias": head.fc1_bias.copy(), "fc2_weight": head.fc2_weight.copy(),
              "fc2_bias": head.fc2_bias.copy()}
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v2 = {k: np.zeros_like(v) for k, v in params.items()}
    onehot = np.eye(10, dtype=np.float32)[labels]
    lr, beta1, beta2 = 3e-3, 0.9, 0.999
    for t in range(1, steps + 1):
        pre = z + params["fc1_bias"]
        h = np.maximum(pre, 0.0)
        logits = h @ params["fc2_weight"] + params["fc2_bias"]
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        d = (p - onehot) / len(z)
        grads = {"fc2_weight": h.T @ d, "fc2_bias": d.sum(axis=0),
                 "fc1_bias": ((d @ params["fc2_weight"].T) * (pre > 0)).sum(axis=0)}
        for k in which:
            m[k] = beta1 * m[k] + (1 - beta1) * grads[k]
            v2[k] = beta2 * v2[k] + (1 - beta2) * grads[k] ** 2
            step = lr * (m[k] / (1 - beta1 ** t)) / (np.sqrt(v2[k] / (1 - beta2 ** t)) + 1e-8)
            params[k] = params[k] - step
    return Head(params["fc1_bias"], params["fc2_weight"], params["fc2_bias"])


def shipped(fitted: Head, base: Head, which: tuple[str, ...]) -> tuple[Head, int]:
    """``fitted`` as the literal would carry it (int8 + float16 column scales, float16 biases), and its bytes."""
    arrays = {}
    size = 0
    for k in ("fc1_bias", "fc2_weight", "fc2_bias"):
        value = getattr(fitted, k)
        if k not in which:
            arrays[k] = getattr(base, k)
        elif value.ndim == 2:
            scale = (np.abs(value).max(axis=0) / 127.0).astype(np.float16)
            q = np.clip(np.round(value / scale.astype(np.float32)), -127, 127).astype(np.int8)
            arrays[k] = q.astype(np.float32) * scale.astype(np.float32)
            size += q.nbytes + scale.nbytes
        else:
            half = value.astype(np.float16)
            arrays[k] = half.astype(np.float32)
            size += half.nbytes
    return Head(**arrays), size


LADDER = (("fc2.bias", ("fc2_bias",)), ("fc2", ("fc2_weight", "fc2_bias")),
          ("fc2 + fc1.bias", ("fc2_weight", "fc2_bias", "fc1_bias")))


def ladder(title: str, base: Head, z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray,
           y_test: np.ndarray, reference: float, steps: int) -> None:
    start = base.accuracy(z_test, y_test)
    print(f"\n{title}: test accuracy {start:.2f}% ({start - reference:+.2f} pp vs the baseline)")
    print(f"  {'refit':<16}{'params':>7}{'payload B':>10}{'literal B':>10}  "
          f"{'fit on train: acc (gain)':>26}  {'fit on test: acc (gain)':>26}")
    for name, which in LADDER:
        params = sum(getattr(base, k).size for k in which)
        cells = []
        payload = 0
        for z_fit, y_fit in ((z_train, y_train), (z_test, y_test)):
            head, payload = shipped(refit(base, z_fit, y_fit, which, steps), base, which)
            acc = head.accuracy(z_test, y_test)
            cells.append(f"{acc:.2f}% ({acc - reference:+.2f} pp)")
        literal = len(base64.b85encode(bytes(payload)))
        print(f"  {name:<16}{params:>7,}{payload:>10,}{literal:>10,}  {cells[0]:>26}  {cells[1]:>26}")


def int8_bytes(matrix: np.ndarray) -> tuple[np.ndarray, int]:
    """``matrix`` through int8 with one float16 scale per column, and the bytes that takes."""
    scale = (np.abs(matrix).max(axis=0) / 127.0).astype(np.float16).astype(np.float32)
    scale = np.where(scale == 0, 1.0, scale)
    q = np.clip(np.round(matrix / scale), -127, 127)
    return (q * scale).astype(np.float32), q.size + 2 * matrix.shape[1]


def low_rank_refit(base: Head, w1: np.ndarray, flat_fit: np.ndarray, y_fit: np.ndarray, flat_test: np.ndarray,
                   y_test: np.ndarray, rank: int, steps: int) -> tuple[float, int]:
    """fc2, fc1.bias and a rank-``rank`` update ``U @ V`` of fc1 refit together; (test accuracy, payload bytes)."""
    rng = np.random.default_rng(0)
    p = {"u": rng.normal(0, 0.01, (flat_fit.shape[1], rank)).astype(np.float32),
         "v": np.zeros((rank, w1.shape[1]), np.float32), "c": base.fc1_bias.copy(),
         "w": base.fc2_weight.copy(), "b": base.fc2_bias.copy()}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v2 = {k: np.zeros_like(v) for k, v in p.items()}
    z0 = flat_fit @ w1
    onehot = np.eye(10, dtype=np.float32)[y_fit]
    lr, beta1, beta2 = 3e-3, 0.9, 0.999
    for t in range(1, steps + 1):
        a = flat_fit @ p["u"]
        pre = z0 + a @ p["v"] + p["c"]
        h = np.maximum(pre, 0.0)
        logits = h @ p["w"] + p["b"]
        logits -= logits.max(axis=1, keepdims=True)
        prob = np.exp(logits)
        prob /= prob.sum(axis=1, keepdims=True)
        d = (prob - onehot) / len(flat_fit)
        dz = (d @ p["w"].T) * (pre > 0)
        grads = {"w": h.T @ d, "b": d.sum(axis=0), "c": dz.sum(axis=0), "v": a.T @ dz,
                 "u": flat_fit.T @ (dz @ p["v"].T)}
        for k, g in grads.items():
            m[k] = beta1 * m[k] + (1 - beta1) * g
            v2[k] = beta2 * v2[k] + (1 - beta2) * g ** 2
            rate = LR_U if k == "u" else lr  # u has 4,096 inputs per output: a smaller step
            p[k] -= rate * (m[k] / (1 - beta1 ** t)) / (np.sqrt(v2[k] / (1 - beta2 ** t)) + 1e-8)
    u, size_u = int8_bytes(p["u"])
    v, size_v = int8_bytes(p["v"])
    head, size_head = shipped(Head(p["c"], p["w"], p["b"]), base, ("fc2_weight", "fc2_bias", "fc1_bias"))
    z = flat_test @ (w1 + u @ v)
    return head.accuracy(z, y_test), size_u + size_v + size_head


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=os.environ.get(data.ENV_VAR),
                        help=f"folder holding cifar-10-batches-py with the training batches (default: ${data.ENV_VAR})")
    parser.add_argument("--steps", type=int, default=400, help="Adam steps per refit")
    args = parser.parse_args()
    if args.data is None:
        parser.error(f"--data or ${data.ENV_VAR} must name the full CIFAR-10 set (training batches too)")
    folder = data.locate(Path(args.data))
    closed = config.load().submission.closed_max_code_bytes
    params = net.load(BASELINE_DIR).params
    train, test = data.load_split(folder, "train"), data.load_split(folder, "test")
    began = time.perf_counter()
    flat_train, flat_test = flat_features(train.images, params), flat_features(test.images, params)
    print(f"features of {len(train.images):,} + {len(test.images):,} images in {time.perf_counter() - began:.0f} s")
    base = Head(params["fc1.bias"], params["fc2.weight"], params["fc2.bias"])
    w1 = params["fc1.weight"]
    reference = base.accuracy(flat_test @ w1, test.labels)
    print(f"baseline test accuracy {reference:.2f}%")
    began = time.perf_counter()
    ladder("baseline features", base, flat_train @ w1, train.labels, flat_test @ w1, test.labels, reference,
           args.steps)
    crushed = ternary(w1)
    ladder("fc1 crushed to ternary", base, flat_train @ crushed, train.labels, flat_test @ crushed, test.labels,
           reference, args.steps)
    # What a recipe may do without labels: fit fc2 to the baseline's own logits on the calibration images.
    cal = config.load().calibration_images
    h_cal = np.maximum(flat_train[:cal] @ crushed + base.fc1_bias, 0.0)
    h_cal = np.hstack([h_cal, np.ones((cal, 1), np.float32)])
    solution = np.linalg.lstsq(h_cal, base.logits(flat_train[:cal] @ w1), rcond=None)[0].astype(np.float32)
    distilled = Head(base.fc1_bias, solution[:-1], solution[-1])
    acc = distilled.accuracy(flat_test @ crushed, test.labels)
    print(f"  allowed, no literal: fc2 fit to the baseline's logits on the {cal} unlabelled calibration images "
          f"(least squares): {acc:.2f}% ({acc - reference:+.2f} pp)")
    # Low-rank updates of fc1 up to the largest whose int8 payload (with fc2 and fc1.bias) fits in the limit.
    largest = (closed - 1_576 - 2 * 128) // (4_096 + 2 + 128)
    print(f"\nfc2 + fc1.bias + a rank-r update U @ V of fc1 (up to the most a {closed:,}-byte literal can carry):")
    print(f"  {'rank':<6}{'params':>8}{'payload B':>10}{'literal B':>10}  {'fit on train: acc (gain)':>26}  "
          f"{'fit on test: acc (gain)':>26}")
    for rank in range(1, largest + 1):
        cells = []
        payload = 0
        for flat_fit, y_fit in ((flat_train, train.labels), (flat_test, test.labels)):
            acc, payload = low_rank_refit(base, w1, flat_fit, y_fit, flat_test, test.labels, rank, args.steps)
            cells.append(f"{acc:.2f}% ({acc - reference:+.2f} pp)")
        count = 1_418 + rank * (w1.shape[0] + w1.shape[1])
        print(f"  {rank:<6}{count:>8,}{payload:>10,}{len(base64.b85encode(bytes(payload))):>10,}  "
              f"{cells[0]:>26}  {cells[1]:>26}")
    print(f"\nrefits in {time.perf_counter() - began:.0f} s ({args.steps} Adam steps each)")
    print(f"\nclosed_max_code_bytes = {closed:,}: a literal that fills it carries less than {closed:,} B, i.e. "
          f"at most {closed:,} int8 or {closed // 2:,} float16 parameters (base85-encoded: {closed * 4 // 5:,} B)")
    for name in ("submissions/closed-int8-prune", "tests/examples/valid/closed-full"):
        entry = Path(__file__).resolve().parent.parent / name
        print(f"{name}: {sum(p.stat().st_size for p in entry.glob('*.py')):,} B of Python")


if __name__ == "__main__":
    main()
