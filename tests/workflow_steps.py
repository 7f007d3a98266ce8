"""A workflow's steps as the replay tests run them: the step by id, its ``env:`` with expressions looked up."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from tests import gitfixture


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


def publish_checkout(origin: gitfixture.Origin, clone_to: Path, api_url: str, repo: str, results: Path) -> Path:
    """A publish job's checkout of main, as actions/checkout leaves it (origin the GitHub server, no
    credentials stored), with the downloaded results in ``results/`` (git-excluded)."""
    clone = origin.clone(clone_to)
    gitfixture.git(clone, "remote", "set-url", "origin", f"{api_url}/{repo}.git")
    os.symlink(results, clone / "results")
    (clone / ".git" / "info" / "exclude").write_text("results\n")
    return clone
