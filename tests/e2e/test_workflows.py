"""Every workflow: linters, security properties read from the YAML, and end-to-end replays.

The replays run each workflow's ``run:`` steps for real (bash, the ``GITHUB_*``
environment, a real-shaped event payload) against the loopback GitHub API;
``uses:`` steps are emulated here (checkout = a copy from a real git repo,
upload/download-artifact = a folder).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from grader.ci.comment import MARKER
from grader.core import schema
from tests.github_server import GitHubServer
from tests.pr_replay import (
    BOT,
    COMMENT,
    FORK,
    GOLDEN,
    GRADE,
    HEAD,
    PR,
    REPO,
    ROOT,
    pr_commit,
    run_comment,
    run_grade,
    sample_result,
    seed_scoped_pr,
    workflow_run_event,
    write_artifact,
)

PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
# Every workflow file, so a new one is linted and held to the security properties below without being listed.
ALL_WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
DOC = ROOT / "docs" / "organizers.md"


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def triggers(spec: dict[str, Any]) -> Any:
    return spec.get("on", spec.get(True))  # PyYAML reads a bare `on:` key as True


# -- the three linters -----------------------------------------------------------

def run_tool(*argv: str) -> subprocess.CompletedProcess[str]:
    if shutil.which(argv[0]) is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{argv[0]} is not installed but CI=true: install the `test` extra")
        pytest.skip(f"{argv[0]} is not installed (pip install '.[test]')")
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)


# .github/, not only its workflows: zizmor audits dependabot.yml too (e.g. a missing cooldown).
def test_zizmor_finds_nothing() -> None:
    proc = run_tool("zizmor", "--offline", "--no-progress", ".github/")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings to report" in proc.stdout


def test_zizmor_pedantic_finds_nothing() -> None:
    proc = run_tool("zizmor", "--offline", "--no-progress", "--persona", "pedantic", ".github/")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings to report" in proc.stdout


@pytest.mark.slow
def test_check_jsonschema_accepts_the_workflows() -> None:
    proc = run_tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *map(str, ALL_WORKFLOWS))
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_check_jsonschema_accepts_the_dependabot_config() -> None:
    proc = run_tool("check-jsonschema", "--builtin-schema", "vendor.dependabot", ".github/dependabot.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_finds_nothing() -> None:
    proc = run_tool("actionlint", *map(str, ALL_WORKFLOWS))
    assert proc.returncode == 0 and proc.stdout == "", proc.stdout + proc.stderr


# -- security properties -------------------------------------------------------

# The workflows a pull request sets off (directly, or through the run it triggers).
PR_WORKFLOWS = [p for p in ALL_WORKFLOWS if {"pull_request", "pull_request_target", "workflow_run"} & set(triggers(load(p)))]


def steps(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for job in spec["jobs"].values():
        yield from job["steps"]


@pytest.mark.parametrize("path", ALL_WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_by_commit_sha(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    uses = [line.split("uses:", 1)[1].strip() for line in lines if re.match(r"^\s*(- )?uses:", line)]
    assert uses
    for use in uses:
        ref, _, comment = use.partition(" # ")
        assert PINNED.match(ref) and comment.startswith("v"), use


# The first major of each action that runs on Node 24 (GitHub removes Node 20 from its runners).
# An action not listed here fails the test below until someone checks its runtime and adds it.
NODE_24_FROM_MAJOR = {"actions/checkout": 5, "actions/setup-python": 6, "actions/upload-artifact": 6,
                      "actions/download-artifact": 7, "actions/cache": 5, "actions/create-github-app-token": 3}
DOC_PIN_ROW = re.compile(r"^\| ((?:`[\w./-]+`(?:, )?)+) \| (v[\d.]+) \| `([0-9a-f]{40})` \|$", re.M)


def pins() -> set[tuple[str, str, str]]:
    """(action, release, commit) of every ``uses:`` in every workflow."""
    found = set()
    for path in ALL_WORKFLOWS:
        for m in re.finditer(r"uses: ([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # (v[\d.]+)$",
                             path.read_text(encoding="utf-8"), re.M):
            found.add((m.group(1), m.group(3), m.group(2)))
    return found


def test_every_action_is_a_node_24_release_listed_in_the_docs() -> None:
    used = pins()
    for action, release, _ in used:
        repo = "/".join(action.split("/")[:2])
        assert repo in NODE_24_FROM_MAJOR, f"{action}: which major runs on Node 24? add it to NODE_24_FROM_MAJOR"
        assert int(release[1:].split(".")[0]) >= NODE_24_FROM_MAJOR[repo], f"{action} {release} runs on Node 20"
    # One commit per action, the same one the docs name (organizers check those against the tags).
    assert len({(action, commit) for action, _, commit in used}) == len({a for a, _, _ in used}), used
    documented = {(action.strip("`"), release, commit)
                  for actions, release, commit in DOC_PIN_ROW.findall(DOC.read_text(encoding="utf-8"))
                  for action in actions.split(", ")}
    assert documented == used


def test_the_documented_pin_check_tells_a_matching_tag_from_a_moved_one(tmp_path: Path) -> None:
    """The docs' shell loop, run against local remotes: an annotated and a lightweight tag that
    match their pins say ok; a pin whose tag names another commit, or a missing tag, says MISMATCH."""
    doc = DOC.read_text(encoding="utf-8")
    start = doc.index("```sh\nbase=https://github.com\n") + len("```sh\n")
    script = doc[start:doc.index("```", start)]
    remotes = tmp_path / "remotes" / "actions"
    commits = {}
    for name in ("checkout", "cache"):
        repo = remotes / name
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        for n in (1, 2):
            subprocess.run(["git", "-C", str(repo), "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-q",
                            "--allow-empty", "-m", f"c{n}"], check=True)
            commits[name, n] = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True,
                                              capture_output=True, text=True).stdout.strip()
    git = ["git", "-c", "user.name=a", "-c", "user.email=a@b"]
    subprocess.run([*git, "-C", str(remotes / "checkout"), "tag", "-a", "v7.0.1", "-m", "t", commits["checkout", 1]],
                   check=True)
    subprocess.run([*git, "-C", str(remotes / "cache"), "tag", "v6.1.0", commits["cache", 2]], check=True)
    subprocess.run([*git, "-C", str(remotes / "cache"), "tag", "v6.0.0", commits["cache", 2]], check=True)
    workflows = tmp_path / "repo" / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "a.yml").write_text(
        f"      - uses: actions/checkout@{commits['checkout', 1]} # v7.0.1\n"
        f"        uses: actions/cache/restore@{commits['cache', 2]} # v6.1.0\n"
        f"        uses: actions/cache@{commits['cache', 1]} # v6.0.0\n"
        f"        uses: actions/checkout@{commits['checkout', 2]} # v9.9.9\n")
    script = script.replace("base=https://github.com", f"base=file://{tmp_path / 'remotes'}", 1)
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path / "repo", capture_output=True, text=True, timeout=60)
    lines = sorted(done.stdout.splitlines())
    assert lines == sorted([
        "ok       actions/checkout v7.0.1", "ok       actions/cache v6.1.0",
        f"MISMATCH actions/cache v6.0.0: pinned {commits['cache', 1]}, tag is {commits['cache', 2]}",
        f"MISMATCH actions/checkout v9.9.9: pinned {commits['checkout', 2]}, tag is missing"]), done.stderr


@pytest.mark.parametrize("path", ALL_WORKFLOWS, ids=lambda p: p.name)
def test_every_job_has_a_timeout(path: Path) -> None:
    for name, job in load(path)["jobs"].items():
        # standings' timing job alone runs for hours (test_standings_workflow.py ties it to the config)
        assert 0 < int(job["timeout-minutes"]) <= (400 if (path.name, name) == ("standings.yml", "time") else 60), name


@pytest.mark.parametrize("path", ALL_WORKFLOWS, ids=lambda p: p.name)
def test_every_install_is_hash_locked(path: Path) -> None:
    installs = [line.strip() for step in steps(load(path)) for line in step.get("run", "").splitlines()
                if "pip install" in line]
    assert installs
    for line in installs:
        assert ("--require-hashes -r requirements/ci.txt" in line
                or line == "python -m pip install --no-deps --no-build-isolation ."), line
    for step in steps(load(path)):
        assert "cache" not in (step.get("with") or {}) or step["uses"].startswith("actions/cache"), step


def test_the_lock_file_pins_every_dependency_with_hashes() -> None:
    lock = (ROOT / "requirements" / "ci.txt").read_text(encoding="utf-8")
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==\S+ \\\n((?:\s+--hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)", lock, re.M)
    names = {name.lower() for name, _ in pins}
    assert {"numpy", "pygithub", "jsonschema", "pyyaml", "tabulate", "setuptools"} <= names, names
    assert len(pins) == len(re.findall(r"^[A-Za-z0-9_.-]+==", lock, re.M))
    options = [line for line in lock.splitlines() if line.startswith("-")]
    assert options == [], options  # no index or find-links line: pip uses PyPI and checks every hash
    assert "pip-compile --generate-hashes" in (ROOT / "requirements" / "ci.in").read_text(encoding="utf-8")


@pytest.mark.parametrize("path", ALL_WORKFLOWS, ids=lambda p: p.name)
def test_jobs_that_run_entries_never_save_a_cache(path: Path) -> None:
    running = []
    for name, job in load(path)["jobs"].items():
        runs_entries = any(re.search(r"tinymlperf (grade|standings\b.*--group)\b", s.get("run", ""))
                           for s in job["steps"])
        running += [name] if runs_entries else []
        saves = [s for s in job["steps"] if re.match(r"actions/cache@", s.get("uses", ""))
                 or (s.get("uses", "").startswith("actions/setup-") and "cache" in (s.get("with") or {}))]
        assert not (runs_entries and saves), (name, saves)
    assert running == {"grade.yml": ["grade"], "leaderboard.yml": ["grade"], "standings.yml": ["time"]}.get(
        path.name, []), running


def test_dependabot_updates_actions_and_the_lock_file() -> None:
    config = load(ROOT / ".github" / "dependabot.yml")
    ecosystems = {(u["package-ecosystem"], u["directory"]) for u in config["updates"]}
    assert ("github-actions", "/") in ecosystems and ("pip", "/requirements") in ecosystems


@pytest.mark.parametrize("path", ALL_WORKFLOWS, ids=lambda p: p.name)
def test_no_expression_is_interpolated_into_a_run_script(path: Path) -> None:
    for step in steps(load(path)):
        assert "${{" not in step.get("run", ""), step


def test_the_pr_workflows_are_grade_and_comment() -> None:
    assert PR_WORKFLOWS == sorted([GRADE, COMMENT])


@pytest.mark.parametrize("path", PR_WORKFLOWS, ids=lambda p: p.name)
def test_run_steps_are_thin_and_use_no_secrets(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"\$\{\{[^}]*\bsecrets\b", text)
    for step in steps(load(path)):
        if "run" in step:
            assert len(step["run"].strip().splitlines()) <= 3, step["run"]


@pytest.mark.parametrize("path", ALL_WORKFLOWS, ids=lambda p: p.name)
def test_no_checkout_keeps_credentials(path: Path) -> None:
    for step in steps(load(path)):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False


def test_grade_runs_on_submission_prs_with_a_read_only_token() -> None:
    spec = load(GRADE)
    # No path filter: the check must report on every PR to be a required check (organizer PRs pass).
    assert triggers(spec) == {"pull_request": {}}
    assert spec["permissions"] == {"contents": "read"}
    assert all(job["permissions"] == {"contents": "read"} for job in spec["jobs"].values())


def test_grade_uses_the_base_grader_and_only_the_prs_submissions() -> None:
    checkouts = [s for s in steps(load(GRADE)) if s.get("uses", "").startswith("actions/checkout@")]
    base, head = checkouts
    assert base["with"]["ref"] == "${{ github.event.pull_request.base.sha }}" and "path" not in base["with"]
    assert head["with"]["ref"] == "${{ github.event.pull_request.head.sha }}"
    assert head["with"]["path"] == ".pr" and head["with"]["sparse-checkout"] == "submissions"
    take = next(s for s in steps(load(GRADE)) if s.get("run", "").startswith("tinymlperf take-submission"))
    assert "rm -rf .pr" in take["run"]


def test_comment_runs_after_grade_with_only_comment_and_artifact_rights() -> None:
    spec = load(COMMENT)
    assert triggers(spec) == {"workflow_run": {"workflows": ["grade"], "types": ["completed"]}}
    assert spec["permissions"] == {}
    assert all(job["permissions"] == {"contents": "read", "pull-requests": "write", "actions": "read"}
               for job in spec["jobs"].values())


def test_comment_never_checks_out_or_runs_pr_code() -> None:
    for step in steps(load(COMMENT)):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert set(step["with"]) == {"persist-credentials"}  # the default branch, nothing else
        if "run" in step:
            assert step["run"].split()[0] in ("python", "tinymlperf")
        # nothing a step is given names the PR's code (its branch, commit or repository)
        given = json.dumps([step.get("with"), step.get("env")])
        assert not re.search(r"workflow_run\.(head_|pull_requests)", given), step


# -- replays ---------------------------------------------------------------------

@pytest.mark.slow
def test_replay_grade_refuses_a_pr_that_edits_the_grader_and_comment_says_so(
        tmp_path: Path, replay_origin: Path, replay_api: GitHubServer) -> None:
    base, head = pr_commit(replay_origin, {"submissions/ada-quant/model.py": "x = 1\n",
                                           "grader/judge/rules.py": "STRICT = False\n"})
    job, store = run_grade(tmp_path, replay_origin, replay_api, base, head)
    assert job.failed and job.step("scope").outcome == "failure"
    assert job.step("grade").outcome == "skipped"
    assert job.annotations == ["::error title=Not one submission::grader/judge/rules.py: changes the grader or its "
                               "workflows, which a submission PR may not do; drop this change"]
    assert sorted(p.name for p in (store / "grade-result").iterdir()) == ["metadata.json"]
    metadata = json.loads((store / "grade-result" / "metadata.json").read_text())
    assert (metadata["pr_number"], metadata["head_sha"], metadata["base_sha"]) == (PR, head, base)

    replay_api.state.add_pull(REPO, PR, author="ada", head_sha=head, head_repo=FORK, files=[
        {"filename": "submissions/ada-quant/model.py", "status": "added"},
        {"filename": "grader/judge/rules.py", "status": "modified"}])
    comment = run_comment(tmp_path, replay_api, store, workflow_run_event(head, "failure"))
    assert not comment.failed, [(s.name, s.stderr) for s in comment.steps]
    (posted,) = replay_api.state.issue_comments(REPO, PR)
    assert posted["user"]["login"] == BOT and posted["body"].startswith(MARKER)
    assert "🚫 not graded" in posted["body"] and "grader/judge/rules.py: changes the grader" in posted["body"]


@pytest.mark.slow
def test_replay_comment_posts_scores_once_and_edits_them_on_the_next_run(tmp_path: Path, replay_api: GitHubServer) -> None:
    seed_scoped_pr(replay_api)
    replay_api.state.add_comment(REPO, PR, f"{MARKER}\nforged 1000x speedup", login="ada")
    write_artifact(tmp_path / "store", HEAD, sample_result())
    job = run_comment(tmp_path, replay_api, tmp_path / "store", workflow_run_event(HEAD, "failure"))
    assert not job.failed, [(s.name, s.stderr) for s in job.steps]
    forged, posted = replay_api.state.issue_comments(REPO, PR)
    assert forged["body"] == f"{MARKER}\nforged 1000x speedup"
    assert posted["body"] == (GOLDEN / "comment_scores.md").read_text(encoding="utf-8")
    assert "created scores comment" in job.step("Post or update the score comment").stdout

    again = run_comment(tmp_path / "second", replay_api, tmp_path / "store", workflow_run_event(HEAD, "failure"))
    assert "unchanged scores comment" in again.step("Post or update the score comment").stdout
    assert len(replay_api.state.issue_comments(REPO, PR)) == 2


@pytest.mark.slow
def test_replay_comment_says_cancelled_and_links_the_run(tmp_path: Path, replay_api: GitHubServer) -> None:
    seed_scoped_pr(replay_api)
    (tmp_path / "store").mkdir()
    job = run_comment(tmp_path, replay_api, tmp_path / "store", workflow_run_event(HEAD, "cancelled"))
    assert job.step("Download the grade artifact (data only)").outcome == "failure"  # continue-on-error
    assert not job.failed
    (posted,) = replay_api.state.issue_comments(REPO, PR)
    assert posted["body"] == (GOLDEN / "comment_cancelled.md").read_text(encoding="utf-8")


@pytest.mark.slow
def test_replay_comment_of_a_stale_run_posts_nothing_and_exits_0_with_a_notice(
        tmp_path: Path, replay_api: GitHubServer) -> None:
    seed_scoped_pr(replay_api, head="f" * 40)  # the student pushed again after this run
    write_artifact(tmp_path / "store", HEAD, sample_result())
    for conclusion in ("success", "cancelled"):  # cancelled: the newer push's run cancelled this one
        job = run_comment(tmp_path / conclusion, replay_api, tmp_path / "store", workflow_run_event(HEAD, conclusion))
        step = job.step("Post or update the score comment")
        assert step.outcome == "success" and not job.failed, step.stderr
        assert step.stdout.startswith("::notice title=Stale grade run::") and "newer push" in step.stdout
    assert replay_api.state.issue_comments(REPO, PR) == []


@pytest.mark.slow
def test_replay_comment_says_nothing_while_a_run_awaits_approval(tmp_path: Path, replay_api: GitHubServer) -> None:
    seed_scoped_pr(replay_api)
    job = run_comment(tmp_path, replay_api, tmp_path / "store", workflow_run_event(HEAD, "action_required"))
    assert job.steps == [] and replay_api.state.requests == []  # the job does not even start


def test_post_skips_a_run_awaiting_approval_even_when_the_job_runs(tmp_path: Path, replay_api: GitHubServer) -> None:
    from grader.ci import event as event_payload
    from grader.ci import post
    seed_scoped_pr(replay_api)
    event = workflow_run_event(HEAD, "action_required")
    (tmp_path / "event.json").write_text(json.dumps(event))
    run = post.parse_run(event_payload.read(tmp_path / "event.json"), "event.json")
    outcome = post.post(run, tmp_path / "none", client=None)  # type: ignore[arg-type]
    assert outcome.action == "skipped" and "approval" in outcome.message
    assert replay_api.state.issue_comments(REPO, PR) == []


@pytest.mark.slow
def test_replay_grade_passes_an_organizer_pr_without_grading_and_comment_stays_silent(
        tmp_path: Path, replay_origin: Path, replay_api: GitHubServer) -> None:
    base, head = pr_commit(replay_origin, {"grader/judge/rules.py": "STRICT = False\n", "docs/x.md": "doc\n"})
    job, store = run_grade(tmp_path, replay_origin, replay_api, base, head)
    assert not job.failed, [(s.name, s.outcome, s.stderr[-500:]) for s in job.steps]
    assert job.step("scope").outcome == "success" and job.step("grade").outcome == "skipped"
    assert job.annotations == ["::notice title=No submission::this PR changes no file under submissions/, so there "
                               "is nothing to grade; its review decides"]
    replay_api.state.add_pull(REPO, PR, author="maintainer", head_sha=head, head_repo=REPO, files=[
        {"filename": "grader/judge/rules.py", "status": "modified"}, {"filename": "docs/x.md", "status": "added"}])
    event = workflow_run_event(head, "success")
    event["workflow_run"]["head_repository"]["full_name"] = REPO
    comment = run_comment(tmp_path, replay_api, store, event)
    assert not comment.failed and "changes no submission" in comment.step("Post or update the score comment").stdout
    assert replay_api.state.issue_comments(REPO, PR) == []


@pytest.mark.slow
def test_replay_comment_explains_a_forged_result(tmp_path: Path, replay_api: GitHubServer) -> None:
    seed_scoped_pr(replay_api)
    write_artifact(tmp_path / "store", HEAD, None)
    (tmp_path / "store" / "grade-result" / "result.json").write_text('{"status": "valid", "efficiency": 1e9}')
    run_comment(tmp_path, replay_api, tmp_path / "store", workflow_run_event(HEAD, "success"))
    (posted,) = replay_api.state.issue_comments(REPO, PR)
    assert "⚠️ grading failed" in posted["body"] and "result.json: does not match result.schema.json" in posted["body"]
    assert "1e9" not in posted["body"]


@pytest.mark.slow
def test_replay_comment_skips_runs_not_from_a_pull_request(tmp_path: Path, replay_api: GitHubServer) -> None:
    event = workflow_run_event(HEAD, "success")
    event["workflow_run"]["event"] = "push"
    job = run_comment(tmp_path, replay_api, tmp_path / "store", event)
    assert job.steps == [] and replay_api.state.requests == []


@pytest.mark.slow
def test_replay_grade_then_comment_end_to_end(tmp_path: Path, replay_origin: Path, replay_api: GitHubServer,
                                              cifar_dir: Path) -> None:
    # An Open entry that is the baseline itself: the real model, the real weights, a full grade.
    baseline = ROOT / "grader" / "baseline"
    files: dict[str, str | bytes] = {"submissions/ada-quant/model.py": (baseline / "model.py").read_text(),
                                     "submissions/ada-quant/weights.npz": (baseline / "weights.npz").read_bytes()}
    files["submissions/ada-quant/submission.yaml"] = yaml.safe_dump({
        "division": "open", "athlete_name": "Ada", "github_repo": "https://github.com/ada/tinytorch",
        "techniques_used": ["the baseline itself, as a smoke test"],
        "honor_code": "I certify that this submission follows the rules"})
    base, head = pr_commit(replay_origin, files)
    job, store = run_grade(tmp_path, replay_origin, replay_api, base, head)
    assert (store / "grade-result" / "result.json").exists(), "\n".join(
        f"{s.name}: {s.outcome}: {s.stderr[-1500:]}" for s in job.steps)
    result = schema.read(store / "grade-result" / "result.json", "result")
    assert result["submission"]["slug"] == "ada-quant" and result["normalized_scores"] is not None, result["checks"]
    assert result["normalized_scores"]["compression"] == 1.0
    report = (store / "grade-result" / "report.md").read_text(encoding="utf-8")
    assert report in job.summary
    assert len(job.annotations) == sum(c["status"] in ("fail", "warn") for c in result["checks"]) + (
        result["status"] == "error")
    assert job.failed == (result["status"] != "valid")

    replay_api.state.add_pull(REPO, PR, author="ada", head_sha=head, head_repo=FORK,
                          files=[{"filename": f, "status": "added"} for f in files])
    run_comment(tmp_path, replay_api, store, workflow_run_event(head, "failure" if job.failed else "success"))
    (posted,) = replay_api.state.issue_comments(REPO, PR)
    assert posted["body"].startswith(MARKER) and "## TinyMLPerf grade:" in posted["body"]
