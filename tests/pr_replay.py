"""Replaying a submission PR through grade.yml and comment.yml: a real git origin, real-shaped
events, emulated ``uses:`` steps and the loopback GitHub API.

The fixtures built from these (``replay_origin``, ``replay_api``) live in conftest.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from grader.core import schema
from tests import goldenfile
from tests.github_server import GitHubServer
from tests.workflow_replay import Context, JobRun, replay, tinymlperf_shim

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
GRADE, COMMENT = WORKFLOWS / "grade.yml", WORKFLOWS / "comment.yml"
EVENTS = Path(__file__).parent / "events"
GOLDEN = goldenfile.DIR
REPO, FORK, PR = "tinyml-org/tinymlperf", "ada/tinymlperf", 42
BOT, TOKEN = "github-actions[bot]", "ghs_replay_token"
HEAD = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"  # a PR head the comment tests post about


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@e"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def pr_commit(origin: Path, files: dict[str, str | bytes]) -> tuple[str, str]:
    base = git(origin, "rev-parse", "HEAD")
    git(origin, "checkout", "-q", "-b", "entry")
    for rel, content in files.items():
        (origin / rel).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            (origin / rel).write_bytes(content)
        else:
            (origin / rel).write_text(content)
    git(origin, "add", "-A")
    git(origin, "commit", "-q", "-m", "entry")
    head = git(origin, "rev-parse", "HEAD")
    git(origin, "checkout", "-q", "main")
    return base, head


def pull_request_event(base: str, head: str) -> dict[str, Any]:
    event = json.loads((EVENTS / "pull_request_fork.json").read_text(encoding="utf-8"))
    event["pull_request"]["base"]["sha"], event["pull_request"]["head"]["sha"] = base, head
    return event


def workflow_run_event(head: str, conclusion: str) -> dict[str, Any]:
    event = json.loads((EVENTS / "workflow_run_fork.json").read_text(encoding="utf-8"))
    event["workflow_run"].update(head_sha=head, conclusion=conclusion)
    return event


class Actions:
    """Emulators for the `uses:` steps, sharing one artifact store across workflows."""

    def __init__(self, origin: Path, store: Path) -> None:
        self.origin, self.store = origin, store

    def checkout(self, step: dict[str, Any], ctx: Context) -> None:
        opts = step["with"]
        dest = ctx.workspace / opts.get("path", ".")
        ref = opts.get("ref") or "main"
        if opts.get("path"):
            git(ctx.workspace, "clone", "-q", "--no-checkout", str(self.origin), str(dest))
            git(dest, "checkout", "-q", ref)
        else:
            archive = subprocess.run(["git", "archive", ref], cwd=self.origin, check=True, capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)

    def upload(self, step: dict[str, Any], ctx: Context) -> None:
        src = ctx.workspace / step["with"]["path"]
        if not src.is_dir() or not any(src.iterdir()):
            raise FileNotFoundError(f"no files at {src}")
        shutil.copytree(src, self.store / step["with"]["name"])

    def download(self, step: dict[str, Any], ctx: Context) -> None:
        src = self.store / step["with"]["name"]
        if not src.is_dir():
            raise FileNotFoundError(f"Artifact not found for name: {step['with']['name']}")
        shutil.copytree(src, Path(step["with"]["path"]))

    def emulators(self) -> dict[str, Any]:
        noop = lambda step, ctx: None  # noqa: E731  (setup-python, cache: nothing to see)
        return {"actions/checkout": self.checkout, "actions/setup-python": noop, "actions/cache": noop,
                "actions/cache/restore": noop,
                "actions/upload-artifact": self.upload, "actions/download-artifact": self.download}


def base_env(tmp_path: Path, server: GitHubServer) -> dict[str, str]:
    return {**tinymlperf_shim(tmp_path / "bin", sys.executable, ROOT), "HOME": str(tmp_path / "home"),
            "GITHUB_REPOSITORY": REPO, "GITHUB_RUN_ID": "9123456789", "GITHUB_API_URL": server.url,
            "GITHUB_SERVER_URL": "https://github.com", "LANG": "C.UTF-8"}


def run_grade(tmp_path: Path, origin: Path, server: GitHubServer, base: str, head: str) -> tuple[JobRun, Path]:
    store = tmp_path / "artifacts"
    store.mkdir()
    env = {**base_env(tmp_path, server)}
    if os.environ.get("TINYMLPERF_DATA"):
        env["TINYMLPERF_DATA"] = os.environ["TINYMLPERF_DATA"]
    job = replay(GRADE, "grade", event=pull_request_event(base, head), workspace=tmp_path / "ws",
                 temp=tmp_path / "tmp", base_env=env, emulators=Actions(origin, store).emulators(),
                 skip_ids=frozenset({"install"}))
    return job, store


def run_comment(tmp_path: Path, server: GitHubServer, store: Path, event: dict[str, Any]) -> JobRun:
    # The default branch's grader is this tree's, run through the `tinymlperf` shim: checkout has nothing to copy.
    emulators = {**Actions(Path("/nonexistent"), store).emulators(), "actions/checkout": lambda step, ctx: None}
    return replay(COMMENT, "comment", event=event, workspace=tmp_path / "cws", temp=tmp_path / "ctmp",
                  base_env={**base_env(tmp_path, server)}, emulators=emulators,
                  skip_ids=frozenset({"install"}), extra={"github.token": TOKEN})


def write_artifact(store: Path, head: str, result: dict[str, Any] | None) -> None:
    folder = store / "grade-result"
    folder.mkdir(parents=True)
    schema.write(folder / "metadata.json", {"schema_version": 1, "pr_number": PR, "head_sha": head,
                                            "base_sha": "0" * 40, "run_id": 9123456789,
                                            "grader_version": "0.1.0"}, "artifact")
    if result is not None:
        schema.write(folder / "result.json", result, "result")
        (folder / "report.md").write_text("# report\n<img src=x>\n")



def seed_scoped_pr(server: GitHubServer, head: str = HEAD) -> None:
    server.state.add_pull(REPO, PR, author="ada", head_sha=head, head_repo=FORK, files=[
        {"filename": "submissions/ada-quant/model.py", "status": "added"},
        {"filename": "submissions/ada-quant/submission.yaml", "status": "added"}])


def sample_result() -> dict[str, Any]:
    return json.loads((GOLDEN / "result_sample.json").read_text(encoding="utf-8"))


def make_origin(tmp_path: Path) -> Path:
    """A competition repo: a base commit with one accepted entry."""
    repo = tmp_path / "origin"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "submissions" / "bob").mkdir(parents=True)
    (repo / "submissions" / "bob" / "model.py").write_text("bob = 1\n")
    (repo / "grader").mkdir()
    (repo / "grader" / "rules.py").write_text("STRICT = True\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    return repo


def seed_api(server: GitHubServer) -> GitHubServer:
    """The competition repo and the workflow token on a fresh loopback API."""
    server.state.add_token(TOKEN, BOT)
    server.state.add_repo(REPO, {"README.md": "TinyMLPerf"})
    return server
