"""One problem found in a student's folder: where it is and what is wrong.

Problems are results, not exceptions (see ``grader.contract.validate``): a folder can
have many, and every one is shown as ``file:line:col: message``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """A problem at ``file`` (a display path), optionally at a 1-based line and column.

    ``code`` is a short stable identifier (``duplicate-key``, ``symlink``, ...)
    for machines and tests; ``message`` is for the student.
    """

    file: str
    line: int | None
    column: int | None
    message: str
    code: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.message}"

    def sort_key(self) -> tuple[str, int, int]:
        """File, then line, then column; whole-file problems first within a file."""
        return (self.file, self.line or 0, self.column or 0)

    def to_json(self) -> dict[str, object]:
        """The problem as in ``validation.schema.json``."""
        return {"file": self.file, "line": self.line, "column": self.column,
                "message": self.message, "code": self.code}


def display_path(path: Path) -> str:
    """``path`` relative to the current directory when it is below it, else absolute.

    Uses ``/`` separators so messages and GitHub annotations look the same everywhere.
    """
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(Path.cwd()).as_posix() or "."
    except ValueError:
        return absolute.as_posix()
