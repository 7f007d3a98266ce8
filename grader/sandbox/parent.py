"""Run submission code (``model.py``, ``build.py``) in a sandboxed worker process.

The parent side of a pyperf-style parent/worker split. Each worker is a fresh
interpreter (``grader/sandbox/worker.py``, run by path, never imported) with an
allowlisted environment, its own temp dir, resource limits, one CPU, a seccomp
filter it installs on itself, an import allowlist and a PEP 578 audit hook.
Where the machine allows it (root, or passwordless sudo) it also runs under a
uid of its own in its own PID, network, mount and IPC namespaces, with the test
data hidden and every mount read-only but its own writable dirs (nothing it writes
outlives it); the level achieved is decided and reported by ``grader.sandbox.isolation``.

Parent and worker talk over dedicated pipes with length-prefixed messages (a
JSON header, then raw array bytes). The parent never unpickles anything and
checks every header before trusting it; the wall clock is enforced here, and
any failure kills and reaps the worker's whole process group.

What the in-process layer (audit hook + import guard) cannot stop: code that
gets at raw memory through numpy (``__array_interface__``) or a module already
loaded by the interpreter can switch the hook off, and ``os.write`` on the
reply pipe has no audit event. That layer catches honest mistakes and casual
attempts; the kernel's walls (uid, namespaces, seccomp, rlimits) are the wall. The parent never trusts a
reply beyond its shape: labels from :meth:`ModelWorker.time_queries` should be
compared with :meth:`ModelWorker.predict` on the same images.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from grader.core import config
from grader.core.errors import BudgetExceeded, SandboxError, SubmissionError, WorkerLimitError
from grader.core.paths import cache_dir
from grader.sandbox.isolation import (
    PROBE_SECONDS,
    SETUP_FAILED,
    Isolation,
    Level,
    Requested,
    UidLease,
    lease_uid,
    namespace_prefix,
    plan_isolation,
    probe,
    strong_walls,
)
from grader.sandbox.protocol import Channel, OutputDrain, WorkerGone, WorkerTimeout, labels_from_reply, sanitize_output

__all__ = ["WorkerLog", "ModelWorker", "RecipeOutcome", "run_recipe", "sanitize_output", "hidden_paths"]

WORKER_SCRIPT = Path(__file__).with_name("worker.py")
NPROC_LIMIT = 64  # threads count as processes; only set when the worker has a uid of its own
NOFILE_LIMIT = 256
NPZ_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}\.npz$")


@dataclass(frozen=True)
class WorkerLog:
    """What a finished worker left behind, safe to show (bounded, sanitized)."""

    output: str
    denied: tuple[str, ...]
    exit_status: str


@dataclass(frozen=True)
class RecipeOutcome:
    """The checked ``.npz`` files a recipe wrote, copied into a parent-owned folder."""

    weights: dict[str, Path]
    log: WorkerLog
    isolation: Isolation
    ignored: tuple[str, ...] = ()  # entries of the recipe's out dir that were not copied, with why


# --------------------------------------------------------------------------- worker process


# glibc's malloc by default serves blocks over 128 KiB by mmap, raises that threshold when such a
# block is freed, and returns the heap's top to the kernel past a trim threshold: so whether a
# model's temporaries cost page faults on every query depended on the history of allocations,
# the harness's own request buffers included (the ten-times baseline read 0.142x at 26 queries per
# sample and 0.106x at 10 and 43, benchmarks/engine_validation.py). Fixed thresholds make every
# model's allocations come from a heap that is never trimmed, whatever the sample length.
MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967295"


def _environment(home: Path) -> dict[str, str]:
    """The worker's whole environment: nothing of the parent's (no tokens) gets through."""
    return {
        "PATH": "/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(home), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
        "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "NUMEXPR_NUM_THREADS": "1", "VECLIB_MAXIMUM_THREADS": "1", "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8",
        "GLIBC_TUNABLES": MALLOC_TUNABLES,
    }


def _default_cpu() -> int:
    return max(os.sched_getaffinity(0))


def _copy_tree(source: Path, target: Path, what: str, file_mode: int, dir_mode: int) -> None:
    """Copy regular files and folders only; a symlink or device in a submission is refused."""
    target.mkdir(mode=0o700)
    for entry in sorted(os.scandir(source), key=lambda e: e.name):
        if entry.name == "__pycache__":
            continue
        if entry.is_symlink():
            raise SubmissionError(f"{what}/{entry.name}: symbolic links are not allowed")
        if entry.is_dir(follow_symlinks=False):
            _copy_tree(Path(entry.path), target / entry.name, f"{what}/{entry.name}", file_mode, dir_mode)
        elif entry.is_file(follow_symlinks=False):
            shutil.copyfile(entry.path, target / entry.name, follow_symlinks=False)
            os.chmod(target / entry.name, file_mode)
        else:
            raise SubmissionError(f"{what}/{entry.name}: not a regular file")
    os.chmod(target, dir_mode)


def _remove_tree(root: Path) -> None:
    """Remove a worker's temp dir, read-only folders included; what cannot be removed stays.

    The submission and baseline copies are read-only folders (``_copy_tree``): only root may
    unlink in them as they are, so a grader that is not root (under sudo, or at the process
    level) first gives itself write permission on the folders it owns. ``os.walk`` never
    follows a symbolic link, so nothing outside ``root`` is touched.
    """
    for folder, _, _ in os.walk(root):
        with contextlib.suppress(OSError):
            if not os.lstat(folder).st_mode & 0o200:
                os.chmod(folder, 0o700)
    shutil.rmtree(root, ignore_errors=True)


def _rlimits(limits: config.Sandbox, level: Level) -> dict[str, int]:
    values = {"RLIMIT_AS": limits.memory_mb * 1024 * 1024, "RLIMIT_CPU": limits.cpu_seconds,
              "RLIMIT_FSIZE": limits.file_bytes, "RLIMIT_NOFILE": NOFILE_LIMIT, "RLIMIT_CORE": 0}
    if level == "user+netns":
        values["RLIMIT_NPROC"] = NPROC_LIMIT
    return values


def hidden_paths(data_dir: Path, env: Mapping[str, str] = os.environ) -> tuple[Path, ...]:
    """The folders a worker must not see: the grade's data folder and the user's CIFAR-10 cache."""
    found = []
    for path in (Path(data_dir), cache_dir(env)):
        real = Path(os.path.realpath(path))
        if real.is_dir() and real not in found:
            found.append(real)
    return tuple(found)


def _cpu_clock(pid: int) -> int:
    """The clock id of process ``pid``'s CPU time (glibc's MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED))."""
    return ((~pid) << 3) | 2


class _Worker:
    """One worker process: its temp dir, pipes, output drain, deadline, kill and reap."""

    def __init__(self, mode: Literal["model", "recipe"], folder: Path, limits: config.Sandbox, *,
                 cpu: int | None, isolation: Requested, python: str | None, hide: tuple[Path, ...] = (),
                 audit_layer: bool = True, baseline_dir: Path | None = None, payload: bytes = b"",
                 extra: dict | None = None) -> None:
        self.limits = limits
        self.python = python or sys.executable
        level, details, sudo = probe(self.python) if isolation == "auto" else (
            *plan_isolation("process", euid=0, sudo=False, missing_tools=(), probe_error=None), False)
        self.level: Level = level
        self.sudo = sudo and level == "user+netns"
        self.cpu = _default_cpu() if cpu is None else cpu
        self.denied: list[str] = []
        self.status: str | None = None
        self.proc: subprocess.Popen | None = None
        self.pidfd: int | None = None
        self.lease: UidLease | None = None
        self.walls = "seccomp: not reported"
        self.cpu_source = "CPU accounting: not started"
        self.root = Path(tempfile.mkdtemp(prefix="tinymlperf-worker-")).resolve()
        self.hidden = tuple(Path(os.path.realpath(p)) for p in hide if os.path.isdir(p))
        try:
            if self.level == "user+netns":
                self.lease = lease_uid()
            self._start(mode, folder, baseline_dir, payload, {"audit_layer": audit_layer, **(extra or {})})
        except OSError as e:
            self.stop("killed: start-up failed")
            raise SandboxError(f"cannot start the sandbox worker: {e}") from e
        except (WorkerGone, WorkerTimeout) as e:
            self.stop("killed: start-up failed")
            output = self.log().output.strip().splitlines()[-3:]
            raise SandboxError(f"the sandbox worker did not start ({self.status}): " + " / ".join(output)) from e
        except BaseException:
            self.stop("killed: start-up failed")
            raise
        limit_lines = (f"rlimits: {limits.memory_mb} MB address space, {limits.cpu_seconds} s CPU, "
                       f"{limits.file_bytes} B per file, {NOFILE_LIMIT} open files, no core"
                       + (f", {NPROC_LIMIT} processes+threads for its uid" if self.level == "user+netns" else "")
                       + f"; {limits.wall_seconds} s wall clock (parent); pinned to CPU {self.cpu}")
        if self.lease is not None:
            walls = strong_walls(self.hidden)
        else:
            walls = ("uid: the grader's own; no pid, net, mount or ipc namespace (other processes of this user "
                     "are visible in /proc; hidden data folders are not hidden)",)
        self.isolation = Isolation(level, details + walls + (self.walls, limit_lines, self.cpu_source,
                                                             "audit hook + import allowlist in the worker"
                                                             if audit_layer else "audit hook switched off"))

    def _start(self, mode: str, folder: Path, baseline_dir: Path | None, payload: bytes, extra: dict) -> None:
        strong = self.lease is not None
        for path in self.hidden:
            if self.root.is_relative_to(path) or Path(os.path.realpath(self.python)).is_relative_to(path):
                raise SandboxError(f"cannot hide {path} from the worker: it holds the worker's own files")
        file_mode, dir_mode = (0o444, 0o555) if strong else (0o400, 0o500)
        _copy_tree(folder, self.root / "submission", "submission", file_mode, dir_mode)
        writable = [self.root / "scratch"]
        if baseline_dir is not None:
            _copy_tree(baseline_dir, self.root / "baseline", "baseline", file_mode, dir_mode)
            writable.append(self.root / "out")
        for path in writable:
            path.mkdir(mode=0o700)  # handed to the worker's uid by the namespace set-up (strong level)
        shutil.copyfile(WORKER_SCRIPT, self.root / "worker.py")
        os.chmod(self.root / "worker.py", 0o444)
        header = {"mode": mode, "root": str(self.root), "folder": str(self.root / "submission"),
                  "baseline": str(self.root / "baseline"), "out": str(self.root / "out"),
                  "writable": [str(p) for p in writable], "readable": [str(self.root)],
                  "allowed_imports": list(self.limits.allowed_imports), "limits": _rlimits(self.limits, self.level),
                  "cpu": self.cpu, "umask": 0o077, **extra}
        env = _environment(self.root / "scratch")
        argv = [self.python, "-s", "-P", "-B", str(self.root / "worker.py")]  # not -I: it would ignore PYTHONHASHSEED
        if self.lease is not None:  # strong
            argv = namespace_prefix(self.sudo, self.lease.uid, root=self.root, writable=writable,
                                    hidden=self.hidden, env=env) + argv
        request_r, request_w = os.pipe()
        reply_r, reply_w = os.pipe()
        output_r, output_w = os.pipe()
        self.started = time.monotonic()
        self.deadline = self.started + self.limits.wall_seconds
        try:
            self.proc = subprocess.Popen(argv, stdin=request_r, stdout=reply_w, stderr=output_w, env=env,
                                         cwd=self.root, close_fds=True, start_new_session=True)
        finally:
            for fd in (request_r, reply_w, output_w):
                os.close(fd)
        self.channel = Channel(request_w, reply_r)
        self.drain = OutputDrain(output_r, self.limits.output_bytes)
        self.pid = self.proc.pid
        self.channel.send(header, payload, self.deadline)
        hello, _ = self.receive({"hello"}, max_payload=0)
        self.pid = self._host_pid(hello.get("pid")) if strong else self._check_pid(hello.get("pid"))
        self.pidfd = os.pidfd_open(self.pid)
        walls = hello.get("walls")
        self.walls = sanitize_output(walls.encode(), 1000) if isinstance(walls, str) else "seccomp: not reported"
        try:
            time.clock_gettime(_cpu_clock(self.pid))
            self.cpu_source = "CPU accounting: the worker's process CPU clock (ns, all threads, exited ones too)"
        except OSError:
            self.cpu_source = "CPU accounting: utime+stime from /proc in clock ticks (no process CPU clock here)"

    def _check_pid(self, pid: object) -> int:
        """The worker's own pid: the spawned process itself (process level)."""
        assert self.proc is not None  # spawned by _start before it reads the hello
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
            raise SandboxError("worker sent an invalid pid")
        if pid != self.proc.pid:
            raise SandboxError(f"worker pid {pid} is not the sandbox process {self.proc.pid}")
        return pid

    def _host_pid(self, ns_pid: object) -> int:
        """The worker's pid as the grader sees it, from the pid it has in its own PID namespace.

        The one process whose ``NSpid`` is (host pid, ``ns_pid``), that runs as the leased
        uid and descends from the spawned process (unshare, or sudo then unshare).
        """
        assert self.lease is not None  # the strong level always leases a uid
        if not isinstance(ns_pid, int) or isinstance(ns_pid, bool) or ns_pid <= 1:
            raise SandboxError("worker sent an invalid pid")
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                fields = dict(line.split(":", 1) for line in Path(f"/proc/{name}/status").read_text().splitlines()
                              if ":" in line)
            except OSError:
                continue
            nspid, uid = fields.get("NSpid", "").split(), fields.get("Uid", "").split()[:1]
            if nspid[1:] == [str(ns_pid)] and uid == [str(self.lease.uid)] and self._descends(int(name)):
                return int(name)
        raise SandboxError(f"worker pid {ns_pid} (in its namespace) not found among the sandbox's processes")

    def _descends(self, pid: int) -> bool:
        assert self.proc is not None  # called from _host_pid, after the spawn
        current = pid
        for _ in range(4):
            try:
                current = int(Path(f"/proc/{current}/stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, ValueError, IndexError):
                return False
            if current == self.proc.pid:
                return True
        return False

    @contextlib.contextmanager
    def _stopping_on_failure(self) -> Iterator[None]:
        """Stop (kill and reap) the worker when talking to it times out or finds it gone."""
        try:
            yield
        except WorkerTimeout:
            self.stop(f"killed: wall-clock timeout after {self.limits.wall_seconds} s")
            raise
        except WorkerGone:
            self.stop(None)
            raise

    def receive(self, types: set[str], max_payload: int) -> tuple[dict, bytes]:
        """Next message; records its denied events. Raises WorkerTimeout/WorkerGone/SandboxError."""
        try:
            with self._stopping_on_failure():
                header, payload = self.channel.receive(self.deadline, max_payload)
        except (SubmissionError, SandboxError):  # the stream is out of step: this worker is done
            self.stop("killed: protocol error")
            raise
        denied = header.get("denied", [])
        if not isinstance(denied, list) or not all(isinstance(d, str) for d in denied):
            self.stop("killed: protocol error")
            raise SandboxError("worker sent a malformed 'denied' list")
        self.denied.extend(sanitize_output(d.encode(), 300) for d in denied[:200])
        if header.get("type") not in types:
            self.stop("killed: protocol error")
            raise SandboxError(f"worker sent an unexpected message (expected {sorted(types)})")
        return header, payload

    def send(self, header: dict, payload: bytes) -> None:
        with self._stopping_on_failure():
            self.channel.send(header, payload, self.deadline)

    def _exited(self) -> bool:
        return self.pidfd is None or bool(select.select([self.pidfd], [], [], 0)[0])

    def cpu_seconds(self) -> float:
        """CPU time of the worker over all its threads (exited ones too), read by the parent.

        The process CPU clock (``clock_gettime`` on the worker's pid: nanoseconds, the
        kernel's sum_exec_runtime) rather than summing /proc/<pid>/task/*/schedstat, which
        loses the time of threads that have exited. The pidfd, checked after the read,
        proves the pid still named our worker. Fallback: utime+stime ticks (10 ms).
        """
        try:
            if self.cpu_source.startswith("CPU accounting: the worker's process CPU clock"):
                ns = time.clock_gettime_ns(_cpu_clock(self.pid))
                if not self._exited():
                    return ns / 1e9
            else:
                fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
                if not self._exited():
                    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
        raise SandboxError("the worker is gone: its CPU time cannot be read")

    def wait_seconds(self) -> float:
        """Time the worker's threads were runnable but another process held the CPU (schedstat run_delay)."""
        total = 0
        try:
            tasks = list(os.scandir(f"/proc/{self.pid}/task"))
        except OSError as e:
            raise SandboxError("the worker is gone: its waiting time cannot be read") from e
        for task in tasks:
            try:
                with open(f"{task.path}/schedstat", "rb") as handle:
                    total += int(handle.read().split()[1])
            except (OSError, ValueError, IndexError):
                continue  # a thread that ended between the listing and the read
        return total / 1e9

    def stop(self, status: str | None, *, keep_files: bool = False) -> None:
        """Kill the worker (its whole namespace or process group), reap, close pipes, remove files. Idempotent."""
        if self.proc is not None and self.proc.returncode is None:
            if status is not None or self.proc.poll() is None:
                self._kill()
            self.proc.wait()
        if self.status is None:
            self.status = status or self._describe(self.proc.returncode if self.proc else None)
        if getattr(self, "channel", None) is not None:
            self.channel.close()
        if getattr(self, "drain", None) is not None:
            self.drain.finish()
        if self.pidfd is not None and self.proc is not None and self.proc.returncode is not None:
            os.close(self.pidfd)
            self.pidfd = None
        if self.lease is not None and (self.proc is None or self.proc.returncode is not None):
            self.lease.release()  # the namespace is gone with its pid 1: no process runs as this uid now
        if not keep_files:
            _remove_tree(self.root)
            if self.sudo and self.root.exists():  # files the worker's uid kept (set-up or clean-up cut short)
                subprocess.run(["sudo", "-n", "rm", "-rf", "--", str(self.root)], capture_output=True,
                               timeout=PROBE_SECONDS)

    def _kill(self) -> None:
        """SIGKILL the worker; at the strong level its pid 1 then cleans up and ends the namespace."""
        assert self.proc is not None  # stop() kills only a spawned worker
        if self.lease is not None and self.pidfd is not None:
            with contextlib.suppress(ProcessLookupError):
                if self.sudo:
                    # root kills by pid number: not once the worker is gone (its pid 1 may still be
                    # handing its files back), when that number may already name another process
                    if not self._exited():
                        subprocess.run(["sudo", "-n", "kill", "-KILL", str(self.pid)], capture_output=True,
                                       timeout=PROBE_SECONDS)
                else:
                    signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
                return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        except PermissionError:  # the group belongs to root under sudo
            subprocess.run(["sudo", "-n", "kill", "-KILL", "--", f"-{self.proc.pid}"], capture_output=True,
                           timeout=PROBE_SECONDS)

    def _describe(self, code: int | None) -> str:
        if code is None:
            return "not started"
        if self.lease is not None and code == SETUP_FAILED:
            return f"exited {code} (namespace set-up failed)"
        if self.lease is not None and 128 < code < 128 + 65:  # pid 1 of the namespace reports 128 + signal
            code = 128 - code
        if code >= 0:
            return f"exited {code}"
        if -code == signal.SIGXCPU:
            return f"killed: CPU limit ({self.limits.cpu_seconds} s)"
        if -code == signal.SIGXFSZ:
            return f"killed: file size limit ({self.limits.file_bytes} B)"
        try:
            return f"killed by signal {-code} ({signal.Signals(-code).name})"
        except ValueError:
            return f"killed by signal {-code}"

    def log(self) -> WorkerLog:
        raw, total = self.drain.result() if getattr(self, "drain", None) else (b"", 0)
        return WorkerLog(output=sanitize_output(raw, self.limits.output_bytes, total=total),
                         denied=tuple(self.denied), exit_status=self.status or "running")


def _student_error(what: str, header: dict) -> str:
    where, text = header.get("where"), header.get("error")
    where = where if isinstance(where, str) else ""
    text = text if isinstance(text, str) else "unknown error"
    at = f" at {sanitize_output(where.encode(), 200)}" if where else ""
    return f"{what}{at}: {sanitize_output(text.encode(), 2000)}"


def _denied_error(what: str, denied: list[str]) -> SubmissionError:
    shown = "; ".join(denied[:5]) + (f" (and {len(denied) - 5} more)" if len(denied) > 5 else "")
    return SubmissionError(f"{what} tried something the sandbox forbids: {shown}")


# --------------------------------------------------------------------------- model worker


class ModelWorker:
    """A running ``model.py``: load it once, then ask it for predictions and timings."""

    def __init__(self, folder: Path, limits: config.Sandbox, *, cpu: int | None = None,
                 isolation: Requested = "auto", python: str | None = None, hide: tuple[Path, ...] = (),
                 audit_layer: bool = True, load_seconds: float | None = None, profile: bool = False) -> None:
        """``hide``: folders (the test data) the worker must not see, covered in its mount namespace.

        ``load_seconds``: the budget for importing model.py and ``load()``; past it the worker is
        killed and the entry fails (a model.py that loops at import ends there, not at the CPU limit).

        ``audit_layer=False`` leaves out the in-worker audit hook and import guard: only for tests
        proving that the OS walls hold on their own against code that defeated that layer.
        """
        self.folder, self.limits, self._cpu, self._requested, self._python = folder, limits, cpu, isolation, python
        self._hide, self._audit_layer = tuple(hide), audit_layer
        self._worker: _Worker | None = None
        self._log: WorkerLog | None = None
        self._load_seconds = load_seconds
        self._profile = profile  # profiling mode: cProfile around predict (``profile_rows``), the student's only
        self._budget: str | None = None  # the stage budget bounding the current deadline, for messages

    def __enter__(self) -> ModelWorker:
        try:
            self._worker = _Worker("model", Path(self.folder), self.limits, cpu=self._cpu,
                                   isolation=self._requested, python=self._python, hide=self._hide,
                                   audit_layer=self._audit_layer, extra={"profile": True} if self._profile else None)
            if self._load_seconds is not None:
                with self.within(self._load_seconds, "load"):
                    header, _ = self._call({"ready", "error"}, 0, "loading model.py")
            else:
                header, _ = self._call({"ready", "error"}, 0, "loading model.py")
            if header["type"] == "error":
                stage = "importing model.py" if header.get("stage") == "import" else "model.load()"
                raise SubmissionError(_student_error(f"{stage} failed", header))
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def restart(self) -> None:
        """Replace the worker with a fresh process (same folder, limits, isolation), its model loaded anew.

        At the stateless level (``isolation.STATELESS``) the new process starts from nothing the
        old one saw or wrote. A bound set by ``within`` carries over to the new process.
        """
        deadline = self._alive().deadline
        self.close()
        self._worker, self._log = None, None
        self.__enter__()
        worker = self._alive()
        worker.deadline = min(worker.deadline, deadline)

    @contextlib.contextmanager
    def within(self, seconds: float, stage: str, budget: str | None = None) -> Iterator[None]:
        """Bound what runs inside to ``seconds`` of wall clock from now (a stage's time budget).

        Past it the worker is killed and a BudgetExceeded names the budget: ``budget`` when given
        (how ``seconds`` follows from competition.yaml), else "the STAGE budget of N s". The
        worker's own wall-clock limit still holds when it comes sooner.
        """
        worker = self._alive()
        saved, saved_budget = worker.deadline, self._budget
        worker.deadline = min(saved, time.monotonic() + seconds)
        self._budget = budget or f"{stage} budget of {seconds:g} s (competition.yaml budgets)"
        try:
            yield
        finally:
            worker.deadline, self._budget = saved, saved_budget

    def _limit_error(self, doing: str) -> WorkerLimitError:
        """The entry's failure for a worker past its deadline: a stage's budget, or the sandbox's wall clock."""
        if self._budget is not None:
            return BudgetExceeded(f"{doing}: the worker exceeded the {self._budget}")
        return WorkerLimitError(f"{doing}: the worker exceeded the {self.limits.wall_seconds} s wall-clock limit")

    @property
    def isolation(self) -> Isolation:
        """The isolation achieved; still available after close() for the result."""
        if self._worker is None:
            raise SandboxError("the model worker was never started")
        return self._worker.isolation

    @property
    def pid(self) -> int:
        if self._worker is None:
            raise SandboxError("the model worker was never started")
        return self._worker.pid

    @property
    def log(self) -> WorkerLog | None:
        return self._log

    def _alive(self) -> _Worker:
        if self._worker is None or self._log is not None or self._worker.status is not None:
            raise SandboxError("the model worker is not running")
        return self._worker

    def _call(self, types: set[str], max_payload: int, doing: str) -> tuple[dict, bytes]:
        worker = self._alive()
        before = len(worker.denied)
        try:
            header, payload = worker.receive(types, max_payload)
        except WorkerTimeout as e:
            raise self._limit_error(doing) from e
        except WorkerGone as e:
            error = WorkerLimitError if (worker.status or "").startswith("killed: ") else SandboxError
            raise error(f"{doing}: the worker died ({worker.status}): {e}") from e
        if len(worker.denied) > before and header["type"] != "error":  # an error reply already says why
            raise _denied_error("model.py", worker.denied[before:])
        return header, payload

    def _request(self, images: np.ndarray, batch: int) -> tuple[dict, bytes]:
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (3, 32, 32) or not len(images):
            raise ValueError(f"images must be uint8 N x 3 x 32 x 32, got {images.dtype} {images.shape}")
        if batch < 1:
            raise ValueError("batch_size must be at least 1")
        worker = self._alive()
        data = np.ascontiguousarray(images).tobytes()
        try:
            worker.send({"type": "predict", "shape": list(images.shape), "batch": batch}, data)
        except WorkerTimeout as e:
            raise self._limit_error("predict") from e
        except WorkerGone as e:
            raise SandboxError(f"predict: the worker died ({worker.status}): {e}") from e
        return self._call({"result", "error"}, len(images) * 10 * 8, "predict")

    def _labels(self, header: dict, payload: bytes, n: int, batch: int | None = None) -> np.ndarray:
        if header["type"] == "error":
            raise SubmissionError(_student_error("model.predict() failed", header))
        try:
            return labels_from_reply(header, payload, n, batch)
        except SubmissionError:
            raise
        except SandboxError:
            self.close()
            raise

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Labels (int64, shape (N,)) for uint8 N x 3 x 32 x 32 images, checked."""
        header, payload = self._request(images, len(images))
        return self._labels(header, payload, len(images))

    def profile_rows(self) -> list[tuple[str, int, float, float]]:
        """Profiling mode: (function, calls, own s, with callees s) the worker measured over its predict calls.

        The worker's own numbers (it could lie): for the student's eyes, never for ranking.
        """
        worker = self._alive()
        try:
            worker.send({"type": "profile"}, b"")
        except (WorkerTimeout, WorkerGone) as e:
            raise SandboxError(f"profile: the worker did not answer ({worker.status})") from e
        header, _ = self._call({"profile"}, 0, "profile")
        rows = header.get("rows")
        if not isinstance(rows, list):
            raise SandboxError("worker sent a malformed profile")
        out = []
        for row in rows[:200]:
            if (not isinstance(row, list) or len(row) != 4 or not isinstance(row[0], str)
                    or not isinstance(row[1], int) or not all(isinstance(v, (int, float)) for v in row[2:])):
                raise SandboxError("worker sent a malformed profile row")
            out.append((sanitize_output(row[0].encode(), 160), row[1], float(row[2]), float(row[3])))
        return out

    def time_queries(self, images: np.ndarray, batch_size: int) -> tuple[float, np.ndarray]:
        """Seconds (parent's perf_counter, send to full reply) for predict on consecutive batches, and labels."""
        start = time.perf_counter()
        header, payload = self._request(images, batch_size)
        elapsed = time.perf_counter() - start
        return elapsed, self._labels(header, payload, len(images), batch_size)

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system, all threads, exited ones included, ns precision) used so far.

        Read by the parent from the worker's process CPU clock; correct under the PID namespace
        (the parent uses the worker's host pid). SandboxError when the worker is gone.
        """
        return self._alive().cpu_seconds()

    def wait_seconds(self) -> float:
        """Time the worker has spent runnable but waiting for its CPU (preempted)."""
        return self._alive().wait_seconds()

    def close(self) -> WorkerLog:
        """Stop the worker (always killed and reaped) and return its log. Idempotent."""
        if self._log is None:
            if self._worker is None:
                self._log = WorkerLog(output="", denied=(), exit_status="not started")
            else:
                self._worker.stop("stopped by the grader")
                self._log = self._worker.log()
        return self._log


# --------------------------------------------------------------------------- recipe


def run_recipe(folder: Path, baseline_dir: Path, calibration_images: np.ndarray, out_dir: Path,
               limits: config.Sandbox, *, isolation: Requested = "auto", python: str | None = None,
               hide: tuple[Path, ...] = (), audit_layer: bool = True, budget_seconds: float | None = None,
               on_isolation: Callable[[Isolation], None] | None = None) -> RecipeOutcome:
    """Run ``build.py``'s ``build()`` in a worker; copy out only its checked ``.npz`` files.

    ``hide`` and ``audit_layer`` as for :class:`ModelWorker`. ``budget_seconds``: the build
    budget (competition.yaml ``budgets.build_seconds``); a recipe past it is stopped with a
    BudgetExceeded naming it. ``on_isolation`` hears the isolation the worker got as soon as
    it has started, so a failing recipe's grade still says what the sandbox was.
    """
    images = calibration_images
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (3, 32, 32):
        raise ValueError(f"calibration images must be uint8 N x 3 x 32 x 32, got {images.dtype} {images.shape}")
    budgeted = budget_seconds is not None and budget_seconds < limits.wall_seconds
    if budgeted:
        limits = dataclasses.replace(limits, wall_seconds=max(1, math.ceil(budget_seconds or 0)))
    worker = _Worker("recipe", Path(folder), limits, cpu=None, isolation=isolation, python=python,
                     hide=tuple(hide), audit_layer=audit_layer, baseline_dir=Path(baseline_dir),
                     payload=np.ascontiguousarray(images).tobytes(),
                     extra={"calibration_shape": list(images.shape)})
    if on_isolation is not None:
        on_isolation(worker.isolation)
    try:
        header, _ = _wait_recipe(worker, limits, budget_seconds if budgeted else None)
        produced = worker.root / "out"
        if header["type"] == "error":
            stage = "importing build.py" if header.get("stage") == "import" else "build()"
            raise SubmissionError(_student_error(f"{stage} failed", header))
        if worker.denied:
            raise _denied_error("build.py", worker.denied)
        worker.stop("stopped by the grader", keep_files=True)  # the worker is gone before its files are read
        out_dir.mkdir(parents=True, exist_ok=True)
        weights, ignored = _collect_npz(produced, out_dir, limits.file_bytes)
    finally:
        worker.stop("stopped by the grader")
    return RecipeOutcome(weights=weights, log=worker.log(), isolation=worker.isolation, ignored=ignored)


def _wait_recipe(worker: _Worker, limits: config.Sandbox, budget_seconds: float | None) -> tuple[dict, bytes]:
    try:
        return worker.receive({"done", "error"}, 0)
    except WorkerTimeout as e:
        if budget_seconds is not None:
            raise BudgetExceeded(f"build(): the recipe exceeded the build budget of {budget_seconds:g} s "
                                 "(competition.yaml budgets)") from e
        raise SubmissionError(f"recipe exceeded the {limits.wall_seconds} s wall-clock limit") from e
    except WorkerGone as e:
        if worker.status and worker.status.startswith("killed: CPU"):
            raise SubmissionError(f"recipe exceeded the {limits.cpu_seconds} s CPU-time limit") from e
        raise SubmissionError(f"recipe worker died ({worker.status})") from e


def _collect_npz(produced: Path, out_dir: Path, max_bytes: int) -> tuple[dict[str, Path], tuple[str, ...]]:
    """Copy regular, size-limited, pickle-free ``.npz`` files; name everything else that was skipped."""
    weights: dict[str, Path] = {}
    ignored: list[str] = []
    for entry in sorted(os.scandir(produced), key=lambda e: e.name):
        name = sanitize_output(entry.name.encode(), 120)
        if entry.is_symlink() or not entry.is_file(follow_symlinks=False):
            ignored.append(f"{name}: not a regular file")
        elif not NPZ_NAME.match(entry.name):
            ignored.append(f"{name}: not a .npz file with a plain name")
        else:
            weights[entry.name] = _copy_npz(Path(entry.path), out_dir / entry.name, max_bytes)
    if not weights:
        raise SubmissionError("build() wrote no .npz file into its output folder")
    return weights, tuple(ignored)


def _copy_npz(source: Path, target: Path, max_bytes: int) -> Path:
    fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as src:
        size = os.fstat(src.fileno()).st_size
        if size > max_bytes:
            raise SubmissionError(f"{source.name}: {size} bytes, more than the {max_bytes} B limit")
        with open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
    try:
        with zipfile.ZipFile(target) as archive:
            total = sum(info.file_size for info in archive.infolist())
        if total > max_bytes:
            raise SubmissionError(f"{source.name}: {total} bytes uncompressed, more than the {max_bytes} B limit")
        with np.load(target, allow_pickle=False) as npz:
            for key in npz.files:
                npz[key]
    except SubmissionError:
        target.unlink()
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        target.unlink()
        raise SubmissionError(f"{source.name}: not a loadable .npz without pickles: "
                              f"{sanitize_output(str(e).encode(), 300)}") from e
    return target
