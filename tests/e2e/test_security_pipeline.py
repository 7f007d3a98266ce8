"""The PR and merge side under attack: injection, workflow shell injection, faults.

Renderers get hostile strings in every student field at once; the grade
workflow is replayed (tests/workflow_replay.py) with a crafted folder and
branch name; the comment job runs against a loopback GitHub API that is rate
limited or down; the leaderboard write is interrupted; a corrupted CIFAR
download is refused and fetched again.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import pytest

from grader.board import leaderboard
from grader.ci.comment import CommentView, render_comment
from grader.core import files, schema
from grader.core.errors import DataError
from grader.judge.result import GradeResult
from grader.measure import data
from grader.report import markdown_report as report
from tests import scorefactory as sf
from tests.cifar_archive import Archive, make_archive
from tests.github_server import GitHubServer
from tests.pr_replay import (
    HEAD,
    PR,
    REPO,
    pr_commit,
    run_comment,
    run_grade,
    sample_result,
    seed_scoped_pr,
    workflow_run_event,
    write_artifact,
)

# The escaper itself puts U+200B after "@" to break mentions, so that one is checked by context.
BIDI_AND_INVISIBLE = "\u202e\u202d\u2066\u2067\u2068\u2069\u200c\u200d\u2060\ufeff"
HOSTILE = ("Mal | <script>alert(1)</script><img src=x onerror=alert(1)>\n| forged | row |\n@everyone @org/team "
           "[click](https://evil.example) ![x](https://evil.example/p.png) <!-- tinymlperf:score-comment --> "
           "``` \u202egnp.exe z\u200bero ::add-mask::x ${{ github.token }} $(touch /tmp/pwned)")
HUGE = "A" * 200_000


def _hostile_result(value: str) -> dict[str, Any]:
    """A result whose every student-controlled string is ``value``, cut to its schema's maximum."""
    result = sample_result()
    sub = result["submission"]
    sub["athlete_name"], sub["description"] = value[:200], value[:2000]
    sub["techniques_used"] = [value[:500]] * 50
    result["checks"] = [{"id": "runs", "status": "fail", "message": value[:4000]},
                        {"id": "sandbox", "status": "warn", "message": value[:4000]}]
    result["repo_verification"]["reason"] = value[:1000]
    result["status"] = "failed"
    return result


def _assert_inert(text: str) -> None:
    body = text.split("\n", 1)[1] if text.startswith("<!--") else text  # our own marker line is first
    for raw in ("<script", "<img", "<!-- tinymlperf", "@everyone", "@org/team", "](https://evil", "https://evil"):
        assert raw not in body, raw
    assert not any(c in body for c in BIDI_AND_INVISIBLE) and "z\u200bero" not in body
    assert not any(line.lstrip().startswith(("::", "##[")) for line in body.splitlines())


@pytest.mark.parametrize("value", [HOSTILE, HUGE], ids=["markup", "huge"])
def test_every_student_field_is_inert_in_report_and_comment(value: str) -> None:
    result = _hostile_result(value)
    assert schema.validate(result, "result") == [], schema.validate(result, "result")
    too_long = sample_result()
    too_long["submission"]["athlete_name"] = HUGE  # the artifact reader and leaderboard refuse such a result
    assert schema.validate(too_long, "result") != []
    typed = GradeResult.from_json(result, "result.json")
    for text in (report.render(typed), render_comment(CommentView("scores", HEAD, "https://x/run", result=typed))):
        _assert_inert(text)
        assert len(text) < 60_000  # bounded whatever the fields hold
        for line in text.splitlines():
            if line.startswith("| ") and "---" not in line:  # table rows keep their columns
                assert not re.search(r"(?<!\\)\|\s*forged\s*(?<!\\)\|", line), line


@pytest.mark.parametrize("value", [HOSTILE, HUGE, "Ada\u202e\u2066 Lovelace\u200b"], ids=["markup", "huge", "bidi"])
def test_every_student_field_is_inert_on_the_leaderboard(value: str) -> None:
    rec = sf.typed(sf.score("mal", login="mallory", pr=6, name=value[:200], techniques=[value[:500]] * 50,
                            repo="https://github.com/mallory/x"))
    out = leaderboard.render(leaderboard.build([rec], leaderboard.CurrentGrader(sf.VERSION, sf.BASELINE_SHA),
                                               "best", 10))
    _assert_inert(out)
    row = sf.ranked_line(out, "1")
    assert len(re.findall(r"(?<!\\)\|", row)) == len(leaderboard.HEADERS) + 1
    assert len(out) < 20_000


@pytest.mark.slow
def test_crafted_folder_and_branch_names_run_nothing_in_the_grade_workflow(
        tmp_path: Path, replay_origin: Path, replay_api: GitHubServer) -> None:
    marker = tmp_path / "pwned"
    slug = f'x$(touch {marker})`touch {marker}`;touch {marker}'
    base, head = pr_commit(replay_origin, {f"submissions/{slug}/model.py": "x = 1\n"})
    job, store = run_grade(tmp_path, replay_origin, replay_api, base, head)
    assert job.step("scope").outcome == "failure" and job.step("grade").outcome == "skipped"
    assert not marker.exists()
    assert any("folder name" in a or "slug" in a.lower() for a in job.annotations), job.annotations


