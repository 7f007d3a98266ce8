"""Synthetic CIFAR-10 batches and archives, and a loopback HTTP server that serves an archive."""

from __future__ import annotations

import io
import pickle
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from grader.measure import data


def write_batch(path: Path, n: int, seed: int = 0) -> data.Split:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, n)]
    path.write_bytes(pickle.dumps({b"data": images, b"labels": labels, b"batch_label": b"x"}, protocol=2))
    return data.Split(images.reshape(n, 3, 32, 32), np.array(labels))


def make_archive(tmp: Path, extra: tarfile.TarInfo | None = None) -> bytes:
    folder = tmp / data.FOLDER
    folder.mkdir()
    for i, name in enumerate((*data.TRAIN_BATCHES, data.TEST_BATCH)):
        write_batch(folder / name, 4, seed=i)
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"airplane"] * 10}))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(folder, arcname=data.FOLDER)
        if extra is not None:
            tar.addfile(extra, io.BytesIO(b"x" * extra.size) if extra.isfile() else None)
    return buffer.getvalue()


class Archive:
    """What the loopback server serves: a body, and the Content-Length it claims."""

    body: bytes = b""
    claimed_length: int | None = None


@contextmanager
def serve_archive() -> Iterator[tuple[str, Archive]]:
    """A loopback HTTP server for the download path: (URL of the archive, what it serves)."""
    served = Archive()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self.send_response(200)
            length = served.claimed_length if served.claimed_length is not None else len(served.body)
            self.send_header("Content-Length", str(length))
            self.end_headers()
            self.wfile.write(served.body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # shutdown() waits for the next poll: 0.05 s, not the default 0.5 s, at the end of every test using it
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/cifar-10-python.tar.gz", served
    finally:
        httpd.shutdown()
        httpd.server_close()
