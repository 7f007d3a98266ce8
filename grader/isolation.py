"""How far a sandbox worker can be walled off on this machine, decided once per interpreter.

``user+netns``: the worker runs as ``nobody`` in a network namespace of its
own (``unshare --net`` + ``setpriv``), which needs root or passwordless sudo,
the tools, and an interpreter ``nobody`` can read. Otherwise ``process``: a
plain child process with rlimits and the in-worker audit hook (see sandbox.py).
The decision is a pure function of the facts probed (:func:`plan_isolation`),
so each branch is tested without needing every kind of machine.
"""

from __future__ import annotations

import functools
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from typing import Literal

__all__ = ["Level", "Requested", "Isolation", "plan_isolation", "probe", "user_prefix", "SANDBOX_USER", "PROBE_SECONDS"]

SANDBOX_USER = "nobody"
PROBE_SECONDS = 30

Level = Literal["process", "user+netns"]
Requested = Literal["auto", "process"]  # what a caller may ask for


@dataclass(frozen=True)
class Isolation:
    """The isolation a worker actually got, and why not more."""

    level: Level
    details: tuple[str, ...]

    def to_json(self) -> dict:
        """As result.json and baseline.json record it."""
        return {"level": self.level, "details": list(self.details)}


def plan_isolation(requested: Requested, *, euid: int, sudo: bool,
                   missing_tools: tuple[str, ...], probe_error: str | None) -> tuple[Level, tuple[str, ...]]:
    """Decide the isolation level from the facts found on this machine (pure, for tests)."""
    if requested == "process":
        return "process", ("process isolation requested by the caller",)
    if euid != 0 and not sudo:
        return "process", ("no user+netns: not root and no passwordless sudo",)
    if missing_tools:
        return "process", (f"no user+netns: missing {', '.join(missing_tools)}",)
    if probe_error is not None:
        return "process", (f"no user+netns: {probe_error}",)
    how = "as root" if euid == 0 else "via passwordless sudo"
    return "user+netns", (f"runs as user {SANDBOX_USER!r} in a new network namespace ({how})",)


def user_prefix(sudo: bool) -> list[str]:
    entry = pwd.getpwnam(SANDBOX_USER)
    prefix = ["sudo", "-n", "--"] if sudo else []
    return prefix + ["unshare", "--net", "--", "setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}",
                     "--clear-groups", "--no-new-privs", "--", "env", "-i"]


@functools.cache
def probe(python: str) -> tuple[Level, tuple[str, ...], bool]:
    """Find what this machine allows; cached per interpreter. Returns (level, details, sudo)."""
    euid = os.geteuid()
    sudo = False
    if euid != 0 and shutil.which("sudo"):
        sudo = subprocess.run(["sudo", "-n", "true"], capture_output=True, timeout=PROBE_SECONDS).returncode == 0
    missing = tuple(t for t in ("unshare", "setpriv", "env") if shutil.which(t) is None)
    try:
        pwd.getpwnam(SANDBOX_USER)
    except KeyError:
        missing += (f"user {SANDBOX_USER!r}",)
    probe_error = None
    if (euid == 0 or sudo) and not missing:
        probe_error = _probe_interpreter(python, sudo)
    level, details = plan_isolation("auto", euid=euid, sudo=sudo, missing_tools=missing, probe_error=probe_error)
    return level, details, sudo


def _probe_interpreter(python: str, sudo: bool) -> str | None:
    """Run the interpreter as the sandbox user; None when it sees the same Python and numpy."""
    code = "import sys, numpy; print(sys.prefix, sys.version, numpy.__version__, numpy.__file__)"
    argv = [python, "-s", "-P", "-B", "-c", code]
    try:
        mine = subprocess.run(argv, capture_output=True, timeout=PROBE_SECONDS, cwd="/")
        theirs = subprocess.run(user_prefix(sudo) + argv, capture_output=True, timeout=PROBE_SECONDS, cwd="/")
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"probe failed: {e}"
    if theirs.returncode != 0 or theirs.stdout != mine.stdout:
        return (f"user {SANDBOX_USER!r} cannot run {python} with the same numpy "
                f"(interpreter or site-packages not readable by it)")
    return None
