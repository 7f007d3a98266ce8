"""take-submission and the workflow-command helpers the grade workflow relies on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from grader.ci import annotations, intake
from grader.core import config
from grader.core.problem import Problem

LIMITS = config.load().submission
ROOT = Path(__file__).resolve().parents[2]


def make_pr(tmp_path: Path) -> Path:
    pr = tmp_path / "pr"
    (pr / "submissions" / "ada" / "weights").mkdir(parents=True)
    (pr / "submissions" / "ada" / "model.py").write_text("x = 1\n")
    (pr / "submissions" / "ada" / "weights" / "w.npz").write_bytes(b"PK")
    (pr / "grader").mkdir()
    (pr / "grader" / "evil.py").write_text("import os\n")
    return pr


def test_only_the_submission_folder_is_taken_and_replaces_the_base_copy(tmp_path: Path) -> None:
    dest = tmp_path / "grader-tree"
    (dest / "submissions" / "ada").mkdir(parents=True)
    (dest / "submissions" / "ada" / "stale.py").write_text("old\n")
    assert intake.take_submission(make_pr(tmp_path), "ada", dest, LIMITS) == []
    got = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert got == ["submissions/ada/model.py", "submissions/ada/weights/w.npz"]


def test_a_symlink_in_the_submission_is_refused_and_nothing_is_copied(tmp_path: Path) -> None:
    pr = make_pr(tmp_path)
    os.symlink("/etc/passwd", pr / "submissions" / "ada" / "data.txt")
    dest = tmp_path / "grader-tree"
    problems = intake.take_submission(pr, "ada", dest, LIMITS)
    assert problems == ["submissions/ada/data.txt: is a symbolic link; commit the file itself"]
    assert not (dest / "submissions").exists()


def test_a_missing_folder_is_a_problem(tmp_path: Path) -> None:
    assert intake.take_submission(make_pr(tmp_path), "bob", tmp_path, LIMITS) == ["submissions/bob/: not a folder in the PR"]


def test_annotations_cannot_break_out_of_their_line() -> None:
    line = annotations.command("bad\n::add-mask::x 100%", title="a:b,c")
    assert line == "::error title=a%3Ab%2Cc::bad%0A::add-mask::x 100%25" and "\n" not in line


def test_annotate_command_prints_one_annotation_per_failed_or_warning_check(tmp_path: Path) -> None:
    (tmp_path / "result.json").write_bytes((ROOT / "tests" / "golden" / "result_sample.json").read_bytes())
    (tmp_path / "report.md").write_text("# Report\n")
    summary = tmp_path / "summary.md"
    proc = subprocess.run([sys.executable, "-m", "grader", "annotate", str(tmp_path), "--summary", str(summary)],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "GITHUB_ACTIONS": "true"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "::error file=submissions/ada-quant,title=techniques_documented (fail)::techniques: `rm -rf` | <b>bold</b>%0A"
        "new line @admin",
        "::warning file=submissions/ada-quant,title=timing_noise (warn)::high CV 12%25"]
    assert summary.read_text() == "# Report\n"
    assert json.loads((tmp_path / "result.json").read_text())["status"] == "failed"


def test_one_policy_annotations_under_actions_plain_lines_elsewhere() -> None:
    actions_env, terminal = {"GITHUB_ACTIONS": "true"}, {}
    assert annotations.emit("x: y", file="a,b", line=3, title="T", env=actions_env) == "::error file=a%2Cb,line=3,title=T::x: y"
    assert annotations.emit("x: y", file="a,b", line=3, title="T", env=terminal) == "a,b:3: T: x: y"
    assert annotations.emit("gone", level="notice", env=terminal) == "gone"
    assert annotations.emit("bad\n::add-mask::x", env=actions_env) == "::error::bad%0A::add-mask::x"
    problems = [Problem("s/submission.yaml", 7, 13, "honor_code: wrong", "honor-code")]
    assert annotations.emit_problems(problems, env=terminal) == "s/submission.yaml:7:13: honor_code: wrong\n"
    assert annotations.emit_problems(problems, env=actions_env) == annotations.render(problems)


def test_take_submission_and_annotate_print_plain_lines_outside_actions(tmp_path: Path) -> None:
    (tmp_path / "result.json").write_bytes((ROOT / "tests" / "golden" / "result_sample.json").read_bytes())
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    proc = subprocess.run([sys.executable, "-m", "grader", "annotate", str(tmp_path)], capture_output=True, text=True,
                          timeout=60, env={**env, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "submissions/ada-quant: timing_noise (warn): high CV 12%"
    proc = subprocess.run([sys.executable, "-m", "grader", "take-submission", str(make_pr(tmp_path)), "bob",
                           "--dest", str(tmp_path / "tree")], capture_output=True, text=True, timeout=60,
                          env={**env, "PYTHONPATH": str(ROOT)})
    assert (proc.returncode, proc.stdout) == (1, "Submission folder: submissions/bob/: not a folder in the PR\n")
