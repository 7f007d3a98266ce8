"""GitHub Actions workflow commands (``::error file=...::msg``) for problems, and when to print them.

GitHub shows each ``::error`` line as an annotation on the named file and line
of the pull request diff. Values are escaped per the runner's rules: in the
message ``%``, ``\\r`` and ``\\n``; in properties also ``:`` and ``,``.

One policy for every command that reports a problem (``emit``): under GitHub
Actions (``GITHUB_ACTIONS=true``, which the runner sets) the problem is printed
as its annotation, the form the runner reads; anywhere else as a plain
``where: title: message`` line for a person. ``command`` and ``render`` only format.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
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


def active(env: Mapping[str, str] = os.environ) -> bool:
    """Whether a GitHub Actions runner reads this process's output (``GITHUB_ACTIONS=true``)."""
    return env.get("GITHUB_ACTIONS") == "true"


def emit(message: str, *, file: str | None = None, line: int | None = None, column: int | None = None,
         title: str | None = None, level: Level = "error", env: Mapping[str, str] = os.environ) -> str:
    """The line to print for one problem: its annotation under Actions, else ``file:line:col: title: message``.

    Parts that are None are left out of the plain line, as of the annotation.
    """
    if active(env):
        return command(message, file=file, line=line, column=column, title=title, level=level)
    text = f"{title}: {message}" if title else message
    return str(Problem(file, line, column, text, "")) if file else text


def emit_problems(problems: Iterable[Problem], env: Mapping[str, str] = os.environ) -> str:
    """``emit`` for each problem, one per line (with a trailing newline), or ``""`` when there are none."""
    return "".join(emit(p.message, file=p.file, line=p.line, column=p.column, env=env) + "\n" for p in problems)


def render(problems: Iterable[Problem], level: Level = "error") -> str:
    """One annotation line per problem (with a trailing newline), or ``""`` when there are none."""
    lines = [command(p.message, file=p.file, line=p.line, column=p.column, level=level) for p in problems]
    return "".join(line + "\n" for line in lines)
