"""How far a sandbox worker can be walled off on this machine, and the command that walls it off.

``user+netns`` (the strong level; the name is kept for result files): the
worker runs under a uid of its own, leased for its lifetime from a range that is
not in ``/etc/passwd`` (two workers never share one, even across concurrent
gradings), in its own PID, network, mount and IPC namespaces: it sees only its
own processes in ``/proc``, has no network, and the test data folders are
covered by an empty read-only tmpfs. Every mount it can see is read-only but its
own writable dirs and a private ``/dev/shm``, so it is stateless: nothing it
writes outlives it for a later worker to read (``/tmp``, ``/var/tmp`` and the other
world-writable folders of the host included). This needs root or passwordless
sudo, the util-linux tools, and an interpreter every uid can read. Otherwise
``process``: a plain child process, which can write wherever the grader can. At
both levels the worker installs a seccomp filter on itself and makes itself
non-dumpable (``grader/sandbox/worker.py``), and sets rlimits.

The decision is a pure function of the facts probed (:func:`plan_isolation`), so
each branch is tested without needing every kind of machine.
"""

from __future__ import annotations

import fcntl
import functools
import grp
import os
import pwd
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["Level", "Requested", "Isolation", "UidLease", "plan_isolation", "probe", "namespace_prefix", "strong_walls",
           "lease_uid", "ci_policy", "UID_BASE", "UID_SPAN", "PROBE_SECONDS", "SETUP_FAILED"]

UID_BASE = 1_900_000_000  # worker uids: far above any distribution's or container tool's range
UID_SPAN = 1 << 20
PROBE_SECONDS = 30
SETUP_FAILED = 120  # exit status of the namespace set-up script when a mount or chown fails
STRONG: Level = "user+netns"
# Workers at this level are stateless (INIT_SCRIPT: every mount read-only but their own dirs, own
# uid/pid/net/ipc namespaces): a fresh one can answer nothing from what an earlier one saw.
STATELESS: Level = STRONG

Level = Literal["process", "user+netns"]
Requested = Literal["auto", "process"]  # what a caller may ask for

# pid 1 of the worker's PID namespace, run as root inside the new namespaces. It covers the
# hidden folders, then makes every mount the worker can see read-only (bind remounts keep each
# mount's nosuid/nodev/noexec and leave device nodes such as /dev/null usable), so that nothing it
# writes outside its own dirs (/tmp, /var/tmp, /dev/mqueue, /run/lock, any world-writable folder on
# any mount) can outlive it for a later worker to read. Its temp dir is bound onto itself first, so
# that it is a mount of its own, made read-only with the rest and writable again for the hand-back
# below; each writable dir is then bound onto itself (the copy is read-only: a bind takes its
# source mount's flags) and remounted writable; /dev/shm gets a private tmpfs. It hands the
# writable dirs to the worker's uid, runs the worker (setpriv ... python) as its child, then kills
# whatever the worker left in the namespace and (under sudo) hands the worker's files back to the
# grader's uid so it can read and delete them. It stays pid 1 so that kernel signals (SIGXCPU)
# still reach the worker, and its exit status is the worker's (128 + n for signal n). When it dies,
# the namespace dies, and its mounts with it (unshare makes them private: nothing reaches the host).
# A mount is remounted where its path reaches it: a mount covered by a later one (the host's
# /proc and /proc/sys/fs/binfmt_misc under the new /proc) is reached by no path, so its path
# names nothing or another mount (the mount id of the open path, from fdinfo, tells which), and it
# is skipped; that other mount has its own line. A path that cannot be opened is remounted all
# the same, and any failure stops the set-up (exit 120): the grade fails closed.
INIT_SCRIPT = r"""
uid=$1 owner=$2 root=$3 n=$4
shift 4
while [ "$n" -gt 0 ]; do
    mount -n -t tmpfs -o ro,nosuid,nodev,noexec,size=4k,mode=0 tinymlperf-hidden "$1" || exit 120
    shift
    n=$((n - 1))
done
if [ "$root" != - ]; then
    chown ":$uid" "$root" && chmod 0750 "$root" && mount -n --bind "$root" "$root" || exit 120
fi
while read -r id _ _ _ point _; do
    case $point in
        *\\*)  # mountinfo writes space, tab, newline and backslash as \040 \011 \012 \134
            point=$(printf '%s\n' "$point" | sed 's/\\\([0-7][0-7][0-7]\)/\\0\1/g') || exit 120
            point=$(printf '%b.' "$point") || exit 120
            point=${point%.} ;;
    esac
    [ -e "$point" ] || continue
    here=$(sed -n 's/^mnt_id:[[:space:]]*//p' /proc/self/fdinfo/5 2>/dev/null 5<"$point")
    if [ -z "$here" ] || [ "$here" = "$id" ]; then
        mount -n -o remount,bind,ro "$point" || exit 120
    fi
done < /proc/self/mountinfo
if [ -d /dev/shm ]; then
    mount -n -t tmpfs -o nosuid,nodev,noexec,size=16m,mode=1777 tinymlperf-shm /dev/shm || exit 120
fi
n=$1
shift
while [ "$n" -gt 0 ]; do
    mount -n --bind "$1" "$1" && mount -n -o remount,bind,rw "$1" || exit 120
    chown "$uid:$uid" "$1" && chmod 0700 "$1" || exit 120
    shift
    n=$((n - 1))
done
exec 3>&2 2>/dev/null 4<&0  # the shell's own job messages ("Killed") stay out of the worker's output
"$@" 2>&3 3>&- <&4 4<&- &
wait $!
status=$?
kill -KILL -1
if [ "$root" != - ] && [ "$owner" != 0:0 ]; then
    mount -n -o remount,bind,rw "$root" && chown -R "$owner" "$root"
fi
exit $status
"""


