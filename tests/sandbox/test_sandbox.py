"""The sandbox's normal path: real workers loading real models, the protocol checks, the isolation choice."""

from __future__ import annotations

import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from grader.core.errors import SandboxError, SubmissionError
from grader.sandbox.isolation import (
    SETUP_FAILED,
    UID_BASE,
    UID_SPAN,
    ci_policy,
    lease_uid,
    namespace_prefix,
    plan_isolation,
)
from grader.sandbox.parent import (
    WORKER_SCRIPT,
    ModelWorker,
    _copy_tree,
    _remove_tree,
    _Worker,
    hidden_paths,
    run_recipe,
    sanitize_output,
)
from grader.sandbox.protocol import labels_from_reply
from tests.sandbox_helpers import (
    ZEROS_MODEL,
    as_root,
    baseline_folder,
    images,
    random_weights,
    small_limits,
    strong_python,
    world_readable_dir,
    write_model,
    write_recipe,
)

# --------------------------------------------------------------------------- pure parts


def test_sanitize_output_breaks_every_workflow_command() -> None:
    raw = b"ok\n::set-output name=x::1\n  ::add-mask::secret\nx ::stop-commands::tok\n##[error]legacy\n"
    out = sanitize_output(raw, 1000)
    assert "::" not in out and "##[" not in out
    assert out.splitlines()[0] == "ok"


def test_sanitize_output_removes_control_and_invisible_characters() -> None:
    out = sanitize_output("a\x1b[31mred\x00\u202eevil\u200bz\r\nnext".encode(), 1000)
    assert out == "a[31mredevilz\nnext"


def test_sanitize_output_truncates_with_a_note() -> None:
    out = sanitize_output(b"x" * 100, 10, total=5000)
    assert out.startswith("x" * 10 + "\n") and "5000 bytes, first 10 kept" in out


def test_sanitize_output_replaces_undecodable_bytes() -> None:
    assert sanitize_output(b"\xff\xfeok", 100) == "\ufffd\ufffdok"


def _reply(array: np.ndarray) -> tuple[dict, bytes]:
    return {"type": "result", "dtype": array.dtype.str, "shape": list(array.shape)}, array.tobytes()


def test_scores_become_argmax_labels() -> None:
    scores = np.zeros((3, 10), np.float32)
    scores[[0, 1, 2], [4, 0, 9]] = 1
    assert labels_from_reply(*_reply(scores), 3).tolist() == [4, 0, 9]


def test_integer_labels_are_accepted_in_range_only() -> None:
    assert labels_from_reply(*_reply(np.array([1, 2], np.int32)), 2).tolist() == [1, 2]
    with pytest.raises(SubmissionError, match="outside 0..9"):
        labels_from_reply(*_reply(np.array([1, 10])), 2)


@pytest.mark.parametrize("array, message", [
    (np.zeros((2, 5)), r"shape \(2, 5\)"),
    (np.full((2, 10), np.nan), "NaN or infinite scores for 2 of 2"),
    (np.zeros(2, np.float64), "labels must be integers"),
    (np.zeros((2, 10), bool), "booleans"),
    (np.zeros((3,), np.int64), r"shape \(3,\)"),
])
def test_bad_replies_are_submission_errors_naming_the_problem(array: np.ndarray, message: str) -> None:
    with pytest.raises(SubmissionError, match=message):
        labels_from_reply(*_reply(array), 2)


def test_unknown_dtype_in_header_is_refused() -> None:
    with pytest.raises(SubmissionError, match="dtype"):
        labels_from_reply({"type": "result", "dtype": "|O", "shape": [2]}, b"\0" * 16, 2)


def test_plan_isolation_decisions() -> None:
    assert plan_isolation("process", euid=0, sudo=False, missing_tools=(), probe_error=None)[0] == "process"
    level, why = plan_isolation("auto", euid=1000, sudo=False, missing_tools=(), probe_error=None)
    assert level == "process" and "not root and no passwordless sudo" in why[0]
    level, why = plan_isolation("auto", euid=0, sudo=False, missing_tools=("unshare",), probe_error=None)
    assert level == "process" and "unshare" in why[0]
    level, why = plan_isolation("auto", euid=1000, sudo=True, missing_tools=(), probe_error="cannot read python")
    assert level == "process" and "cannot read python" in why[0]
    level, why = plan_isolation("auto", euid=1000, sudo=True, missing_tools=(), probe_error=None)
    assert level == "user+netns" and "sudo" in why[0]
    assert plan_isolation("auto", euid=0, sudo=False, missing_tools=(), probe_error=None)[0] == "user+netns"


