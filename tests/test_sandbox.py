"""The sandbox's normal path: real workers loading real models, the protocol checks, the isolation choice."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from grader.errors import SubmissionError
from grader.isolation import plan_isolation, probe
from grader.sandbox import ModelWorker, run_recipe, sanitize_output
from grader.sandbox_io import labels_from_reply
from tests.sandbox_helpers import ZEROS_MODEL, baseline_folder, images, random_weights, small_limits, write_model, \
    write_recipe

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


def test_worker_temp_dir_is_removed_and_folder_untouched(tmp_path: Path) -> None:
    folder = write_model(tmp_path / "m", ZEROS_MODEL)
    before = sorted(p.name for p in folder.iterdir())
    with ModelWorker(folder, small_limits(), isolation="process") as worker:
        root = worker._worker.root
        assert root.is_dir()
        worker.predict(images(1))
    assert not root.exists()
    assert sorted(p.name for p in folder.iterdir()) == before


def test_close_is_idempotent_and_log_stays(tmp_path: Path) -> None:
    worker = ModelWorker(write_model(tmp_path / "m", ZEROS_MODEL), small_limits(), isolation="process")
    with worker:
        pid = worker.pid
    assert worker.close() is worker.close()
    assert not Path(f"/proc/{pid}").exists()


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


def test_forced_process_isolation_says_so(tmp_path: Path) -> None:
    with ModelWorker(write_model(tmp_path / "m", ZEROS_MODEL), small_limits(), isolation="process") as worker:
        assert worker.isolation.level == "process"
        assert worker.isolation.details[0] == "process isolation requested by the caller"


def _user_netns_python() -> str | None:
    for python in (os.path.realpath(os.sys.executable), shutil.which("python3.11"), "/usr/bin/python3"):
        if python and os.path.exists(python) and probe(python)[0] == "user+netns":
            return python
    return None


def test_user_netns_worker_runs_as_nobody_without_network(tmp_path: Path) -> None:
    python = _user_netns_python()
    if python is None:
        pytest.skip("user+netns not available here (needs root or passwordless sudo, and an interpreter "
                    "with numpy readable by 'nobody'): " + "; ".join(probe(os.sys.executable)[1]))
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
    with ModelWorker(folder, small_limits(), python=python) as worker:
        assert worker.isolation.level == "user+netns"
        assert worker.predict(images(2)).tolist() == [65534 % 10] * 2
        status = Path(f"/proc/{worker.pid}/status").read_text()
        assert "\nUid:\t65534" in status
        assert os.readlink(f"/proc/{worker.pid}/ns/net") != os.readlink("/proc/self/ns/net")
        assert worker.cpu_seconds() >= 0


def test_start_up_time_is_small(tmp_path: Path) -> None:
    folder = baseline_folder(tmp_path / "base")
    start = time.perf_counter()
    with ModelWorker(folder, small_limits(), isolation="process") as worker:
        ready = time.perf_counter() - start
        worker.predict(images(1))
    assert ready < 10


def test_user_netns_recipe_output_is_copied_out(tmp_path: Path) -> None:
    python = _user_netns_python()
    if python is None:
        pytest.skip("user+netns not available here")
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