@dataclass(frozen=True)
class Isolation:
    """The isolation a worker actually got: the level, and each wall (or why it is missing)."""

    level: Level
    details: tuple[str, ...]

    def to_json(self) -> dict:
        """As result.json and baseline.json record it."""
        return {"level": self.level, "details": list(self.details)}

    def with_note(self, note: str | None) -> Isolation:
        return self if note is None else Isolation(self.level, self.details + (note,))


def plan_isolation(requested: Requested, *, euid: int, sudo: bool,
                   missing_tools: tuple[str, ...], probe_error: str | None) -> tuple[Level, tuple[str, ...]]:
    """Decide the isolation level from the facts found on this machine (pure, for tests)."""
    if requested == "process":
        return "process", ("process isolation requested by the caller",)
    if euid != 0 and not sudo:
        return "process", ("no user+netns: not root and no passwordless sudo",)
    if missing_tools:
        return "process", (f"no user+netns: missing {', '.join(missing_tools)}",)
    if probe_error is not None:
        return "process", (f"no user+netns: {probe_error}",)
    how = "as root" if euid == 0 else "via passwordless sudo"
    return STRONG, (f"user+netns: namespaces set up {how}",)


def strong_walls(hidden: Sequence[Path]) -> tuple[str, ...]:
    """The walls the namespace prefix builds, one line each, for the isolation details (no uid: deterministic)."""
    shown = ", ".join(str(p) for p in hidden) or "none given"
    return (f"uid: a uid of its own, leased from {UID_BASE}+ (not in /etc/passwd, used by no other process), "
            "no supplementary groups, no_new_privs",
            "pid namespace: sees only its own processes (/proc remounted); cannot signal or trace any other",
            "net namespace: no network interfaces but a down loopback",
            f"mount namespace: hidden under an empty read-only tmpfs: {shown}; private /dev/shm",
            "ipc namespace: no System V IPC shared with other processes",
            "files: its writable dirs are owned by its uid, mode 0700; the rest of its temp dir is read-only",
            "read-only mounts: every mount it sees but its writable dirs and /dev/shm (/tmp, /var/tmp, "
            "/dev/mqueue, /run/lock included): nothing it writes outlives it for a later worker")


class UidLease:
    """A worker uid held under an exclusive lock until :meth:`release` (or the grader's death)."""

    def __init__(self, uid: int, fd: int) -> None:
        self.uid, self._fd = uid, fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _lock_dir() -> Path:
    """Where uid locks live: root's /run, or a private folder of the (sudo-capable) user."""
    path = Path("/run/tinymlperf-uids") if os.geteuid() == 0 else \
        Path(tempfile.gettempdir()) / f"tinymlperf-uids-{os.geteuid()}"
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    info = path.lstat()
    if not path.is_dir() or path.is_symlink() or info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise OSError(f"{path}: not a private folder of uid {os.geteuid()}")
    return path


def _uids_in_use() -> set[int]:
    """Real uids of every process visible in /proc (a lease's holder may have died, its worker not)."""
    found: set[int] = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                text = Path(f"/proc/{name}/status").read_text()
            except OSError:
                continue
            for line in text.splitlines():
                if line.startswith("Uid:"):
                    found.update(int(v) for v in line.split()[1:])
                    break
    return found


