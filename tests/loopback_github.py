"""A minimal GitHub REST API on loopback (a real ThreadingHTTPServer) for the leaderboard's lookups.

Serves only what ``grader.merge_info`` calls: ``GET /repos/{o}/{r}``,
``GET /repos/{o}/{r}/commits/{sha}`` and ``GET /repos/{o}/{r}/commits/{sha}/pulls``.
The lead will fold these routes into ``tests/github_server.py`` (the shared loopback server).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_PULLS = re.compile(r"^/repos/([^/]+)/([^/]+)/commits/([0-9a-f]{40})/pulls$")
_COMMIT = re.compile(r"^/repos/([^/]+)/([^/]+)/commits/([0-9a-f]{40})$")
_REPO = re.compile(r"^/repos/([^/]+)/([^/]+)$")


@dataclass
class FakeGitHub:
    """State behind the server: merged PRs by commit sha, and every request seen."""

    base_url: str = ""
    pulls: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def merge(self, sha: str, number: int, login: str, merge_commit_sha: str | None = None,
              merged: bool = True) -> None:
        """Record that PR ``number`` by ``login`` is associated with commit ``sha``."""
        with self.lock:
            self.pulls.setdefault(sha, []).append({
                "number": number, "user": {"login": login, "id": number, "type": "User"},
                "state": "closed", "merged_at": "2025-03-01T12:00:00Z" if merged else None,
                "merge_commit_sha": merge_commit_sha or sha, "title": f"Entry {number}",
                "url": f"{self.base_url}/repos/tinyml/tinymlperf/pulls/{number}"})


def _handler(state: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            path = self.path.split("?")[0]
            with state.lock:
                state.requests.append(("GET", path, self.headers.get("Authorization")))
            if m := _PULLS.match(path):
                with state.lock:
                    self._send(200, list(state.pulls.get(m.group(3), [])))
            elif m := _COMMIT.match(path):
                url = f"{state.base_url}/repos/{m.group(1)}/{m.group(2)}/commits/{m.group(3)}"
                self._send(200, {"sha": m.group(3), "url": url})
            elif m := _REPO.match(path):
                self._send(200, {"full_name": f"{m.group(1)}/{m.group(2)}",
                                 "url": f"{state.base_url}/repos/{m.group(1)}/{m.group(2)}"})
            else:
                self._send(404, {"message": "Not Found"})

    return Handler


@contextmanager
def serve() -> Iterator[FakeGitHub]:
    """Run the server on 127.0.0.1 (a free port) for the duration of the block."""
    state = FakeGitHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
