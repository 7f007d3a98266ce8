"""docs/organizers.md is a walkthrough whose every step names the tests that replay it, and those tests exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "organizers.md"


def _sections() -> dict[str, str]:
    """Heading -> body, for the numbered deployment steps and the workflow sections."""
    parts = re.split(r"^(#{2,3} .+)$", DOC.read_text(encoding="utf-8"), flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def _tests_defined(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


def test_every_deployment_step_names_the_tests_that_replay_it() -> None:
    steps = {h: body for h, body in _sections().items() if re.match(r"### \d+\. ", h)}
    assert len(steps) == 6, list(steps)
    for heading, body in steps.items():
        assert "*Tested by*" in body, f"{heading}: no test named"


def test_every_named_test_exists() -> None:
    named = re.findall(r"`(tests/[\w/]+\.py)::(test_\w+)`", DOC.read_text(encoding="utf-8"))
    assert len(named) >= 20
    for path, name in named:
        assert name in _tests_defined(ROOT / path), f"{path}::{name} is named in {DOC.name} but does not exist"
