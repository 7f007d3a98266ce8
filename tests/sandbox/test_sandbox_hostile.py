"""Hostile submissions against the real sandbox (small limits): the in-process layer, then the OS walls.

Each case must end in a SubmissionError/SandboxError or a recorded denial within
its limits: never a hang, never a crash of the grader, never a forged result,
and nothing written where it should not be.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from grader.core.errors import GraderError, SandboxError, SubmissionError
from grader.sandbox.isolation import UID_BASE
from grader.sandbox.parent import ModelWorker, run_recipe
from tests.sandbox_helpers import (
    ATTACK_PRELUDE,
    ZEROS_MODEL,
    as_root,
    attack_lines,
    images,
    random_weights,
    small_limits,
    strong_python,
    world_readable_dir,
    write_model,
    write_recipe,
)

pytestmark = pytest.mark.slow  # every test here runs sandbox workers, the CLI or the loopback server

PRELUDE = """
import pathlib
import numpy as np
os = pathlib.os                       # os without "import os": the import allowlist is not the wall
sys = pathlib.sys
importlib = sys.modules["importlib"]  # importlib.import_module bypasses the import guard

class Zeros:
    def predict(self, images):
        return np.zeros((len(images), 10), dtype=np.float32)
"""


def model_with(tmp_path: Path, body: str, **files: str) -> Path:
    return write_model(tmp_path / "entry", PRELUDE + body, files)


def load_fails(folder: Path, match: str, error: type[GraderError] = SubmissionError, **limits: object) -> float:
    start = time.monotonic()
    with pytest.raises(error, match=match):
        with ModelWorker(folder, small_limits(**limits), isolation="process"):
            pass
    return time.monotonic() - start


# --------------------------------------------------------------------------- limits


def test_infinite_loop_at_load_hits_the_wall_clock(tmp_path: Path) -> None:
    folder = model_with(tmp_path, "\ndef load(folder):\n    while True:\n        pass\n")
    took = load_fails(folder, "2 s wall-clock limit", SandboxError, wall_seconds=2)
    assert took < 6


def test_infinite_loop_in_predict_hits_the_wall_clock(tmp_path: Path) -> None:
    folder = model_with(tmp_path, """
class Loop:
    def predict(self, images):
        while True:
            pass

def load(folder):
    return Loop()
""")
    with ModelWorker(folder, small_limits(wall_seconds=3), isolation="process") as worker:
        with pytest.raises(SandboxError, match="3 s wall-clock limit"):
            worker.predict(images(1))
    assert worker.log.exit_status == "killed: wall-clock timeout after 3 s"


def test_cpu_burn_hits_the_cpu_limit(tmp_path: Path) -> None:
    folder = model_with(tmp_path, "\ndef load(folder):\n    while True:\n        pass\n")
    load_fails(folder, r"killed: CPU limit \(2 s\)", SandboxError, cpu_seconds=2, wall_seconds=20)


def test_memory_bomb_gets_memory_error(tmp_path: Path) -> None:
    folder = model_with(tmp_path, """
def load(folder):
    hog = [np.ones(10**7) for _ in range(1000)]
    return Zeros()
""")
    load_fails(folder, "model.load.. failed at model.py:.*MemoryError", memory_mb=600)


def test_huge_file_hits_the_file_size_limit(tmp_path: Path) -> None:
    folder = model_with(tmp_path, """
def load(folder):
    with open(pathlib.Path.home() / "big", "wb") as f:
        for _ in range(100):
            f.write(b"x" * 1024 * 1024)
    return Zeros()
