"""Score records: the machine-owned ``submissions/<slug>/score.json`` the leaderboard is built from.

A record joins two things the leaderboard may trust: a ``result.json`` that
passed its schema (what the grader measured) and facts from the trusted
GitHub event (who merged it, which PR, which commit, when). Nothing in a record
comes from the wall clock, so recording the same inputs twice gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from grader.contract.layout import RECORD_FILE
from grader.core import schema
from grader.core.errors import GraderError
from grader.judge.result import GradeResult, SubmissionInfo
from grader.judge.scoring import Scores

SCHEMA = "score"
MAX_RECORD_BYTES = 256 * 1024

Status = Literal["valid", "failed", "error"]
Division = Literal["closed", "open"]


@dataclass(frozen=True)
class Provenance:
    """Trusted facts about a merged entry, taken from the event and the GitHub API."""

    athlete_login: str
    repository: str
    pr_number: int | None
    merge_commit_sha: str
    graded_at: str


@dataclass(frozen=True)
class BaselineMetrics:
    """The baseline CNN as measured in the same grading run as the entry."""

    accuracy_pct: float
    latency_ms_median: float
    size_bytes: int


@dataclass(frozen=True)
class FailedCheck:
    id: str
    message: str


@dataclass(frozen=True)
class ScoreRecord:
    """One ``score.json``, typed. ``source`` names the file it came from (for messages)."""

    source: str
    grader_version: str
    baseline_sha256: str
    slug: str
    status: Status
    error: str | None
    division: Division
    athlete_name: str
    athlete_login: str
    github_repo: str
    techniques: tuple[str, ...]
    repository: str
    pr_number: int | None
    merge_commit_sha: str
    graded_at: str
    scores: Scores | None
    accuracy_pct: float | None
    baseline: BaselineMetrics | None
    failed_checks: tuple[FailedCheck, ...]
    repo_verification_status: str
    repo_verification_reason: str

    @property
    def graded_date(self) -> str:
        """``YYYY-MM-DD`` part of ``graded_at`` (UTC)."""
        return self.graded_at[:10]


def utc_timestamp(value: str, source: str) -> str:
    """An ISO 8601 time with an offset, as ``YYYY-MM-DDTHH:MM:SSZ`` in UTC."""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError) as e:
        raise GraderError(f"{source}: not an ISO 8601 time: {value!r}") from e
    if moment.tzinfo is None:
        raise GraderError(f"{source}: time {value!r} has no UTC offset")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def submission_of(result: GradeResult, source: str) -> SubmissionInfo:
    """The graded entry's metadata; a result whose submission.yaml was unreadable has no entry to record."""
    if result.submission is None:
        raise GraderError(f"{source}: the submission.yaml could not be read, so there is no entry to record; "
                          "the result's checks say why (fix the folder on main and regrade)")
    return result.submission


def build(result: GradeResult, provenance: Provenance, source: str = "result.json") -> dict[str, Any]:
    """The score record (as JSON data) for a result and the trusted facts about its merge.

    The result passed its schema when it was read (``GradeResult.from_json``); raises
    GraderError when it contradicts itself (a "valid" result without scores), naming ``source``.
    """
    sub = submission_of(result, source)
    scores, optimized, baseline = result.normalized_scores, result.optimized_metrics, result.baseline_metrics
    if result.status == "valid" and (scores is None or optimized is None):
        raise GraderError(f"{source}: status is 'valid' but normalized_scores or optimized_metrics is null")
    record = {
        "schema_version": 1,
        "grader_version": result.grader_version,
        "baseline_sha256": result.baseline_sha256,
        "slug": sub.slug,
        "status": result.status,
        "error": result.error,
        "division": sub.division,
        "athlete_name": sub.athlete_name,
        "athlete_login": provenance.athlete_login,
        "github_repo": sub.github_repo,
        "techniques": list(sub.techniques_used),
        "repository": provenance.repository,
        "pr_number": provenance.pr_number,
        "merge_commit_sha": provenance.merge_commit_sha,
        "graded_at": utc_timestamp(provenance.graded_at, source),
        "scores": scores.to_json() if scores is not None else None,
        "accuracy_pct": optimized.accuracy_pct if optimized is not None else None,
        "baseline": None if baseline is None else {
            "accuracy_pct": baseline.accuracy_pct,
            "latency_ms_median": baseline.latency_ms_median,
            "size_bytes": baseline.size_bytes,
        },
        "failed_checks": [{"id": c.id, "message": c.message} for c in result.failed_checks][:100],
        "repo_verification": result.repo_verification.to_json(),
    }
    schema.check(record, SCHEMA, f"score record built from {source}")
    return record


def from_dict(data: dict[str, Any], source: str) -> ScoreRecord:
    """A typed record from JSON data that already passed the score schema."""
    s = data["scores"]
    b = data["baseline"]
    return ScoreRecord(
        source=source,
        grader_version=data["grader_version"],
        baseline_sha256=data["baseline_sha256"],
        slug=data["slug"],
        status=data["status"],
        error=data["error"],
        division=data["division"],
        athlete_name=data["athlete_name"],
        athlete_login=data["athlete_login"],
        github_repo=data["github_repo"],
        techniques=tuple(data["techniques"]),
        repository=data["repository"],
        pr_number=data["pr_number"],
        merge_commit_sha=data["merge_commit_sha"],
        graded_at=data["graded_at"],
        scores=None if s is None else Scores(**s),
        accuracy_pct=data["accuracy_pct"],
        baseline=None if b is None else BaselineMetrics(**b),
        failed_checks=tuple(FailedCheck(**c) for c in data["failed_checks"]),
        repo_verification_status=data["repo_verification"]["status"],
        repo_verification_reason=data["repo_verification"]["reason"],
    )


def read(path: Path) -> ScoreRecord:
    """Read and check one ``score.json``; any problem raises GraderError naming ``path``."""
    data = schema.read(path, SCHEMA, MAX_RECORD_BYTES)
    schema.require_finite(data, str(path))
    if data["slug"] != path.parent.name:
        raise GraderError(f"{path}: slug {data['slug']!r} does not match its folder {path.parent.name!r}")
    return from_dict(data, str(path))


def load_all(submissions: Path) -> list[ScoreRecord]:
    """Every ``submissions/*/score.json``, in folder order. The first bad file stops the load."""
    if not submissions.is_dir():
        raise GraderError(f"{submissions}: submissions folder not found")
    return [read(path) for path in sorted(submissions.glob(f"*/{RECORD_FILE}"))]


def write(path: Path, record: dict[str, Any]) -> None:
    """Validate and write ``record`` atomically to ``path``."""
    schema.write(path, record, SCHEMA)