# --------------------------------------------------------------------------- real workers


@pytest.mark.slow
def test_baseline_model_predicts_like_in_process(tmp_path: Path) -> None:
    folder = baseline_folder(tmp_path / "base")
    x = images(16)
    from grader.baseline import model as baseline
    expected = np.argmax(baseline.load(folder).predict(x), axis=1)
    with ModelWorker(folder, small_limits(), isolation="process") as worker:
        assert worker.isolation.level == "process"
        assert worker.pid != os.getpid()
        assert worker.predict(x).tolist() == expected.tolist()
        seconds, labels = worker.time_queries(x, 4)
        assert labels.tolist() == expected.tolist() and seconds > 0
    assert worker.log is not None and worker.log.exit_status == "stopped by the grader"
    assert worker.log.denied == ()


@pytest.mark.slow
def test_worker_temp_dir_is_removed_and_folder_untouched(tmp_path: Path) -> None:
    folder = write_model(tmp_path / "m", ZEROS_MODEL)
    before = sorted(p.name for p in folder.iterdir())
    with ModelWorker(folder, small_limits(), isolation="process") as worker:
        root = worker._worker.root
        assert root.is_dir()
        worker.predict(images(1))
    assert not root.exists()
    assert sorted(p.name for p in folder.iterdir()) == before


def test_read_only_copies_are_removed_by_a_grader_that_is_not_root() -> None:
    # Root unlinks in a read-only folder; a grader under sudo, or at the process level as any
    # user, does not: its workers' temp dirs were left behind, one per worker. A root suite
    # checks this in a child that has become uid 65534 (as the real grader would be, no CAP_DAC_OVERRIDE).
    def remove_a_workers_copy() -> bool:
        scratch = Path(tempfile.mkdtemp(prefix="tinymlperf-test-"))
        source = write_model(scratch / "source", ZEROS_MODEL)
        (source / "pkg").mkdir()
        (source / "pkg" / "util.py").write_text("X = 1\n")
        root = scratch / "worker"
        root.mkdir()
        _copy_tree(source, root / "submission", "submission", 0o400, 0o500)
        _remove_tree(root)
        removed = not root.exists()
        shutil.rmtree(scratch, ignore_errors=True)
        return removed

    if os.geteuid() != 0:
        assert remove_a_workers_copy()
        return
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        code = 2
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            code = 0 if remove_a_workers_copy() else 1
        finally:
            os._exit(code)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


@pytest.mark.slow
def test_close_is_idempotent_and_log_stays(tmp_path: Path) -> None:
    worker = ModelWorker(write_model(tmp_path / "m", ZEROS_MODEL), small_limits(), isolation="process")
    with worker:
        pid = worker.pid
    assert worker.close() is worker.close()
    assert not Path(f"/proc/{pid}").exists()


@pytest.mark.slow
def test_student_sibling_modules_and_allowed_imports_work(tmp_path: Path) -> None:
    folder = write_model(tmp_path / "m", """
        import math, functools
        from helper import CLASS
        import numpy as np

        class M:
            def predict(self, images):
                return np.full(len(images), CLASS, dtype=np.int64)

        def load(folder):
            return M()
    """, {"helper.py": "CLASS = 7\n"})
    with ModelWorker(folder, small_limits(), isolation="process") as worker:
        assert worker.predict(images(3)).tolist() == [7, 7, 7]


@pytest.mark.slow
def test_worker_environment_is_allowlisted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret_never_seen")
    folder = write_model(tmp_path / "m", """
        import pathlib
        import numpy as np
        os = pathlib.os
        print(sorted(os.environ))
        print("THREADS", os.environ.get("OPENBLAS_NUM_THREADS"), len(os.sched_getaffinity(0)))

        class M:
            def predict(self, images):
                return np.zeros(len(images), dtype=np.int64)

        def load(folder):
            return M()
    """)
    with ModelWorker(folder, small_limits(), isolation="process") as worker:
        worker.predict(images(1))
    assert "GITHUB_TOKEN" not in worker.log.output and "ghp_secret" not in worker.log.output
    assert "THREADS 1 1" in worker.log.output