""")
    load_fails(folder, "File too large", file_bytes=1024 * 1024)


def test_output_flood_is_bounded(tmp_path: Path) -> None:
    folder = model_with(tmp_path, "\nprint('x' * 3_000_000)\ndef load(folder):\n    return Zeros()\n")
    with ModelWorker(folder, small_limits(output_bytes=1000), isolation="process") as worker:
        worker.predict(images(1))
    assert len(worker.log.output) < 1100
    assert "output truncated: 3000001 bytes, first 1000 kept" in worker.log.output


# --------------------------------------------------------------------------- processes, network, native code


@pytest.mark.parametrize("call, event", [
    ("os.fork()", "os.fork"),
    ("[os.fork() for _ in range(100)]", "os.fork"),
    ("importlib.import_module('subprocess').run(['true'])", "subprocess.Popen"),
    ("os.system('touch /tmp/tinymlperf-pwned')", "os.system"),
    ("os.execv('/bin/true', ['true'])", "os.exec"),
    ("os.posix_spawn('/bin/true', ['true'], {})", "os.posix_spawn"),
    ("importlib.import_module('socket').create_connection(('127.0.0.1', 9))", "socket."),
    ("importlib.import_module('ctypes').CDLL(None)", "ctypes.dlopen"),
    ("sys.modules['ctypes'].string_at(id(1), 8)", "ctypes."),
    ("os.kill(os.getppid(), 9)", "os.kill"),
    ("os.killpg(os.getpgid(os.getppid()), 9)", "os.killpg"),
    ("importlib.import_module('resource').setrlimit(0, (-1, -1))", "resource.setrlimit"),
    ("sys.addaudithook(lambda *a: None)", "sys.addaudithook"),
])
def test_forbidden_calls_at_load_are_denied(tmp_path: Path, call: str, event: str) -> None:
    folder = model_with(tmp_path, f"\ndef load(folder):\n    {call}\n    return Zeros()\n")
    load_fails(folder, f"(failed at model.py:.*PermissionError: tinymlperf sandbox: |forbids: ){event}")
    assert not Path("/tmp/tinymlperf-pwned").exists()


def test_caught_denial_still_fails_the_load(tmp_path: Path) -> None:
    folder = model_with(tmp_path, """
def load(folder):
    try:
        os.kill(os.getppid(), 9)
    except PermissionError:
        pass
    return Zeros()
""")
    load_fails(folder, "model.py tried something the sandbox forbids: os.kill")


@pytest.mark.parametrize("module", ["os", "socket", "subprocess", "ctypes", "sys", "importlib", "shutil"])
def test_import_outside_the_allowlist_is_refused(tmp_path: Path, module: str) -> None:
    folder = write_model(tmp_path / "entry", f"import {module}\ndef load(folder):\n    return None\n")
    load_fails(folder, f"importing model.py failed at model.py:1: ImportError: tinymlperf sandbox: import {module}")


def test_denial_during_predict_is_a_submission_error(tmp_path: Path) -> None:
    folder = model_with(tmp_path, """
class Sneaky:
    def predict(self, images):
        try:
            importlib.import_module('socket').socket()
        except OSError:
            pass
        return np.zeros(len(images), dtype=np.int64)

def load(folder):
    return Sneaky()
""")
    with ModelWorker(folder, small_limits(), isolation="process") as worker:
        with pytest.raises(SubmissionError, match="forbids: socket.__new__"):
            worker.predict(images(1))
    assert "socket.__new__" in worker.log.denied


# --------------------------------------------------------------------------- files and secrets


def test_writing_into_grader_folders_and_output_file_is_denied(tmp_path: Path) -> None:
    grader_dir = tmp_path / "grader-tree"
    grader_dir.mkdir()
    result = grader_dir / "result.json"
    result.write_text("{}")
    folder = model_with(tmp_path, f"""
def load(folder):
    for target in [{str(result)!r}, {str(grader_dir / 'pwned.py')!r}]:
        try:
            with open(target, "w") as f:
                f.write('{{"status": "valid"}}')
        except PermissionError:
            pass
    for call in (lambda: os.remove({str(result)!r}), lambda: os.rename({str(result)!r}, "/tmp/x"),
                 lambda: os.mkdir({str(grader_dir / 'd')!r}), lambda: os.chmod({str(result)!r}, 0o777),
                 lambda: os.symlink("/etc/passwd", {str(grader_dir / 'link')!r})):
        try:
            call()
        except PermissionError:
            pass
    return Zeros()
""")
    load_fails(folder, "forbids: open .*result.json.* for writing; open .*pwned.py.* for writing; os.remove")
    assert result.read_text() == "{}"
    assert sorted(p.name for p in grader_dir.iterdir()) == ["result.json"]


def test_reading_the_labels_is_denied(tmp_path: Path) -> None:
    labels = tmp_path / "data" / "test_batch_labels"
    labels.parent.mkdir()
    labels.write_text("LABELS-3-8-8-0-6")
    folder = model_with(tmp_path, f"""
def load(folder):
    print(open({str(labels)!r}).read())
    return Zeros()
