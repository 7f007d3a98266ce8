"""An opt-in pytest plugin (``-p tests.isolation_levels``): the sandbox level each test's workers ran at.

``.ci/sudo-check`` loads it to show, test by test, whether a sandbox test ran its workers at
``user+netns`` (as root or via sudo) or at ``process``, or started none in the test process
(a CLI run in a subprocess, a pure function). It wraps the worker's constructor to note the
level it got; nothing about the workers changes. Not loaded by the normal test run.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.sandbox import parent

_current: list[str] = []
_levels: dict[str, set[str]] = collections.defaultdict(set)
_outcomes: dict[str, str] = {}


def _label(worker: object) -> str | None:
    level = getattr(worker, "level", None)
    if level is None:
        return None
    if level == "user+netns":
        return "user+netns via sudo" if getattr(worker, "sudo", False) else "user+netns as root"
    return f"process (uid {os.geteuid()})"


def pytest_configure(config: pytest.Config) -> None:
    original = parent._Worker.__init__

    def noting_the_level(self: parent._Worker, *args: object, **kwargs: object) -> None:
        try:
            original(self, *args, **kwargs)
        finally:
            label = _label(self)
            if label and _current:
                _levels[_current[-1]].add(label)

    parent._Worker.__init__ = noting_the_level


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    _current.append(item.nodeid)
    yield
    _current.pop()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or report.skipped:
        _outcomes[report.nodeid] = report.outcome
    elif report.failed:  # set-up or tear-down
        _outcomes[report.nodeid] = "error"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    write = terminalreporter.write_line
    terminalreporter.section("sandbox level per test")
    counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for nodeid, outcome in _outcomes.items():
        levels = ", ".join(sorted(_levels.get(nodeid, ()))) or "no worker in the test process"
        write(f"{outcome:8} {levels:40} {nodeid}")
        counts[Path(nodeid.split("::")[0]).name][outcome] += 1
    terminalreporter.section("per file")
    for name, counter in sorted(counts.items()):
        write(f"{name:32} " + ", ".join(f"{counter[k]} {k}" for k in ("passed", "failed", "error", "skipped")))