@pytest.mark.slow
def test_cpu_seconds_counts_the_workers_work(tmp_path: Path) -> None:
    folder = write_model(tmp_path / "m", """
        import numpy as np

        class M:
            def predict(self, images):
                x = np.ones((300, 300))
                for _ in range(200):
                    x = np.tanh(x @ x / 300)
                return np.zeros(len(images), dtype=np.int64)

        def load(folder):
            return M()
    """)
    with ModelWorker(folder, small_limits(), isolation="process") as worker:
        before = worker.cpu_seconds()
        seconds, _ = worker.time_queries(images(2), 1)
        used = worker.cpu_seconds() - before
    assert 0.05 < used <= seconds + 0.05  # one thread: never more CPU than wall time (other jobs may share the CPU)


@pytest.mark.slow
def test_recipe_writes_checked_npz_copies(tmp_path: Path) -> None:
    base = tmp_path / "baseline"
    base.mkdir()
    random_weights(base)
    folder = write_recipe(tmp_path / "entry", """
        import numpy as np

        def build(baseline_dir, calibration_images, out_dir):
            with np.load(baseline_dir / "weights.npz") as w:
                params = {k: (w[k] * 2).astype(np.float16) for k in w.files}
            params["calib_mean"] = np.array([calibration_images.mean()])
            np.savez(out_dir / "weights.npz", **params)
            (out_dir / "notes.txt").write_text("hi")
    """)
    calibration = images(8)
    out = tmp_path / "out"
    outcome = run_recipe(folder, base, calibration, out, small_limits(), isolation="process")
    assert set(outcome.weights) == {"weights.npz"}
    assert outcome.weights["weights.npz"] == out / "weights.npz"
    with np.load(out / "weights.npz") as w, np.load(base / "weights.npz") as b:
        assert w["conv1.weight"].dtype == np.float16
        np.testing.assert_allclose(w["fc2.bias"], (b["fc2.bias"] * 2).astype(np.float16))
        assert w["calib_mean"][0] == pytest.approx(calibration.mean())
    assert outcome.ignored == ("notes.txt: not a .npz file with a plain name",)
    assert not (out / "notes.txt").exists()
    assert outcome.log.denied == () and outcome.isolation.level == "process"


@pytest.mark.slow
def test_forced_process_isolation_says_so(tmp_path: Path) -> None:
    with ModelWorker(write_model(tmp_path / "m", ZEROS_MODEL), small_limits(), isolation="process") as worker:
        assert worker.isolation.level == "process"
        assert worker.isolation.details[0] == "process isolation requested by the caller"


@pytest.mark.slow
def test_user_netns_workers_get_their_own_uid_and_namespaces(tmp_path: Path) -> None:
    python = strong_python()
    folder = write_model(tmp_path / "m", """
        import pathlib
        import numpy as np
        os = pathlib.os
        UID = os.getuid()

        class M:
            def predict(self, images):
                return np.full(len(images), UID % 10, dtype=np.int64)

        def load(folder):
            return M()
    """)
    with ModelWorker(folder, small_limits(), python=python) as one, ModelWorker(folder, small_limits(),
                                                                                python=python) as two:
        uids = []
        for worker in (one, two):
            assert worker.isolation.level == "user+netns"
            status = Path(f"/proc/{worker.pid}/status").read_text()
            uid = int(status.split("\nUid:\t")[1].split()[0])
            assert UID_BASE <= uid < UID_BASE + UID_SPAN and worker.predict(images(2)).tolist() == [uid % 10] * 2
            assert "\nNoNewPrivs:\t1" in status and "\nSeccomp:\t2" in status
            for ns in ("pid", "net", "mnt", "ipc"):
                assert _namespace(worker.pid, ns) != os.readlink(f"/proc/self/ns/{ns}")
            scratch = (worker._worker.root / "scratch").stat()
            assert (scratch.st_uid, scratch.st_mode & 0o777) == (uid, 0o700)
            uids.append(uid)
        assert uids[0] != uids[1]
        assert _namespace(one.pid, "pid") != _namespace(two.pid, "pid")
        assert 0 <= one.cpu_seconds() < 5
    assert not _processes_of(uids)  # the namespace died with its pid 1: nothing of either worker is left


