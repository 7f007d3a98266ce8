"""Writing a file so that readers see the old content or the new one, never half of it.

Every file the grader writes in place (``result.json``, ``score.json``, ``leaderboard.md``,
``standings.json``, a training checkpoint) goes through ``write_atomic``: a job cancelled
mid-write, or a second process reading at the same time, cannot see a truncated file.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_atomic(path: Path, content: bytes | str) -> None:
    """Write ``content`` (``str`` as UTF-8, no newline translation) to ``path`` via a temp file and ``os.replace``.

    The temp file sits in the same folder (a rename never crosses file systems),
    gets the permissions a plain ``open(path, "w")`` would (the umask applies),
    and is removed when anything fails, even an interrupt, before the rename.
    """
    data = content.encode("utf-8") if isinstance(content, str) else content
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
