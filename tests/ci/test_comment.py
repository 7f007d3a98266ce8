"""The sticky PR comment: golden Markdown for each variant, escaping, and which variant is chosen."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from grader.ci.artifact import Artifact
from grader.ci.comment import MARKER, CommentView, plan, render_comment
from grader.ci.scope import Scope
from grader.judge.result import GradeResult
from tests import goldenfile

SHA = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
# What post.py passes: the guide on the default branch (comments resolve no relative links).
DOCS = "https://github.com/tinyml-org/tinymlperf/blob/HEAD/docs/submitting.md"
RUN = "https://github.com/tinyml-org/tinymlperf/actions/runs/9123456789"
METADATA = {"schema_version": 1, "pr_number": 42, "head_sha": SHA, "base_sha": "0" * 40, "run_id": 9123456789,
            "grader_version": "0.1.0"}


def sample_result() -> dict[str, Any]:
    return json.loads((goldenfile.DIR / "result_sample.json").read_text(encoding="utf-8"))


def typed(result: dict[str, Any]) -> GradeResult:
    return GradeResult.from_json(result, "result.json")


def errored_result() -> dict[str, Any]:
    result = sample_result()
    result.update(status="error", error="model.py:3: import of 'os' is not allowed <script>",
                  baseline_metrics=None, optimized_metrics=None, normalized_scores=None, checks=[])
    result["repo_verification"] = {"status": "not_checked", "reason": "no GitHub token or network access in this run"}
    return result


@pytest.mark.parametrize("name, view", [
    ("comment_scores.md", CommentView("scores", SHA, RUN, result=typed(sample_result()), docs_url=DOCS)),
    ("comment_error.md", CommentView("scores", SHA, RUN, result=typed(errored_result()), docs_url=DOCS)),
    ("comment_scope.md", CommentView("scope", SHA, RUN, problems=(
        "grader/sandbox/parent.py: changes the grader or its workflows, which a submission PR may not do; drop this change",
        "touches 2 submission folders (ada, bob); split it into one PR per submission"))),
    ("comment_failed.md", CommentView("failed", SHA, RUN, reason="the grade run ended as failure: "
                                      "the grade run produced no result.json")),
    ("comment_cancelled.md", CommentView("cancelled", SHA, RUN, reason="the grade run ended as cancelled")),
])
def test_each_comment_variant_matches_its_golden_file(name: str, view: CommentView) -> None:
    goldenfile.check(name, render_comment(view))


@pytest.mark.parametrize("view", [
    CommentView("scores", SHA, RUN, result=typed(sample_result())),
    CommentView("failed", SHA, RUN, reason="x"),
    CommentView("cancelled", SHA, RUN, reason="x"),
    CommentView("scope", SHA, RUN, problems=("x",)),
])
def test_every_variant_starts_with_the_marker_and_links_the_run(view: CommentView) -> None:
    body = render_comment(view)
    assert body.startswith(MARKER + "\n") and f"]({RUN})" in body


HOSTILE = ["<img src=x onerror=alert(1)>", "@octocat", "[click](https://evil.example)", "![i](https://e/x.png)",
           "a | b\n| forged | row |", "<!-- tinymlperf:score-comment -->", "\u202eevil", "https://evil.example"]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_student_strings_cannot_smuggle_markup(hostile: str) -> None:
    result = sample_result()
    result["submission"]["athlete_name"] = hostile
    result["submission"]["slug"] = hostile[:64]
    result["submission"]["techniques_used"] = [hostile]
    result["checks"] = [{"id": "x", "status": "fail", "message": hostile}]
    result["repo_verification"]["reason"] = hostile
    body = render_comment(CommentView("scores", SHA, RUN, result=typed(result)))
    assert "<img" not in body and "<!-- tinymlperf" not in body.split("\n", 1)[1]
    assert "@octocat" not in body and "](https://evil" not in body and "https://evil" not in body
    assert "\u202e" not in body
    # every table row keeps its four (or three) columns: no row was broken or forged
    for line in body.splitlines():
        if line.startswith("| ") and "Check" not in line:
            cells = re.split(r"(?<!\\)\|", line)
            assert len(cells) in (5, 6), line


def result_artifact(result: dict[str, Any] | None = None, metadata: dict[str, Any] | None = METADATA) -> Artifact:
    return Artifact(metadata, None if result is None else typed(result), ())


OK_SCOPE = Scope("ada-quant", ())


@pytest.mark.parametrize("conclusion", ["success", "failure"])
def test_plan_shows_scores_for_a_finished_run_with_a_matching_result(conclusion: str) -> None:
    view = plan(conclusion=conclusion, head_sha=SHA, run_url=RUN, scope=OK_SCOPE,
                artifact=result_artifact(sample_result()))
    assert view.kind == "scores"


def test_plan_shows_scope_problems_whatever_the_artifact_claims() -> None:
    view = plan(conclusion="success", head_sha=SHA, run_url=RUN, scope=Scope(None, ("grader/x.py: drop",)),
                artifact=result_artifact(sample_result()))
    assert (view.kind, view.problems) == ("scope", ("grader/x.py: drop",))


@pytest.mark.parametrize("conclusion", ["cancelled", "timed_out"])
def test_plan_says_cancelled_for_an_unfinished_run(conclusion: str) -> None:
    view = plan(conclusion=conclusion, head_sha=SHA, run_url=RUN, scope=OK_SCOPE, artifact=result_artifact())
    assert view.kind == "cancelled" and conclusion in (view.reason or "")


def test_plan_refuses_a_result_for_another_submission() -> None:
    other = copy.deepcopy(sample_result())
    other["submission"]["slug"] = "someone-else"
    view = plan(conclusion="success", head_sha=SHA, run_url=RUN, scope=OK_SCOPE, artifact=result_artifact(other))
    assert view.kind == "failed" and "different submission" in (view.reason or "")


def test_plan_refuses_a_result_whose_metadata_names_another_commit() -> None:
    view = plan(conclusion="success", head_sha=SHA, run_url=RUN, scope=OK_SCOPE,
                artifact=result_artifact(sample_result(), {**METADATA, "head_sha": "f" * 40}))
    assert view.kind == "failed" and "not about the commit" in (view.reason or "")


def test_plan_explains_a_failed_run_without_a_result() -> None:
    view = plan(conclusion="failure", head_sha=SHA, run_url=RUN, scope=OK_SCOPE,
                artifact=Artifact(METADATA, None, ("result.json: not valid JSON (JSONDecodeError)",)))
    assert view == CommentView("failed", SHA, RUN,
                               reason="the grade run ended as failure: result.json: not valid JSON (JSONDecodeError)")