@pytest.mark.slow
def test_comment_job_rate_limited_fails_cleanly_then_a_rerun_posts(tmp_path: Path, replay_api: GitHubServer) -> None:
    seed_scoped_pr(replay_api)
    write_artifact(tmp_path / "store", HEAD, sample_result())
    reset = str(int(__import__("time").time()) + 3600)
    replay_api.state.fail("GET", r"/pulls/\d+$", 403, {"message": "API rate limit exceeded"},
                      {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}, times=1)
    job = run_comment(tmp_path / "first", replay_api, tmp_path / "store", workflow_run_event(HEAD, "success"))
    step = job.step("Post or update the score comment")
    assert step.outcome == "failure" and "rate limit" in step.stderr.lower() and "Traceback" not in step.stderr
    assert replay_api.state.issue_comments(REPO, PR) == []
    assert (tmp_path / "store" / "grade-result" / "result.json").is_file()  # the result survives for a rerun
    again = run_comment(tmp_path / "rerun", replay_api, tmp_path / "store", workflow_run_event(HEAD, "success"))
    assert not again.failed and len(replay_api.state.issue_comments(REPO, PR)) == 1


@pytest.mark.slow
def test_comment_job_survives_a_brief_outage_by_retrying(tmp_path: Path, replay_api: GitHubServer) -> None:
    seed_scoped_pr(replay_api)
    write_artifact(tmp_path / "store", HEAD, sample_result())
    replay_api.state.fail("POST", r"/issues/\d+/comments$", 502, times=1)
    job = run_comment(tmp_path, replay_api, tmp_path / "store", workflow_run_event(HEAD, "success"))
    assert not job.failed, [(s.name, s.stderr) for s in job.steps]
    assert len(replay_api.state.issue_comments(REPO, PR)) == 1


def test_interrupted_leaderboard_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    board = tmp_path / "leaderboard.md"
    board.write_text("old board\n")

    def crash(src: str, dst: str) -> None:
        raise KeyboardInterrupt  # the job is cancelled between writing the temp file and renaming it

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        files.write_atomic(board, "new board\n" * 10_000)
    assert board.read_text() == "old board\n" and sorted(p.name for p in tmp_path.iterdir()) == ["leaderboard.md"]


@pytest.mark.slow
def test_corrupted_cifar_download_is_refused_then_fetched_again(tmp_path: Path,
                                                                cifar_server: tuple[str, Archive]) -> None:
    url, served = cifar_server
    good = make_archive(tmp_path)
    md5 = hashlib.md5(good).hexdigest()
    cache = tmp_path / "cache"
    served.body = good[:100] + bytes(b ^ 0xFF for b in good[100:200]) + good[200:]  # flipped bytes
    with pytest.raises(DataError, match="MD5"):
        data.resolve(None, env={}, cache=cache, url=url, md5=md5)
    served.body, served.claimed_length = good[: len(good) // 2], len(good)  # cut off mid-transfer
    with pytest.raises(DataError):
        data.resolve(None, env={}, cache=cache, url=url, md5=md5)
    assert list(cache.iterdir()) == []
    served.body, served.claimed_length = good, None
    found = data.resolve(None, env={}, cache=cache, url=url, md5=md5)
    assert data.load_split(found, "train").images.shape[1:] == (3, 32, 32)


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in folder.iterdir()}


@pytest.mark.slow
def test_a_poisoned_cifar_cache_is_never_read_it_is_fetched_again(tmp_path: Path,
                                                                 cifar_server: tuple[str, Archive]) -> None:
    url, served = cifar_server
    (tmp_path / "src").mkdir()
    served.body = make_archive(tmp_path / "src")
    md5 = hashlib.md5(served.body).hexdigest()
    cache = tmp_path / "cache"
    good = data.resolve(None, env={}, cache=cache, url=url, md5=md5)
    digests = _digests(good)
    expected = data.load_split(good, "test").labels.tolist()
    # Another job wrote the cache: same file names and sizes, other labels.
    poisoned = good / data.TEST_BATCH
    blob = bytearray(poisoned.read_bytes())
    blob[-20] ^= 1
    poisoned.write_bytes(bytes(blob))
    with pytest.raises(DataError, match=r"test_batch: MD5 [0-9a-f]{32} is not the official"):
        data.resolve(None, env={}, cache=cache, url=url, md5=md5, download=False, cache_digests=digests)
    again = data.resolve(None, env={}, cache=cache, url=url, md5=md5, cache_digests=digests)
    assert _digests(again) == digests and data.load_split(again, "test").labels.tolist() == expected


def test_the_cache_is_checked_against_the_official_digests_by_default(tmp_path: Path) -> None:
    folder = tmp_path / "cache" / data.FOLDER
    folder.mkdir(parents=True)
    for name in data.OFFICIAL_BATCH_MD5:
        (folder / name).write_bytes(b"not the official file")
    with pytest.raises(DataError, match="batches.meta: MD5 [0-9a-f]{32} is not the official 5ff9c542aee3614f"):
        data.resolve(None, env={}, cache=tmp_path / "cache", download=False)
