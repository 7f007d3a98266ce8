"""Trusted merge facts: the PR author via the API (real loopback server), what to grade, when to skip."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.board import record
from grader.ci import github_api as gh
from grader.ci import merge_info, publish
from grader.cli import main as cli
from grader.core.errors import GitHubError, GraderError
from tests import gitfixture
from tests import scorefactory as sf
from tests.github_server import GitHubServer

REPO = "tinyml/tinymlperf"


@pytest.fixture
def api() -> Iterator[GitHubServer]:
    """The loopback API with the competition repo private to the bot, so lookups must send its token."""
    with GitHubServer() as srv:
        srv.state.add_token("secret-token", "leaderboard-bot")
        srv.state.add_repo(REPO, {"README.md": "competition"}, private=True, readers={"leaderboard-bot"})
        yield srv


def lookup(api: GitHubServer) -> merge_info.PullLookup:
    client = gh.make_client("secret-token", api.url, throttle=False)
    return lambda repository, sha: gh.find_merged_pr(client, repository, sha)


def test_the_athlete_is_the_merged_pr_author(api: GitHubServer) -> None:
    api.state.merge(REPO, "a" * 40, 12, "open-pr", merged=False)
    api.state.merge(REPO, "a" * 40, 7, "ada")
    assert lookup(api)(REPO, "a" * 40) == merge_info.MergeInfo("ada", 7)
    assert api.state.requests[-1][1].startswith(f"/repos/{REPO}/commits/{'a' * 40}/pulls")


def test_the_pr_whose_merge_commit_is_the_sha_wins(api: GitHubServer) -> None:
    api.state.merge(REPO, "a" * 40, 3, "other", merge_commit_sha="b" * 40)
    api.state.merge(REPO, "a" * 40, 4, "ada")
    assert lookup(api)(REPO, "a" * 40).pr_number == 4


def test_a_commit_without_a_merged_pr_is_an_error(api: GitHubServer) -> None:
    with pytest.raises(GitHubError, match="expected one merged pull request, found 0"):
        lookup(api)(REPO, "c" * 40)


def test_a_login_of_the_wrong_shape_is_refused(api: GitHubServer) -> None:
    api.state.merge(REPO, "a" * 40, 5, "evil login](x)")
    with pytest.raises(GitHubError, match="bad login"):
        lookup(api)(REPO, "a" * 40)


def test_an_unknown_repository_is_an_error_with_a_hint() -> None:
    with GitHubServer() as srv:
        client = gh.make_client(None, srv.url + "/nowhere", throttle=False)
        with pytest.raises(GitHubError, match=r"HTTP 404 \(token needs contents: read"):
            gh.find_merged_pr(client, REPO, "a" * 40)


def test_the_lookup_retries_a_server_error_within_the_bounded_wait(api: GitHubServer) -> None:
    api.state.merge(REPO, "a" * 40, 7, "ada")
    api.state.fail("GET", r"/commits/a{40}/pulls", 502, times=2)
    waits: list[float] = []
    client = gh.make_client("secret-token", api.url, throttle=False)
    policy = gh.RetryPolicy(sleep=waits.append, max_total_wait=10)
    assert gh.find_merged_pr(client, REPO, "a" * 40, policy=policy) == merge_info.MergeInfo("ada", 7)
    assert waits == [1.0, 2.0]
    api.state.fail("GET", r"/commits/a{40}/pulls", 502, times=5)
    with pytest.raises(GitHubError, match=r"listing pull requests failed: HTTP 502$"):
        gh.find_merged_pr(client, REPO, "a" * 40, policy=gh.RetryPolicy(sleep=waits.append, max_total_wait=5))
    assert waits[2:] == [1.0, 2.0]  # the next wait (4 s) would pass the 5 s bound: it gives up instead


@pytest.mark.slow
def test_to_grade_lists_the_pushed_folders_and_folders_without_a_current_record(tmp_path: Path) -> None:
    o = gitfixture.origin(tmp_path)
    first = o.merge_pr("ada-int8", "2025-03-01T10:00:00+00:00")
    subs = o.dev / "submissions"
    assert merge_info.to_grade(subs, first.after, first.before, everything=False) == ["ada-int8"]
    second = o.merge_pr("bo-prune", "2025-03-02T10:00:00+00:00")
    # ada-int8 has no record yet: a cancelled pending run must not lose it.
    assert merge_info.to_grade(subs, second.after, second.before, everything=False) == ["ada-int8", "bo-prune"]
    sf.write(subs, sf.score("ada-int8", sha=first.after))
    assert merge_info.to_grade(subs, second.after, second.before, everything=False) == ["bo-prune"]
    assert merge_info.to_grade(subs, second.after, second.before, everything=True) == ["ada-int8", "bo-prune"]
    assert merge_info.to_grade(subs, second.after, merge_info.NULL_SHA, everything=False) == ["ada-int8", "bo-prune"]


def test_a_push_that_only_touches_score_json_grades_nothing(tmp_path: Path) -> None:
    o = gitfixture.origin(tmp_path)
    first = o.merge_pr("ada-int8", "2025-03-01T10:00:00+00:00")
    subs = o.dev / "submissions"
    sf.write(subs, sf.score("ada-int8", sha=first.after))
    gitfixture.git(o.dev, "add", "-A")
    gitfixture.git(o.dev, "commit", "-q", "-m", "leaderboard: record")
    after = gitfixture.git(o.dev, "rev-parse", "HEAD")
    assert merge_info.source_commit(subs, after, "ada-int8") == first.after
    assert merge_info.to_grade(subs, after, first.after, everything=False) == []


def push_event(merge: gitfixture.Merge) -> dict:
    return {"before": merge.before, "after": merge.after, "repository": {"full_name": REPO},
            "head_commit": {"id": merge.after, "timestamp": merge.timestamp}}


@pytest.mark.slow
def test_record_result_writes_a_record_from_the_trusted_facts(tmp_path: Path, api) -> None:
    o = gitfixture.origin(tmp_path)
    m = o.merge_pr("ada-int8", "2025-03-01T10:00:00+01:00")
    api.state.merge(REPO, m.after, 1, "ada")
    result = tmp_path / "result.json"
    result.write_text(json.dumps(sf.result("ada-int8", name="Claims To Be Bo")))
    subs = o.dev / "submissions"
    out = publish.record_result(result, "ada-int8", subs, push_event(m), "push", m.after, lookup(api))
    assert out.action == "written"
    rec = record.read(subs / "ada-int8" / "score.json")
    assert (rec.athlete_login, rec.pr_number, rec.merge_commit_sha, rec.graded_at) == (
        "ada", 1, m.after, "2025-03-01T09:00:00Z")


@pytest.mark.slow
def test_record_result_skips_a_folder_changed_after_the_graded_commit(tmp_path: Path, api) -> None:
    o = gitfixture.origin(tmp_path)
    m1 = o.merge_pr("ada-int8", "2025-03-01T10:00:00+00:00")
    o.merge_pr("ada-int8", "2025-03-02T10:00:00+00:00", content="division: open\n")
    result = tmp_path / "result.json"
    result.write_text(json.dumps(sf.result("ada-int8")))
    out = publish.record_result(result, "ada-int8", o.dev / "submissions", push_event(m1), "push", m1.after,
                                lookup(api))
    assert out.action == "skipped" and "changed after" in out.detail
    assert not (o.dev / "submissions" / "ada-int8" / "score.json").exists()
    assert api.state.requests == []


def test_record_result_refuses_a_result_for_another_slug(tmp_path: Path, api) -> None:
    o = gitfixture.origin(tmp_path)
    m = o.merge_pr("ada-int8", "2025-03-01T10:00:00+00:00")
    result = tmp_path / "result.json"
    result.write_text(json.dumps(sf.result("someone-else")))
    with pytest.raises(GraderError, match="graded slug 'someone-else' is not 'ada-int8'"):
        publish.record_result(result, "ada-int8", o.dev / "submissions", push_event(m), "push", m.after, lookup(api))


def test_record_result_refuses_a_result_without_a_readable_submission(tmp_path: Path, api) -> None:
    o = gitfixture.origin(tmp_path)
    m = o.merge_pr("ada-int8", "2025-03-01T10:00:00+00:00")
    unreadable = sf.result("ada-int8", status="failed", checks=[{"id": "format", "status": "fail", "message": "x"}])
    unreadable["submission"] = None
    result = tmp_path / "result.json"
    result.write_text(json.dumps(unreadable))
    with pytest.raises(GraderError, match="the submission.yaml could not be read, so there is no entry to record"):
        publish.record_result(result, "ada-int8", o.dev / "submissions", push_event(m), "push", m.after, lookup(api))
    assert not (o.dev / "submissions" / "ada-int8" / "score.json").exists()


def record_as_organizer(tmp_path: Path, o: gitfixture.Origin, m: gitfixture.Merge, login: str) -> int:
    (tmp_path / "result.json").write_text(json.dumps(sf.result("ada-int8")))
    (tmp_path / "event.json").write_text(json.dumps({"repository": {"full_name": REPO}}))
    return cli.main(["record", "--result", str(tmp_path / "result.json"), "--slug", "ada-int8",
                     "--event", str(tmp_path / "event.json"), "--event-name", "workflow_dispatch",
                     "--graded-commit", m.after, "--submissions", str(o.dev / "submissions"), "--organizer", login])


def test_record_organizer_attributes_an_entry_committed_without_a_pr(tmp_path: Path, api) -> None:
    o = gitfixture.origin(tmp_path)
    m = o.merge_pr("ada-int8", "2025-03-01T10:00:00+00:00")
    assert record_as_organizer(tmp_path, o, m, "tinymlperf-staff") == 0
    rec = record.read(o.dev / "submissions" / "ada-int8" / "score.json")
    assert (rec.athlete_login, rec.pr_number, rec.merge_commit_sha) == ("tinymlperf-staff", None, m.after)
    assert api.state.requests == []  # no pull request is looked up


def test_record_organizer_refuses_a_login_github_would_not_allow(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    o = gitfixture.origin(tmp_path)
    m = o.merge_pr("ada-int8", "2025-03-01T10:00:00+00:00")
    assert record_as_organizer(tmp_path, o, m, "bad login;rm") == 2
    assert "--organizer 'bad login;rm' is not a GitHub login" in capsys.readouterr().err
    assert not (o.dev / "submissions" / "ada-int8" / "score.json").exists()


def test_chunks_respect_the_matrix_limit() -> None:
    assert publish.chunks([], 4) == []
    assert publish.chunks(["a", "b", "c"], 2) == ["a b", "c"]
    assert len(publish.chunks([f"s{i}" for i in range(1000)], 1)) == 250
