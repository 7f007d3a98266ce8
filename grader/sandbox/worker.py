"""The sandbox worker: runs one submission's code in a fresh interpreter.

Started by ``grader.sandbox.parent`` as ``python -I worker.py`` and never imported by
the grader: it uses only the standard library and numpy, so it can run as an
unprivileged user that cannot read the grader's tree.

File descriptors at start: 0 = request pipe (parent -> worker), 1 = reply pipe
(worker -> parent), 2 = output pipe (captured, bounded by the parent). The
protocol pipes arrive on 0/1 because ``sudo`` closes every descriptor above 2;
the first lines below move them out of the way and point 0 at /dev/null and 1
at the output pipe, so a student's ``print()`` can never reach the protocol.

Messages both ways: ``>IQ`` (header length, payload length), a JSON header,
then raw array bytes whose dtype and shape are in the header. Order of work:
read the config, apply resource limits and CPU affinity, import numpy, make the
process non-dumpable and install the seccomp filter (:func:`install_walls`),
report the pid, install the import guard and the PEP 578 audit hook, then (and
only then) import the student's module.
"""

from __future__ import annotations  # annotations stay strings: the worker imports nothing for them

import os

REQUEST_FD = os.dup(0)
REPLY_FD = os.dup(1)
_devnull = os.open(os.devnull, os.O_RDONLY)
os.dup2(_devnull, 0)
os.close(_devnull)
os.dup2(2, 1)

import builtins  # noqa: E402  (the descriptors must be moved before anything else runs)
import importlib.util  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402
import sysconfig  # noqa: E402
import threading  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

TYPE_CHECKING = False  # mypy reads the block below; the worker never imports typing
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from cProfile import Profile
    from types import ModuleType
    from typing import Any

    NewDenied = Callable[[], list[str]]
    Instruction = tuple[int, int | str, int | str, int]  # op, jump if true, jump if false (a label or 0), k

FRAME = struct.Struct(">IQ")
MAX_HEADER = 1 << 16
MAX_DENIED = 200
ERROR_CHARS = 2000

# Audit events refused outright (prefix match). Everything that leaves the
# process or controls other processes, native code through ctypes, raising our
# own limits, adding audit hooks, and walking the heap to find the worker's state.
DENY_PREFIXES = (
    "socket.", "ctypes.", "subprocess.", "os.exec", "os.spawn", "os.posix_spawn",
    "os.fork", "os.forkpty", "os.kill", "os.killpg", "os.system", "os.startfile",
    "signal.pthread_kill", "pty.", "resource.setrlimit", "resource.prlimit",
    "sys.addaudithook", "gc.get_objects", "gc.get_referrers", "gc.get_referents",
    "sqlite3.", "webbrowser.", "ftplib.", "smtplib.", "poplib.", "imaplib.",
    "nntplib.", "telnetlib.", "http.client.", "urllib.", "os.setuid", "mmap.",
)
# Events that change the file system: argument indexes that are paths and must
# lie inside a writable directory.
WRITE_EVENTS = {
    "os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.chmod": (0,),
    "os.chown": (0,), "os.rename": (0, 1), "os.symlink": (1,), "os.link": (0, 1),
    "os.truncate": (0,), "os.utime": (0,), "os.setxattr": (0,), "os.removexattr": (0,),
    "os.chflags": (0,), "os.lchflags": (0,), "os.lchmod": (0,), "shutil.rmtree": (0,),
    "shutil.chown": (0,), "shutil.move": (0, 1), "shutil.copyfile": (1,), "shutil.copytree": (1,),
}
# Events that look at the file system: argument indexes that must be readable.
READ_EVENTS = {"os.listdir": (0,), "os.scandir": (0,), "os.chdir": (0,), "glob.glob": (0,),
               "os.getxattr": (0,), "os.listxattr": (0,)}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

