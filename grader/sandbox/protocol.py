"""The parent's side of the worker protocol: framed messages, bounded output, reply checks.

Nothing from the worker is trusted: headers are size-capped JSON (never
pickles), arrays come as raw bytes whose dtype must be on a short whitelist and
whose length must match the declared shape, and every read and write is bound
to the worker's wall-clock deadline.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import re
import select
import struct
import threading
import time

import numpy as np

from grader.core.errors import SandboxError, SubmissionError

FRAME = struct.Struct(">IQ")  # header length, payload length (must match grader/sandbox/worker.py)
MAX_HEADER = 1 << 16
CHUNK = 1 << 20
DTYPES = {"<f2", "<f4", "<f8", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8", "|b1"}
_CONTROL = re.compile(r"[^\t\x20-\x7e\u00a0-\uffff]|[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


class WorkerTimeout(Exception):
    """The worker's wall-clock deadline passed while waiting for it."""


class WorkerGone(Exception):
    """The worker closed its pipe or died."""


def sanitize_output(raw: bytes, limit: int, *, total: int | None = None) -> str:
    """Worker output made safe to print in a CI log or a report.

    At most ``limit`` bytes are kept (``total`` is the size seen, for the note);
    bytes are decoded with replacement, control and invisible characters are
    removed, and GitHub workflow commands (``::set-output``, ``::add-mask::``,
    ``::stop-commands::``, legacy ``##[...]``) are broken wherever they appear.
    """
    total = len(raw) if total is None else total
    text = raw[:limit].decode("utf-8", errors="replace")
    lines = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = _CONTROL.sub("", line)
        line = line.replace("::", ": :").replace("##[", "# #[")
        lines.append(line)
    out = "\n".join(lines)
    if total > limit:
        out += f"\n[output truncated: {total} bytes, first {limit} kept]"
    return out


