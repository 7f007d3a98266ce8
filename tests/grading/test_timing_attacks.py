"""Entries that try to bend the speedup, graded end to end: each ends near its honest ratio or fails a named check.

Written the way an attacker writes them: no ``import os`` (the allowlist is a first layer
only), but ``os``, ``threading`` and ``importlib`` reached through modules that are already
loaded. Each case runs at the ``process`` level (seccomp and the CPU-time accounting are the
walls there) and at the strongest level the machine allows (``auto``: own uid, PID and network
namespaces); under ``CI=true`` the strong level must be available, not skipped.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import textwrap
from pathlib import Path

import pytest

from grader.grading import grade
from grader.sandbox.isolation import probe
from tests.grading_helpers import BASELINE_DIR, checks_of, entry, fast_config, request

REACH = """
import pathlib as _pathlib
_os = _pathlib.os
_sys = _pathlib.sys
_threading = _sys.modules["threading"]
_time = _sys.modules["time"]
"""

PAUSE_THE_BASELINE = REACH + """
def _siblings():
    # The audit hook refuses os.listdir("/proc") and reading /proc files; os.readlink raises no audit event.
    me = _os.getpid()
    found = []
    for pid in range(max(2, me - 300), me + 300):
        try:
            if pid != me and "tinymlperf-worker-" in _os.readlink(f"/proc/{pid}/cwd"):
                found.append(pid)
        except OSError:
            pass
    return found


def _pause_loop():
    # os.kill is audited (and refused); pidfd_open and pidfd_send_signal raise no audit event.
    send = _sys.modules["signal"].pidfd_send_signal
    stop, cont = 19, 18  # SIGSTOP, SIGCONT
    handles = []
    for pid in _siblings():
        try:
            handles.append(_os.pidfd_open(pid))
        except OSError:
            pass
    while True:
        for fd in handles:
            try:
                send(fd, stop)
                _time.sleep(0.004)
                send(fd, cont)
            except OSError:
                pass
        _time.sleep(0.001)


_sys.modules["importlib"].import_module("signal")
_load = load


def load(folder):
    _threading.Thread(target=_pause_loop, daemon=True).start()
    return _load(folder)
"""

TWO_CORES_TWICE_THE_WORK = REACH + """
try:
    _os.sched_setaffinity(0, set(range(_os.cpu_count())))
except OSError:
    pass
_forward = Model.predict


def _predict_twice_in_two_threads(self, images):
    helper = _threading.Thread(target=_forward, args=(self, images))
    helper.start()
    labels = _forward(self, images)
    helper.join()
    return labels


Model.predict = _predict_twice_in_two_threads
"""

STRONG = "auto"


def _strong_available() -> bool:
    return probe(sys.executable)[0] != "process"  # as the grader probes it (a venv path, not its target)


@pytest.fixture(params=["process", STRONG])
def isolation(request: pytest.FixtureRequest) -> str:
    if request.param == STRONG and not _strong_available():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but the strongest sandbox level is not available to this interpreter")
        pytest.skip("the strongest sandbox level is not available to this interpreter")
    return request.param


def _graded(tmp_path: Path, small_data: Path, extra: str, isolation: str) -> dict:
    source = (BASELINE_DIR / "model.py").read_text() + textwrap.dedent(extra)
    folder = entry(tmp_path, "open", source)
    fast = fast_config()  # enough pairs that an honest ~1.0x reading does not stray past the bounds
    timing = dataclasses.replace(fast.timing, max_pairs=30, budget_seconds=10)
    return grade.grade(request(folder, small_data, isolation=isolation,
                               config=dataclasses.replace(fast, timing=timing))).to_json()


def _named_failure(result: dict, names: tuple[str, ...]) -> str | None:
    """The first of ``names`` among failed checks (a 'runs' failure counts when it names one of them)."""
    checks = checks_of(result)
    for name in names:
        if checks.get(name, {}).get("status") == "fail":
            return name
    runs = checks.get("runs", {})
    if runs.get("status") == "fail" and re.search("|".join(names), runs.get("message", "")):
        return "runs"
    return None


@pytest.mark.cifar
@pytest.mark.slow
def test_pausing_the_baseline_does_not_make_a_copy_of_it_faster(tmp_path: Path, small_data: Path,
                                                                isolation: str) -> None:
    result = _graded(tmp_path, small_data, PAUSE_THE_BASELINE, isolation)
    assert result["status"] != "error", result["error"]
    scores = result["normalized_scores"]
    named = _named_failure(result, ("timing_integrity", "idle_cpu_entry", "sandbox", "one_core"))
    # The same work as the baseline: ~1.0x however often the baseline was stopped, or a named check fails.
    assert named is not None or scores["speedup"] <= 1.15, (scores, checks_of(result))


@pytest.mark.cifar
@pytest.mark.slow
def test_twice_the_work_on_two_cores_reads_half_or_fails_one_core(tmp_path: Path, small_data: Path,
                                                                  isolation: str) -> None:
    result = _graded(tmp_path, small_data, TWO_CORES_TWICE_THE_WORK, isolation)
    assert result["status"] != "error", result["error"]
    scores = result["normalized_scores"]
    named = _named_failure(result, ("one_core", "timing_integrity"))
    assert named is not None or scores["speedup"] <= 0.6, (scores, checks_of(result))