# The seccomp filter: system calls that act on other processes, change the CPU set, or reach
# kernel interfaces a model never needs fail with EPERM. Names -> numbers per architecture
# (x86_64: asm/unistd_64.h; aarch64: asm-generic/unistd.h). kill and tgkill are allowed only on
# the worker itself (abort() and raise() use them); clone only for threads (CLONE_THREAD) and
# without namespace flags, fork and vfork not at all: a child process's CPU time is not the
# worker's, so work done there would not be timed; clone3 answers ENOSYS (its flags sit in memory
# a filter cannot read), so glibc falls back to clone.
SECCOMP_DENIED = (
    "sched_setaffinity", "sched_setscheduler", "sched_setparam", "sched_setattr", "tkill", "pidfd_open",
    "pidfd_send_signal", "pidfd_getfd", "ptrace", "process_vm_readv", "process_vm_writev", "rt_sigqueueinfo",
    "rt_tgsigqueueinfo", "perf_event_open", "unshare", "setns", "mount", "umount2", "pivot_root", "chroot",
    "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "bpf", "kcmp",
    "userfaultfd", "keyctl", "add_key", "request_key", "io_uring_setup", "io_uring_enter", "io_uring_register",
)
# machine: (AUDIT_ARCH_*, x32 bit to refuse, {name: number})
SECCOMP_ARCHES: dict[str, tuple[int, int | None, dict[str, int]]] = {
    "x86_64": (0xC000003E, 0x40000000, dict(
        kill=62, tgkill=234, clone=56, clone3=435, fork=57, vfork=58, seccomp=317, sched_setaffinity=203, sched_setscheduler=144,
        sched_setparam=142, sched_setattr=314, tkill=200, pidfd_open=434, pidfd_send_signal=424, pidfd_getfd=438,
        ptrace=101, process_vm_readv=310, process_vm_writev=311, rt_sigqueueinfo=129, rt_tgsigqueueinfo=297,
        perf_event_open=298, unshare=272, setns=308, mount=165, umount2=166, pivot_root=155, chroot=161,
        move_mount=429, open_tree=428, fsopen=430, fsconfig=431, fsmount=432, fspick=433, mount_setattr=442,
        bpf=321, kcmp=312, userfaultfd=323, keyctl=250, add_key=248, request_key=249, io_uring_setup=425,
        io_uring_enter=426, io_uring_register=427)),
    "aarch64": (0xC00000B7, None, dict(
        kill=129, tgkill=131, clone=220, clone3=435, seccomp=277, sched_setaffinity=122, sched_setscheduler=119,
        sched_setparam=118, sched_setattr=274, tkill=130, pidfd_open=434, pidfd_send_signal=424, pidfd_getfd=438,
        ptrace=117, process_vm_readv=270, process_vm_writev=271, rt_sigqueueinfo=138, rt_tgsigqueueinfo=240,
        perf_event_open=241, unshare=97, setns=268, mount=40, umount2=39, pivot_root=41, chroot=51,
        move_mount=429, open_tree=428, fsopen=430, fsconfig=431, fsmount=432, fspick=433, mount_setattr=442,
        bpf=280, kcmp=272, userfaultfd=282, keyctl=219, add_key=217, request_key=218, io_uring_setup=425,
        io_uring_enter=426, io_uring_register=427)),
}
CLONE_NAMESPACE_FLAGS = 0x7E020000  # CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
CLONE_THREAD = 0x00010000
PROCESS_CREATION = ("fork", "vfork")  # where the architecture has them (aarch64 only has clone)


class Protocol:
    """Length-prefixed messages over the two dedicated pipes."""

    def read_exact(self, n: int) -> bytes:
        chunks, left = [], n
        while left:
            chunk = os.read(REQUEST_FD, min(left, 1 << 20))
            if not chunk:
                raise EOFError("request pipe closed")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def receive(self) -> tuple[dict[str, Any], bytes]:
        header_len, payload_len = FRAME.unpack(self.read_exact(FRAME.size))
        if header_len > MAX_HEADER:
            raise ValueError("request header too large")
        header = json.loads(self.read_exact(header_len))
        return header, self.read_exact(payload_len)

    def wait_for_close(self) -> None:
        """Block until the parent closes the request pipe (or kills us) after a last message it will read.

        Used after a failed import/load and after a recipe's last message: a worker that exited at
        once could be gone before the parent had found its host pid, which it needs to stop it cleanly.
        """
        while os.read(REQUEST_FD, 1 << 16):
            pass

    def send(self, header: dict[str, Any], payload: bytes = b"") -> None:
        data = json.dumps(header).encode()
        view = memoryview(FRAME.pack(len(data), len(payload)) + data + payload)
        while view:
            view = view[os.write(REPLY_FD, view):]


