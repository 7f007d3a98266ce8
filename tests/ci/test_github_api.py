"""grader.ci.github_api against a real HTTP server on loopback, with PyGithub itself as the client."""

from __future__ import annotations

import ast
import inspect
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from github import Github

from grader.ci import github_api as gh
from grader.ci import repo_verification
from grader.ci.scope import ChangedFile
from grader.cli import main as cli
from grader.core import config, schema
from grader.core.errors import GitHubError
from tests.github_server import GitHubServer

ROOT = Path(__file__).resolve().parents[2]
TOKEN, BOT = "ghs_test_token", "github-actions[bot]"
REPO, PR, SHA = "tinyml-org/tinymlperf", 42, "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
MARKER = "<!-- tinymlperf:score-comment -->"


class FakeTime:
    """An injected clock and sleep: records every wait instead of taking it."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def server() -> Iterator[GitHubServer]:
    with GitHubServer() as srv:
        srv.state.add_token(TOKEN, BOT)
        srv.state.add_repo(REPO, {"README.md": "competition"})
        srv.state.add_pull(REPO, PR, author="ada", head_sha=SHA, head_repo="ada/tinymlperf",
                           files=[{"filename": "submissions/ada-quant/model.py", "status": "added"}])
        yield srv


@pytest.fixture
def client(server: GitHubServer) -> Github:
    return gh.make_client(TOKEN, server.url, throttle=False)


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


def policy(fake: FakeTime, **kw: float) -> gh.RetryPolicy:
    return gh.RetryPolicy(sleep=fake.sleep, clock=fake.clock, **kw)  # type: ignore[arg-type]


# -- verify_repo ---------------------------------------------------------------

def test_verify_repo_accepts_a_public_repo_with_code(server: GitHubServer, client: Github) -> None:
    server.state.add_repo("ada/tinytorch", {"README.md": "x", "tinytorch/core/tensor.py": "class Tensor: ..."})
    got = gh.verify_repo("https://github.com/ada/tinytorch", client=client)
    assert got == gh.RepoVerification("verified", "ada/tinytorch: 1 code file(s) on main")


def test_verify_repo_fails_a_missing_repo(client: Github) -> None:
    got = gh.verify_repo("https://github.com/ada/nope", client=client)
    assert got.status == "failed" and "not found" in got.reason


def test_verify_repo_fails_a_private_repo_the_token_cannot_read(server: GitHubServer, client: Github) -> None:
    server.state.add_repo("ada/secret", {"a.py": "1"}, private=True)
    got = gh.verify_repo("https://github.com/ada/secret", client=client)
    assert got.status == "failed" and "private" in got.reason


def test_verify_repo_accepts_a_private_repo_the_token_can_read(server: GitHubServer, client: Github) -> None:
    server.state.add_repo("ada/secret", {"a.py": "1"}, private=True, readers={BOT})
    assert gh.verify_repo("https://github.com/ada/secret", client=client).status == "verified"


def test_verify_repo_fails_an_empty_repo(server: GitHubServer, client: Github) -> None:
    server.state.add_repo("ada/empty", None)
    assert gh.verify_repo("https://github.com/ada/empty", client=client) == gh.RepoVerification(
        "failed", "repository is empty")


def test_verify_repo_fails_a_repo_without_code(server: GitHubServer, client: Github) -> None:
    server.state.add_repo("ada/notes", {"README.md": "notes", "docs/plan.txt": "plan"})
    got = gh.verify_repo("https://github.com/ada/notes", client=client)
    assert got.status == "failed" and "no source code" in got.reason


def test_verify_repo_checks_the_owner_when_asked(server: GitHubServer, client: Github) -> None:
    server.state.add_repo("bob/tinytorch", {"a.py": "1"})
    got = gh.verify_repo("https://github.com/bob/tinytorch", client=client, expected_owner="ada")
    assert got == gh.RepoVerification("failed", "repository belongs to bob, not the PR author ada")


@pytest.mark.parametrize("url", ["http://github.com/ada/x", "https://gitlab.com/ada/x", "ada/x",
                                 "https://github.com/ada/x/tree/main", "javascript:alert(1)"])
def test_verify_repo_fails_what_is_not_a_github_repo_url(url: str, client: Github) -> None:
    assert gh.verify_repo(url, client=client).status == "failed"


def test_verify_repo_without_a_client_is_not_checked() -> None:
    assert gh.verify_repo("https://github.com/ada/x", client=None).status == "not_checked"


def test_verify_repo_with_a_rejected_token_is_not_checked(server: GitHubServer) -> None:
    got = gh.verify_repo("https://github.com/tinyml-org/tinymlperf",
                         client=gh.make_client("wrong", server.url, throttle=False))
    assert got.status == "not_checked" and "401" in got.reason


def test_verify_repo_without_network_is_not_checked(fake: FakeTime) -> None:
    with GitHubServer() as dead:
        url = dead.url
    got = gh.verify_repo("https://github.com/ada/x", client=gh.make_client(TOKEN, url, throttle=False, timeout=2),
                         policy=policy(fake, max_attempts=2))
    assert got.status == "not_checked" and "not reachable" in got.reason


# -- retries ---------------------------------------------------------------------

@pytest.mark.slow
def test_a_5xx_is_retried_with_backoff_then_succeeds(server: GitHubServer, client: Github, fake: FakeTime) -> None:
    server.state.fail("GET", r"^/repos/tinyml-org/tinymlperf/pulls/42$", 502, times=2)
    info = gh.confirm_pr(client, REPO, PR, SHA, policy=policy(fake))
    assert info.head_sha == SHA and fake.sleeps == [1.0, 2.0]


@pytest.mark.slow
def test_a_persistent_5xx_becomes_a_github_error(server: GitHubServer, client: Github, fake: FakeTime) -> None:
    server.state.fail("GET", r"/pulls/42$", 503, times=10)
    with pytest.raises(GitHubError, match="GitHub answered 503"):
        gh.confirm_pr(client, REPO, PR, SHA, policy=policy(fake, max_attempts=3))
    assert fake.sleeps == [1.0, 2.0]


@pytest.mark.slow
def test_a_403_rate_limit_waits_until_the_reset(server: GitHubServer, client: Github, fake: FakeTime) -> None:
    reset = int(fake.now) + 30
    server.state.fail("GET", r"/pulls/42$", 403, {"message": "API rate limit exceeded for installation ID 1."},
                      {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)})
    assert gh.confirm_pr(client, REPO, PR, SHA, policy=policy(fake)).number == PR
    assert fake.sleeps == [31.0]


@pytest.mark.slow
def test_a_429_honours_retry_after(server: GitHubServer, client: Github, fake: FakeTime) -> None:
    server.state.fail("GET", r"/pulls/42$", 429, {"message": "You have exceeded a secondary rate limit."},
                      {"Retry-After": "7"})
    assert gh.confirm_pr(client, REPO, PR, SHA, policy=policy(fake)).number == PR
    assert fake.sleeps == [7.0]


def test_a_rate_limit_reset_beyond_the_wait_budget_fails_at_once(server: GitHubServer, client: Github,
                                                                  fake: FakeTime) -> None:
    server.state.fail("GET", r"/pulls/42$", 403, {"message": "API rate limit exceeded"},
                      {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(fake.now) + 3600)})
    with pytest.raises(GitHubError, match="rate limit exhausted"):
        gh.confirm_pr(client, REPO, PR, SHA, policy=policy(fake, max_total_wait=120))
    assert fake.sleeps == []


def test_a_403_that_is_not_a_rate_limit_names_the_missing_permission(server: GitHubServer, client: Github,
                                                                     fake: FakeTime) -> None:
    server.state.fail("GET", r"/pulls/42$", 403, {"message": "Resource not accessible by integration"})
    with pytest.raises(GitHubError, match="pull-requests: write"):
        gh.confirm_pr(client, REPO, PR, SHA, policy=policy(fake))
    assert fake.sleeps == []


# -- PRs -------------------------------------------------------------------------

def test_confirm_pr_refuses_a_head_sha_mismatch(client: Github) -> None:
    with pytest.raises(gh.PullMismatch, match="head is a1b2c3d"):
        gh.confirm_pr(client, REPO, PR, "f" * 40)


def test_confirm_pr_refuses_a_head_repository_mismatch(client: Github) -> None:
    with pytest.raises(gh.PullMismatch, match="head repository is ada/tinymlperf"):
        gh.confirm_pr(client, REPO, PR, SHA, head_repo="mallory/tinymlperf")


@pytest.mark.slow
def test_find_pr_matches_the_open_pr_by_head_sha(server: GitHubServer, client: Github) -> None:
    for n in range(1, 120):
        server.state.add_pull(REPO, 1000 + n, author=f"s{n}", head_sha=f"{n:040x}")
    assert gh.find_pr(client, REPO, f"{119:040x}") == 1119
    assert gh.find_pr(client, REPO, "e" * 40) is None


@pytest.mark.slow
def test_changed_files_reads_renames_and_the_listed_total(server: GitHubServer, client: Github) -> None:
    server.state.add_pull(REPO, 7, author="ada", head_sha=SHA, files=[
        {"filename": "submissions/a/model.py", "status": "renamed", "previous_filename": "submissions/b/model.py"},
        *({"filename": f"submissions/a/f{i}.txt", "status": "added"} for i in range(150))])
    files, total = gh.changed_files(client, REPO, 7)
    assert total == 151 and len(files) == 151
    assert files[0] == ChangedFile("submissions/a/model.py", "renamed", "submissions/b/model.py")


# -- the sticky comment ------------------------------------------------------------

@pytest.mark.slow
def test_upsert_creates_one_comment_then_edits_it(server: GitHubServer, client: Github) -> None:
    first = gh.upsert_comment(client, REPO, PR, f"{MARKER}\nv1", MARKER, BOT)
    second = gh.upsert_comment(client, REPO, PR, f"{MARKER}\nv2", MARKER, BOT)
    third = gh.upsert_comment(client, REPO, PR, f"{MARKER}\nv2", MARKER, BOT)
    assert (first.action, second.action, third.action) == ("created", "updated", "unchanged")
    assert first.comment_id == second.comment_id == third.comment_id
    bodies = [c["body"] for c in server.state.issue_comments(REPO, PR)]
    assert bodies == [f"{MARKER}\nv2"]


@pytest.mark.slow
def test_upsert_finds_its_comment_beyond_the_first_page(server: GitHubServer, client: Github) -> None:
    for i in range(130):
        server.state.add_comment(REPO, PR, f"chatter {i}", login="ada")
    mine = server.state.add_comment(REPO, PR, f"{MARKER}\nold", login=BOT, user_type="Bot")
    for i in range(100):
        server.state.add_comment(REPO, PR, f"more {i}", login="bob")
    got = gh.upsert_comment(client, REPO, PR, f"{MARKER}\nnew", MARKER, BOT)
    assert (got.action, got.comment_id) == ("updated", mine)
    assert len(server.state.issue_comments(REPO, PR)) == 231
    pages = [p for _, p in server.state.requests if "/comments" in p]
    assert any("page=2" in p for p in pages) and not any("page=3" in p for p in pages)  # stops once found


@pytest.mark.slow
def test_upsert_leaves_someone_elses_marker_comment_alone(server: GitHubServer, client: Github) -> None:
    forged = server.state.add_comment(REPO, PR, f"{MARKER}\nI scored 1000x", login="ada")
    got = gh.upsert_comment(client, REPO, PR, f"{MARKER}\nreal", MARKER, BOT)
    assert got.action == "created" and got.comment_id != forged
    assert server.state.comments[forged]["body"] == f"{MARKER}\nI scored 1000x"
    assert not any(m == "PATCH" for m, _ in server.state.requests)


@pytest.mark.slow
def test_upsert_retried_after_a_failed_post_does_not_duplicate(server: GitHubServer, client: Github,
                                                               fake: FakeTime) -> None:
    server.state.fail("POST", r"/issues/42/comments$", 502)
    got = gh.upsert_comment(client, REPO, PR, f"{MARKER}\nv1", MARKER, BOT, policy=policy(fake))
    assert got.action == "created" and len(server.state.issue_comments(REPO, PR)) == 1


def test_upsert_refuses_a_body_without_its_marker(client: Github) -> None:
    with pytest.raises(ValueError, match="marker"):
        gh.upsert_comment(client, REPO, PR, "no marker", MARKER, BOT)


# -- the verify-repo command and grade's --repo-verification file ----------------

EXAMPLE = Path(__file__).parents[1] / "examples" / "valid" / "closed-minimal"  # links https://github.com/ada/tinytorch


def verify_repo_cli(monkeypatch: pytest.MonkeyPatch, server: GitHubServer, *argv: str) -> int:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_API_URL", server.url)
    return cli.main(["verify-repo", *argv])


@pytest.mark.slow
def test_verify_repo_reads_the_url_from_the_submission_and_writes_the_file_grade_reads(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: GitHubServer) -> None:
    server.state.add_repo("ada/tinytorch", {"tinytorch/core/tensor.py": "class Tensor: ..."})
    out = tmp_path / "repo.json"
    assert verify_repo_cli(monkeypatch, server, "--submission", str(EXAMPLE), "--out", str(out)) == 0
    saved = schema.read(out, "repo_verification")
    assert (saved["url"], saved["status"]) == ("https://github.com/ada/tinytorch", "verified")

    args = cli.build_parser().parse_args(["grade", str(EXAMPLE), "--repo-verification", str(out)])
    verify = repo_verification.verifier(config.load(), saved=args.repo_verification, client=None, pr_author=None)
    assert verify("https://github.com/ada/tinytorch").status == "verified"
    # The file speaks only for the URL it verified: a folder that links elsewhere is not vouched for.
    assert verify("https://github.com/eve/other") == gh.RepoVerification(
        "not_checked", "the verification file is about another URL")


def test_verify_repo_needs_exactly_one_of_url_and_submission(monkeypatch: pytest.MonkeyPatch, server: GitHubServer,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert verify_repo_cli(monkeypatch, server) == 2
    assert verify_repo_cli(monkeypatch, server, "https://github.com/ada/tinytorch", "--submission", str(EXAMPLE)) == 2
    assert capsys.readouterr().err.count("give either URL or --submission DIR") == 2


def test_verify_repo_on_an_unreadable_submission_is_not_checked_and_says_why(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: GitHubServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "broken"
    shutil.copytree(EXAMPLE, folder)
    (folder / "submission.yaml").write_text("division: [unclosed\n")
    out = tmp_path / "repo.json"
    assert verify_repo_cli(monkeypatch, server, "--submission", str(folder), "--out", str(out)) == 2
    assert "has no readable github_repo" in capsys.readouterr().out
    assert schema.read(out, "repo_verification")["status"] == "not_checked"
    assert server.state.requests == []


def test_make_client_is_the_only_place_a_client_is_made() -> None:
    """One factory, with PyGithub's own retries off: every call goes through the bounded ``_call``."""
    made = []
    for path in sorted((ROOT / "grader").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if name in ("Github", "GithubIntegration", "Token", "AppAuth"):
                    made.append(path.relative_to(ROOT).as_posix())
    assert made == ["grader/ci/github_api.py", "grader/ci/github_api.py"]  # Github(...) and Auth.Token(...)
    assert inspect.getsource(gh.make_client).count("Github(") == 1 and "retry=None" in inspect.getsource(gh.make_client)
