"""GitHub Actions workflow commands: annotations and step outputs, escaped.

Anything printed to a job's stdout that starts with ``::`` is a command to the
runner, so every message is escaped to stay on one line (a student string in a
check message cannot start a command of its own).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

Level = Literal["error", "warning", "notice"]
_OUTPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def escape_data(value: str) -> str:
    """Escape a command's message (``%``, CR, LF), as the runner's ``toCommandValue`` expects."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """Escape a command property value (also ``:`` and ``,``)."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def annotation(level: Level, message: str, *, title: str | None = None, file: str | None = None) -> str:
    """One ``::error title=...::message`` line."""
    props = [f"{key}={escape_property(value)}" for key, value in (("file", file), ("title", title)) if value]
    return f"::{level}{' ' + ','.join(props) if props else ''}::{escape_data(message)}"


def result_annotations(result: dict[str, Any]) -> list[str]:
    """Annotations for a result: the grading error, each failed check (error) and warning."""
    lines = []
    folder = f"submissions/{result['submission']['slug']}"
    if result["status"] == "error":
        lines.append(annotation("error", result["error"] or "grading failed", title="Could not grade", file=folder))
    for check in result["checks"]:
        if check["status"] in ("fail", "warn"):
            lines.append(annotation("error" if check["status"] == "fail" else "warning", check["message"],
                                    title=f"{check['id']} ({check['status']})", file=folder))
    return lines


def write_output(path: Path, name: str, value: str) -> None:
    """Append ``name=value`` to a ``$GITHUB_OUTPUT`` file; refuses what could forge another output."""
    if not _OUTPUT_NAME.match(name) or "\n" in value or "\r" in value:
        raise ValueError(f"refusing step output {name!r}: names are identifiers, values one line")
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"{name}={value}\n")


def append_summary(path: Path, markdown: str) -> None:
    """Append Markdown to ``$GITHUB_STEP_SUMMARY``."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(markdown if markdown.endswith("\n") else markdown + "\n")
