"""``tinymlperf profile``: where the entry's time goes, per function, and its size per array, beside the baseline's.

Both models run in sandboxed workers under the same rules as a grade (``grader.sandbox.parent``),
in profiling mode: a deterministic profiler (cProfile) is switched on around their
``predict`` calls only, one image per call as in timing. The per-function times are the
worker's own numbers, inflated by the profiler's overhead and reported by code we do not
trust: they say where to look, for the student only, and never enter a grade or a ranking.
Sizes per array are read by the parent from the ``.npz`` files (zlib-9 bytes, as scored).
"""

from __future__ import annotations

import re
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
    own_files: frozenset[str] = frozenset({"model.py"})  # the model's .py files: its own functions' files

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
    return ModelProfile(n, functions, arrays_of(folder), _own_files(folder))


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


def _key(name: str) -> str:
    """A function's name without its line number ("model.py(conv3x3)"), to match it across the two models."""
    return re.sub(r":\d+\(", "(", name)


def _is_own(name: str, files: frozenset[str]) -> bool:
    """Whether ``name`` is a function of the model's own code (a ``.py`` file of its folder), not numpy's or C."""
    return name.split(":", 1)[0] in files


def _own_files(folder: Path) -> frozenset[str]:
    return frozenset(str(p.relative_to(folder)) for p in folder.rglob("*.py"))


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


class _Cells:
    """How a cell is written: inert Markdown for report.md, plain text for the terminal."""

    def __init__(self, plain: bool) -> None:
        self.plain = plain

    def text(self, value: str, length: int) -> str:
        return markdown.clean(value)[:length] if self.plain else markdown.text(value, length)

    def bold(self, value: str) -> str:
        return value if self.plain else f"**{value}**"


def _layer_rows(entry: ModelProfile, baseline: ModelProfile, cells: _Cells) -> list[list[str]]:
    """The models' own functions (their layers), with what they call, per image: the entry's beside the baseline's."""
    mine = {_key(f.name): f for f in entry.functions if _is_own(f.name, entry.own_files)}
    theirs = {_key(f.name): f for f in baseline.functions if _is_own(f.name, baseline.own_files)}
    keys = sorted(mine, key=lambda k: -mine[k].total_ms)[:SHOWN]
    keys += sorted((k for k in theirs if k not in mine), key=lambda k: -theirs[k].total_ms)[:max(0, SHOWN - len(keys))]
    rows = []
    for key in keys:
        e, b = mine.get(key), theirs.get(key)
        rows.append([cells.text(key, 90), f"{e.calls / entry.images:g}" if e else "–",
                     _ms(e.total_ms if e else None), _ms(b.total_ms if b else None)])
    return rows


def _own_time_rows(entry: ModelProfile, baseline: ModelProfile, cells: _Cells) -> list[list[str]]:
    """Every profiled function by its own time (numpy's and C calls included), the baseline's beside it."""
    theirs = {_key(f.name): f for f in baseline.functions}
    listed = {_key(f.name) for f in entry.functions[:SHOWN]}
    total = entry.own_ms or 1.0
    rows = [[cells.text(_key(f.name), 90), f"{f.calls / entry.images:g}", _ms(f.own_ms), f"{f.own_ms / total:.0%}",
             _ms(theirs[_key(f.name)].own_ms if _key(f.name) in theirs else None)] for f in entry.functions[:SHOWN]]
    rows += [[cells.text(_key(f.name), 90), "–", "–", "", _ms(f.own_ms)]
             for f in baseline.functions[:SHOWN] if _key(f.name) not in listed]
    return rows


def _array_rows(entry: ModelProfile, baseline: ModelProfile, cells: _Cells) -> list[list[str]]:
    """Size per array, the entry's beside the baseline's array of the same name."""
    def shape(a: ArraySize) -> str:
        return f"{cells.text(a.dtype, 16)} {'×'.join(map(str, a.shape)) or 'scalar'}"
    theirs = {a.name: a for a in baseline.arrays}
    mine = {a.name for a in entry.arrays}
    total = entry.size_bytes or 1
    rows = []
    for a in entry.arrays[:SHOWN]:
        b = theirs.get(a.name)
        rows.append([cells.text(a.name, 60), shape(a), f"{a.zlib_bytes:,}", f"{a.zlib_bytes / total:.0%}",
                     shape(b) if b else "–", f"{b.zlib_bytes:,}" if b else "–"])
    rows += [[cells.text(b.name, 60), "–", "–", "", shape(b), f"{b.zlib_bytes:,}"]
             for b in baseline.arrays[:SHOWN] if b.name not in mine]
    return rows


def render(entry: ModelProfile, baseline: ModelProfile, *, plain: bool = False) -> str:
    """The profile: time per function (the models' own functions first: their layers) and size per array,
    the entry's beside the baseline's; Markdown for report.md, ``plain`` text for the terminal."""
    cells = _Cells(plain)
    out = [f"Per image, {entry.images} test images one per call; the profiled functions took "
           f"{cells.bold(f'{entry.own_ms:.3f} ms')} in the entry and {cells.bold(f'{baseline.own_ms:.3f} ms')} "
           "in the baseline (profiler overhead included: compare the two, not with timing). The worker's own "
           "numbers, for you only: they never enter a grade.", "",
           cells.bold("Your model's functions (its layers), ms per image including what they call:"), "",
           markdown.table(["Function", "Calls per image", "Entry ms", "Baseline ms"],
                          _layer_rows(entry, baseline, cells), right=(1, 2, 3)), "",
           cells.bold("Where the time goes: own time per function, numpy's calls included (ms per image):"), "",
           markdown.table(["Function", "Calls per image", "Entry ms", "Share", "Baseline ms"],
                          _own_time_rows(entry, baseline, cells), right=(1, 2, 3, 4)), "",
           cells.bold(f"Size per array (zlib-9 bytes, as scored): {entry.size_bytes:,} B in the entry, "
                      f"{baseline.size_bytes:,} B in the baseline:"), "",
           markdown.table(["Array", "Entry", "Entry bytes", "Share", "Baseline", "Baseline bytes"],
                          _array_rows(entry, baseline, cells), right=(2, 3, 5))]
    return "\n".join(out).rstrip() + "\n"
