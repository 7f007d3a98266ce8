"""The sticky PR comment: what to say (``plan``) and how it reads (``render_comment``).

Both are pure. ``plan`` decides from facts the privileged side checked itself
(the run's conclusion from the event, the PR's files from the API, the
artifact's schema-valid parts); ``render_comment`` turns that into Markdown,
passing every string that came from the artifact or the PR through
``grader.core.markdown.text``. The hidden ``MARKER`` lets the next run find and
edit this comment instead of adding another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from grader.ci.artifact import Artifact
from grader.ci.scope import Scope
from grader.core.markdown import text
from grader.judge.result import GradeResult
from grader.report import markdown_report as report

MARKER = "<!-- tinymlperf:score-comment -->"
Kind = Literal["scores", "scope", "failed", "cancelled"]


@dataclass(frozen=True)
class CommentView:
    """Everything the comment shows; ``result`` is a schema-valid result.json or None."""

    kind: Kind
    head_sha: str
    run_url: str
    result: GradeResult | None = None
    problems: tuple[str, ...] = ()
    reason: str | None = None
    docs_url: str = report.DOCS_URL


def plan(*, conclusion: str | None, head_sha: str, run_url: str, scope: Scope, artifact: Artifact) -> CommentView:
    """Choose the comment for a finished grade run; scores only when everything checks out."""
    if not scope.ok:
        return CommentView("scope", head_sha, run_url, problems=scope.problems)
    if conclusion in ("cancelled", "timed_out", "skipped", "stale"):
        return CommentView("cancelled", head_sha, run_url, reason=f"the grade run ended as {conclusion}")
    result = artifact.result
    if result is not None and result.submission is not None and result.submission.slug != scope.slug:
        return CommentView("failed", head_sha, run_url,
                           reason="the artifact's result is for a different submission than this PR adds")
    if result is not None and (artifact.metadata is None or artifact.metadata["head_sha"] != head_sha):
        return CommentView("failed", head_sha, run_url, reason="the artifact is not about the commit this run graded")
    if result is not None and conclusion in ("success", "failure"):
        return CommentView("scores", head_sha, run_url, result=result)
    why = "; ".join(artifact.problems) if artifact.problems else "the grade run produced no result.json"
    return CommentView("failed", head_sha, run_url, reason=f"the grade run ended as {conclusion}: {why}")


def render_comment(view: CommentView) -> str:
    """The whole comment body, marker first."""
    short = view.head_sha[:7]
    run = f"[workflow run]({view.run_url})"
    if view.kind == "scope":
        lines = ["## TinyMLPerf: 🚫 not graded", "",
                 f"Commit `{short}` is not one submission, so it was not scored. "
                 "A submission PR adds or changes files in exactly one `submissions/<slug>/` folder and nothing else:",
                 ""]
        lines += [f"- {text(p, 400)}" for p in view.problems]
        lines += ["", f"Fix the PR as listed and push again. Details: {run}."]
    elif view.kind == "cancelled":
        lines = ["## TinyMLPerf: ⏹️ grading did not finish", "",
                 f"Grading of commit `{short}` stopped before a score: {text(view.reason or 'cancelled', 300)}.",
                 f"Push a new commit, or ask an organizer to re-run the {run}."]
    elif view.kind == "failed":
        lines = ["## TinyMLPerf: ⚠️ grading failed", "",
                 f"Grading of commit `{short}` produced no score: {text(view.reason or 'unknown failure', 600)}.",
                 f"See the log of the {run}."]
    else:
        assert view.result is not None, "a scores comment needs a result"
        lines = _scores(view.result, short, run, view.docs_url)
    return "\n".join([MARKER, *lines, ""])


def _scores(result: GradeResult, short: str, run: str, docs_url: str) -> list[str]:
    """The report itself (the same text as the job summary), under a line saying what was graded."""
    return [f"Graded commit `{short}` · {run}", "", report.render(result, docs_url=docs_url)]
