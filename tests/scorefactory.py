"""Schema-valid result.json data, score records and standings entries for board tests (no engine needed)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from grader.board import record
from grader.judge.result import GradeResult

BASELINE_SHA = "ab" * 32
OTHER_SHA = "cd" * 32
VERSION = "0.1.0"


def result(slug: str, *, division: str = "closed", status: str = "valid", efficiency: float = 2.0,
           speedup: float = 2.0, ci: tuple[float, float] | None = (1.9, 2.1), compression: float = 1.0,
           accuracy: float = 70.0, delta: float = -0.5, name: str = "Ada", techniques: list[str] | None = None,
           repo: str = "https://github.com/ada/tinytorch", checks: list[dict[str, str]] | None = None,
           error: str | None = None, baseline_accuracy: float | None = 70.5, grader_version: str = VERSION,
           baseline_sha256: str = BASELINE_SHA, repo_status: str = "verified") -> dict[str, Any]:
    """A result.json as the engine writes it (every required field present)."""
    graded = status != "error"
    metrics = lambda acc, size: {  # noqa: E731
        "accuracy_pct": acc, "dithered_accuracy_pct": acc, "latency_ms_median": 1.5,
        "latency_ms_p90": 1.7, "size_bytes": size, "parameters": 1000, "nonzeros": 1000,
        "dtypes": {"float32": 1000}}
    return {
        "schema_version": 1,
        "grader_version": grader_version,
        "status": status,
        "error": error,
        "submission": {"slug": slug, "division": division, "athlete_name": name, "github_repo": repo,
                       "techniques_used": techniques if techniques is not None else ["int8 quantization"],
                       "description": None, "honor_code": "I did this myself", "claimed": None},
        "baseline_metrics": metrics(baseline_accuracy, 4000) if baseline_accuracy is not None else None,
        "optimized_metrics": metrics(accuracy, 1000) if graded else None,
        "normalized_scores": {"speedup": speedup, "speedup_ci_low": ci[0] if ci else None,
                              "speedup_ci_high": ci[1] if ci else None, "compression": compression,
                              "accuracy_delta_pp": delta, "efficiency": efficiency} if graded else None,
        "timing": None,
        "checks": checks if checks is not None else [{"id": "accuracy_drop", "status": "pass", "message": "ok"}],
        "isolation": {"level": "process", "details": []},
        "repo_verification": {"status": repo_status, "reason": "owner matches"},
        "hardware": {"cpu_model": "x", "cores": 2, "ram_bytes": 1, "os": "linux", "python": "3.11",
                     "numpy": "1.26", "blas": "openblas"},
        "baseline_sha256": baseline_sha256,
        "timestamp": "2025-01-01T00:00:00Z",
    }


def graded(slug: str, **result_kw: Any) -> GradeResult:
    """``result(slug, **result_kw)`` as the typed result its readers take."""
    return GradeResult.from_json(result(slug, **result_kw), "result.json")


def score(slug: str, *, login: str = "ada", pr: int | None = 1, graded_at: str = "2025-03-01T12:00:00Z",
          sha: str | None = None, repository: str = "tinyml/tinymlperf", **result_kw: Any) -> dict[str, Any]:
    """A score record (JSON data) for ``result(slug, **result_kw)`` merged as PR ``pr`` by ``login``."""
    provenance = record.Provenance(athlete_login=login, repository=repository, pr_number=pr,
                                   merge_commit_sha=sha or f"{pr or 0:040x}", graded_at=graded_at)
    return record.build(graded(slug, **result_kw), provenance)


TIMED_BASELINE_S = 0.01  # seconds per query of the baseline in every pair of ``timed_entry``
TIMED_PAIRS = 5  # identical pairs per round of ``timed_entry``


def timed_entry(slug: str, speedups: list[float]) -> dict[str, Any]:
    """A standings group entry whose round r ran the baseline at TIMED_BASELINE_S a query and the entry
    ``speedups[r]`` times faster, in TIMED_PAIRS identical pairs."""
    return {"slug": slug, "log_speedups": [math.log(s) for s in speedups],
            "rounds": [{"baseline": [TIMED_BASELINE_S] * TIMED_PAIRS, "entry": [TIMED_BASELINE_S / s] * TIMED_PAIRS}
                       for s in speedups],
            "timed_images": 1000, "timed_accuracy_pct": 70.0, "setup_seconds": 0.5}


def write(submissions: Path, data: dict[str, Any]) -> Path:
    """Write ``data`` as ``submissions/<slug>/score.json``."""
    folder = submissions / data["slug"]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "score.json"
    record.write(path, data)
    return path


def typed(data: dict[str, Any]) -> record.ScoreRecord:
    return record.from_dict(data, f"submissions/{data['slug']}/score.json")


def table_rows(markdown_text: str) -> list[list[str]]:
    """The cells of every table row in ``markdown_text``, stripped of padding."""
    return [[cell.strip() for cell in line.strip("|").split(" | ")]
            for line in markdown_text.splitlines() if line.startswith("|")]


def ranked_line(markdown_text: str, rank: str) -> str:
    """The raw table line (escapes intact) whose first cell is ``rank``."""
    return next(line for line in markdown_text.splitlines()
                if line.startswith("|") and line.split("|")[1].strip() == rank)
