"""The sticky PR comment: what to say (``plan``) and how it reads (``render_comment``).

Both are pure. ``plan`` decides from facts the privileged side checked itself
(the run's conclusion from the event, the PR's files from the API, the
artifact's schema-valid parts); ``render_comment`` turns that into Markdown,
passing every string that came from the artifact or the PR through
``grader.markdown.text``. The hidden ``MARKER`` lets the next run find and
edit this comment instead of adding another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from grader.artifact import Artifact
from grader.markdown import repo_link, text
from grader.scope import Scope

MARKER = "<!-- tinymlperf:score-comment -->"
Kind = Literal["scores", "scope", "failed", "cancelled"]
_STATUS = {"valid": "✅ valid entry", "failed": "❌ graded, rules failed", "error": "⚠️ could not grade"}
_CHECK = {"pass": "✅", "fail": "❌", "warn": "⚠️", "not_checked": "➖"}
_REPO = {"verified": "verified", "failed": "not verified", "not_checked": "not checked"}


@dataclass(frozen=True)
class CommentView:
    """Everything the comment shows; ``result`` is a schema-valid result.json or None."""

    kind: Kind
    head_sha: str
    run_url: str
    result: dict[str, Any] | None = None
    problems: tuple[str, ...] = ()
    reason: str | None = None


def plan(*, conclusion: str | None, head_sha: str, run_url: str, scope: Scope, artifact: Artifact) -> CommentView:
    """Choose the comment for a finished grade run; scores only when everything checks out."""
    if not scope.ok:
        return CommentView("scope", head_sha, run_url, problems=scope.problems)
    if conclusion in ("cancelled", "timed_out", "skipped", "stale"):
        return CommentView("cancelled", head_sha, run_url, reason=f"the grade run ended as {conclusion}")
    result = artifact.result
    if result is not None and result["submission"]["slug"] != scope.slug:
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
        lines = _scores(view.result, short, run)
    return "\n".join([MARKER, *lines, ""])


def _num(value: float | None, fmt: str, suffix: str = "") -> str:
    return "—" if value is None else f"{value:{fmt}}{suffix}"


def _scores(result: dict[str, Any], short: str, run: str) -> list[str]:
    sub = result["submission"]
    lines = [f"## TinyMLPerf: {_STATUS[result['status']]} — `{text(sub['slug'], 64)}`", "",
             f"Graded commit `{short}` with grader {text(result['grader_version'], 64)} · {run}", ""]
    if result["status"] == "error":
        lines += [f"**Could not grade:** {text(result['error'] or 'no reason given', 600)}", ""]
    base, entry, scores = result["baseline_metrics"], result["optimized_metrics"], result["normalized_scores"]
    if base is not None and entry is not None and scores is not None:
        low, high = scores["speedup_ci_low"], scores["speedup_ci_high"]
        ci = f" (95% CI {low:.2f}–{high:.2f}×)" if low is not None and high is not None else " (CI inconclusive)"
        lines += ["| | Baseline | Entry | Score |", "|---|---:|---:|---:|",
                  f"| Accuracy | {base['accuracy_pct']:.2f} % | {entry['accuracy_pct']:.2f} % | "
                  f"{scores['accuracy_delta_pp']:+.2f} pp |",
                  f"| Latency (median) | {base['latency_ms_median']:.3f} ms | {entry['latency_ms_median']:.3f} ms | "
                  f"{scores['speedup']:.2f}× speedup{ci} |",
                  f"| Size | {base['size_bytes']:,} B | {entry['size_bytes']:,} B | "
                  f"{scores['compression']:.2f}× compression |",
                  f"| **Efficiency** | | | **{scores['efficiency']:.2f}** |", ""]
    verification = result["repo_verification"]
    division = "Closed" if sub["division"] == "closed" else "Open"
    lines += [f"**Athlete:** {text(sub['athlete_name'], 100)} · **Division:** {division} · "
              f"**Repo:** {repo_link(sub['github_repo'])} ({_REPO[verification['status']]}: "
              f"{text(verification['reason'], 200)})"]
    if sub["techniques_used"]:
        lines += [f"**Techniques:** {'; '.join(text(t, 120) for t in sub['techniques_used'][:10])}"]
    if result["checks"]:
        lines += ["", "| Check | Result | Details |", "|---|:-:|---|"]
        lines += [f"| {text(c['id'], 64)} | {_CHECK[c['status']]} | {text(c['message'], 300)} |"
                  for c in result["checks"]]
    return lines
