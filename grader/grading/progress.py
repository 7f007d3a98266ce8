"""How a run's progress lines reach the person waiting: every line on a terminal, a quieter log in CI.

Grading reports progress through a ``Progress`` callback (one short message per
call); ``printer`` is the one the ``tinymlperf`` commands pass in.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from typing import TextIO

CI_PROGRESS_SECONDS = 15.0  # a CI log gets a repeated progress line (timing: N pairs) at most this often
_REPEATED = re.compile(r"^timing: \d+ pairs")


def printer(stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic) -> Callable[[str], None]:
    """Every progress line on a terminal; on a CI log, each stage and a repeated line every 15 s, timestamped.

    A CI log's times count from the first line, so a printer may be made before the run starts.
    """
    stream = stream or sys.stderr
    if stream.isatty():
        return lambda message: print(f"tinymlperf: {message}", file=stream, flush=True)
    last: dict[str, float] = {}
    started: list[float] = []

    def log(message: str) -> None:
        kind = message.split(":", 1)[0] if _REPEATED.match(message) else message
        now = clock()
        started[:] = started or [now]
        if kind in last and now - last[kind] < CI_PROGRESS_SECONDS:
            return
        last[kind] = now
        print(f"tinymlperf [{now - started[0]:5.0f} s]: {message}", file=stream, flush=True)
    return log