def test_user_netns_worker_files_are_handed_back_and_removed(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # Under sudo the worker's files belong to its uid until its pid 1 hands them back to the
    # grader's; the grader then removes its temp dir itself (read-only copies included), with no
    # `sudo rm -rf` (kept for a hand-back cut short). As root the hand-back is not needed.
    python = strong_python()
    folder = write_model(tmp_path / "m", """
        import pathlib
        import numpy as np

        class M:
            def predict(self, images):
                return np.zeros(len(images), dtype=np.int64)

        def load(folder):
            notes = pathlib.Path.home() / "notes"
            notes.mkdir()
            (notes / "a.txt").write_text("kept by the worker's uid")
            return M()
    """)
    calls: list[list[str]] = []
    real_run = subprocess.run

    def recording_run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        calls.append(list(argv))
        return real_run(argv, **kwargs)

    monkeypatch.setattr(subprocess, "run", recording_run)
    with ModelWorker(folder, small_limits(), python=python) as worker:
        root = worker._worker.root
        assert worker.predict(images(1)).tolist() == [0]
        assert (root / "scratch").stat().st_uid >= UID_BASE
    assert not root.exists()
    assert not [argv for argv in calls if "rm" in argv], calls


def test_a_worker_gone_is_not_killed_by_pid_number_through_sudo(monkeypatch: pytest.MonkeyPatch) -> None:
    # Under sudo the grader kills its worker as root by pid number. Once the worker has exited
    # (its pid 1 may still be handing the files back) that number may name another process.
    gone = subprocess.Popen(["true"])
    pidfd = os.pidfd_open(gone.pid)
    gone.wait()
    worker = object.__new__(_Worker)
    worker.sudo, worker.lease, worker.pidfd, worker.pid, worker.proc = True, object(), pidfd, gone.pid, gone
    calls: list[list[str]] = []
    monkeypatch.setattr(subprocess, "run", lambda argv, **kwargs: calls.append(list(argv)))
    try:
        worker._kill()
    finally:
        os.close(pidfd)
    assert calls == []


@pytest.mark.slow
@pytest.mark.parametrize("failing", ["remount,bind,ro", "--bind", "remount,bind,rw"])
def test_user_netns_setup_fails_closed_when_a_mount_step_fails(tmp_path: Path, failing: str) -> None:
    # The namespace set-up runs `mount` by PATH: a stand-in that refuses one kind of call (making a
    # mount read-only, binding a writable dir onto itself, making it writable again) must stop the
    # set-up with SETUP_FAILED before the command runs. Under sudo PATH is reset: root only.
    strong_python()
    if os.geteuid() != 0:
        pytest.skip("needs a root grader: sudo resets PATH, so the stand-in mount would not be used")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "mount").write_text(f'#!/bin/sh\ncase " $* " in *" {failing} "*) exit 32 ;; esac\n'
                                f'exec {shutil.which("mount")} "$@"\n')
    os.chmod(fake / "mount", 0o755)
    root = tmp_path / "root"
    (root / "scratch").mkdir(parents=True)
    argv = namespace_prefix(False, UID_BASE + UID_SPAN - 1, root=root, writable=[root / "scratch"], hidden=(),
                            env={"PATH": "/usr/bin:/bin"}) + ["echo", "RAN"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, env={"PATH": f"{fake}:/usr/bin:/bin"})
    assert (done.returncode, done.stdout) == (SETUP_FAILED, ""), done
    unfaked = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert (unfaked.returncode, unfaked.stdout) == (0, "RAN\n"), unfaked


@pytest.mark.slow
def test_user_netns_makes_read_only_a_world_writable_mount_whose_path_mountinfo_escapes() -> None:
    # /proc/self/mountinfo writes a space as \\040 and a backslash as \\134: the set-up must decode
    # them to remount the mount (a path left encoded names nothing and would be skipped as unreachable).
    # The mount is made in a mount namespace of the test's own, so the host never sees it.
    strong_python()
    if os.geteuid() != 0:
        pytest.skip("needs a root grader to mount a tmpfs in a namespace of the test's own")
    with world_readable_dir() as shared:
        odd = shared / "a b\\c"
        odd.mkdir()
        root = shared / "root"
        (root / "scratch").mkdir(parents=True)
        worker = namespace_prefix(False, UID_BASE + UID_SPAN - 2, root=root, writable=[root / "scratch"], hidden=(),
                                  env={"PATH": "/usr/bin:/bin"})
        writes = 'echo x > "$0/left" && echo WROTE; echo x > "$1/mine" && echo OWN'
        done = _after_mounting(f"mount -t tmpfs -o size=64k,mode=1777 odd {shlex.quote(str(odd))}",
                               [*worker, "/bin/sh", "-c", writes, str(odd), str(root / "scratch")])
    assert done.returncode == 0 and done.stdout == "OWN\n", done
    assert "Read-only file system" in done.stderr, done


