"""Git over smart HTTP on the loopback GitHub server: authentication and branch rules as github.com applies them.

A real ``git`` client pushes with the ``http.extraheader`` Basic auth the leaderboard
workflow uses; the server runs ``git http-backend`` and a pre-receive hook that
declines a push to a protected branch with GitHub's GH013 message.
"""

from __future__ import annotations

import base64
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import gitfixture
from tests.github_server import GitHubServer

REPO = "tinyml/tinymlperf"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[GitHubServer, gitfixture.Origin]]:
    origin = gitfixture.origin(tmp_path)
    with GitHubServer() as server:
        server.state.add_token("ghs_workflow", "github-actions[bot]")
        server.state.add_token("ghs_app", "tinymlperf-board[bot]")
        server.state.add_repo(REPO, {"README.md": "x"})
        server.state.serve_git(REPO, origin.bare)
        yield server, origin


def push(clone: Path, token: str | None, ref: str = "HEAD:main") -> subprocess.CompletedProcess[str]:
    auth = [] if token is None else [
        "-c", "http.extraheader=AUTHORIZATION: basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()]
    return subprocess.run(["git", *auth, "-c", "credential.helper=", "push", "origin", ref], cwd=clone,
                          env={**gitfixture.git_env(), "GIT_TERMINAL_PROMPT": "0"}, capture_output=True, text=True,
                          timeout=60)


def commit_in_clone(server: GitHubServer, origin: gitfixture.Origin, tmp: Path) -> Path:
    clone = origin.clone(tmp / "work")
    gitfixture.git(clone, "remote", "set-url", "origin", f"{server.url}/{REPO}.git")
    (clone / "leaderboard.md").write_text("new board\n")
    gitfixture.git(clone, "commit", "--quiet", "-am", "board")
    return clone


@pytest.mark.slow
def test_a_protected_branch_declines_a_push_outside_the_bypass_list_with_githubs_message(
        served: tuple[GitHubServer, gitfixture.Origin], tmp_path: Path) -> None:
    server, origin = served
    server.state.protect(REPO, "main", bypass={"tinymlperf-board[bot]"})
    before = gitfixture.git(origin.bare, "rev-parse", "main")
    clone = commit_in_clone(server, origin, tmp_path)
    done = push(clone, "ghs_workflow")
    assert done.returncode == 1
    assert "remote: error: GH013: Repository rule violations found for refs/heads/main." in done.stderr
    assert "remote: - Changes must be made through a pull request." in done.stderr
    assert "! [remote rejected] HEAD -> main (pre-receive hook declined)" in done.stderr
    assert gitfixture.git(origin.bare, "rev-parse", "main") == before
    assert push(clone, "ghs_workflow", "HEAD:refs/heads/other").returncode == 0  # other branches are open
    assert push(clone, "ghs_app").returncode == 0  # the bypass actor
    assert gitfixture.git(origin.bare, "rev-parse", "main") == gitfixture.git(clone, "rev-parse", "HEAD")


def test_pushes_need_a_valid_token_and_reads_of_a_public_repo_do_not(
        served: tuple[GitHubServer, gitfixture.Origin], tmp_path: Path) -> None:
    server, origin = served
    before = gitfixture.git(origin.bare, "rev-parse", "main")
    clone = commit_in_clone(server, origin, tmp_path)  # cloned over HTTP without credentials
    for token in (None, "ghs_revoked"):  # the server answers 401, so git asks for credentials it does not have
        done = push(clone, token)
        assert done.returncode == 128 and "could not read Username" in done.stderr, done.stderr
    assert gitfixture.git(origin.bare, "rev-parse", "main") == before
    url = f"{server.url}/{REPO}.git/info/refs?service=git-receive-pack"
    bad = base64.b64encode(b"x-access-token:ghs_revoked").decode()
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": f"basic {bad}"}), timeout=10)
    assert raised.value.code == 401 and b"Invalid username or token" in raised.value.read()
    fetched = subprocess.run(["git", "ls-remote", f"{server.url}/{REPO}.git", "main"], capture_output=True,
                             text=True, timeout=60, env={**gitfixture.git_env(), "GIT_TERMINAL_PROMPT": "0"})
    assert fetched.stdout.split()[0] == before
