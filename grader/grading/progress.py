"""How a run's progress lines reach the person waiting: a live line on a terminal, a quieter log in CI.

Grading reports progress through a ``Progress`` callback (one short message per
call); ``printer`` is the one the ``tinymlperf`` commands pass in. Some messages
repeat with a growing count ("timing: 40 pairs", "accuracy: entry, 5,000 of 20,000
predictions"): a terminal rewrites them in place, a CI log gets one every 15 s.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from typing import TextIO

CI_PROGRESS_SECONDS = 15.0  # a CI log gets a repeated progress line (timing: N pairs) at most this often
_REPEATED = re.compile(r"^(timing): \d+ pairs?|^(accuracy: \w+), [\d,]+ of [\d,]+ predictions")


def _kind(message: str) -> str | None:
    """What a repeated message counts ("timing", "accuracy: entry"); None for a one-off stage line."""
    match = _REPEATED.match(message)
    return None if match is None else match.group(1) or match.group(2)


def printer(stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic) -> Callable[[str], None]:
    """On a terminal, every line, a repeated one rewritten in place; on a CI log, each stage and a repeated
    line every 15 s, timestamped.

    A CI log's times count from the first line, so a printer may be made before the run starts.
    """
    out = stream or sys.stderr
    if out.isatty():
        shown: list[str | None] = [None]  # the kind of the line above the cursor, when it is a repeated one

        def show(message: str) -> None:
            kind = _kind(message)
            # Every line ends with a newline (so what the command prints next starts on its own line); a
            # repeated one replaces its predecessor by moving the cursor up a line and clearing it.
            again = kind is not None and kind == shown[0]
            out.write(("\033[F\033[K" if again else "") + f"tinymlperf: {message}\n")
            out.flush()
            shown[0] = kind
        return show
    last: dict[str, float] = {}
    started: list[float] = []

    def log(message: str) -> None:
        kind = _kind(message) or message
        now = clock()
        started[:] = started or [now]
        if kind in last and now - last[kind] < CI_PROGRESS_SECONDS:
            return
        last[kind] = now
        print(f"tinymlperf [{now - started[0]:5.0f} s]: {message}", file=out, flush=True)
    return log