@pytest.mark.slow
def test_user_netns_skips_a_mount_that_the_new_proc_covers() -> None:
    # GitHub's Ubuntu runners mount binfmt_misc (an autofs) at /proc/sys/fs/binfmt_misc: in the
    # worker's namespace that mount lies under the new /proc, and its path names a plain folder of
    # the new /proc, which cannot be remounted. The set-up must skip it, not fail every grade.
    strong_python()
    if os.geteuid() != 0:
        pytest.skip("needs a root grader to mount a tmpfs in a namespace of the test's own")
    worker = namespace_prefix(False, UID_BASE + UID_SPAN - 3, root=None, writable=(), hidden=(),
                              env={"PATH": "/usr/bin:/bin"})
    done = _after_mounting("mount -t tmpfs -o size=4k covered /proc/sys/fs/binfmt_misc", [*worker, "echo", "RAN"])
    assert (done.returncode, done.stdout) == (0, "RAN\n"), done


def _after_mounting(mount: str, argv: list[str]) -> subprocess.CompletedProcess:
    """``argv`` run after the shell command ``mount``, in a mount namespace of its own: the host never sees it."""
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
                           f'{mount} && exec "$@"', "sh", *argv], capture_output=True, text=True, timeout=30)


def _namespace(pid: int, ns: str) -> str:
    """The namespace ``pid`` is in (reading another uid's ns links takes root: the grader may be sudo-capable only)."""
    return as_root(["readlink", f"/proc/{pid}/ns/{ns}"]).strip()


def _processes_of(uids: list[int]) -> list[int]:
    found = []
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            text = Path(f"/proc/{name}/status").read_text()
        except OSError:
            continue
        if int(text.split("\nUid:\t")[1].split()[0]) in uids:
            found.append(int(name))
    return found


@pytest.mark.slow
def test_user_netns_worker_killed_by_its_cpu_limit_says_so(tmp_path: Path) -> None:
    python = strong_python()
    folder = write_model(tmp_path / "m", "def load(folder):\n    while True:\n        pass\n")
    with pytest.raises(SandboxError, match=r"killed: CPU limit \(1 s\)"):
        with ModelWorker(folder, small_limits(cpu_seconds=1), python=python):
            pass


@pytest.mark.slow
def test_user_netns_worker_stuck_in_load_is_killed_at_the_wall_clock(tmp_path: Path) -> None:
    python = strong_python()
    folder = write_model(tmp_path / "m", "import math\ndef load(folder):\n    while 1:\n        math.sqrt(2)\n")
    start = time.monotonic()
    worker = ModelWorker(folder, small_limits(wall_seconds=2), python=python)
    with pytest.raises(SandboxError, match="2 s wall-clock limit"):
        with worker:
            pass
    assert time.monotonic() - start < 8 and worker.log.exit_status == "killed: wall-clock timeout after 2 s"


@pytest.mark.slow
def test_cpu_seconds_keeps_the_time_of_threads_that_ended(tmp_path: Path) -> None:
    # Summing /proc/<pid>/task/*/schedstat would lose an ended thread's time: CPU stolen while the
    # other model is timed, by a thread that is gone before the parent looks, would not show.
    folder = write_model(tmp_path / "m", """
        import pathlib
        import numpy as np
        threading = pathlib.sys.modules["threading"]
        time = pathlib.sys.modules["time"]

        def burn():
            end = time.thread_time() + 0.4
            while time.thread_time() < end:
                pass

        class M:
            def predict(self, images):
                thread = threading.Thread(target=burn)
                thread.start()
                thread.join()
                return np.zeros(len(images), dtype=np.int64)

        def load(folder):
            return M()
    """)
    with ModelWorker(folder, small_limits(), isolation="process") as worker:
        tasks, before = len(os.listdir(f"/proc/{worker.pid}/task")), worker.cpu_seconds()
        worker.predict(images(1))
        deadline = time.monotonic() + 2
        while len(os.listdir(f"/proc/{worker.pid}/task")) > tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(os.listdir(f"/proc/{worker.pid}/task")) == tasks  # the thread is gone
        assert worker.cpu_seconds() - before >= 0.4


