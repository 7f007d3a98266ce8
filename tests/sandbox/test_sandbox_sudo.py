"""The sudo path of the strong sandbox level, exercised for real: a grade run by a passwordless-sudo user.

GitHub-hosted runners run jobs as ``runner``, who is not root but has passwordless sudo: grade
then reaches ``user+netns`` through ``sudo -n`` (grader/sandbox/isolation.py). This machine runs
the suite as root, which takes the other branch. So, when the suite is root and ``sudo`` and
``useradd`` are there, one grade runs as a throwaway user made like ``runner`` (removed
afterwards), with ``GITHUB_ACTIONS=true`` so that anything less than ``user+netns`` fails closed.
``.ci/sudo-check`` does the same for the whole sandbox test suite (SECURITY.md).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import grader
from grader.sandbox.isolation import UID_BASE
from tests.grading_helpers import entry, fast_config_file
from tests.sandbox_helpers import strong_python, world_readable_dir

PATH = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"


def _processes_of(uid: int) -> list[int]:
    found = []
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            text = Path(f"/proc/{name}/status").read_text()
        except OSError:
            continue
        if int(text.split("\nUid:\t")[1].split()[0]) == uid:
            found.append(int(name))
    return found


@pytest.fixture
def sudo_user() -> Iterator[tuple[str, int]]:
    """A throwaway user with passwordless sudo, like a GitHub runner's; removed with its sudoers file."""
    if os.geteuid() != 0:
        pytest.skip("creates a throwaway passwordless-sudo user: needs a root suite (.ci/sudo-check covers a sudo one)")
    missing = [tool for tool in ("sudo", "useradd", "userdel") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} to make a passwordless-sudo user (apt-get install sudo)")
    name = f"tmlp-sudo-{secrets.token_hex(4)}"
    sudoers = Path("/etc/sudoers.d") / name  # no dot in the name: sudo reads it
    subprocess.run(["useradd", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                    "--user-group", name], check=True, capture_output=True)
    uid = int(subprocess.run(["id", "-u", name], check=True, capture_output=True, text=True).stdout)
    try:
        sudoers.write_text(f"{name} ALL=(ALL) NOPASSWD:ALL\n")
        os.chmod(sudoers, 0o440)
        yield name, uid
    finally:
        sudoers.unlink(missing_ok=True)
        for pid in _processes_of(uid):  # none when the grade cleaned up (asserted by the test)
            os.kill(pid, signal.SIGKILL)
        subprocess.run(["userdel", "--force", name], capture_output=True)


@pytest.mark.cifar
@pytest.mark.slow
def test_a_passwordless_sudo_user_grades_at_user_netns_via_sudo(sudo_user: tuple[str, int],
                                                                small_data: Path) -> None:
    if strong_python() != sys.executable:
        pytest.skip("grade's workers use this interpreter, which other uids cannot run here")
    name, uid = sudo_user
    with world_readable_dir() as base:
        shutil.copytree(Path(grader.__file__).parent, base / "src" / "grader",
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(small_data, base / "data" / small_data.name)
        folder = entry(base, "open")
        config = fast_config_file(base / "competition.yaml")
        temp, out = base / "tmp", base / "out"
        for path in (temp, out):
            path.mkdir()
            os.chown(path, uid, uid)
        os.chmod(temp, 0o711)  # the workers' temp dirs are made in here: their uids must pass through
        run = subprocess.run(
            ["sudo", "-n", "-u", name, "--", "env", "-i", f"PATH={PATH}", f"HOME={temp}", f"TMPDIR={temp}",
             "LANG=C.UTF-8", "CI=true", "GITHUB_ACTIONS=true", f"PYTHONPATH={base / 'src'}",
             sys.executable, "-m", "grader", "grade", str(folder), "--data", str(base / "data"), "--no-download",
             "--config", str(config), "--seed", "7", "--out", str(out / "result.json")],
            capture_output=True, text=True, timeout=600, cwd=base)
        assert run.returncode == 0, run.stdout + run.stderr
        result = json.loads((out / "result.json").read_text())
        left = sorted(p.name for p in temp.iterdir())
        stray = [p for p in temp.rglob("*") if p.lstat().st_uid >= UID_BASE]
    assert result["status"] == "valid" and result["isolation"]["level"] == "user+netns"
    assert result["isolation"]["details"][0] == "user+netns: namespaces set up via passwordless sudo"
    assert f"hidden under an empty read-only tmpfs: {base / 'data' / small_data.name}" in \
        "\n".join(result["isolation"]["details"])
    assert left == [f"tinymlperf-uids-{uid}"], left  # every worker's temp dir removed, only the uid locks stay
    assert stray == [] and _processes_of(uid) == []