def make_resolver() -> Callable[[object], Any]:
    """``realpath`` built only from C functions captured now, so later patching of os cannot change it.

    The resolver answers a str for a path (str, bytes, path-like) and None for a descriptor or None.
    """
    import posix

    lstat, readlink, getcwd, fspath, fsdecode = posix.lstat, posix.readlink, posix.getcwd, os.fspath, os.fsdecode
    isinstance_, str_, int_, bytes_, oserror = isinstance, str, int, bytes, OSError

    def resolve(value: Any, depth: int = 0) -> str | None:
        if value is None or isinstance_(value, int_):
            return None
        path = fspath(value)
        path = fsdecode(path) if isinstance_(path, bytes_) else str_(path)
        if path[:1] != "/":
            path = getcwd() + "/" + path
        done: list[str] = []
        parts = [p for p in path.split("/") if p and p != "."]
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                if done:
                    done.pop()
                continue
            candidate = "/" + "/".join(done + [part])
            try:
                link = (lstat(candidate).st_mode & 0o170000) == 0o120000
            except oserror:
                link = False
            if not link:
                done.append(part)
                continue
            hops += 1
            if hops > 40:
                return candidate  # a loop: the kernel refuses it too
            target = readlink(candidate)
            if target[:1] == "/":
                done = []
            parts = [p for p in target.split("/") if p and p != "."] + parts
        return "/" + "/".join(done)

    return resolve


def make_guard(config: dict[str, Any], numpy_dirs: list[str]) -> NewDenied:
    """The import allowlist and the audit hook, armed at once; returns ``new_denied()``.

    Everything the hook needs lives in this closure, captured before student
    code runs: no object the student can reach (``builtins.__import__``,
    ``sys.modules["__main__"]``, a frame's locals, the os module) holds the
    hook's state or is called by it, so patching them cannot switch it off.
    Only ``denied`` is shared with ``new_denied`` (the report, not the wall).
    """
    resolve = make_resolver()
    folder = resolve(config["folder"])
    writable = tuple(resolve(p) for p in config["writable"])
    paths = sysconfig.get_paths()
    stdlib = tuple(sorted({resolve(paths[k]) for k in ("stdlib", "platstdlib")}))
    site = tuple(sorted({resolve(paths[k]) for k in ("purelib", "platlib")}))
    readable = tuple(sorted({resolve(p) for p in config["readable"]} | {resolve(p) for p in numpy_dirs}
                            | set(writable) | {folder}))
    listable = frozenset(resolve(p) for p in sys.path if p)
    allowed_imports = frozenset(config["allowed_imports"])
    student_modules = frozenset(p.stem if p.suffix == ".py" else p.name for p in Path(folder).iterdir()
                                if p.suffix == ".py" or (p / "__init__.py").is_file())
    denied: list[str] = []
    sent = [0]
    busy: dict[int, bool] = {}
    deny_prefixes, write_events, read_events, write_flags = DENY_PREFIXES, dict(WRITE_EVENTS), dict(READ_EVENTS), WRITE_FLAGS
    sep, permission_error, isinstance_, len_, str_, any_ = os.sep, PermissionError, isinstance, len, str, any
    get_ident = threading.get_ident
    special = ("/dev/null", "/dev/urandom", "/dev/random")

    def inside(path: str, roots: Iterable[str]) -> bool:
        for root in roots:
            if path == root or path.startswith(root + sep):
                return True
        return False

    def deny(what: str, exc: type[Exception] = permission_error) -> Exception:
        if len_(denied) < MAX_DENIED:
            denied.append(what[:300])
        return exc("tinymlperf sandbox: " + what + " denied")

    def readable_path(path: str) -> bool:
        return path in special or inside(path, readable) or (inside(path, stdlib) and not inside(path, site))

    def check(event: str, args: tuple[Any, ...]) -> None:
        if event.startswith(deny_prefixes):
            raise deny(event)
        if event == "open":
            path = resolve(args[0])
            if path is None:
                return
            mode, flags = args[1], args[2] or 0
            writing = (isinstance_(mode, str_) and any_(c in mode for c in "wax+")) or bool(flags & write_flags)
            if writing and not inside(path, writable):
                raise deny(f"open {path!r} for writing")
            if not writing and not readable_path(path):
                raise deny(f"open {path!r} for reading")
        elif event in write_events:
            for i in write_events[event]:
                path = resolve(args[i]) if i < len_(args) else None
                if path is not None and not inside(path, writable):
                    raise deny(f"{event} {path!r}")
        elif event in read_events:
            path = resolve(args[0] if args[0] is not None else ".")
            if path is not None and not readable_path(path) and path not in listable:
                raise deny(f"{event} {path!r}")

    def hook(event: str, args: tuple[Any, ...]) -> None:
        me = get_ident()
        if busy.get(me):
            return
        busy[me] = True
        try:
            check(event, args)
        finally:
            busy[me] = False

    def new_denied() -> list[str]:
        fresh = denied[sent[0]:]
        sent[0] = len_(denied)
        return fresh

    builtins.__import__ = make_import_guard(folder, allowed_imports, student_modules, denied)
    sys.addaudithook(hook)
    return new_denied


