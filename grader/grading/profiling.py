"""``tinymlperf profile``: where the entry's time goes, per function, and its size per array, beside the baseline's.

Both models run in sandboxed workers under the same rules as a grade (``grader.sandbox.parent``),
in profiling mode: a deterministic profiler (cProfile) is switched on around their
``predict`` calls only, one image per call as in timing. The per-function times are the
worker's own numbers, inflated by the profiler's overhead and reported by code we do not
trust: they say where to look, for the student only, and never enter a grade or a ranking.
Sizes per array are read by the parent from the ``.npz`` files (zlib-9 bytes, as scored).
"""

from __future__ import annotations

import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grader.core import markdown
from grader.grading import grade
from grader.measure import data
from grader.sandbox import parent as sandbox

SHOWN = 12  # functions and arrays listed per model


@dataclass(frozen=True)
class FunctionTime:
    name: str  # "model.py:41(conv2d)" or a C function: "<method 'dot' of 'numpy.ndarray' objects>"
    calls: int
    own_ms: float  # per image, excluding the functions it called
    total_ms: float  # per image, including them


@dataclass(frozen=True)
class ArraySize:
    name: str  # "weights.npz:fc1.weight"
    dtype: str
    shape: tuple[int, ...]
    zlib_bytes: int


@dataclass(frozen=True)
class ModelProfile:
    images: int
    functions: tuple[FunctionTime, ...]  # by own time, largest first
    arrays: tuple[ArraySize, ...]  # by compressed size, largest first

    @property
    def own_ms(self) -> float:
        """Per-image time of every profiled function (profiler overhead included)."""
        return sum(f.own_ms for f in self.functions)

    @property
    def size_bytes(self) -> int:
        return sum(a.zlib_bytes for a in self.arrays)


def arrays_of(folder: Path) -> tuple[ArraySize, ...]:
    """Every array of every ``.npz`` in ``folder``, compressed as the size score counts it."""
    found = []
    for path in sorted(folder.glob("*.npz")):
        with np.load(path, allow_pickle=False) as archive:
            for key in archive.files:
                array = archive[key]
                found.append(ArraySize(f"{path.name}:{key}", array.dtype.name, tuple(array.shape),
                                       len(zlib.compress(np.ascontiguousarray(array).tobytes(), 9))))
    return tuple(sorted(found, key=lambda a: (-a.zlib_bytes, a.name)))


def profile_model(folder: Path, images: np.ndarray, request: grade.GradeRequest) -> ModelProfile:
    """Predict ``images`` one per call in a profiling worker; its per-function times per image, and the arrays."""
    limits = request.config.sandbox
    worker = sandbox.ModelWorker(folder, limits, isolation=request.isolation,
                                 hide=sandbox.hidden_paths(request.data_dir),
                                 load_seconds=request.config.budgets.load_seconds, profile=True)
    with worker:
        with worker.within(request.config.budgets.timing_seconds, "profile"):
            worker.time_queries(images, 1)
            rows = worker.profile_rows()
    n = len(images)
    functions = tuple(FunctionTime(name, calls, 1000 * own / n, 1000 * total / n) for name, calls, own, total in rows)
    return ModelProfile(n, functions, arrays_of(folder))


def profile(request: grade.GradeRequest, count: int, progress: grade.Progress = lambda message: None) -> tuple[ModelProfile,
                                                                                                ModelProfile]:
    """The entry's profile and the baseline's, on the first ``count`` test images (entry rebuilt as in a grade)."""
    images = data.load_split(request.data_dir, "test").images[:count]
    with tempfile.TemporaryDirectory(prefix="tinymlperf-profile-") as tmp:
        model_dir = grade.build_entry(request, Path(tmp), progress)
        progress(f"profiling the entry on {count} test images, one per call")
        entry = profile_model(model_dir, images, request)
    progress(f"profiling the baseline on {count} test images, one per call")
    baseline = profile_model(request.baseline_dir, images, request)
    return entry, baseline


def _function_rows(p: ModelProfile) -> list[list[str]]:
    total = p.own_ms or 1.0
    return [[markdown.text(f.name, 90), f"{f.calls / p.images:g}", f"{f.own_ms:.3f}", f"{f.own_ms / total:.0%}",
             f"{f.total_ms:.3f}"] for f in p.functions[:SHOWN]]


def _array_rows(p: ModelProfile) -> list[list[str]]:
    total = p.size_bytes or 1
    return [[markdown.text(a.name, 60), markdown.text(a.dtype, 16), "×".join(map(str, a.shape)) or "scalar",
             f"{a.zlib_bytes:,}", f"{a.zlib_bytes / total:.0%}"] for a in p.arrays[:SHOWN]]


def render(entry: ModelProfile, baseline: ModelProfile) -> str:
    """The profile as Markdown (the terminal prints the same text): time per function, size per array, both models."""
    out = [f"Per image, {entry.images} test images one per call; the profiled functions took "
           f"**{entry.own_ms:.3f} ms** in the entry and **{baseline.own_ms:.3f} ms** in the baseline "
           "(profiler overhead included: compare the two, not with timing). The worker's own numbers, "
           "for you only: they never enter a grade.", ""]
    heads = ["Function", "Calls per image", "Own ms", "Share", "With callees ms"]
    for label, p in (("Entry", entry), ("Baseline", baseline)):
        out += [f"**{label}: where the time goes**", "", markdown.table(heads, _function_rows(p), right=(1, 2, 3, 4)),
                ""]
    heads = ["Array", "Dtype", "Shape", "zlib-9 bytes", "Share"]
    for label, p in (("Entry", entry), ("Baseline", baseline)):
        out += [f"**{label}: size per array** ({p.size_bytes:,} B of weights in all)", "",
                markdown.table(heads, _array_rows(p), right=(3, 4)), ""]
    return "\n".join(out).rstrip() + "\n"
