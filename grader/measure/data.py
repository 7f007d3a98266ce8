"""CIFAR-10 in the official "python version" layout: find it, load it, check it.

The layout is ``cifar-10-batches-py/`` with ``data_batch_1..5``, ``test_batch``
and ``batches.meta``: pickled dicts with bytes keys, ``b'data'`` uint8
[N, 3072] channel-major and ``b'labels'`` a list of ints.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import pickle
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from grader.core.errors import DataError
from grader.core.paths import cache_dir

OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
OFFICIAL_MD5 = "c58f30108f718f92721af3b95e74349a"
OFFICIAL_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
# MD5 of each file in the official archive (the values torchvision checks): a cached copy is
# checked against them on every read, so a poisoned or damaged cache is never graded with.
OFFICIAL_BATCH_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}
ENV_VAR = "TINYMLPERF_DATA"
FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
IMAGE_SHAPE = (3, 32, 32)


@dataclass(frozen=True)
class Split:
    """Images uint8 N x 3 x 32 x 32 and labels int64 N."""

    images: np.ndarray
    labels: np.ndarray


# The only globals a batch file may name: what pickling a numpy array needs.
# Official batches were written by Python 2 with ``numpy.core``; newer files say
# ``numpy._core``, and Python 3 at protocol 2 spells bytes as ``_codecs.encode``.
# Anything else would be code, and a batch file is data.
_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]
_ALLOWED_GLOBALS: dict[tuple[str, str], object] = {
    **{(f"numpy.{core}.multiarray", "_reconstruct"): _RECONSTRUCT for core in ("core", "_core")},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
}


class _BatchUnpickler(pickle.Unpickler):
    """Unpickle plain containers, bytes and numpy arrays only."""

    def find_class(self, module: str, name: str) -> object:
        if (module, name) in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[(module, name)]
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def load_batch(path: Path) -> Split:
    """Read one batch file; a corrupt, truncated or odd file raises DataError naming it."""
    try:
        with open(path, "rb") as handle:
            batch = _BatchUnpickler(handle, encoding="bytes").load()
    except FileNotFoundError as e:
        raise DataError(f"{path}: missing CIFAR-10 batch file") from e
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, OverflowError, MemoryError) as e:
        raise DataError(f"{path}: not a readable CIFAR-10 batch (corrupt or truncated): {e}") from e
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(f"{path}: not a CIFAR-10 batch (expected a dict with b'data' and b'labels')")
    raw, labels = batch[b"data"], batch[b"labels"]
    if not isinstance(raw, np.ndarray) or raw.dtype != np.uint8 or raw.ndim != 2 or raw.shape[1] != 3072:
        raise DataError(f"{path}: b'data' must be a uint8 array of shape [N, 3072]")
    if not isinstance(labels, list) or len(labels) != raw.shape[0]:
        raise DataError(f"{path}: b'labels' must be a list with one label per image")
    label_array = np.asarray(labels, dtype=np.int64)
    if label_array.size and (label_array.min() < 0 or label_array.max() > 9):
        raise DataError(f"{path}: labels must be integers 0..9")
    return Split(raw.reshape(-1, *IMAGE_SHAPE), label_array)


def locate(root: Path) -> Path:
    """Return the ``cifar-10-batches-py`` folder at or directly below ``root``."""
    for candidate in (root, root / FOLDER):
        if (candidate / TEST_BATCH).is_file():
            return candidate
    raise DataError(f"{root}: no CIFAR-10 test batch here (looked for {TEST_BATCH} and {FOLDER}/{TEST_BATCH})")


def load_split(folder: Path, split: Literal["train", "test"]) -> Split:
    """Load the training (50,000) or test (10,000) images from a ``cifar-10-batches-py`` folder."""
    names = TRAIN_BATCHES if split == "train" else (TEST_BATCH,)
    parts = [load_batch(folder / name) for name in names]
    return Split(np.concatenate([p.images for p in parts]), np.concatenate([p.labels for p in parts]))


def _has_data(root: Path) -> Path | None:
    try:
        return locate(root)
    except DataError:
        return None


def verify_files(folder: Path, digests: Mapping[str, str]) -> None:
    """DataError naming the first file in ``folder`` that is missing or whose MD5 is not ``digests[name]``."""
    for name, expected in sorted(digests.items()):
        try:
            with open(folder / name, "rb") as handle:
                actual = hashlib.file_digest(handle, "md5").hexdigest()
        except OSError as e:
            raise DataError(f"{folder / name}: cannot be read ({e.strerror or e})") from e
        if actual != expected:
            raise DataError(f"{folder / name}: MD5 {actual} is not the official {expected}; "
                            "the cached copy is damaged or was tampered with")


def resolve(data_arg: Path | None, *, env: Mapping[str, str] = os.environ, cache: Path | None = None,
            url: str = OFFICIAL_URL, md5: str = OFFICIAL_MD5, download: bool = True,
            progress: Callable[[int, int | None], None] | None = None,
            cache_digests: Mapping[str, str] | None = OFFICIAL_BATCH_MD5) -> Path:
    """Find the ``cifar-10-batches-py`` folder: ``--data``, then ``$TINYMLPERF_DATA``, then the cache.

    ``--data`` and the environment variable are taken at their word: if they name
    a folder without the data, that is an error, not a cue to look elsewhere.
    Only when neither is given is the cache searched and, failing that, filled
    by downloading ``url`` (MD5-verified, extracted safely and atomically).
    A cached copy is checked against ``cache_digests`` on every read (a CI cache
    can be written by another job); one that fails is removed and fetched again.
    """
    cache = cache if cache is not None else cache_dir(env)
    named = (data_arg, "--data") if data_arg is not None else (
        (Path(env[ENV_VAR]), ENV_VAR) if env.get(ENV_VAR) else None)
    if named is not None:
        try:
            return locate(named[0])
        except DataError as e:
            raise DataError(f"{e}; {named[1]} must name a folder holding {FOLDER}/ or its files. {OFFLINE}") from e
    found = _has_data(cache)
    if found is not None:
        try:
            if cache_digests is not None:
                verify_files(found, cache_digests)
            return found
        except DataError as e:
            if not download:
                raise DataError(_how_to_supply(cache, str(e))) from e
            shutil.rmtree(found)
    if not download:
        raise DataError(_how_to_supply(cache, "downloading is turned off"))
    return fetch(url, md5, cache, progress=progress, sha256=OFFICIAL_SHA256 if md5 == OFFICIAL_MD5 else None)


OFFLINE = ("Offline, build it from the shared JPEG copy: python -m pip install -e '.[data]' && "
           "python ../shared/data/cifar10_from_jpeg.py ../shared/data/cifar10-jpeg.tar.gz DIR "
           "(README: Getting the data).")


def _how_to_supply(cache: Path, why: str) -> str:
    return (f"CIFAR-10 is not available ({why}). Supply it one of three ways: "
            f"pass --data DIR, set {ENV_VAR}=DIR, or put {FOLDER}/ in {cache} "
            f"(DIR holds {FOLDER}/ or its files; get cifar-10-python.tar.gz from {OFFICIAL_URL}). {OFFLINE}")


def fetch(url: str, md5: str, cache: Path, *, progress: Callable[[int, int | None], None] | None = None,
          timeout: float = 30.0, sha256: str | None = None) -> Path:
    """Download the archive into ``cache``, verify its MD5, extract it safely; return the data folder.

    Nothing half-written is left behind: the download and the extraction happen
    in a temporary folder inside ``cache`` that is renamed into place only after
    the checksum and every batch file have been verified.
    """
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=cache) as tmp:
        archive = Path(tmp) / "cifar-10-python.tar.gz"
        digest, strong = hashlib.md5(), hashlib.sha256()
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(archive, "wb") as out:
                total = response.headers.get("Content-Length")
                expected = int(total) if total and total.isdigit() else None
                done = 0
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    digest.update(chunk)
                    strong.update(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, expected)
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise DataError(_how_to_supply(cache, f"download of {url} failed: {e}")) from e
        if expected is not None and done != expected:
            raise DataError(_how_to_supply(cache, f"download of {url} was truncated: {done} of {expected} bytes"))
        if digest.hexdigest() != md5:
            raise DataError(_how_to_supply(
                cache, f"download of {url} has MD5 {digest.hexdigest()}, expected {md5}; refusing it"))
        if sha256 is not None and strong.hexdigest() != sha256:
            raise DataError(_how_to_supply(
                cache, f"download of {url} has SHA-256 {strong.hexdigest()}, expected {sha256}; refusing it"))
        staging = Path(tmp) / "extract"
        extract_safely(archive, staging)
        folder = staging / FOLDER
        for name in (*TRAIN_BATCHES, TEST_BATCH):
            load_batch(folder / name)
        target = cache / FOLDER
        if target.exists():
            shutil.rmtree(target)
        os.replace(folder, target)
    return target


def extract_safely(archive: Path, dest: Path) -> None:
    """Extract a CIFAR-10 tarball, refusing any member that is not a plain file or folder inside ``FOLDER``."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
            for member in members:
                parts = Path(member.name).parts
                if (member.name.startswith("/") or ".." in parts or not parts or parts[0] != FOLDER
                        or not (member.isfile() or member.isdir())):
                    raise DataError(f"{archive}: refusing member {member.name!r}: "
                                    f"only plain files inside {FOLDER}/ may be extracted")
            dest.mkdir(parents=True, exist_ok=True)
            # the "data" filter (Python >= 3.11.4) on top of the check above; older 3.11 (Debian's
            # /usr/bin/python3, which CI's world-readable venv uses) has only the check
            safe: dict[str, Any] = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(dest, members=members, **safe)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise DataError(f"{archive}: not a readable CIFAR-10 archive (corrupt or truncated): {e}") from e


def terminal_progress(done: int, total: int | None) -> None:
    """Progress line on stderr for interactive use; callers pass it only when stderr is a TTY."""
    if total:
        sys.stderr.write(f"\rdownloading CIFAR-10: {done / total:6.1%} of {total / 1e6:.0f} MB")
        if done >= total:
            sys.stderr.write("\n")
    else:
        sys.stderr.write(f"\rdownloading CIFAR-10: {done / 1e6:.0f} MB")
    sys.stderr.flush()