def make_import_guard(folder: str, allowed_imports: frozenset[str], student_modules: frozenset[str],
                      denied: list[str]) -> Callable[..., ModuleType]:
    """``__import__`` refusing modules off the allowlist in the student's own files.

    Shares no closure cell with the audit hook but the ``denied`` report: a
    student reaching in through ``__import__.__closure__`` can switch off this
    convenience (so can ``importlib``), never the hook.
    """
    resolve = make_resolver()
    getframe, real_import, import_error, len_ = sys._getframe, builtins.__import__, ImportError, len
    prefix = folder + os.sep

    def guarded_import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (),
                       level: int = 0) -> ModuleType:
        if level == 0:
            caller = getframe(1).f_code.co_filename
            path = resolve(caller) if caller[:1] == "/" else caller
            if path == folder or path.startswith(prefix):
                top = name.partition(".")[0]
                if top not in allowed_imports and top not in student_modules:
                    if len_(denied) < MAX_DENIED:
                        denied.append(f"import {top}")
                    raise import_error(f"tinymlperf sandbox: import {top} denied")
        return real_import(name, globals, locals, fromlist, level)

    return guarded_import


def apply_limits(config: dict[str, Any]) -> None:
    """Resource limits and CPU pinning, before any student code runs."""
    limits = config["limits"]
    for name, value in limits.items():
        kind = getattr(resource, name)
        hard = value + 1 if name == "RLIMIT_CPU" else value  # SIGXCPU at soft, SIGKILL at hard
        resource.setrlimit(kind, (value, hard))
    if config.get("cpu") is not None:
        os.sched_setaffinity(0, {config["cpu"]})
    os.umask(config["umask"])
    os.chdir(config["root"])


def seccomp_program(machine: str, pid: int) -> bytes:
    """The classic BPF program (struct sock_filter[]) for ``machine``; KeyError when unknown."""
    audit_arch, x32_bit, numbers = SECCOMP_ARCHES[machine]
    allow, eperm, enosys = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    nr_at, arch_at, arg0_low = 0, 4, 16  # struct seccomp_data; args are little-endian u64
    code: list[Instruction] = [(ld, 0, 0, arch_at), (jeq, 0, "eperm", audit_arch), (ld, 0, 0, nr_at)]
    if x32_bit is not None:
        code.append((jge, "eperm", 0, x32_bit))
    code += [(jeq, "eperm", 0, numbers[name]) for name in SECCOMP_DENIED + PROCESS_CREATION if name in numbers]
    code += [(jeq, "self", 0, numbers["kill"]), (jeq, "self", 0, numbers["tgkill"]),
             (jeq, "clone", 0, numbers["clone"]), (jeq, "enosys", 0, numbers["clone3"]), (ret, 0, 0, allow)]
    labels: dict[str, int] = {}
    blocks: list[tuple[str, list[Instruction]]] = [
        ("self", [(ld, 0, 0, arg0_low), (jeq, "allow", "eperm", pid)]),
        ("clone", [(ld, 0, 0, arg0_low), (jset, "eperm", 0, CLONE_NAMESPACE_FLAGS), (jset, "allow", "eperm", CLONE_THREAD)]),
        ("enosys", [(ret, 0, 0, enosys)]), ("eperm", [(ret, 0, 0, eperm)]), ("allow", [(ret, 0, 0, allow)])]
    for label, block in blocks:
        labels[label] = len(code)
        code += block
    out = []
    for i, (op, jt_label, jf_label, k) in enumerate(code):
        jt, jf = (labels[j] - i - 1 if isinstance(j, str) else j for j in (jt_label, jf_label))
        if not (0 <= jt <= 255 and 0 <= jf <= 255):
            raise ValueError("seccomp program: jump out of range")
        out.append(struct.pack("=HBBI", op, jt, jf, k))
    return b"".join(out)