""")
    worker = ModelWorker(folder, small_limits(), isolation="process")
    with pytest.raises(SubmissionError, match="open .*test_batch_labels.* for reading") as info:
        with worker:
            pass
    assert "LABELS" not in str(info.value) and "LABELS" not in worker.log.output


def test_listing_other_folders_is_denied(tmp_path: Path) -> None:
    folder = model_with(tmp_path, f"\ndef load(folder):\n    print(os.listdir({str(tmp_path)!r}))\n    return Zeros()\n")
    load_fails(folder, "os.listdir")


def test_parent_environment_cannot_be_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYMLPERF_TEST_SECRET", "s3cr3t-value-42")
    folder = model_with(tmp_path, """
def load(folder):
    print(dict(os.environ))
    for path in (f"/proc/{os.getppid()}/environ", "/proc/1/environ", "/proc/self/environ"):
        try:
            print(open(path, "rb").read())
        except OSError as e:
            print("no", path, e)
    return Zeros()
""")
    worker = ModelWorker(folder, small_limits(), isolation="process")
    with pytest.raises(SubmissionError, match="environ") as info:
        with worker:
            pass
    assert "s3cr3t" not in str(info.value) and "s3cr3t" not in worker.log.output
    assert any("environ" in d for d in worker.log.denied)


def test_symlink_in_the_submission_is_refused(tmp_path: Path) -> None:
    folder = model_with(tmp_path, "\ndef load(folder):\n    return Zeros()\n")
    (folder / "labels.npz").symlink_to(tmp_path)
    load_fails(folder, "labels.npz: symbolic links are not allowed")


# --------------------------------------------------------------------------- output, replies, exceptions


def test_workflow_commands_are_neutralized(tmp_path: Path) -> None:
    folder = model_with(tmp_path, """
print("::set-output name=speedup::1000")
print("::add-mask::hidden")
print("  ::stop-commands::token")
print("::error file=x::forged")
sys.stderr.write("##[set-output name=a;]b\\n\\x1b[2J")
def load(folder):
    return Zeros()
""")
    with ModelWorker(folder, small_limits(), isolation="process") as worker:
        worker.predict(images(1))
    out = worker.log.output
    assert "set-output" in out and "::" not in out and "##[" not in out and "\x1b" not in out


@pytest.mark.parametrize("value, message", [
    ("np.zeros((len(images), 5))", r"shape \(2, 5\)"),
    ("np.full((len(images), 10), np.nan)", "NaN or infinite"),
    ("np.array([object()] * len(images))", "dtype object"),
    ("np.array([12, 3])", "outside 0..9"),
    ("'cat'", "dtype <U3"),
])
def test_bad_predictions_are_submission_errors(tmp_path: Path, value: str, message: str) -> None:
    folder = model_with(tmp_path, f"""
class Bad:
    def predict(self, images):
        return {value}

def load(folder):
    return Bad()
""")
    with ModelWorker(folder, small_limits(), isolation="process") as worker:
        with pytest.raises(SubmissionError, match=message):
            worker.predict(images(2))


def test_huge_output_is_refused_and_the_worker_stopped(tmp_path: Path) -> None:
    folder = model_with(tmp_path, """
class Huge:
    def predict(self, images):
        return np.zeros((len(images), 2_000_000))

def load(folder):
    return Huge()
""")
    with ModelWorker(folder, small_limits(), isolation="process") as worker:
        with pytest.raises(SubmissionError, match="output is too large: 32000000 bytes"):
            worker.predict(images(2))
        with pytest.raises(SandboxError, match="not running"):
            worker.predict(images(2))
    assert worker.log.exit_status == "killed: protocol error"


@pytest.mark.parametrize("body, message", [
    ("raise RuntimeError('at import')\ndef load(folder):\n    return Zeros()\n",
     "importing model.py failed at model.py:12: RuntimeError: at import"),
    ("def load(folder):\n    raise ValueError('bad weights')\n", "model.load.. failed at model.py:13: ValueError: bad weights"),
    ("def load(folder):\n    raise SystemExit(0)\n", "SystemExit"),
    ("def load(folder):\n    os._exit(0)\n", "worker died .exited 0."),
])
def test_exceptions_at_import_and_load(tmp_path: Path, body: str, message: str) -> None:
    error = SandboxError if "died" in message else SubmissionError
    load_fails(model_with(tmp_path, "\n" + body), message, error)


def test_exception_in_predict_keeps_the_worker_usable(tmp_path: Path) -> None:
    folder = model_with(tmp_path, """
