"""The event payload GitHub writes for a workflow run (``$GITHUB_EVENT_PATH``), read one way everywhere.

The runner's file is the webhook payload of the event that started the run.
GitHub caps those payloads at 25 MB and delivers no event beyond that
("About webhook events and payloads"), so ``MAX_BYTES`` is that cap: a push
listing thousands of files still fits, and a larger file is not an event
GitHub wrote. What each workflow takes from the payload is read by its own
module (``post.parse_run``, ``merge_info.event_repository``, ...).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grader.core.errors import GraderError

MAX_BYTES = 25 * 1024 * 1024


def read(path: Path) -> dict[str, Any]:
    """The payload in ``path`` as a dict; GraderError when it is missing, too large, not JSON or not an object."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise GraderError(f"{path}: event payload is {size} bytes, over GitHub's {MAX_BYTES}-byte cap")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise GraderError(f"{path}: not a readable event payload: {e}") from e
    if not isinstance(data, dict):
        raise GraderError(f"{path}: event payload is not a JSON object")
    return data