@pytest.mark.slow
def test_cpu_seconds_of_a_stopped_worker_is_an_error(tmp_path: Path) -> None:
    worker = ModelWorker(write_model(tmp_path / "m", ZEROS_MODEL), small_limits(), isolation="process")
    with worker:
        inner = worker._worker
    with pytest.raises(SandboxError, match="gone"):
        inner.cpu_seconds()


def test_uid_leases_never_hand_out_a_uid_twice() -> None:
    first = lease_uid(random.Random(7))
    second = lease_uid(random.Random(7))  # same first pick: its lock is held, so the next one
    try:
        assert first.uid != second.uid
        assert all(UID_BASE <= u < UID_BASE + UID_SPAN for u in (first.uid, second.uid))
    finally:
        first.release()
        second.release()
    third = lease_uid(random.Random(7))
    assert third.uid == first.uid  # released: free again
    third.release()


def test_hidden_paths_are_the_data_folder_and_the_user_cache(tmp_path: Path) -> None:
    data_dir = tmp_path / "data" / "cifar-10-batches-py"
    data_dir.mkdir(parents=True)
    (tmp_path / "cache" / "tinymlperf").mkdir(parents=True)
    (tmp_path / "link").symlink_to(data_dir)
    assert hidden_paths(tmp_path / "link", {"XDG_CACHE_HOME": str(tmp_path / "cache")}) == (
        data_dir, tmp_path / "cache" / "tinymlperf")
    assert hidden_paths(data_dir, {"XDG_CACHE_HOME": str(tmp_path / "none")}) == (data_dir,)


def test_ci_policy_refuses_weak_isolation_under_github_actions_unless_opted_out() -> None:
    assert ci_policy("process", False, env={}) == (None, None)
    refusal, note = ci_policy("process", False, env={"GITHUB_ACTIONS": "true"})
    assert note is None and "refusing to grade in CI at isolation 'process'" in refusal
    assert "allow_weak_isolation_in_ci" in refusal
    refusal, note = ci_policy("process", True, env={"GITHUB_ACTIONS": "true"})
    assert refusal is None and "sandbox.allow_weak_isolation_in_ci: true" in note
    refusal, note = ci_policy("process", False, env={"GITHUB_ACTIONS": "true", "TINYMLPERF_WORKFLOW_REPLAY": "1"})
    assert refusal is None and "a workflow replayed by the test suite" in note


def test_seccomp_layer_is_reported_missing_on_an_unknown_architecture() -> None:
    code = textwrap.dedent(f"""
        import importlib.util, os, sys
        spec = importlib.util.spec_from_file_location("w", {str(WORKER_SCRIPT)!r})
        w = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(w)
        for machine in ("x86_64", "aarch64"):
            assert len(w.seccomp_program(machine, 1234)) % 8 == 0
        real = os.uname()
        os.uname = lambda: type("U", (), {{"machine": "riscv64"}})()
        sys.stderr.write(w.install_walls())
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "seccomp: missing (no syscall table for riscv64); non-dumpable"


@pytest.mark.slow
def test_start_up_time_is_small(tmp_path: Path) -> None:
    folder = baseline_folder(tmp_path / "base")
    start = time.perf_counter()
    with ModelWorker(folder, small_limits(), isolation="process") as worker:
        ready = time.perf_counter() - start
        worker.predict(images(1))
    assert ready < 10


@pytest.mark.slow
def test_user_netns_recipe_output_is_copied_out(tmp_path: Path) -> None:
    python = strong_python()
    base = tmp_path / "baseline"
    base.mkdir()
    random_weights(base)
    os.chmod(tmp_path, 0o700)  # the grader's own folders: 'nobody' cannot even look inside
    folder = write_recipe(tmp_path / "entry", """
        import numpy as np

        def build(baseline_dir, calibration_images, out_dir):
            with np.load(baseline_dir / "weights.npz") as w:
                np.savez(out_dir / "half.npz", **{k: w[k].astype(np.float16) for k in w.files})
    """)
    outcome = run_recipe(folder, base, images(2), tmp_path / "out", small_limits(), python=python)
    assert outcome.isolation.level == "user+netns"
    assert set(outcome.weights) == {"half.npz"} and (tmp_path / "out" / "half.npz").stat().st_uid == os.getuid()