class Flaky:
    calls = 0
    def predict(self, images):
        Flaky.calls += 1
        if Flaky.calls == 1:
            raise KeyError("first call")
        return np.ones(len(images), dtype=np.int64)

def load(folder):
    return Flaky()
""")
    with ModelWorker(folder, small_limits(), isolation="process") as worker:
        with pytest.raises(SubmissionError, match="model.predict.. failed at model.py:.*KeyError: 'first call'"):
            worker.predict(images(1))
        assert worker.predict(images(2)).tolist() == [1, 1]


def test_forged_reply_from_stdout_is_just_output(tmp_path: Path) -> None:
    forged = '\\x00\\x00\\x00\\x10' + '\\x00' * 8 + '{"type":"ready"}'
    folder = model_with(tmp_path, f"""
print({forged!r})
def load(folder):
    raise ValueError("never ready")
""")
    load_fails(folder, "never ready")


# --------------------------------------------------------------------------- clocks and threads


def test_background_thread_shows_in_cpu_seconds(tmp_path: Path) -> None:
    folder = model_with(tmp_path, """
threading = sys.modules["threading"]

def burn():
    while True:
        sum(range(10000))

def load(folder):
    threading.Thread(target=burn, daemon=True).start()
    return Zeros()
""")
    with ModelWorker(folder, small_limits(), isolation="process") as worker:
        before, deadline = worker.cpu_seconds(), time.monotonic() + 5
        while worker.cpu_seconds() - before < 0.3 and time.monotonic() < deadline:
            time.sleep(0.1)  # the worker is idle between requests: only the thread can burn CPU
        assert worker.cpu_seconds() - before >= 0.3


def test_idle_worker_uses_no_cpu(tmp_path: Path) -> None:
    with ModelWorker(model_with(tmp_path, "\ndef load(folder):\n    return Zeros()\n"), small_limits(),
                     isolation="process") as worker:
        before = worker.cpu_seconds()
        time.sleep(0.5)
        assert worker.cpu_seconds() - before < 0.05


def test_patching_time_in_the_worker_does_not_fool_the_parent(tmp_path: Path) -> None:
    folder = model_with(tmp_path, """
time = sys.modules["time"]
real = time.perf_counter

class Slow:
    def predict(self, images):
        end = real() + 0.3
        while real() < end:
            pass
        time.perf_counter = time.monotonic = time.time = lambda: 0.0
        return np.zeros(len(images), dtype=np.int64)

def load(folder):
    return Slow()
""")
    with ModelWorker(folder, small_limits(), isolation="process") as worker:
        seconds, _ = worker.time_queries(images(2), 1)
    assert seconds >= 0.6


# --------------------------------------------------------------------------- recipes


@pytest.fixture()
def baseline_dir(tmp_path: Path) -> Path:
    base = tmp_path / "baseline"
    base.mkdir()
    random_weights(base)
    return base


def recipe_fails(tmp_path: Path, baseline_dir: Path, source: str, match: str, **limits: object) -> Path:
    out = tmp_path / "out"
    folder = write_recipe(tmp_path / "entry", "import numpy as np\nimport pathlib\n" + source)
    with pytest.raises(SubmissionError, match=match):
        run_recipe(folder, baseline_dir, images(4), out, small_limits(**limits), isolation="process")
    return out


def test_recipe_writing_outside_its_out_folder_is_denied(tmp_path: Path, baseline_dir: Path) -> None:
    victim = tmp_path / "grader-output.npz"
    out = recipe_fails(tmp_path, baseline_dir, f"""
def build(baseline_dir, calibration_images, out_dir):
    np.savez(out_dir / "weights.npz", a=np.zeros(3))
    np.savez({str(victim)!r}, a=np.zeros(3))
""", "build.. failed at build.py:6: PermissionError: .*open .*grader-output.npz.* for writing")
    assert not victim.exists() and not out.exists()


def test_recipe_cannot_modify_the_baseline(tmp_path: Path, baseline_dir: Path) -> None:
    before = (baseline_dir / "weights.npz").read_bytes()
    recipe_fails(tmp_path, baseline_dir, """
def build(baseline_dir, calibration_images, out_dir):
    np.savez(baseline_dir / "weights.npz", a=np.zeros(3))
