"""Bring one submission folder from a PR's checkout into the trusted grader's tree.

The grade workflow checks the PR head out into a side folder; only
``submissions/<slug>/`` crosses over, as regular files (no symlinks, devices
or hard-to-see names), within the competition's size limits. The rest of the
PR, including any grader or workflow it edits, never reaches the grader.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from grader.contract.layout import SUBMISSIONS
from grader.core.config import SubmissionLimits


def take_submission(pr_root: Path, slug: str, dest_root: Path, limits: SubmissionLimits) -> list[str]:
    """Copy ``pr_root/submissions/slug`` to ``dest_root/submissions/slug``; return problems (empty = copied)."""
    src = pr_root / SUBMISSIONS / slug
    rel = f"{SUBMISSIONS}/{slug}"
    if src.is_symlink() or not src.is_dir():
        return [f"{rel}/: not a folder in the PR"]
    problems: list[str] = []
    files: list[tuple[Path, str]] = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        here = Path(dirpath)
        for name in sorted(dirnames + filenames):
            path = here / name
            shown = f"{rel}/{path.relative_to(src).as_posix()}"
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                problems.append(f"{shown}: is a symbolic link; commit the file itself")
            elif stat.S_ISDIR(mode):
                continue
            elif not stat.S_ISREG(mode):
                problems.append(f"{shown}: is not a regular file")
            else:
                total += path.lstat().st_size
                files.append((path, shown))
        dirnames[:] = [d for d in dirnames if not (here / d).is_symlink()]
    if len(files) > limits.max_files:
        problems.append(f"{rel}/: {len(files)} files, at most {limits.max_files} allowed")
    if total > limits.max_total_bytes:
        problems.append(f"{rel}/: {total} bytes, at most {limits.max_total_bytes} allowed")
    if problems:
        return problems
    dest = dest_root / SUBMISSIONS / slug
    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    elif dest.exists():
        shutil.rmtree(dest)  # the PR's folder replaces the base branch's copy wholesale
    for path, _ in files:
        target = dest / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target, follow_symlinks=False)
    return []