def lease_uid(rng: random.Random | None = None) -> UidLease:
    """A uid nobody else uses now: not in passwd/group, no process runs as it, and we hold its lock."""
    rng = rng or random.SystemRandom()
    folder = _lock_dir()
    busy = _uids_in_use()
    for _ in range(100):
        uid = UID_BASE + rng.randrange(UID_SPAN)
        if uid in busy or _known_id(uid):
            continue
        fd = os.open(folder / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return UidLease(uid, fd)
    raise OSError("no free worker uid after 100 tries")


def _known_id(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
        return True
    except KeyError:
        pass
    try:
        grp.getgrgid(uid)
        return True
    except KeyError:
        return False


def namespace_prefix(sudo: bool, uid: int, *, root: Path | None, writable: Sequence[Path],
                     hidden: Sequence[Path], env: Mapping[str, str]) -> list[str]:
    """argv that runs the rest of the command line walled off (see INIT_SCRIPT) as ``uid``."""
    owner = f"{os.geteuid()}:{os.getegid()}"  # who gets the worker's files back afterwards (not root: sudo)
    prefix = ["sudo", "-n", "--"] if sudo else []
    return prefix + [
        "unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "--net", "--ipc", "--",
        "/bin/sh", "-c", INIT_SCRIPT, "tinymlperf-init", str(uid), owner, str(root) if root else "-",
        str(len(hidden)), *map(str, hidden), str(len(writable)), *map(str, writable),
        "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs", "--",
        "env", "-i", *(f"{k}={v}" for k, v in env.items()),
    ]


@functools.cache
def probe(python: str) -> tuple[Level, tuple[str, ...], bool]:
    """Find what this machine allows; cached per interpreter. Returns (level, details, sudo)."""
    euid = os.geteuid()
    sudo = False
    if euid != 0 and shutil.which("sudo"):
        sudo = subprocess.run(["sudo", "-n", "true"], capture_output=True, timeout=PROBE_SECONDS).returncode == 0
    missing = tuple(t for t in ("unshare", "setpriv", "env", "mount", "chown") if shutil.which(t) is None)
    probe_error = None
    if (euid == 0 or sudo) and not missing:
        probe_error = _probe_interpreter(python, sudo)
    level, details = plan_isolation("auto", euid=euid, sudo=sudo, missing_tools=missing, probe_error=probe_error)
    return level, details, sudo


def _probe_interpreter(python: str, sudo: bool) -> str | None:
    """Run the interpreter walled off; None when it sees the same Python and numpy."""
    code = "import sys, numpy; print(sys.prefix, sys.version, numpy.__version__, numpy.__file__)"
    argv = [python, "-s", "-P", "-B", "-c", code]
    try:
        lease = lease_uid()
    except OSError as e:
        return f"cannot lease a worker uid: {e}"
    try:
        mine = subprocess.run(argv, capture_output=True, timeout=PROBE_SECONDS, cwd="/")
        prefix = namespace_prefix(sudo, lease.uid, root=None, writable=(), hidden=(), env={"PATH": "/usr/bin:/bin"})
        theirs = subprocess.run(prefix + argv, capture_output=True, timeout=PROBE_SECONDS, cwd="/")
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"probe failed: {e}"
    finally:
        lease.release()
    if theirs.returncode != 0 or theirs.stdout != mine.stdout:
        why = theirs.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["different output"]
        return (f"a worker uid cannot run {python} with the same numpy (interpreter or site-packages "
                f"not readable by other users?): {why[0][:200]}")
    return None


def ci_policy(requested: Requested, allow_weak: bool, env: Mapping[str, str] = os.environ,
              python: str = sys.executable) -> tuple[str | None, str | None]:
    """(refusal, note) for grading under GitHub Actions, where weak isolation must not pass silently.

    Under ``GITHUB_ACTIONS=true`` an isolation weaker than ``user+netns`` is refused unless the
    organizer opted out in competition.yaml (``sandbox.allow_weak_isolation_in_ci``) or the test
    suite is replaying a workflow on a developer machine (``TINYMLPERF_WORKFLOW_REPLAY=1``, set only
    by tests/workflow_replay.py); the note then says so in the result. Otherwise: (None, None).
    """
    if env.get("GITHUB_ACTIONS") != "true":
        return None, None
    level, details, _ = probe(python) if requested == "auto" else ("process", ("requested by the caller",), False)
    if level == STRONG:
        return None, None
    if allow_weak:
        return None, (f"weak isolation ({level}) accepted in CI because competition.yaml sets "
                      "sandbox.allow_weak_isolation_in_ci: true")
    if env.get("TINYMLPERF_WORKFLOW_REPLAY") == "1":
        return None, (f"weak isolation ({level}) accepted: TINYMLPERF_WORKFLOW_REPLAY=1, a workflow replayed by "
                      "the test suite, not a runner")
    return (f"refusing to grade in CI at isolation {level!r} ({'; '.join(details)}): GitHub-hosted runners "
            "allow user+netns (root or passwordless sudo, an interpreter every user can read). Fix the runner, "
            "or set sandbox.allow_weak_isolation_in_ci: true in competition.yaml to accept it"), None
