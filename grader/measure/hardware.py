"""What machine a grade ran on: recorded with every result, since timings are only comparable within it."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import numpy as np


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _ram_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def _blas() -> str:
    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return f"{blas.get('name', 'unknown')} {blas.get('version', '')}".strip()
    except (TypeError, KeyError, AttributeError):
        return "unknown"


def describe() -> dict:
    """The ``hardware`` object of result.schema.json for this machine."""
    return {
        "cpu_model": _cpu_model()[:200],
        "cores": os.cpu_count() or 1,
        "ram_bytes": _ram_bytes(),
        "os": f"{platform.system()} {platform.release()}"[:200],
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": _blas()[:200],
    }
