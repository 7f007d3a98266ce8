"""A workflow's steps as the replay tests run them: the step by id, its ``env:`` with expressions looked up."""

from __future__ import annotations

from pathlib import Path

import yaml


def step(workflow: Path, job: str, step_id: str) -> dict:
    """The step ``step_id`` of ``job`` in ``workflow``, as written."""
    steps = yaml.safe_load(workflow.read_text())["jobs"][job]["steps"]
    return next(s for s in steps if s.get("id") == step_id)


def step_env(workflow: Path, job: str, step_id: str, context: dict[str, str]) -> dict[str, str]:
    """The step's ``env:`` block with each ``${{ expr }}`` looked up in ``context`` (unknown ones fail)."""
    env = {}
    for name, value in step(workflow, job, step_id).get("env", {}).items():
        if "${{" not in value:
            env[name] = value
            continue
        expr = value.removeprefix("${{").removesuffix("}}").strip()
        assert expr in context, f"replay does not know {value!r} (step {job}.{step_id}, env {name})"
        env[name] = context[expr]
    return env