def install_walls() -> str:
    """Make the worker non-dumpable and install the seccomp filter on all its threads.

    Non-dumpable: its /proc files belong to root, so a process of the same uid
    (another worker at the process level) cannot read its memory or environment.
    Returns a line for the isolation details. On an architecture without a syscall
    table the filter is reported missing; a kernel refusing it is our bug (raises).
    """
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE) failed")
    machine = os.uname().machine
    if machine not in SECCOMP_ARCHES:
        return f"seccomp: missing (no syscall table for {machine}); non-dumpable"
    program = seccomp_program(machine, os.getpid())
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]

    fprog = SockFprog(len(program) // 8, program)
    libc.syscall.restype = ctypes.c_long
    seccomp_nr = SECCOMP_ARCHES[machine][2]["seccomp"]
    # SECCOMP_SET_MODE_FILTER (1) with SECCOMP_FILTER_FLAG_TSYNC (1): every thread, or none
    if libc.syscall(ctypes.c_long(seccomp_nr), ctypes.c_long(1), ctypes.c_long(1), ctypes.byref(fprog)) != 0:
        raise OSError(ctypes.get_errno(), "seccomp(SECCOMP_SET_MODE_FILTER) failed")
    return (f"seccomp: {machine} filter, EPERM for {len(SECCOMP_DENIED)} syscalls ({', '.join(SECCOMP_DENIED)}), "
            "kill/tgkill but to itself, fork, vfork, clone but for threads or with namespace flags, and other "
            "architectures' syscalls; "
            "clone3 ENOSYS; no_new_privs; non-dumpable")


def describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text[:ERROR_CHARS]


def where(exc: BaseException, folder: str) -> str:
    """The innermost traceback line inside the student's folder, e.g. 'model.py:12'."""
    found = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.startswith(folder + os.sep):
            found = f"{os.path.relpath(frame.filename, folder)}:{frame.lineno}"
    return found


def shadowing_packages(folder: str, allowed_imports: Iterable[str]) -> list[str]:
    """The entry's package folders named like a standard or allowed module (validate refuses them too).

    With the folder first on ``sys.path`` such a package would be imported in
    place of the real module by numpy's or the standard library's own imports,
    which the import guard does not see; the worker then never serves the entry.
    """
    names = set(allowed_imports) | set(sys.stdlib_module_names) | set(sys.builtin_module_names)
    return sorted(p.name for p in Path(folder).iterdir() if p.name in names and p.is_dir())


def import_student(folder: str, name: str, shadows: list[str] | tuple[()] = ()) -> ModuleType:
    if shadows:
        raise ImportError(f"tinymlperf sandbox: package folder {shadows[0]!r} shadows a standard or allowed "
                          "module; rename it")
    path = os.path.join(folder, f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None  # a .py path always has the source loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def array_reply(value: object, np: ModuleType) -> tuple[dict[str, Any], bytes]:
    """Turn the student's return value into (header, bytes) without trusting it."""
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"predict returned dtype {array.dtype}")
    array = np.ascontiguousarray(array)
    return {"dtype": array.dtype.str, "shape": list(array.shape)}, array.tobytes()


# ---- profiling mode (``tinymlperf profile``): the student's own numbers, never used for ranking


def make_profiler() -> Profile:
    """A deterministic profiler (cProfile) switched on only around the model's ``predict`` calls."""
    import cProfile

    return cProfile.Profile()


PROFILE_ROWS = 60


def profile_rows(profiler: Profile, folder: str) -> list[list[Any]]:
    """Per function: name, calls, own seconds, seconds including callees; the student's code and C calls."""
    rows: list[list[Any]] = []
    prefix = folder + os.sep
    for entry in profiler.getstats():
        code = entry.code
        if isinstance(code, str):
            name = code  # a built-in or C method: "<method 'dot' of 'numpy.ndarray' objects>"
        elif code.co_filename.startswith(prefix):
            name = f"{code.co_filename[len(prefix):]}:{code.co_firstlineno}({code.co_name})"
        else:
            name = f"{os.path.basename(code.co_filename)}:{code.co_firstlineno}({code.co_name})"
            if os.path.basename(code.co_filename) == "worker.py":
                continue
        rows.append([name[:160], int(entry.callcount), float(entry.inlinetime), float(entry.totaltime)])
    rows.sort(key=lambda r: -r[2])
    return rows[:PROFILE_ROWS]


def serve_model(proto: Protocol, new_denied: NewDenied, config: dict[str, Any], np: ModuleType) -> None:
    folder = config["folder"]
    stage = "import"
    try:
        module = import_student(folder, "model", config["shadows"])
        stage = "load"
        model = module.load(Path(folder))
    except BaseException as exc:  # noqa: BLE001 - report any failure of student code
        proto.send({"type": "error", "stage": stage, "error": describe(exc), "where": where(exc, folder),
                    "denied": new_denied()})
        proto.wait_for_close()
        return
    proto.send({"type": "ready", "denied": new_denied()})
    profiler = make_profiler() if config.get("profile") else None
    while True:
        header, payload = proto.receive()
        if header.get("type") == "profile" and profiler is not None:
            proto.send({"type": "profile", "rows": profile_rows(profiler, folder), "denied": new_denied()})
            continue
        if header.get("type") != "predict":
            return
        images = np.frombuffer(payload, dtype=np.uint8).reshape(header["shape"])
        batch = int(header["batch"])
        try:
            if profiler is not None:
                profiler.enable()
            try:
                outputs = [np.asarray(model.predict(images[i:i + batch])) for i in range(0, len(images), batch)]
            finally:
                if profiler is not None:
                    profiler.disable()
            reply, data = array_reply(outputs[0] if len(outputs) == 1 else np.concatenate(outputs), np)
        except BaseException as exc:  # noqa: BLE001
            proto.send({"type": "error", "stage": "predict", "error": describe(exc), "where": where(exc, folder),
                        "denied": new_denied()})
            continue
        proto.send({"type": "result", **reply, "denied": new_denied()}, data)


def serve_recipe(proto: Protocol, new_denied: NewDenied, config: dict[str, Any], payload: bytes, np: ModuleType) -> None:
    folder = config["folder"]
    calibration = np.frombuffer(payload, dtype=np.uint8).reshape(config["calibration_shape"]).copy()
    stage = "import"
    try:
        module = import_student(folder, "build", config["shadows"])
        stage = "build"
        module.build(Path(config["baseline"]), calibration, Path(config["out"]))
    except BaseException as exc:  # noqa: BLE001
        proto.send({"type": "error", "stage": stage, "error": describe(exc), "where": where(exc, folder),
                    "denied": new_denied()})
    else:
        proto.send({"type": "done", "denied": new_denied()})
    proto.wait_for_close()  # the parent reads the last message, then stops this worker


def main() -> None:
    proto = Protocol()
    config, payload = proto.receive()
    apply_limits(config)
    import numpy as np  # before the hook: numpy's own start-up loads ctypes and reads its files

    numpy_dirs = [os.path.realpath(os.path.dirname(np.__file__))]
    libs = os.path.realpath(os.path.dirname(np.__file__)) + ".libs"
    if os.path.isdir(libs):
        numpy_dirs.append(libs)
    walls = install_walls()
    proto.send({"type": "hello", "pid": os.getpid(), "numpy": np.__version__, "walls": walls})
    config["shadows"] = shadowing_packages(config["folder"], config["allowed_imports"])
    if not config["shadows"]:
        sys.path.insert(0, config["folder"])
    sys.stdout.flush()
    # audit_layer is false only in tests proving that the OS walls hold once the hook is defeated
    new_denied = make_guard(config, numpy_dirs) if config.get("audit_layer", True) else list
    if config["mode"] == "model":
        serve_model(proto, new_denied, config, np)
    else:
        serve_recipe(proto, new_denied, config, payload, np)


if __name__ == "__main__":
    status = 0
    try:
        main()
    except EOFError:  # the parent closed the request pipe: a normal end
        pass
    except BaseException:  # noqa: BLE001 - a bug on our side: show it in the captured output
        traceback.print_exc()
        status = 3
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(status)  # also ends any thread the student left running
