"""Baseline CNN forward-pass speed on this machine, single-threaded.

Prints per-image latency at batch 1, throughput at batch 100 (medians of
repeated runs), the achieved GFLOP/s, and this machine's single-thread SGEMM
GFLOP/s for scale. BLAS is pinned to one thread before NumPy loads, as in the
grader's sandbox.

    python benchmarks/baseline_forward.py [--data DIR] [--repeats 30]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402 - BLAS threads must be pinned before numpy loads
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from grader.baseline import model as net  # noqa: E402
from grader.measure import data  # noqa: E402

# Multiply-adds x 2 of the convolutions and linear layers (bias, ReLU, pooling excluded).
FLOPS_PER_IMAGE = 2 * (32 * 32 * 32 * 27 + 16 * 16 * 64 * 288 + 4096 * 128 + 128 * 10)


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def sgemm_gflops(n: int = 512, repeats: int = 20) -> float:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)
    return 2 * n**3 / median_seconds(lambda: a @ b, repeats) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="CIFAR-10 folder (default: as the grader finds it)")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    images = data.load_split(data.resolve(args.data), "test").images
    model = net.load(Path(net.__file__).parent)
    one = images[:1]
    hundred = images[:100]
    single = median_seconds(lambda: model.predict(one), args.repeats * 10)
    batch = median_seconds(lambda: model.predict(hundred), args.repeats)
    gemm = sgemm_gflops()
    print(f"baseline CNN, {FLOPS_PER_IMAGE / 1e6:.2f} MFLOP per image, BLAS threads pinned to 1")
    print(f"batch 1:   {single * 1e3:8.3f} ms per image   {FLOPS_PER_IMAGE / single / 1e9:6.2f} GFLOP/s")
    print(f"batch 100: {100 / batch:8.0f} images/s      {100 * FLOPS_PER_IMAGE / batch / 1e9:6.2f} GFLOP/s")
    print(f"SGEMM 512x512 single thread: {gemm:6.2f} GFLOP/s")


if __name__ == "__main__":
    main()
