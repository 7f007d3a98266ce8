"""The grade artifact, read as hostile input by the privileged comment workflow.

The untrusted grade run uploads a folder with ``metadata.json`` (schema
``artifact``), and, when grading got that far, ``result.json`` (schema
``result``) and ``report.md``. Whoever controls the PR controls that run, so
every file here may be forged: only known names, regular files, bounded sizes
and schema-valid JSON are accepted, and ``report.md`` is never rendered by the
privileged side. ``write_metadata`` is the grade side's writer.
"""

from __future__ import annotations

import json
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader import __version__
from grader.core import schema
from grader.core.errors import GraderError
from grader.judge.result import GradeResult

METADATA, RESULT, REPORT = "metadata.json", "result.json", "report.md"
LIMITS = {METADATA: 16 * 1024, RESULT: 2 * 1024 * 1024, REPORT: 2 * 1024 * 1024}
MAX_ENTRIES = 10


@dataclass(frozen=True)
class Artifact:
    """What survived reading: each part is None when absent or rejected (see ``problems``)."""

    metadata: dict[str, Any] | None
    result: GradeResult | None
    problems: tuple[str, ...]


def _load(path: Path, name: str, schema_name: str, problems: list[str]) -> dict[str, Any] | None:
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    except OSError as e:
        problems.append(f"{name}: cannot be read: {e.strerror}")
        return None
    if not stat.S_ISREG(info.st_mode):
        problems.append(f"{name}: not a regular file")
        return None
    if info.st_size > LIMITS[name]:
        problems.append(f"{name}: {info.st_size} bytes is over the {LIMITS[name]}-byte limit")
        return None
    try:
        with open(path, "rb") as handle:
            raw = handle.read(LIMITS[name] + 1)
        data = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        problems.append(f"{name}: not valid JSON ({type(e).__name__})")
        return None
    found = schema.validate(data, schema_name)
    if found:
        details = "; ".join(f"{p.dotted}: {p.message[:200]}" for p in found[:5])
        problems.append(f"{name}: does not match {schema_name}.schema.json: {details}")
        return None
    checked: dict[str, Any] = data
    return checked


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def read(folder: Path) -> Artifact:
    """Read the artifact folder, keeping every valid part and naming every rejected one."""
    problems: list[str] = []
    try:
        entries = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    except OSError as e:
        return Artifact(None, None, (f"artifact folder cannot be listed: {e.strerror}",))
    if not entries:
        return Artifact(None, None, ("the grade run uploaded no artifact",))
    if len(entries) > MAX_ENTRIES:
        problems.append(f"artifact has {len(entries)} entries; at most {MAX_ENTRIES} are read")
    unknown = [n for n in entries if n not in LIMITS]
    if unknown:
        problems.append(f"artifact holds {len(unknown)} unexpected entr{'y' if len(unknown) == 1 else 'ies'}; "
                        "they are ignored")
    metadata = _load(folder / METADATA, METADATA, "artifact", problems)
    if metadata is None and not any(METADATA in p for p in problems):
        problems.append(f"{METADATA}: missing")
    return Artifact(metadata, _result(_load(folder / RESULT, RESULT, "result", problems), problems), tuple(problems))


def _result(data: dict[str, Any] | None, problems: list[str]) -> GradeResult | None:
    """The typed result, or None (named in ``problems``) when it holds what the schema lets through (1e999)."""
    if data is None:
        return None
    try:
        return GradeResult.from_json(data, RESULT)
    except GraderError as e:
        problems.append(str(e)[:500])
        return None


def write_metadata(folder: Path, *, pr_number: int, head_sha: str, base_sha: str, run_id: int) -> Path:
    """Write ``metadata.json`` (validated) into ``folder``; the grade workflow's first output."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / METADATA
    schema.write(path, {"schema_version": 1, "pr_number": pr_number, "head_sha": head_sha, "base_sha": base_sha,
                        "run_id": run_id, "grader_version": __version__}, "artifact")
    return path
