"""The JSON Schemas in ``grader/schemas/``: the one source of truth for every file we read or write.

``validate`` returns every problem (a student's file can have many); ``check``
raises for files we produced or trust. ``dumps`` is the one way JSON leaves the
grader: sorted keys, fixed indentation, trailing newline, so the same data is
always the same bytes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

from grader.core.errors import GraderError
from grader.core.files import write_atomic

SCHEMA_PACKAGE = "grader.schemas"


@dataclass(frozen=True)
class SchemaProblem:
    """One schema violation: where in the document (JSON path parts) and what."""

    path: tuple[str | int, ...]
    message: str

    @property
    def dotted(self) -> str:
        return ".".join(str(p) for p in self.path) or "(document)"


@cache
def load(name: str) -> dict[str, Any]:
    """The schema ``grader/schemas/<name>.schema.json`` as a dict."""
    text = resources.files(SCHEMA_PACKAGE).joinpath(f"{name}.schema.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _registry() -> Registry:
    """Every packaged schema under its ``$id``, so one schema can ``$ref`` a part of another."""
    names = [p.name.removesuffix(".schema.json") for p in resources.files(SCHEMA_PACKAGE).iterdir()
             if p.name.endswith(".schema.json")]
    return Registry().with_resources((load(n)["$id"], Resource.from_contents(load(n))) for n in names)


@cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    schema = load(name)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER, registry=_registry())


def validate(instance: Any, name: str) -> list[SchemaProblem]:
    """Every violation of schema ``name`` by ``instance``, in document order."""
    validator = _validator(name)
    if validator.is_valid(instance):  # the fast path: reading 1,000 score records stays well under 2 s
        return []
    errors = sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
    return [SchemaProblem(tuple(e.absolute_path), e.message) for e in errors]


def check(instance: Any, name: str, source: str) -> None:
    """Raise GraderError listing every violation of schema ``name`` in ``source``."""
    problems = validate(instance, name)
    if problems:
        details = "; ".join(f"{p.dotted}: {p.message}" for p in problems[:10])
        raise GraderError(f"{source}: does not match {name}.schema.json: {details}")


def require_finite(data: Any, source: str, where: tuple[str | int, ...] = ()) -> None:
    """Reject NaN and infinities, which JSON parsers accept and a schema's bounds let through."""
    if isinstance(data, float) and not math.isfinite(data):
        raise GraderError(f"{source}: {'.'.join(map(str, where)) or '(document)'}: {data} is not a finite number")
    if isinstance(data, dict):
        for key, value in data.items():
            require_finite(value, source, (*where, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            require_finite(value, source, (*where, i))


def dumps(data: Any) -> str:
    """Deterministic JSON text: sorted keys, two-space indent, newline at the end."""
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write(path: Path, data: Any, name: str) -> None:
    """Validate ``data`` against schema ``name`` and write it atomically to ``path``."""
    check(data, name, str(path))
    write_atomic(path, dumps(data))


def read(path: Path, name: str, max_bytes: int = 16 * 1024 * 1024) -> Any:
    """Read JSON from ``path``, refusing oversize files, bad JSON and schema violations."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise GraderError(f"{path}: {size} bytes is over the {max_bytes}-byte limit")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise GraderError(f"{path}: not readable JSON: {e}") from e
    check(data, name, str(path))
    return data
