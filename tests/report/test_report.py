"""report.md: whole-output golden files, and every student string rendered inert."""

from __future__ import annotations

import copy

import pytest

from grader.core import schema
from grader.judge.result import GradeResult
from grader.report import markdown_report as report
from tests import goldenfile


def sample_result() -> dict:
    """A complete result as `grade` writes it (numbers are test inputs, not measurements)."""
    metrics = {"accuracy_pct": 78.12, "dithered_accuracy_pct": 78.05, "latency_ms_median": 1.234,
               "latency_ms_p90": 1.301, "size_bytes": 2010000, "parameters": 545098, "nonzeros": 545098,
               "dtypes": {"float32": 545098}}
    turn = {"wall_s": 0.0505, "cpu_s": 0.0504, "wait_s": 0.0, "idle_cpu_s": 0.0, "parent_wait_s": 0.0}
    entry = dict(metrics, accuracy_pct=77.9, dithered_accuracy_pct=77.85, latency_ms_median=0.91,
                 latency_ms_p90=0.97, size_bytes=402000, nonzeros=283000, dtypes={"float32": 298, "int8": 544800})
    return {
        "schema_version": 1, "grader_version": "0.1.0", "status": "valid", "error": None,
        "submission": {"slug": "int8-prune", "division": "closed", "athlete_name": "Ada Lovelace",
                       "github_repo": "https://github.com/ada/tinytorch", "techniques_used":
                       ["INT8 per-channel weight quantization", "50% magnitude pruning of fc1"],
                       "description": None, "honor_code": "I certify that this submission follows the rules",
                       "claimed": None},
        "baseline_metrics": metrics, "optimized_metrics": entry,
        "normalized_scores": {"speedup": 1.356, "speedup_ci_low": 1.331, "speedup_ci_high": 1.382,
                              "compression": 5.0, "accuracy_delta_pp": -0.22, "efficiency": 5.557},
        "timing": {"pairs": 24, "pairs_discarded": 1, "batch_size": 1, "queries_per_sample": 40,
                   "warmup_queries": 3,
                   "calibration": {"overhead_query_s": 0.00001, "baseline_query_s": 0.00125,
                                   "entry_query_s": 0.0009, "shortened_by_supply": False},
                   "baseline_seconds": [0.05] * 24, "entry_seconds": [0.036] * 24, "overhead_seconds": [0.0004] * 24,
                   "samples": [{"overhead": turn, "baseline": turn, "entry": turn, "discarded": None}],
                   "log_ratio_mean": 0.3045, "log_ratio_sd": 0.045,
                   "speed_quantile": 0.25, "ci_half_width": 0.019, "confidence": 0.95,
                   "interval_covers": "sampling noise within this run", "wall_speedup": 1.349, "wait_fraction": 0.02,
                   "cv_baseline": 0.03, "cv_entry": 0.04, "stop_reason": "target",
                   "idle_cpu_seconds": {"baseline": 0.0, "entry": 0.001}, "warnings": []},
        "checks": [{"id": "speedup_range", "status": "pass", "message": "speedup 1.36x is within 0.5-100x"},
                   {"id": "repo_link", "status": "not_checked", "message": "repository not checked"},
                   {"id": "timing_quality", "status": "warn", "message": "entry samples vary a lot (CV 12%)"}],
        "isolation": {"level": "process", "details": ["rlimits"]},
        "repo_verification": {"status": "not_checked", "reason": "repository not checked"},
        "hardware": {"cpu_model": "AMD EPYC", "cores": 2, "ram_bytes": 25276063744, "os": "Linux 6.1",
                     "python": "3.11.7", "numpy": "2.4.6", "blas": "scipy-openblas 0.3.31"},
        "baseline_sha256": "ab" * 32, "timestamp": "2026-11-29T22:00:00+00:00",
    }


def test_sample_result_is_schema_valid() -> None:
    assert schema.validate(sample_result(), "result") == []


def test_report_of_a_valid_entry_matches_golden() -> None:
    goldenfile.check("report_valid.md", report.render(GradeResult.from_json(sample_result(), "result.json")))


def test_report_of_an_ungradable_entry_says_why() -> None:
    result = sample_result()
    result.update(status="error", error="worker died: killed by signal 9", baseline_metrics=None,
                  optimized_metrics=None, normalized_scores=None, timing=None, checks=[])
    assert schema.validate(result, "result") == []
    goldenfile.check("report_error.md", report.render(GradeResult.from_json(result, "result.json")))


@pytest.mark.parametrize("hostile", [
    "<img src=x onerror=alert(1)>", "@octocat please", "[click](https://evil.example)", "a | b\n| c |",
    "![pixel](https://evil.example/p.png)", "\u202eevil\u200b", "::set-output name=x::y",
])
def test_student_strings_are_inert_in_the_report(hostile: str) -> None:
    result = copy.deepcopy(sample_result())
    result["submission"]["athlete_name"] = hostile
    result["submission"]["techniques_used"] = [hostile]
    result["submission"]["slug"] = hostile
    text = report.render(GradeResult.from_json(result, "result.json"))
    assert "<img" not in text and "@octocat" not in text and "](https://evil" not in text
    assert "\u202e" not in text and "\u200b" + "evil" not in text
    assert "| c |" not in text
