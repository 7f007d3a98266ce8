"""GitHub Actions workflow commands (``::error file=...::msg``) for problems.

GitHub shows each ``::error`` line as an annotation on the named file and line
of the pull request diff. Values are escaped per the runner's rules: in the
message ``%``, ``\\r`` and ``\\n``; in properties also ``:`` and ``,``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from grader.core.problem import Problem

Level = Literal["error", "warning", "notice"]


def escape_data(value: str) -> str:
    """Escape a workflow command's message."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """Escape a workflow command's property value (``file=``, ``title=``, ...)."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def command(message: str, *, file: str | None = None, line: int | None = None, column: int | None = None,
            title: str | None = None, level: Level = "error") -> str:
    """One ``::level prop=value,...::message`` line; properties that are None are left out."""
    props = [(k, v) for k, v in (("file", file), ("line", line), ("col", column), ("title", title))
             if v is not None]
    joined = ",".join(f"{k}={escape_property(str(v))}" for k, v in props)
    head = f"::{level} {joined}" if joined else f"::{level}"
    return f"{head}::{escape_data(message)}"


def render(problems: Iterable[Problem], level: Level = "error") -> str:
    """One annotation line per problem (with a trailing newline), or ``""`` when there are none."""
    lines = [command(p.message, file=p.file, line=p.line, column=p.column, level=level) for p in problems]
    return "".join(line + "\n" for line in lines)
