"""Hostile entries graded end to end: nothing forged, nothing leaked, no number gamed.

Every case runs the real grade (``grade.grade`` or ``cli.main(["grade", ...])``)
on 1,000 real CIFAR-10 images with real sandboxed workers at the ``process``
level (the weakest one: no separate user, no namespaces), writes the result
file, and asserts what the grader reports and what stayed untouched. The
``user+netns`` level adds the kernel's walls (tests/sandbox/test_sandbox_hostile.py
attacks them one by one; the last tests here check grade uses them); see SECURITY.md.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from grader.baseline import model as baseline_model
from grader.cli import main as cli
from grader.core import schema
from grader.grading import grade
from grader.judge.result import GradeResult
from grader.report import markdown_report as report
from tests.grading_helpers import BASELINE_DIR, checks_of, entry, fast_config
from tests.sandbox_helpers import strong_python

SECRET = "ghs_secretTOKENvalue1234"
WORKFLOW_COMMAND_LINE = ("::add-mask::", "::stop-commands::", "::set-output", "::set-env", "::save-state",
                         "::add-path", "::echo::", "##[")

ESCAPE_PRELUDE = """
import pathlib
import numpy as np
os = pathlib.os                        # os without "import os": the import allowlist is not the wall
sys = pathlib.sys
importlib = sys.modules["importlib"]

class Zeros:
    def predict(self, images):
        return np.zeros((len(images), 10), dtype=np.float32)

def attempt(what, call):
    try:
        value = call()
        print("LEAKED", what, value)
    except Exception as e:
        print("refused", what, type(e).__name__)