class OutputDrain:
    """Reads the worker's stdout+stderr in a thread, keeping only the first bytes."""

    def __init__(self, fd: int, limit: int) -> None:
        self.fd, self.limit = fd, limit
        self.kept = bytearray()
        self.total = 0
        self.thread = threading.Thread(target=self._run, name="worker-output", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.total += len(chunk)
            room = self.limit - len(self.kept)
            if room > 0:
                self.kept += chunk[:room]

    def finish(self) -> None:
        """Wait briefly for the pipe's end (a stray grandchild may hold it open), then close."""
        self.thread.join(timeout=2)
        if not self.thread.is_alive():
            try:
                os.close(self.fd)
            except OSError:
                pass

    def result(self) -> tuple[bytes, int]:
        return bytes(self.kept), self.total


class Channel:
    """Framed messages over the request and reply pipes, bounded by a deadline."""

    def __init__(self, write_fd: int, read_fd: int) -> None:
        self.write_fd, self.read_fd = write_fd, read_fd
        flags = fcntl.fcntl(write_fd, fcntl.F_GETFL)
        fcntl.fcntl(write_fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        self.closed = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            for fd in (self.write_fd, self.read_fd):
                try:
                    os.close(fd)
                except OSError:
                    pass

    def _wait(self, fd: int, event: int, deadline: float) -> None:
        poller = select.poll()
        poller.register(fd, event)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerTimeout()
            ready = poller.poll(min(left, 3600) * 1000)
            if ready:
                return

    def send(self, header: dict, payload: bytes, deadline: float) -> None:
        data = json.dumps(header).encode()
        view = memoryview(FRAME.pack(len(data), len(payload)) + data + payload)
        while view:
            try:
                view = view[os.write(self.write_fd, view[:CHUNK]):]
            except BlockingIOError:
                self._wait(self.write_fd, select.POLLOUT, deadline)
            except (BrokenPipeError, OSError) as e:
                raise WorkerGone(f"request pipe: {e.strerror or e}") from e

    def _read(self, n: int, deadline: float) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            self._wait(self.read_fd, select.POLLIN, deadline)
            try:
                chunk = os.read(self.read_fd, min(n - len(buf), CHUNK))
            except OSError as e:
                raise WorkerGone(f"reply pipe: {e.strerror}") from e
            if not chunk:
                raise WorkerGone("the worker closed its reply pipe")
            buf += chunk
        return bytes(buf)

    def receive(self, deadline: float, max_payload: int) -> tuple[dict, bytes]:
        """One message; SandboxError when its header is not what the protocol allows."""
        header_len, payload_len = FRAME.unpack(self._read(FRAME.size, deadline))
        if header_len > MAX_HEADER:
            raise SandboxError(f"worker sent a {header_len}-byte header (limit {MAX_HEADER})")
        try:
            header = json.loads(self._read(header_len, deadline))
        except (UnicodeDecodeError, ValueError) as e:
            raise SandboxError("worker sent a header that is not JSON") from e
        if not isinstance(header, dict) or not isinstance(header.get("type"), str):
            raise SandboxError("worker sent a header without a type")
        if payload_len > max_payload:
            raise SubmissionError(f"the model's output is too large: {payload_len} bytes "
                                  f"(at most {max_payload} for this request)")
        return header, self._read(payload_len, deadline)


def _call_shape(shape: list[int], n: int, batch: int) -> tuple[int, tuple[int, ...]]:
    """The student's own call: images per ``predict`` call and the shape one call returned.

    The worker calls ``predict`` on consecutive chunks of ``batch`` images and concatenates the
    answers; when every call had the same size and returned as many rows, one call's return is
    the reply's shape with its first axis divided by the number of calls.
    """
    calls = -(-n // batch) if batch else 1
    if calls > 1 and n % batch == 0 and shape and shape[0] % calls == 0:
        return batch, (shape[0] // calls, *shape[1:])
    return n, tuple(shape)


def labels_from_reply(header: dict, payload: bytes, n: int, batch: int | None = None) -> np.ndarray:
    """int64 labels (n,) from a 'result' reply: N x 10 finite scores (argmax) or N ints in 0..9.

    ``batch``: images per ``predict`` call (default: all ``n`` in one); messages describe the
    student's own call, e.g. ``model.predict(images) with images of shape (1, 3, 32, 32)
    returned shape (10, 1); expected (1,) labels or (1, 10) scores``.
    """
    dtype, shape = header.get("dtype"), header.get("shape")
    call = f"model.predict(images) with images of shape ({batch or n}, 3, 32, 32)"
    if dtype not in DTYPES:
        raise SubmissionError(f"{call} returned dtype {str(dtype)[:40]!r}; expected float scores or int labels")
    if (not isinstance(shape, list) or not 1 <= len(shape) <= 4
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
        raise SubmissionError(f"{call} returned an array of shape {str(shape)[:60]}; "
                              f"expected ({batch or n},) labels or ({batch or n}, 10) scores")
    per_call, returned = _call_shape(shape, n, batch or n)
    call = f"model.predict(images) with images of shape ({per_call}, 3, 32, 32)"
    expected = f"expected ({per_call},) labels or ({per_call}, 10) scores"
    if returned not in ((per_call,), (per_call, 10)):
        raise SubmissionError(f"{call} returned shape {returned}; {expected}")
    array_dtype = np.dtype(dtype)
    if math.prod(shape) * array_dtype.itemsize != len(payload):
        raise SandboxError("worker reply length does not match its declared shape")
    array: np.ndarray = np.frombuffer(payload, dtype=array_dtype).reshape(shape)
    if array.dtype.kind == "b":
        raise SubmissionError(f"{call} returned booleans (dtype bool); {expected}")
    if array.shape == (n, 10):
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            bad = int((~np.isfinite(array)).any(axis=1).sum())
            raise SubmissionError(f"{call} returned NaN or infinite scores for {bad} of {n} images")
        labels: np.ndarray = np.argmax(array, axis=1)
        return labels.astype(np.int64)
    if array.dtype.kind == "f":
        example = float(array[0]) if n else 0.0
        raise SubmissionError(f"{call} returned shape {returned} of floats (dtype {array.dtype.name}, first value "
                              f"{example:g}); labels must be integers: return labels.astype(np.int64), or "
                              f"({per_call}, 10) scores")
    if n and (array.min() < 0 or array.max() > 9):
        raise SubmissionError(f"{call} returned labels outside 0..9 (from {int(array.min())} to {int(array.max())})")
    return array.astype(np.int64)
