"""Which submission a pull request is about, or why it may not be graded as one.

A submission PR adds or changes files inside exactly one ``submissions/<slug>/``
and nothing else. ``check`` takes the PR's changed files (from the GitHub API
or ``git diff --name-status -z``) and returns the slug, or every problem found,
each saying what to split or drop. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from grader.contract.layout import RECORD_FILE, SUBMISSIONS

Status = Literal["added", "modified", "removed", "renamed", "copied", "changed", "unchanged"]

_GIT_STATUS: dict[str, Status] = {"A": "added", "M": "modified", "D": "removed", "R": "renamed",
                                  "C": "copied", "T": "changed"}
_PROTECTED = ("grader/", ".github/")


@dataclass(frozen=True)
class ChangedFile:
    """One file a PR touches; ``previous_path`` is set for renames and copies."""

    path: str
    status: Status
    previous_path: str | None = None


@dataclass(frozen=True)
class Scope:
    """The one slug a PR submits, or the problems that stop it being graded."""

    slug: str | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.slug is not None and not self.problems


def _slug_of(path: str) -> str | None:
    """The ``<slug>`` of ``submissions/<slug>/<file...>``, else None."""
    parts = path.split("/")
    if len(parts) >= 3 and parts[0] == SUBMISSIONS and parts[1] and all(parts[2:]):
        return parts[1]
    return None


def _unsafe(path: str) -> bool:
    return (not path or path.startswith("/") or "\\" in path or any(p in ("", ".", "..") for p in path.split("/"))
            or any(ord(ch) < 32 or ord(ch) == 127 for ch in path))


def _outside(path: str) -> str:
    if path.startswith(_PROTECTED):
        return f"{path}: changes the grader or its workflows, which a submission PR may not do; drop this change"
    return (f"{path}: is outside submissions/<slug>/; a submission PR may only add or change files in its own "
            f"folder, so drop this change or open a separate PR for it")


def touches_submissions(files: Sequence[ChangedFile]) -> bool:
    """True when any changed path (or a rename's old path) lies under ``submissions/``.

    A PR that touches none (an organizer's change to the grader or the docs) has
    no submission to grade: its required check passes, and no score comment is posted.
    """
    return any(p == SUBMISSIONS or p.startswith(f"{SUBMISSIONS}/")
               for f in files for p in (f.path, f.previous_path or ""))


def check(files: Sequence[ChangedFile], *, slug: re.Pattern[str], listed_total: int | None = None) -> Scope:
    """The slug of the one submission ``files`` add or change, or every problem with them.

    ``slug`` is the config's ``submission.slug``. ``listed_total`` is the PR's own count of changed files; GitHub lists at most
    3,000, and a file we cannot see is a file we cannot vouch for.
    """
    problems: list[str] = []
    slugs: list[str] = []
    if not files:
        problems.append("the PR changes no files; add your folder submissions/<slug>/")
    if listed_total is not None and listed_total > len(files):
        problems.append(f"GitHub lists only {len(files)} of the PR's {listed_total} changed files; "
                        "a submission PR is one small folder: drop everything else")
    for f in files:
        paths = [f.path] + ([f.previous_path] if f.previous_path and f.status == "renamed" else [])
        bad = [p for p in paths if _unsafe(p)]
        if bad:
            problems.append(f"{bad[0]!r}: not a plain relative path; rename it")
            continue
        folder = _slug_of(f.path)
        if folder is None:
            problems.append(_outside(f.path))
            continue
        if folder not in slugs:
            slugs.append(folder)
        # The bot writes the score record after merge; a PR's own would forge a score.
        if f.path.rsplit("/", 1)[-1] == RECORD_FILE:
            problems.append(f"{f.path}: score records ({RECORD_FILE}) are written by the grader after merge; "
                            "drop this file")
        if f.status == "removed":
            problems.append(f"{f.path}: deletes a file from a submission; a PR may add or change files only, "
                            "so restore it (ask an organizer to withdraw an entry)")
        elif f.status == "renamed" and f.previous_path and _slug_of(f.previous_path) != folder:
            problems.append(f"{f.previous_path} -> {f.path}: moves a file between folders; "
                            "drop this rename and add the file as a new one")
    for name in slugs:
        if not slug.fullmatch(name):
            problems.append(f"submissions/{name}/: the folder name must match {slug.pattern} "
                            "(lowercase letters, digits and inner hyphens); rename the folder")
    if len(slugs) > 1:
        problems.append(f"touches {len(slugs)} submission folders ({', '.join(slugs)}); "
                        "split it into one PR per submission")
    elif not slugs and files:
        problems.append("adds no submission folder; put your entry in submissions/<slug>/")
    return Scope(slugs[0] if len(slugs) == 1 and not problems else None, tuple(problems))


def parse_name_status(raw: str) -> list[ChangedFile]:
    """Parse ``git diff --name-status -z`` output (renames carry a similarity score and two paths)."""
    fields = raw.split("\0")
    if fields and fields[-1] == "":
        fields.pop()
    out: list[ChangedFile] = []
    i = 0
    while i < len(fields):
        code = fields[i][:1]
        status = _GIT_STATUS.get(code)
        if status is None:
            raise ValueError(f"git name-status field {i}: unknown status {fields[i]!r}")
        if status in ("renamed", "copied"):
            if i + 2 >= len(fields):
                raise ValueError(f"git name-status field {i}: {status} entry needs two paths")
            out.append(ChangedFile(fields[i + 2], status, fields[i + 1]))
            i += 3
        else:
            if i + 1 >= len(fields):
                raise ValueError(f"git name-status field {i}: entry has no path")
            out.append(ChangedFile(fields[i + 1], status))
            i += 2
    return out