"""


def hostile(tmp_path: Path, load_body: str) -> Path:
    """An Open entry whose load() runs ``load_body`` (attempts) and then returns a zeros model."""
    source = ESCAPE_PRELUDE + "\ndef load(folder):\n" + textwrap.indent(textwrap.dedent(load_body), "    ") + \
        "\n    return Zeros()\n"
    return entry(tmp_path, "open", source)


def baseline_plus(tmp_path: Path, extra: str) -> Path:
    """An Open entry: the baseline model, with ``extra`` appended to model.py."""
    return entry(tmp_path, "open", (BASELINE_DIR / "model.py").read_text() + textwrap.dedent(extra))


def grade_to_files(folder: Path, data_dir: Path, out: Path, **config_changes: object) -> dict:
    """grade.grade, then the result and report written the way the CLI writes them."""
    config = dataclasses.replace(fast_config(), **config_changes)
    request = grade.GradeRequest(folder=folder, data_dir=data_dir, config=config, baseline_dir=BASELINE_DIR,
                                 isolation="process", seed=7)
    graded = grade.grade(request)
    result = graded.to_json()
    out.mkdir(parents=True, exist_ok=True)
    schema.write(out / "result.json", result, "result")
    (out / "report.md").write_text(report.render(graded), encoding="utf-8")
    return result


def written(out: Path) -> str:
    return (out / "result.json").read_text(encoding="utf-8") + (out / "report.md").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- forged results


@pytest.mark.slow
def test_entry_cannot_forge_result_report_score_or_grader_files(tmp_path: Path, small_data: Path) -> None:
    out = tmp_path / "grade-out"
    out.mkdir()
    folder = tmp_path / "entry"
    grader_file, numpy_file = Path(grade.__file__), Path(np.__file__)
    before = {p: p.read_bytes() for p in (grader_file, numpy_file)}
    # Append mode with an empty write: even if the sandbox failed, these files would not change.
    body = f"""
    forged = '{{"status": "valid", "normalized_scores": {{"efficiency": 1e9}}}} FORGED'
    for path in ({str(out / 'result.json')!r}, {str(out / 'report.md')!r}, {str(folder / 'score.json')!r},
                 {str(tmp_path / 'artifact' / 'result.json')!r}):
        attempt("write " + path, lambda: open(path, "w").write(forged))
    for path in ({str(grader_file)!r}, {str(numpy_file)!r}):
        attempt("append " + path, lambda: open(path, "a").write(""))
    attempt("replace grader", lambda: os.replace({str(grader_file)!r}, {str(grader_file) + '.bak'!r}))
    """
    hostile(tmp_path, body)
    code = cli.main(["grade", str(folder), "--data", str(small_data.parent), "--no-download", "--isolation",
                     "process", "--seed", "7", "--out", str(out / "result.json"), "--report", str(out / "report.md")])
    result = json.loads((out / "result.json").read_text())
    assert code == 1 and result["status"] == "failed" and schema.validate(result, "result") == []
    message = checks_of(result)["runs"]["message"]
    assert message.startswith("model.py tried something the sandbox forbids: open ") and "result.json" in message
    assert "FORGED" not in written(out) and (out / "report.md").read_text() == report.render(
        GradeResult.from_json(result, "result.json"))
    assert not (folder / "score.json").exists() and not (tmp_path / "artifact").exists()
    assert {p: p.read_bytes() for p in before} == before and not Path(str(grader_file) + ".bak").exists()


# --------------------------------------------------------------------------- escaping the sandbox


@pytest.mark.slow
def test_entry_cannot_read_labels_token_file_ssh_keys_or_the_graders_environment(
        tmp_path: Path, small_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", SECRET)
    token_file = tmp_path / "token"
    token_file.write_text(SECRET)
    targets = [small_data / "test_batch", token_file, Path.home() / ".ssh" / "id_ed25519",
               Path(f"/proc/{os.getpid()}/environ")]
    body = f"""
    for path in {[str(t) for t in targets]!r} + [f"/proc/{{os.getppid()}}/environ", "/proc/self/environ"]:
        attempt("read " + path, lambda: open(path, "rb").read())
    attempt("environ", lambda: dict(os.environ))
    attempt("list data", lambda: os.listdir({str(small_data)!r}))
    """
    folder = hostile(tmp_path, body)
    result = grade_to_files(folder, small_data, tmp_path / "out")
    assert result["status"] == "failed"
    message = checks_of(result)["runs"]["message"]
    assert "test_batch" in message and "token" in message and "environ" in message
    assert SECRET not in written(tmp_path / "out")


@pytest.mark.slow
@pytest.mark.parametrize("call, event", [
    ("importlib.import_module('subprocess').run(['sh', '-c', 'echo pwned > /tmp/tinymlperf-pwned'])",
     "subprocess.Popen"),
    ("importlib.import_module('socket').create_connection(('127.0.0.1', 9))", "socket."),
    ("importlib.import_module('ctypes').CDLL(None)", "ctypes.dlopen"),
    ("os.kill(os.getppid(), 9)", "os.kill"),
    ("importlib.import_module('signal').pthread_kill(importlib.import_module('threading').main_thread().ident, 9)",
     "signal.pthread_kill"),
    ("[os.fork() for _ in range(1000)]", "os.fork"),
    ("importlib.import_module('resource').setrlimit(importlib.import_module('resource').RLIMIT_CPU, (-1, -1))",
     "resource.setrlimit"),
], ids=["subprocess", "network", "ctypes", "kill-parent", "signal-parent-thread", "fork-bomb", "raise-limits"])
def test_process_network_and_native_code_are_denied_and_reported(tmp_path: Path, small_data: Path,
                                                                   call: str, event: str) -> None:
    folder = hostile(tmp_path, f"{call}\n")
    result = grade_to_files(folder, small_data, tmp_path / "out")
    assert result["status"] == "failed" and schema.validate(result, "result") == []
    assert f"PermissionError: tinymlperf sandbox: {event}" in checks_of(result)["runs"]["message"]
    assert not Path("/tmp/tinymlperf-pwned").exists()


@pytest.mark.slow
def test_disk_filling_stops_at_the_file_size_limit(tmp_path: Path, small_data: Path) -> None:
    folder = hostile(tmp_path, """
    with open(pathlib.Path.home() / "fill", "wb") as f:
        while True:
            f.write(b"x" * (1 << 20))
    """)
    limits = dataclasses.replace(fast_config().sandbox, file_bytes=4 << 20)
    result = grade_to_files(folder, small_data, tmp_path / "out", sandbox=limits)
    assert result["status"] == "failed"
    assert "File too large" in checks_of(result)["runs"]["message"]


@pytest.mark.slow
def test_thread_bomb_is_caught_stealing_cpu_while_the_baseline_is_timed(tmp_path: Path, small_data: Path) -> None:
    folder = baseline_plus(tmp_path, """

        import pathlib
        threading = pathlib.sys.modules["threading"]  # not on the import allowlist, but loaded

        def _spin():
            while True:
                sum(range(1000))

        _load = load

        def load(folder):
            for _ in range(200):
                try:
                    threading.Thread(target=_spin, daemon=True).start()
                except RuntimeError:
                    break
            return _load(folder)
    """)
    limits = dataclasses.replace(fast_config().sandbox, cpu_seconds=15, wall_seconds=15)
    result = grade_to_files(folder, small_data, tmp_path / "out", sandbox=limits)
    checks = checks_of(result)
    # The spinning threads starve the worker (a limit or the load budget stops it) or show as CPU
    # stolen from the baseline's turn; either way it is the entry's failure, not "could not grade".
    assert result["status"] == "failed", result["error"]
    failure = checks.get("runs", checks.get("time_budget", {})).get("message", "")
    assert (checks.get("idle_cpu_entry", {}).get("status") == "fail"
            or re.search(r"wall-clock limit|CPU limit|exceeded the load budget", failure)), checks


# --------------------------------------------------------------------------- gaming the numbers


def _fingerprint(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(np.uint64) @ (np.arange(3072, dtype=np.uint64) + 1)


@pytest.mark.slow
def test_lookup_table_of_its_own_test_set_predictions_gains_no_speed(tmp_path: Path, small_data: Path) -> None:
    # The entry ships the baseline's own predictions for every test image: correct accuracy,
    # a clean dither check, consistent answers... and a table lookup instead of a CNN when an
    # exact test image is queried. Timing on freshly dithered images leaves it nothing to look up.
    folder = baseline_plus(tmp_path, """

        _WEIGHTS = np.arange(3072, dtype=np.uint64) + 1
        _load = load

        class _Table:
            def __init__(self, model, table):
                self.model, self.table = model, table

            def predict(self, images):
                keys = (images.reshape(len(images), -1).astype(np.uint64) @ _WEIGHTS).tolist()
                if all(k in self.table for k in keys):
                    return np.array([self.table[k] for k in keys], dtype=np.int64)
                return self.model.predict(images)

        def load(folder):
            with np.load(Path(folder) / "table.npz", allow_pickle=False) as f:
                table = dict(zip(f["keys"].tolist(), f["labels"].tolist()))
            return _Table(_load(folder), table)
    """)
    from grader.measure import data
    test = data.load_batch(small_data / data.TEST_BATCH)
    own = np.argmax(baseline_model.load(BASELINE_DIR).predict(test.images), axis=1)
    np.savez(folder / "table.npz", keys=_fingerprint(test.images), labels=own)
    result = grade_to_files(folder, small_data, tmp_path / "out")
    checks = checks_of(result)
    assert checks["deterministic"]["status"] == "pass" and checks["dither_entry"]["status"] == "pass"
    assert result["normalized_scores"]["speedup"] < 1.5, result["normalized_scores"]


@pytest.mark.slow
def test_caching_and_time_patching_gain_nothing(tmp_path: Path, small_data: Path) -> None:
    # A memo of every image seen: a hit answers wrongly on purpose, so the determinism check
    # would fail if any timed image were ever a repeat. The clocks are patched to stand still.
    folder = baseline_plus(tmp_path, """

        import pathlib
        time = pathlib.sys.modules["time"]

        _load = load
        _W = np.arange(3072, dtype=np.uint64) + 1

        class _Memo:
            def __init__(self, model):
                self.model, self.seen = model, set()

            def predict(self, images):
                keys = (images.reshape(len(images), -1).astype(np.uint64) @ _W).tolist()
                hit = len(images) == 1 and keys[0] in self.seen
                self.seen.update(keys)
                scores = self.model.predict(images)
                return np.roll(scores, 1, axis=1) if hit else scores

        def load(folder):
            time.perf_counter = time.monotonic = time.time = time.process_time = lambda: 0.0
            return _Memo(_load(folder))
    """)
    result = grade_to_files(folder, small_data, tmp_path / "out")
    checks = checks_of(result)
    assert checks["deterministic"]["status"] == "pass", checks["deterministic"]
    assert 0.5 < result["normalized_scores"]["speedup"] < 2.0
    assert min(result["timing"]["entry_seconds"]) > 0.0


@pytest.mark.slow
def test_nondeterministic_predictions_fail(tmp_path: Path, small_data: Path) -> None:
    folder = baseline_plus(tmp_path, """

        _predict = Model.predict

        def _noisy(self, images):
            scores = _predict(self, images)
            return scores + np.random.default_rng().normal(0, 3 * scores.std() + 1e-3, scores.shape)

        Model.predict = _noisy
    """)
    result = grade_to_files(folder, small_data, tmp_path / "out")
    assert checks_of(result)["deterministic"]["status"] == "fail" and result["status"] == "failed"


@pytest.mark.slow
@pytest.mark.parametrize("when", ["accuracy", "timing"])
def test_slowing_down_in_one_phase_only_hurts_the_entry(tmp_path: Path, small_data: Path, when: str) -> None:
    # Batches of 500 only happen in the accuracy pass, single images only while timed.
    condition = "len(images) > 1" if when == "accuracy" else "len(images) == 1"
    pause = 0.2 if when == "accuracy" else 0.004
    folder = baseline_plus(tmp_path, f"""

        import pathlib
        _time = pathlib.sys.modules["time"]
        _predict = Model.predict

        def _slow(self, images):
            if {condition}:
                end = _time.perf_counter() + {pause}
                while _time.perf_counter() < end:
                    pass
            return _predict(self, images)

        Model.predict = _slow
    """)
    result = grade_to_files(folder, small_data, tmp_path / "out")
    if when == "timing" and result["normalized_scores"] is None:
        # On a busy machine the calibration can find it too slow to time at all: stopped early, as the
        # entry's failure, with its measured slowdown.
        assert checks_of(result)["time_budget"]["status"] == "fail"
        assert result["measured"]["latency_ratio"] > 1.1
        return
    speedup = result["normalized_scores"]["speedup"]
    assert checks_of(result)["deterministic"]["status"] == "pass"
    if when == "accuracy":
        assert 0.5 < speedup < 2.0  # not measured, not rewarded
    else:
        assert speedup < 0.9  # measured: the entry is slower


# --------------------------------------------------------------------------- injection into the CI log


@pytest.mark.slow
def test_workflow_commands_in_output_and_errors_never_reach_the_log(tmp_path: Path, small_data: Path,
                                                                     capfd: pytest.CaptureFixture[str],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    commands = ["::add-mask::" + SECRET, "::set-output name=speedup::1000", "::stop-commands::tok",
                "::set-env name=LD_PRELOAD::/tmp/x.so", "##[error]forged", "::error::forged annotation"]
    source = ESCAPE_PRELUDE + f"""
