"""Static checks of a ``.npz`` weight file: plain numeric arrays within the size limit.

An ``.npz`` is a zip of ``.npy`` files. Before numpy reads anything, the zip's
central directory gives every member's uncompressed size (a zip bomb is caught
here, without inflating it), and each member's ``.npy`` header gives its dtype
and shape (object arrays, which need pickle, are caught here). Only then is the
file loaded with ``allow_pickle=False`` to prove the data really is readable.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from grader.core.problem import Problem

# Array kinds a model may use: bool, signed/unsigned int, float, complex.
NUMERIC_KINDS = "biufc"
# Everything numpy or zipfile may raise on a damaged archive.
_READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, zlib.error,
                NotImplementedError, RuntimeError, KeyError, OverflowError, MemoryError)


def check(path: Path, file: str, max_uncompressed_bytes: int) -> list[Problem]:
    """Every problem with the ``.npz`` at ``path`` (shown as ``file``); ``[]`` when it loads as plain arrays."""
    import numpy as np  # here, not at the top: most folders have no .npz and numpy is a slow import

    def problem(message: str, code: str) -> Problem:
        return Problem(file, None, None, message, code)

    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            total = sum(info.file_size for info in infos)
            if total > max_uncompressed_bytes:
                return [problem(f"unpacks to {total:,} bytes, over the {max_uncompressed_bytes:,}-byte limit "
                                "(checked from the zip directory, without unpacking)", "npz-too-large")]
            if not infos:
                return [problem("holds no arrays", "npz-empty")]
            problems = [p for info in infos for p in _member_problems(archive, info, problem)]
        if problems:
            return problems
        with np.load(path, allow_pickle=False) as arrays:
            for name in arrays.files:
                arrays[name]  # noqa: B018 - reading is the check (CRC, truncation)
    except _READ_ERRORS as e:
        return [problem(f"is not a readable .npz archive of numpy arrays: {type(e).__name__}: "
                        f"{' '.join(str(e).split())[:200]}", "npz-unreadable")]
    return []


def _member_problems(archive: zipfile.ZipFile, info: zipfile.ZipInfo,
                     problem: Callable[[str, str], Problem]) -> list[Problem]:
    """Check one member's name and ``.npy`` header against its declared size."""
    import numpy as np
    name = info.filename
    if not name.endswith(".npy") or "/" in name or "\\" in name:
        return [problem(f"member {name!r} is not a top-level .npy array", "npz-member")]
    label = name[: -len(".npy")]
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(member)
        else:
            return [problem(f"array {label!r}: unsupported .npy format version {version}", "npz-member")]
        header_bytes = member.tell()
    if dtype.hasobject:
        return [problem(f"array {label!r} holds Python objects (dtype {dtype}); only plain numeric arrays are "
                        "allowed, they are loaded with allow_pickle=False", "npz-object")]
    if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None:
        return [problem(f"array {label!r} has dtype {dtype}; only plain numeric arrays are allowed", "npz-dtype")]
    expected = math.prod(shape) * dtype.itemsize
    if info.file_size - header_bytes != expected:
        return [problem(f"array {label!r} declares shape {shape} ({expected:,} bytes) but holds "
                        f"{info.file_size - header_bytes:,} bytes", "npz-size-mismatch")]
    return []
