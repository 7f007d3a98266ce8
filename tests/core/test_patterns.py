"""One definition of each name: the schemas' patterns and the code's agree.

The JSON Schemas are the source of truth for file formats; the code checks slugs
with the config's ``submission.slug`` and GitHub names with ``grader.core.names``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest

from grader.core import config, names

SCHEMAS = sorted(p for p in resources.files("grader.schemas").iterdir() if p.name.endswith(".schema.json"))


def _walk(node: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair in a JSON document, depth first."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield k, v
            yield from _walk(v, k)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item, key)


def _patterns(field: str) -> dict[str, set[str]]:
    """Schema file -> the patterns of every property or definition named ``field``."""
    found: dict[str, set[str]] = {}
    for path in SCHEMAS:
        for key, value in _walk(json.loads(path.read_text(encoding="utf-8"))):
            if key == field and isinstance(value, dict) and "pattern" in value:
                found.setdefault(path.name, set()).add(value["pattern"])
    return found


def test_every_slug_pattern_in_the_schemas_is_the_configs() -> None:
    slug = config.load().submission.slug
    found = _patterns("slug")
    state = json.loads((resources.files("grader.schemas") / "publish_state.schema.json").read_text(encoding="utf-8"))
    found["publish_state.schema.json"] = {state["properties"]["failures"]["propertyNames"]["pattern"]}
    assert {"score.schema.json", "standings.schema.json", "standings_group.schema.json"} <= set(found), found
    assert {name: patterns for name, patterns in found.items() if patterns != {slug.pattern}} == {}


def test_the_config_slug_is_one_compiled_pattern() -> None:
    limits = config.load().submission
    assert limits.slug is config.load().submission.slug and limits.slug.pattern == limits.slug_pattern
    assert limits.slug.fullmatch("ada-int8") and not limits.slug.fullmatch("ada-int8\n")


@pytest.mark.parametrize(("field", "pattern"), [("athlete_login", names.LOGIN), ("repository", names.REPOSITORY),
                                                ("merge_commit_sha", names.SHA)])
def test_score_record_names_are_the_codes(field: str, pattern: Any) -> None:
    assert _patterns(field)["score.schema.json"] == {pattern.pattern}


def test_the_submission_repo_url_is_the_codes() -> None:
    (schema_pattern,) = _patterns("github_repo")["submission.schema.json"]
    assert schema_pattern == names.REPO_URL.pattern.replace("(", "").replace(")", "")  # the same, without groups
    assert names.parse_repo_url("https://github.com/ada/tiny.git/") == ("ada", "tiny")
    assert names.parse_repo_url("https://github.com/-ada/tiny") is None
