"""``submission.yaml``: the student's description of an entry, checked against its schema.

``read`` turns the file's bytes into a ``Submission`` or a list of problems,
each pointing at the line and column of the offending key or value. The rules
live in ``grader/schemas/submission.schema.json`` only; this module turns
jsonschema's errors into messages a student can act on (``did you mean``,
the schema's own ``x-message``).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import jsonschema

from grader.core import schema, yamlsrc
from grader.core.problem import Problem

SCHEMA = "submission"
Division = Literal["closed", "open"]


@dataclass(frozen=True)
class Submission:
    """A valid entry: what ``submission.yaml`` says plus what the folder holds."""

    slug: str
    division: Division
    athlete_name: str
    github_repo: str
    techniques_used: tuple[str, ...]
    description: str | None
    honor_code: str
    claimed: dict[str, float] | None
    folder: Path
    has_recipe: bool
    weight_files: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """The ``submission`` object of ``result.schema.json``."""
        return {
            "slug": self.slug,
            "division": self.division,
            "athlete_name": self.athlete_name,
            "github_repo": self.github_repo,
            "techniques_used": list(self.techniques_used),
            "description": self.description,
            "honor_code": self.honor_code,
            "claimed": dict(self.claimed) if self.claimed is not None else None,
        }


@dataclass(frozen=True)
class RepoVerification:
    """Whether a submission's ``github_repo`` is a real, reachable repository with code in it.

    ``grader.ci.github_api.verify_repo`` asks GitHub; grading only reads the answer
    (so grading never loads the GitHub client).
    """

    status: Literal["verified", "failed", "not_checked"]
    reason: str


@dataclass(frozen=True)
class Parsed:
    """What ``read`` found: the Submission (only when the file is valid), its problems, the YAML document."""

    submission: Submission | None
    problems: tuple[Problem, ...]
    document: yamlsrc.Document


def read(raw: bytes, file: str, *, folder: Path, has_recipe: bool, weight_files: tuple[str, ...]) -> Parsed:
    """Parse and check ``submission.yaml`` (``raw``, shown as ``file``)."""
    doc = yamlsrc.load(raw, file)
    if not doc.ok:
        return Parsed(None, doc.problems, doc)
    problems = schema_problems(doc, file)
    if problems:
        return Parsed(None, tuple(problems), doc)
    data = doc.data
    return Parsed(Submission(
        slug=folder.name,
        division=data["division"],
        athlete_name=data["athlete_name"],
        github_repo=data["github_repo"],
        techniques_used=tuple(data["techniques_used"]),
        description=data.get("description"),
        honor_code=data["honor_code"],
        claimed=dict(data["claimed"]) if data.get("claimed") is not None else None,
        folder=folder,
        has_recipe=has_recipe,
        weight_files=weight_files,
    ), (), doc)


@cache
def _validator() -> jsonschema.protocols.Validator:
    spec = schema.load(SCHEMA)
    cls = jsonschema.validators.validator_for(spec)
    return cls(spec, format_checker=cls.FORMAT_CHECKER)


def schema_problems(doc: yamlsrc.Document, file: str) -> list[Problem]:
    """Every schema violation in ``doc``, positioned at the key or value it is about.

    One message per value: a wrong type hides the other rules that value breaks
    (a list is "not a GitHub URL" too, but "expected a string" says it all).
    """
    errors = list(_validator().iter_errors(doc.data))
    mistyped = {tuple(e.absolute_path) for e in errors if e.validator == "type"}
    misspelt = _misspelt_required(errors)
    problems: dict[tuple[object, ...], Problem] = {}
    for error in errors:
        path = tuple(error.absolute_path)
        if error.validator == "required" and (path, _missing_key(error)) in misspelt:
            continue  # the unknown key's "did you mean" says it, at the line of the typo
        if error.validator == "additionalProperties":
            # Typed as maybe unset or a boolean schema: iter_errors sets both, our schemas use no boolean ones.
            subschema: Any = error.schema
            instance: Any = error.instance
            known = sorted(subschema.get("properties", {}))
            for key in sorted(set(instance) - set(known)):
                hint = closest(key, known)
                suggestion = f" (did you mean '{hint}'?)" if hint else f"; allowed keys: {', '.join(known)}"
                line, column = doc.position(path + (key,), key=True) or (None, None)
                label = yamlsrc.dotted(path + (key,))
                problems[path + (key,)] = Problem(file, line, column, f"{label}: unknown key{suggestion}",
                                                  "unknown-key")
            continue
        if path in mistyped and error.validator != "type":
            continue
        line, column = doc.position(path) or (None, None)
        label = yamlsrc.dotted(path)
        message = f"{label}: {_message(error)}" if label else _message(error)
        code = "schema-" + re.sub(r"[A-Z]", lambda m: "-" + m[0].lower(), str(error.validator))
        problems.setdefault((path, message), Problem(file, line, column, message, code))
    return sorted(problems.values(), key=Problem.sort_key)


def _missing_key(error: jsonschema.ValidationError) -> str:
    """The key a ``required`` error says is missing."""
    return error.message.split("'")[1] if "'" in error.message else error.message


def _misspelt_required(errors: list[jsonschema.ValidationError]) -> set[tuple[tuple[object, ...], str]]:
    """(mapping path, required key) pairs that an unknown key in the same mapping is a near spelling of."""
    found: set[tuple[tuple[object, ...], str]] = set()
    for error in errors:
        if error.validator != "additionalProperties":
            continue
        subschema: Any = error.schema
        instance: Any = error.instance
        known = sorted(subschema.get("properties", {}))
        required = set(subschema.get("required", ()))
        for key in set(instance) - set(known):
            hint = closest(key, known)
            if hint is not None and hint in required and hint not in instance:
                found.add((tuple(error.absolute_path), hint))
    return found


_TYPE_NAMES = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "a number",
               float: "a number", type(None): "nothing (null)"}
_EXPECTED = {"object": "a mapping", "array": "a list", "string": "a string", "number": "a number",
             "integer": "a whole number", "boolean": "true or false", "null": "nothing"}


def _message(error: jsonschema.ValidationError) -> str:
    """A student-facing message for one jsonschema error."""
    kind = error.validator
    # Typed as maybe unset or a boolean schema: iter_errors sets both, our schemas use no boolean ones.
    value: Any = error.instance
    spec: Any = error.schema
    if kind == "required":
        return f"missing required key '{_missing_key(error)}'"
    if kind == "type":
        wanted = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
        names = " or ".join(_EXPECTED[t] for t in wanted)
        return f"expected {names}, got {_TYPE_NAMES.get(type(value), type(value).__name__)} ({_show(value)})"
    if kind == "enum":
        return f"must be one of {', '.join(map(repr, spec['enum']))}, not {_show(value)}"
    if "x-message" in spec:
        return str(spec["x-message"])
    if kind in ("minLength", "maxLength"):
        word = "at least" if kind == "minLength" else "at most"
        return f"must be {word} {spec[kind]} characters long (this is {len(value)})"
    if kind in ("minItems", "maxItems"):
        word = "at least" if kind == "minItems" else "at most"
        return f"must have {word} {spec[kind]} entries (this has {len(value)})"
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        word = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "more than",
                "exclusiveMaximum": "less than"}[kind]
        return f"must be {word} {spec[kind]}, not {_show(value)}"
    return error.message


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def closest(name: str, candidates: list[str]) -> str | None:
    """The candidate ``name`` was probably meant to be, for 'did you mean' hints."""
    found = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return found[0] if found else None