""", "open .*baseline/weights.npz.* for writing")
    assert (baseline_dir / "weights.npz").read_bytes() == before


def test_recipe_exception_names_the_line(tmp_path: Path, baseline_dir: Path) -> None:
    recipe_fails(tmp_path, baseline_dir, "def build(baseline_dir, calibration_images, out_dir):\n    1 / 0\n",
                 r"build\(\) failed at build.py:4: ZeroDivisionError")


def test_recipe_timeout_names_the_limit(tmp_path: Path, baseline_dir: Path) -> None:
    start = time.monotonic()
    recipe_fails(tmp_path, baseline_dir, "def build(b, c, o):\n    while True:\n        pass\n",
                 "recipe exceeded the 2 s wall-clock limit", wall_seconds=2)
    assert time.monotonic() - start < 6


def test_recipe_cpu_limit_names_the_limit(tmp_path: Path, baseline_dir: Path) -> None:
    recipe_fails(tmp_path, baseline_dir, "def build(b, c, o):\n    while True:\n        pass\n",
                 "recipe exceeded the 2 s CPU-time limit", cpu_seconds=2)


def test_recipe_pickled_npz_is_refused(tmp_path: Path, baseline_dir: Path) -> None:
    out = recipe_fails(tmp_path, baseline_dir, """
def build(b, c, out_dir):
    np.savez(out_dir / "weights.npz", a=np.array([{"x": 1}], dtype=object))
""", "weights.npz: not a loadable .npz without pickles")
    assert not (out / "weights.npz").exists()


def test_recipe_symlink_and_no_npz(tmp_path: Path, baseline_dir: Path) -> None:
    recipe_fails(tmp_path, baseline_dir, """
def build(b, c, out_dir):
    pathlib.os.symlink(b / "weights.npz", out_dir / "weights.npz")
""", "build.. wrote no .npz file")


def test_recipe_never_sees_labels_or_extra_arguments(tmp_path: Path, baseline_dir: Path) -> None:
    folder = write_recipe(tmp_path / "entry", """
import numpy as np
def build(baseline_dir, calibration_images, out_dir):
    assert calibration_images.shape == (4, 3, 32, 32) and calibration_images.dtype == np.uint8
    print(sorted(p.name for p in baseline_dir.iterdir()))
    np.savez(out_dir / "w.npz", x=calibration_images[:1])
