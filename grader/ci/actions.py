"""GitHub Actions workflow commands: annotations and step outputs, escaped.

Anything printed to a job's stdout that starts with ``::`` is a command to the
runner, so every message is escaped to stay on one line (a student string in a
check message cannot start a command of its own).
"""

from __future__ import annotations

import re
from pathlib import Path

from grader.ci.annotations import emit
from grader.judge.result import GradeResult

_OUTPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def result_annotations(result: GradeResult) -> list[str]:
    """Annotations for a result: the grading error, each failed check (error) and warning (``emit``'s policy)."""
    lines = []
    folder = f"submissions/{result.submission.slug}" if result.submission else "submissions"
    if result.status == "error":
        lines.append(emit(result.error or "grading failed", title="Could not grade", file=folder))
    for check in result.checks:
        if check.status in ("fail", "warn"):
            lines.append(emit(check.message, title=f"{check.id} ({check.status})", file=folder,
                              level="error" if check.status == "fail" else "warning"))
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
