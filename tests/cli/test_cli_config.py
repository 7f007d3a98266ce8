"""``--config`` is honoured wherever it is offered: a config that differs in what the command uses
changes the command's outcome, and a broken config fails the command naming the file.

The list of commands offering the flag is read from the parser, so a command that gains
``--config`` without reading it fails ``test_a_broken_config_fails_every_command_naming_the_file``.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from grader.cli import main as cli
from grader.core import schema
from grader.core.errors import UsageError
from tests.github_server import GitHubServer

EXAMPLE = Path(__file__).parents[1] / "examples" / "valid" / "closed-minimal"  # 3 files; links ada/tinytorch
UNDERSCORE_SLUGS = "^[a-z0-9_]+$"  # the packaged pattern allows no underscore
TOKEN, REPO, PR, SHA = "ghs_test_token", "tinyml-org/tinymlperf", 42, "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"


def write_config(path: Path, changes: dict[tuple[str, ...], Any]) -> Path:
    """The packaged competition.yaml with ``changes`` (key path -> value) applied, written to ``path``."""
    raw = yaml.safe_load(resources.files("grader").joinpath("competition.yaml").read_text(encoding="utf-8"))
    for keys, value in changes.items():
        node = raw
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def offering_config() -> list[str]:
    """Every subcommand with a ``--config`` flag, from the parser itself."""
    sub = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(name for name, p in sub.choices.items()
                  if any("--config" in a.option_strings for a in p._actions))


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def name_status(tmp_path: Path, *paths: str) -> Path:
    """A ``git diff --name-status -z`` file adding ``paths``."""
    out = tmp_path / "name-status"
    out.write_text("".join(f"A\0{p}\0" for p in paths), encoding="utf-8")
    return out


def pr_checkout(tmp_path: Path, slug: str) -> Path:
    """A PR head's checkout holding ``submissions/<slug>/`` (the example's three files)."""
    root = tmp_path / "pr"
    shutil.copytree(EXAMPLE, root / "submissions" / slug)
    return root


def workflow_run_event(tmp_path: Path) -> Path:
    """The comment workflow's ``workflow_run`` payload for a finished grade run of PR 42."""
    event = tmp_path / "event.json"
    event.write_text(json.dumps({
        "workflow_run": {"id": 7, "event": "pull_request", "conclusion": "failure", "head_sha": SHA,
                         "head_repository": {"full_name": "ada/tinymlperf"}, "pull_requests": [{"number": PR}]},
        "repository": {"full_name": REPO}}), encoding="utf-8")
    return event


@pytest.fixture
def server() -> Iterator[GitHubServer]:
    """The loopback GitHub API: ada's repository, and PR 42 adding ``submissions/ada_x/``."""
    with GitHubServer() as srv:
        srv.state.add_token(TOKEN, "github-actions[bot]")
        srv.state.add_repo(REPO, {"README.md": "competition"})
        srv.state.add_repo("ada/tinytorch", {"tinytorch/core/tensor.py": "class Tensor: ..."})
        srv.state.add_pull(REPO, PR, author="ada", head_sha=SHA, head_repo="ada/tinymlperf",
                           files=[{"filename": "submissions/ada_x/model.py", "status": "added"}])
        yield srv


# -- a broken config is read, and named, by every command that offers --config ------------------------

Argv = Callable[[Path], list[str | Path]]
NO_DATA: list[str | Path] = ["--no-download", "--data"]  # then a folder without CIFAR-10: the config comes first
BROKEN_CONFIG_ARGV: dict[str, Argv] = {
    "baseline": lambda t: [*NO_DATA, t / "none", "--out", t / "baseline.json"],
    "comment": lambda t: ["--artifact", t, "--event", workflow_run_event(t)],
    "compare": lambda t: [EXAMPLE, *NO_DATA, t / "none"],
    "grade": lambda t: [EXAMPLE, *NO_DATA, t / "none", "--out", t / "result.json"],
    "leaderboard": lambda t: ["--submissions", t, "--out", t / "leaderboard.md"],
    "new": lambda t: ["ada", "--division", "closed", "--root", t / "submissions"],
    "profile": lambda t: [EXAMPLE, *NO_DATA, t / "none"],
    "scope": lambda t: ["--name-status", name_status(t, "submissions/ada/model.py")],
    "standings": lambda t: ["--plan-only", "--submissions", t],
    "take-submission": lambda t: [pr_checkout(t, "ada"), "ada", "--dest", t / "dest"],
    "validate": lambda t: [EXAMPLE],
    "verify-repo": lambda t: ["https://github.com/ada/tinytorch"],
}


def test_the_commands_offering_config_are_the_ones_checked_here() -> None:
    assert offering_config() == sorted(BROKEN_CONFIG_ARGV)


@pytest.mark.parametrize("command", sorted(BROKEN_CONFIG_ARGV))
def test_a_broken_config_fails_every_command_naming_the_file(
        command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)  # comment needs one before it reads anything else
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9")  # nothing listens: no call may get that far
    broken = tmp_path / "broken.yaml"
    broken.write_text("schema_version: 1\nname: broken\n", encoding="utf-8")
    argv = BROKEN_CONFIG_ARGV[command](tmp_path)
    code, out, err = run(capsys, command, *argv, "--config", broken)
    assert code == 2, (out, err)
    # grade says it on its one line ("could not grade: ..."), having written result.json all the same
    assert f"{broken}: does not match competition.schema.json" in (out if command == "grade" else err)


# -- a config that differs in what the command uses changes what it does -----------------------------