""")
    outcome = run_recipe(folder, baseline_dir, images(4), tmp_path / "out", small_limits(), isolation="process")
    assert "['weights.npz']" in outcome.log.output
    assert set(outcome.weights) == {"w.npz"}


def test_grader_survives_everything(tmp_path: Path) -> None:
    assert os.getpid() > 0 and np.zeros(1).sum() == 0  # this process got here: nothing above killed it


# --------------------------------------------------------------------------- the OS walls, hook defeated
#
# The audit hook is a speed bump: code that gets at raw memory can switch it off. These workers
# start with it left out (audit_layer=False) to prove that the kernel's walls hold on their own:
# seccomp and non-dumpable at both levels, and at user+netns also the uid, the PID namespace and
# the mount namespace. The attacks reach their tools without import statements (ATTACK_PRELUDE).

LEVELS = ["process", "user+netns"]


def level_kwargs(level: str) -> dict:
    return {"isolation": "process"} if level == "process" else {"isolation": "auto", "python": strong_python()}


def attacker(tmp_path: Path, load_body: str, **constants: object) -> Path:
    header = "".join(f"{name} = {value!r}\n" for name, value in constants.items())
    source = ATTACK_PRELUDE + header + "\ndef load(folder):\n" + textwrap.indent(textwrap.dedent(load_body), "    ") \
        + "\n    return Zeros()\n"
    return write_model(tmp_path / "attacker", source)


def run_attack(folder: Path, level: str, **kwargs: object) -> list[str]:
    with ModelWorker(folder, small_limits(), audit_layer=False, **level_kwargs(level), **kwargs) as worker:
        worker.predict(images(1))
    assert worker.isolation.level == level
    return attack_lines(worker.log.output)


def state_of(pid: int) -> str:
    return next(line.split()[1] for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                if line.startswith("State:"))


def assert_answers_promptly(victim: ModelWorker) -> None:
    if state_of(victim.pid) in ("T", "t"):
        os.kill(victim.pid, signal.SIGCONT)
        pytest.fail(f"the victim worker {victim.pid} was stopped by the attacker")
    start = time.monotonic()
    assert victim.predict(images(1)).shape == (1,)
    assert time.monotonic() - start < 2


@pytest.mark.parametrize("level", LEVELS)
def test_no_child_process_can_be_started_to_do_untimed_work(tmp_path: Path, level: str) -> None:
    # A child's CPU time is not the worker's: a worker yielding its core to a child that computes
    # would look idle-but-preempted while the work went untimed. Threads stay allowed.
    folder = attacker(tmp_path, """
        attempt("fork", lambda: posix.fork())
        done = []
        t = threading.Thread(target=lambda: done.append(1))
        t.start()
        t.join()
        report("thread", done)
    """)
    lines = run_attack(folder, level)
    assert f"fork refused {errno.EPERM}" in lines, lines
    assert "thread [1]" in lines, lines


@pytest.mark.parametrize("level", LEVELS)
def test_sibling_worker_cannot_be_stopped_by_kill_or_pidfd(tmp_path: Path, level: str) -> None:
    victim_folder = write_model(tmp_path / "victim", ZEROS_MODEL)
    with ModelWorker(victim_folder, small_limits(), **level_kwargs(level)) as victim:
        folder = attacker(tmp_path, """
            me = posix.getpid()
            found = []
            for name in posix.listdir("/proc"):
                if name.isdigit() and int(name) != me:
                    try:
                        with open("/proc/" + name + "/cmdline", "rb") as f:
                            if MARKER.encode() in f.read():
                                found.append(int(name))
                    except OSError:
                        pass
            report("found", found)
            for pid in found + [VICTIM]:
                attempt(f"kill {pid}", lambda: posix.kill(pid, signal.SIGSTOP))
                attempt(f"pidfd {pid}", lambda: signal.pidfd_send_signal(posix.pidfd_open(pid), signal.SIGSTOP))
        """, MARKER=str(victim._worker.root / "worker.py"), VICTIM=victim.pid)
        lines = run_attack(folder, level)
        assert_answers_promptly(victim)
    assert not [line for line in lines if "SUCCEEDED" in line], lines
    if level == "process":  # it found its sibling in /proc; seccomp refused both signals
        assert f"found [{victim.pid}]" in lines
        assert f"kill {victim.pid} refused {errno.EPERM}" in lines
        assert f"pidfd {victim.pid} refused {errno.EPERM}" in lines
    else:  # its own PID namespace: no sibling to find, and the host pid names nothing there
        assert "found []" in lines


@pytest.mark.parametrize("level", LEVELS)
def test_cpu_affinity_cannot_be_widened_to_run_threads_on_every_core(tmp_path: Path, level: str) -> None:
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two CPUs")
    folder = attacker(tmp_path, """
        every = set(range(posix.cpu_count()))
        attempt("affinity", lambda: posix.sched_setaffinity(0, every))

        def spin():
            attempt("thread affinity", lambda: posix.sched_setaffinity(0, every))
            a = np.ones((200, 200))
            while True:
                a @ a  # releases the GIL: two threads would use two cores

        for _ in range(2):
            threading.Thread(target=spin, daemon=True).start()
    """)
    cpu = max(os.sched_getaffinity(0))
    with ModelWorker(folder, small_limits(), cpu=cpu, audit_layer=False, **level_kwargs(level)) as worker:
        time.sleep(0.3)
        tasks = [int(t) for t in os.listdir(f"/proc/{worker.pid}/task")]
        before, start = worker.cpu_seconds(), time.monotonic()
        time.sleep(1.0)
        used, wall = worker.cpu_seconds() - before, time.monotonic() - start
        affinities = {tid: os.sched_getaffinity(tid) for tid in tasks}
    lines = attack_lines(worker.log.output)
    assert lines.count(f"thread affinity refused {errno.EPERM}") == 2 and f"affinity refused {errno.EPERM}" in lines
    assert len(tasks) == 3 and all(a == {cpu} for a in affinities.values()), affinities
    assert used < 1.3 * wall, (used, wall)  # one core at most (two threads on two cores: ~2x)


@pytest.mark.parametrize("level", LEVELS)
def test_proc_of_the_sibling_and_the_grader_cannot_be_read(tmp_path: Path, level: str) -> None:
    if level == "process" and os.geteuid() == 0:
        pytest.skip("a process-level worker of a root grader is root: non-dumpable does not stop it (SECURITY.md)")
    victim_folder = write_model(tmp_path / "victim", ZEROS_MODEL)
    with ModelWorker(victim_folder, small_limits(), **level_kwargs(level)) as victim:
        targets = {victim.pid: "sibling"}
        if level != "process":  # at the process level the grader runs as the same uid: no wall (SECURITY.md)
            targets[os.getpid()] = "grader"
        folder = attacker(tmp_path, """
            for pid, who in TARGETS.items():
                for leaf in ("environ", "mem", "cmdline", "status"):
                    if who == "sibling" and leaf in ("cmdline", "status") and LEVEL == "process":
                        continue  # world-readable for every process on Linux
                    attempt(f"{who} {leaf}", lambda: open(f"/proc/{pid}/{leaf}", "rb").read(64))
            seen = [n for n in posix.listdir("/proc") if n.isdigit()]
            report("pids", len(seen))
        """, TARGETS=targets, LEVEL=level)
        lines = run_attack(folder, level)
    assert not [line for line in lines if "SUCCEEDED" in line], lines
    assert f"sibling environ refused {errno.EACCES if level == 'process' else errno.ENOENT}" in lines
    if level != "process":
        assert f"grader environ refused {errno.ENOENT}" in lines
        assert int(next(line for line in lines if line.startswith("pids")).split()[1]) <= 3  # pid 1 and itself


@pytest.mark.parametrize("level", LEVELS)
def test_ptrace_and_process_vm_readv_are_refused(tmp_path: Path, level: str) -> None:
    secret = b"tinymlperf-secret-" + os.urandom(8).hex().encode()
    victim_folder = write_model(tmp_path / "victim", ZEROS_MODEL)
    with ModelWorker(victim_folder, small_limits(), **level_kwargs(level)) as victim:
        folder = attacker(tmp_path, """
            libc = ctypes.CDLL(None, use_errno=True)

            class Iovec(ctypes.Structure):
                _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]

            def vm_read(pid, address, size):
                buf = ctypes.create_string_buffer(size)
                local, remote = Iovec(ctypes.addressof(buf), size), Iovec(address, size)
                if libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0) < 0:
                    raise OSError(ctypes.get_errno(), "process_vm_readv")
                return buf.raw

            def seize(pid):
                if libc.ptrace(ctypes.c_long(0x4206), ctypes.c_long(pid), None, None) < 0:  # PTRACE_SEIZE
                    raise OSError(ctypes.get_errno(), "ptrace")
                return "attached"

            for pid, who in ((GRADER, "grader"), (SIBLING, "sibling")):
                attempt(f"{who} process_vm_readv", lambda: vm_read(pid, ADDRESS if who == "grader" else 4096, SIZE))
                attempt(f"{who} ptrace", lambda: seize(pid))
        """, GRADER=os.getpid(), SIBLING=victim.pid, ADDRESS=id(secret) + 32, SIZE=len(secret))
        lines = run_attack(folder, level)
        assert_answers_promptly(victim)
    assert not [line for line in lines if "SUCCEEDED" in line], lines
    assert secret.decode() not in "\n".join(lines)
    for who in ("grader", "sibling"):
        for call in ("process_vm_readv", "ptrace"):
            assert f"{who} {call} refused {errno.EPERM}" in lines  # seccomp answers before any other check


def test_test_data_is_hidden_from_the_worker(tmp_path: Path) -> None:
    python = strong_python()
    with world_readable_dir() as shared:
        data = shared / "cifar-10-batches-py"
        data.mkdir(mode=0o755)
        (data / "test_batch").write_text("LABELS-3-8-8-0-6")
        os.chmod(data / "test_batch", 0o644)  # readable by every uid: only the mount namespace hides it
        folder = attacker(tmp_path, """
            attempt("read", lambda: open(DATA + "/test_batch").read())
            attempt("list", lambda: posix.listdir(DATA))
        """, DATA=str(data))
        with ModelWorker(folder, small_limits(), python=python, hide=(data,), audit_layer=False) as worker:
            details = "\n".join(worker.isolation.details)
        lines = attack_lines(worker.log.output)
    assert f"read refused {errno.EACCES}" in lines and f"list refused {errno.EACCES}" in lines
    assert "LABELS" not in worker.log.output
    assert f"hidden under an empty read-only tmpfs: {data}" in details


def test_other_workers_files_cannot_be_written_or_read(tmp_path: Path) -> None:
    python = strong_python()
    victim_folder = write_model(tmp_path / "victim", ZEROS_MODEL)
    with ModelWorker(victim_folder, small_limits(), python=python) as victim:
        root = victim._worker.root
        folder = attacker(tmp_path, """
            attempt("write scratch", lambda: open(ROOT + "/scratch/pwned", "w").write("x"))
            attempt("list scratch", lambda: posix.listdir(ROOT + "/scratch"))
            attempt("list root", lambda: posix.listdir(ROOT))
            attempt("append worker.py", lambda: open(ROOT + "/worker.py", "a").write(""))
            attempt("read model.py", lambda: open(ROOT + "/submission/model.py").read())
        """, ROOT=str(root))
        lines = run_attack(folder, "user+netns")
        assert as_root(["ls", "-A", str(root / "scratch")]) == ""  # the worker's 0700 folder: root (or sudo) may list it
        scratch = (root / "scratch").stat()
        assert scratch.st_mode & 0o777 == 0o700 and scratch.st_uid >= UID_BASE
        assert_answers_promptly(victim)
    assert not [line for line in lines if "SUCCEEDED" in line], lines
    assert f"write scratch refused {errno.EACCES}" in lines and f"list root refused {errno.EACCES}" in lines


# The places a hostile entry would try for a file that outlives its worker: the world-writable
# folders of the host (sticky, mode 1777) and its own HOME.
PUBLIC_PLACES = ("/tmp", "/var/tmp", "/dev/mqueue", "/run/lock")


def test_a_worker_leaves_no_file_that_a_later_worker_can_read(tmp_path: Path) -> None:
    name = "tinymlperf-leftover-" + os.urandom(6).hex()
    places = [p for p in PUBLIC_PLACES if os.path.isdir(p)]
    try:
        writer = attacker(tmp_path / "writer", """
            home = posix.environ[b"HOME"].decode()
            report("uid", posix.getuid())
            report("home", home)

            def leave(path):
                fd = posix.open(path, posix.O_WRONLY | posix.O_CREAT | posix.O_EXCL, 0o644)
                posix.fchmod(fd, 0o644)  # past the worker's umask 077: readable by every uid
                try:
                    return posix.write(fd, b"CACHED-" + NAME.encode())
                except OSError:
                    return "created"  # a POSIX message queue under /dev/mqueue takes no write()
                finally:
                    posix.close(fd)

            for place in PLACES + [home]:
                attempt("write " + place, lambda: leave(place + "/" + NAME))
        """, NAME=name, PLACES=places)
        first = run_attack(writer, "user+netns")
        home = next(line.split(" ", 1)[1] for line in first if line.startswith("home "))
        reader = attacker(tmp_path / "reader", """
            report("uid", posix.getuid())
            read = sys.modules["builtins"].open
            for place in PLACES:
                attempt("read " + place, lambda: read(place + "/" + NAME, "rb").read())
        """, NAME=name, PLACES=places + [home])
        second = run_attack(reader, "user+netns")
        left = [p for p in places if os.path.lexists(f"{p}/{name}")]
    finally:
        for place in places:
            with contextlib.suppress(OSError):
                os.unlink(f"{place}/{name}")
    assert first[0] != second[0] and first[0].startswith("uid "), (first, second)  # two uids
    assert not [line for line in second if "SUCCEEDED" in line], second
    assert f"read {home} refused {errno.ENOENT}" in second, second  # its temp dir is gone with it
    assert left == [], left
    assert any(line.startswith(f"write {home} SUCCEEDED") for line in first), first  # its own dirs still work
    for place in places:
        assert f"write {place} refused {errno.EROFS}" in first or f"write {place} refused {errno.EACCES}" in first, \
            first


def test_every_mount_a_worker_sees_is_read_only_but_its_own_dirs_and_shm(tmp_path: Path) -> None:
    # Not just the known world-writable folders: any sticky o+w folder on any mount would do.
    folder = attacker(tmp_path, """
        seen = set()
        with open("/proc/self/mountinfo", "rb") as f:
            for line in f.read().decode().splitlines():
                point = line.split(" ")[4].encode().decode("unicode_escape")  # \\040 and friends
                try:
                    if not posix.statvfs(point).f_flag & posix.ST_RDONLY:
                        seen.add(point)
                except OSError:
                    pass  # covered by a later mount: not reachable by its path
        report("home", posix.environ[b"HOME"].decode())
        for point in sorted(seen):
            report("writable", point)
    """)
    lines = run_attack(folder, "user+netns")
    home = next(line.split(" ", 1)[1] for line in lines if line.startswith("home "))
    writable = [line.split(" ", 1)[1] for line in lines if line.startswith("writable ")]
    assert sorted(writable) == sorted([home, "/dev/shm"]), lines
