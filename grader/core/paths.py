"""Where the grader keeps files of its own: the CIFAR-10 cache on this machine, the packaged baseline."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

# The baseline entry the grader ships (grader/baseline/): run by path in the sandbox, never imported.
BASELINE_DIR = Path(__file__).resolve().parents[1] / "baseline"
BASELINE_WEIGHTS = BASELINE_DIR / "weights.npz"


def cache_dir(env: Mapping[str, str] = os.environ) -> Path:
    """The user cache directory: ``$XDG_CACHE_HOME/tinymlperf`` or ``~/.cache/tinymlperf``."""
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tinymlperf"