for line in {commands!r}:
    print(line)
    sys.stderr.write(line + "\\n")

def load(folder):
    raise RuntimeError("\\n".join({commands!r}))
"""
    folder = entry(tmp_path, "open", source)
    out = tmp_path / "out"
    out.mkdir()
    code = cli.main(["grade", str(folder), "--data", str(small_data.parent), "--no-download", "--isolation",
                     "process", "--out", str(out / "result.json"), "--report", str(out / "report.md")])
    assert code == 1
    (out / "summary.md").write_text("")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")  # annotations are printed for the runner only
    assert cli.main(["annotate", str(out), "--summary", str(out / "summary.md")]) == 0
    captured = capfd.readouterr()
    lines = (captured.out + captured.err).splitlines()
    for line in lines:
        stripped = line.lstrip()
        assert not stripped.startswith(WORKFLOW_COMMAND_LINE), line
        if stripped.startswith("::"):  # only our own annotations, one per line, with escaped data
            assert stripped.startswith(("::error ", "::warning ", "::notice ")), line
    assert any(line.startswith("::error file=") and "forged annotation" in line for line in lines), lines
    for text in ((out / "report.md").read_text(), (out / "summary.md").read_text()):
        assert not any(line.lstrip().startswith(WORKFLOW_COMMAND_LINE + ("::",)) for line in text.splitlines())


# --------------------------------------------------------------------------- the isolation level in CI


def test_ci_refuses_to_grade_below_user_netns(tmp_path: Path, small_data: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    folder = entry(tmp_path, "open")
    out = tmp_path / "result.json"
    code = cli.main(["grade", str(folder), "--data", str(small_data.parent), "--no-download", "--isolation",
                     "process", "--seed", "7", "--out", str(out)])
    result = json.loads(out.read_text())
    assert code == 2 and result["status"] == "error" and schema.validate(result, "result") == []
    assert "refusing to grade in CI at isolation 'process'" in result["error"]
    assert "allow_weak_isolation_in_ci" in capsys.readouterr().out


@pytest.mark.slow
def test_ci_opt_out_grades_at_the_process_level_and_the_result_says_so(
        tmp_path: Path, small_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    limits = dataclasses.replace(fast_config().sandbox, allow_weak_isolation_in_ci=True)
    result = grade_to_files(entry(tmp_path, "open"), small_data, tmp_path / "out", sandbox=limits)
    assert result["status"] == "valid" and result["isolation"]["level"] == "process"
    assert any("accepted in CI because competition.yaml sets sandbox.allow_weak_isolation_in_ci: true" in d
               for d in result["isolation"]["details"])


@pytest.mark.slow
def test_strong_grade_names_every_wall_and_hides_the_data(tmp_path: Path, small_data: Path) -> None:
    if strong_python() != sys.executable:
        pytest.skip("grade's workers use this interpreter, which cannot reach user+netns here")
    config = fast_config()
    request = grade.GradeRequest(folder=entry(tmp_path, "open"), data_dir=small_data, config=config,
                                 baseline_dir=BASELINE_DIR, isolation="auto", seed=7)
    result = grade.grade(request).to_json()
    details = "\n".join(result["isolation"]["details"])
    assert result["status"] == "valid" and result["isolation"]["level"] == "user+netns"
    for wall in ("uid: ", "pid namespace", "net namespace", f"hidden under an empty read-only tmpfs: {small_data}",
                 "ipc namespace", "seccomp: ", "rlimits: ", "CPU accounting: the worker's process CPU clock"):
        assert wall in details, wall


# --------------------------------------------------------------------------- the walls, end to end


@pytest.mark.slow
def test_entry_cannot_freeze_the_baseline_worker_during_its_turns(tmp_path: Path, small_data: Path) -> None:
    # readlink, pidfd_open and pidfd_send_signal raise no audit event: with the hook in place, only
    # seccomp (and at user+netns the PID namespace and the uid) stand between this thread and the
    # baseline worker. Without the filter (checked) it freezes the baseline and grades far above 1.5x.
    folder = baseline_plus(tmp_path, """

        _sys = [c for c in ().__class__.__base__.__subclasses__() if c.__name__ == "catch_warnings"][0]()._module.sys
        _posix, _threading = _sys.modules["posix"], _sys.modules["threading"]
        _signal = _sys.modules["importlib._bootstrap"]._gcd_import("signal")
        _time = _sys.modules["time"]

        def _siblings():
            # readlink raises no audit event. A sibling is a worker (its cwd) whose output pipe (its
            # fd 2) the grader holds: exact, so no other grading's worker is ever touched.
            me, parent = _posix.getpid(), _posix.getppid()
            held = set()
            for fd in range(3, 512):
                try:
                    held.add(_posix.readlink(f"/proc/{parent}/fd/{fd}"))
                except OSError:
                    pass
            found = []
            for pid in range(max(2, me - 300), me):
                try:
                    link = _posix.readlink(f"/proc/{pid}/fd/2")
                    if (pid != parent and link.startswith("pipe:") and link in held
                            and "/tinymlperf-worker-" in _posix.readlink(f"/proc/{pid}/cwd")):
                        found.append(_posix.pidfd_open(pid))
                except OSError:
                    pass
            return found

        def _freeze():
            try:
                targets = _siblings()
            except OSError:
                return
            while targets:
                for fd in list(targets):
                    try:
                        _signal.pidfd_send_signal(fd, _signal.SIGSTOP)
                        _time.sleep(0.02)
                        _signal.pidfd_send_signal(fd, _signal.SIGCONT)
                    except OSError:
                        targets.remove(fd)
                _time.sleep(0.0002)

        _load = load

        def load(folder):
            _threading.Thread(target=_freeze, daemon=True).start()
            return _load(folder)
    """)
    result = grade_to_files(folder, small_data, tmp_path / "out")
    assert checks_of(result)["deterministic"]["status"] == "pass"  # graded, not stopped by a denial
    assert result["normalized_scores"]["speedup"] < 1.5, result["normalized_scores"]
