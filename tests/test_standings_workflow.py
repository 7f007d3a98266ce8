"""standings.yml: the linters, its security properties read from the YAML, and its schedule pinned to the config."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from grader import config
from tests.test_workflows import PINNED, run_tool, steps, triggers

ROOT = Path(__file__).resolve().parents[1]
STANDINGS = ROOT / ".github" / "workflows" / "standings.yml"


def spec() -> dict[str, Any]:
    return yaml.safe_load(STANDINGS.read_text(encoding="utf-8"))


def test_zizmor_pedantic_finds_nothing() -> None:
    proc = run_tool("zizmor", "--offline", "--no-progress", "--persona", "pedantic", str(STANDINGS))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_check_jsonschema_accepts_it() -> None:
    proc = run_tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows", str(STANDINGS))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_finds_nothing() -> None:
    proc = run_tool("actionlint", str(STANDINGS))
    assert proc.returncode == 0 and proc.stdout == "", proc.stdout + proc.stderr


def test_every_action_is_pinned_by_commit_sha() -> None:
    uses = [line.split("uses:", 1)[1].strip() for line in STANDINGS.read_text(encoding="utf-8").splitlines()
            if re.match(r"^\s*(- )?uses:", line)]
    assert uses
    for use in uses:
        ref, _, comment = use.partition(" # ")
        assert PINNED.match(ref) and comment.startswith("v"), use


def test_no_expression_is_interpolated_into_a_run_script_and_no_checkout_keeps_credentials() -> None:
    for step in steps(spec()):
        assert "${{" not in step.get("run", ""), step
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False


def test_only_the_job_that_runs_no_submission_code_may_write() -> None:
    s = spec()
    assert s["permissions"] == {}
    jobs = s["jobs"]
    assert jobs["plan"]["permissions"] == {"contents": "read"}
    assert jobs["time"]["permissions"] == {"contents": "read"}
    assert jobs["publish"]["permissions"] == {"contents": "write"}
    timing = [st["run"] for st in jobs["time"]["steps"] if "run" in st]
    assert any("tinymlperf standings --group" in r for r in timing)
    published = " ".join(st.get("run", "") for st in jobs["publish"]["steps"])
    assert "--group " not in published and "tinymlperf grade" not in published
    assert "tinymlperf standings --combine" in published and "--expect-groups" in published


def test_it_runs_on_dispatch_and_on_the_schedule_in_competition_yaml() -> None:
    on = triggers(spec())
    schedule = config.load().standings.schedule
    assert "workflow_dispatch" in on
    if schedule is None:
        assert "schedule" not in on
    else:
        assert on["schedule"] == [{"cron": schedule}]


@pytest.mark.parametrize("job", ["time"])
def test_the_timing_job_fits_the_configured_job_minutes(job: str) -> None:
    assert spec()["jobs"][job]["timeout-minutes"] >= config.load().standings.max_job_minutes
