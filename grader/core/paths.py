"""Where the grader keeps files of its own on this machine (the CIFAR-10 cache)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def cache_dir(env: Mapping[str, str] = os.environ) -> Path:
    """The user cache directory: ``$XDG_CACHE_HOME/tinymlperf`` or ``~/.cache/tinymlperf``."""
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tinymlperf"