def test_validate_grade_profile_and_compare_apply_the_configs_file_limit(
        tmp_path: Path, small_data: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    one_file = write_config(tmp_path / "one-file.yaml", {("submission", "max_files"): 1})
    assert run(capsys, "validate", EXAMPLE)[0] == 0
    code, out, _ = run(capsys, "validate", EXAMPLE, "--config", one_file)
    assert code == 1 and "3 files, over the limit of 1" in out
    code, out, _ = run(capsys, "grade", EXAMPLE, "--data", small_data, "--no-download", "--isolation", "process",
                       "--out", tmp_path / "result.json", "--config", one_file)
    assert code == 1 and out.startswith("failed (format)") and "over the limit of 1" in out
    assert schema.read(tmp_path / "result.json", "result")["status"] == "failed"
    for tool in ("profile", "compare"):
        code, _, err = run(capsys, tool, EXAMPLE, "--data", small_data, "--no-download", "--isolation", "process",
                           "--images", "2", "--config", one_file)
        assert code == 1 and f"tinymlperf {tool}: " in err and "does not validate" in err


def test_new_and_scope_use_the_configs_slug_pattern(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    underscores = write_config(tmp_path / "underscores.yaml", {("submission", "slug_pattern"): UNDERSCORE_SLUGS})
    root = tmp_path / "submissions"
    code, _, err = run(capsys, "new", "ada_x", "--division", "closed", "--root", root)
    assert code == 2 and "'ada_x' is not a valid slug" in err and not root.exists()
    code, out, _ = run(capsys, "new", "ada_x", "--division", "closed", "--root", root, "--config", underscores)
    assert code == 0 and (root / "ada_x" / "submission.yaml").is_file(), out

    changes = name_status(tmp_path, "submissions/ada_x/model.py")
    code, out, _ = run(capsys, "scope", "--name-status", changes)
    assert code == 1 and "ada_x" in out
    assert run(capsys, "scope", "--name-status", changes, "--config", underscores) == (0, "ada_x\n", "")


def test_take_submission_uses_the_configs_limits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pr = pr_checkout(tmp_path, "ada")
    one_file = write_config(tmp_path / "one-file.yaml", {("submission", "max_files"): 1})
    code, out, _ = run(capsys, "take-submission", pr, "ada", "--dest", tmp_path / "strict", "--config", one_file)
    assert code == 1 and "submissions/ada/: 3 files, at most 1 allowed" in out
    assert not (tmp_path / "strict" / "submissions" / "ada").exists()
    assert run(capsys, "take-submission", pr, "ada", "--dest", tmp_path / "default") == (0, "", "")
    assert (tmp_path / "default" / "submissions" / "ada" / "model.py").is_file()


def test_verify_repo_uses_the_configs_owner_rule(server: GitHubServer, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_API_URL", server.url)
    owners = write_config(tmp_path / "owners.yaml", {("github", "require_owner_match"): True})
    argv = ("verify-repo", "https://github.com/ada/tinytorch", "--pr-author", "eve")
    code, out, _ = run(capsys, *argv)
    assert code == 0 and out.startswith("verified: ada/tinytorch")
    code, out, _ = run(capsys, *argv, "--config", owners)
    assert (code, out) == (1, "failed: repository belongs to ada, not the PR author eve\n")


def test_comment_checks_the_prs_scope_with_the_configs_slug_pattern(
        server: GitHubServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_API_URL", server.url)
    underscores = write_config(tmp_path / "underscores.yaml", {("submission", "slug_pattern"): UNDERSCORE_SLUGS})
    artifact = tmp_path / "artifact"  # the grade run left none: a "failed" comment once the scope is fine
    artifact.mkdir()
    argv = ("comment", "--artifact", artifact, "--event", workflow_run_event(tmp_path))
    code, out, _ = run(capsys, *argv)
    assert code == 0 and f"{REPO}#{PR}: created scope comment" in out
    assert "the folder name must match" in server.state.issue_comments(REPO, PR)[0]["body"]
    code, out, _ = run(capsys, *argv, "--config", underscores)
    assert code == 0 and f"{REPO}#{PR}: updated failed comment" in out


def test_leaderboard_and_standings_use_the_configs_name_and_rounds(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    custom = write_config(tmp_path / "custom.yaml", {("name",): "Test Cup", ("standings", "rounds"): 3})
    (tmp_path / "submissions").mkdir()
    board = tmp_path / "leaderboard.md"
    assert run(capsys, "leaderboard", "--submissions", tmp_path / "submissions", "--out", board)[0] == 0
    assert board.read_text(encoding="utf-8").startswith("# TinyMLPerf leaderboard\n")
    assert run(capsys, "leaderboard", "--submissions", tmp_path / "submissions", "--out", board,
               "--config", custom)[0] == 0
    assert board.read_text(encoding="utf-8").startswith("# Test Cup leaderboard\n")

    plan = ("standings", "--plan-only", "--submissions", tmp_path / "submissions")
    code, out, _ = run(capsys, *plan)
    assert code == 0 and " 3 rounds " not in out
    code, out, _ = run(capsys, *plan, "--config", custom)
    assert code == 0 and " 3 rounds " in out


@pytest.mark.parametrize("command", ["profile", "compare"])
def test_the_student_tools_offer_no_seed_since_nothing_in_them_is_random(command: str) -> None:
    # profile and compare run the clean test images in order: a --seed would be accepted and ignored
    with pytest.raises(UsageError, match="unrecognized arguments: --seed 1"):
        cli.build_parser().parse_args([command, "submissions/x", "--seed", "1"])
    assert cli.build_parser().parse_args(["grade", "submissions/x", "--seed", "1"]).seed == 1
