"""TinyTorch's ``submission.json`` (``tinytorch.competition.generate_submission``) as ``submission.yaml`` fields.

The course's module 20 has students write ``submission.json`` with the fields
``division``, ``athlete_name``, ``github_repo``, ``techniques_used``,
``honor_code``, ``baseline_metrics``, ``optimized_metrics``,
``normalized_scores``, ``hardware``, ``tinytorch_version`` and ``timestamp``.
``read`` maps what submission.yaml can hold and explains, as a ``Problem`` with
code ``tinytorch-unmapped`` (file, line, field, why), every field it does not
carry over. The student's own numbers become ``claimed`` metrics with the
machine they were measured on (``claimed.hardware``); the grader shows them
beside its own and compares them within the band that hardware explains
(``grader.judge.rules``).

The course documents the fields but not the keys inside the metrics objects, so
those are matched by the names its examples use (``accuracy``, ``speedup``,
``compression_ratio``); a key not recognized is explained, never guessed.
The file is checked against ``schemas/tinytorch_submission.schema.json``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import jsonschema

from grader.contract.submission import Division
from grader.core import schema
from grader.core.problem import Problem

FILENAME = "submission.json"
SCHEMA = "tinytorch_submission"
MAX_BYTES = 1_000_000
UNMAPPED = "tinytorch-unmapped"
# Inner keys the course's examples use, in order of preference.
ACCURACY_KEYS = ("accuracy", "accuracy_pct", "top1_accuracy")
SPEEDUP_KEYS = ("speedup",)
COMPRESSION_KEYS = ("compression_ratio", "compression")
_DIRECT = ("division", "athlete_name", "github_repo", "techniques_used", "honor_code")
_WHY = {
    "baseline_metrics": "not carried over: the grader times and measures the baseline itself, in the same job and "
                        "on the same CPU as your entry; only ratios travel between machines",
    "accuracy_delta": "not carried over: the grader computes the delta against the baseline accuracy it measures; "
                      "your entry's accuracy is claimed instead",
    "efficiency_score": "not carried over: the grader computes efficiency from its own scores "
                        "(docs/submitting.md, Scores)",
    "latency": "not carried over: absolute times depend on your machine; the grader compares the speedup ratio",
    "size": "not carried over: the grader measures size itself (zlib-9 bytes of weights and code); your "
            "compression ratio is claimed instead",
    "unknown": "not a field of generate_submission's format; ignored",
    "unrecognized": "a key this importer does not know; ignored (claimed metrics take accuracy, speedup and "
                    "compression_ratio)",
}


@dataclass(frozen=True)
class Imported:
    """The submission.yaml fields read from a TinyTorch submission.json, and the fields left behind."""

    division: Division  # the schema allows only these
    athlete_name: str
    github_repo: str
    techniques_used: tuple[str, ...]
    honor_code: str
    description: str | None
    claimed: dict[str, float | str]
    notes: tuple[Problem, ...]


def read(raw: bytes, file: str) -> tuple[Imported | None, tuple[Problem, ...]]:
    """(the imported fields, problems): fields only when the file is usable; notes are in ``Imported.notes``."""
    if len(raw) > MAX_BYTES:
        return None, (Problem(file, None, None, f"is over {MAX_BYTES:,} bytes; is this TinyTorch's "
                                                f"{FILENAME}?", "tinytorch-size"),)
    try:
        text = raw.decode("utf-8-sig")
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except UnicodeDecodeError:
        return None, (Problem(file, None, None, "is not UTF-8 text", "tinytorch-json"),)
    except json.JSONDecodeError as e:
        return None, (Problem(file, e.lineno, e.colno, f"is not valid JSON: {e.msg}", "tinytorch-json"),)
    except _Duplicate as e:
        return None, (Problem(file, _line(text, (e.key,)), None, f"key {e.key!r} appears twice", "tinytorch-json"),)
    problems = [Problem(file, _line(text, tuple(err.absolute_path)), None,
                        f"{_dotted(tuple(err.absolute_path)) or 'the file'}: {err.message}", "tinytorch-schema")
                for err in sorted(_validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))]
    if problems:
        return None, tuple(problems)
    notes: list[Problem] = []

    def note(path: tuple[str, ...], why: str) -> None:
        notes.append(Problem(file, _line(text, path), None, f"{_dotted(path)}: {why}", UNMAPPED))

    claimed: dict[str, float | str] = {}
    optimized = data.get("optimized_metrics") or {}
    scores = data.get("normalized_scores") or {}
    accuracy = _first_number(optimized, ACCURACY_KEYS)
    if accuracy is not None:
        key, value = accuracy
        claimed["accuracy_pct"] = round(value * 100.0 if value <= 1.0 else value, 4)
    for name, keys in (("speedup", SPEEDUP_KEYS), ("compression", COMPRESSION_KEYS)):
        found = _first_number(scores, keys)
        if found is not None and found[1] > 0:
            claimed[name] = found[1]
    if claimed:
        claimed["hardware"] = _hardware(data.get("hardware"))
    used_optimized = {accuracy[0]} if accuracy else set()
    used_scores = {k for k in (*SPEEDUP_KEYS, *COMPRESSION_KEYS) if _number(scores.get(k)) is not None}
    used_scores = {next(k for k in keys if k in used_scores) for keys in (SPEEDUP_KEYS, COMPRESSION_KEYS)
                   if any(k in used_scores for k in keys)}
    for key in data:
        if key == "baseline_metrics" and data[key]:
            note((key,), _WHY["baseline_metrics"])
        elif key not in _DIRECT and key not in ("baseline_metrics", "optimized_metrics", "normalized_scores",
                                               "hardware", "tinytorch_version", "timestamp"):
            note((key,), _WHY["unknown"])
    for key in optimized:
        if key not in used_optimized:
            note(("optimized_metrics", key), _WHY[_kind(key)])
    for key in scores:
        if key not in used_scores:
            note(("normalized_scores", key), _WHY[_kind(key)])
    if not claimed:
        note(("optimized_metrics",), "no accuracy, speedup or compression found: nothing to claim")
    origin = [f"tinytorch_version {data['tinytorch_version']}" if data.get("tinytorch_version") else None,
              f"generated {data['timestamp']}" if data.get("timestamp") else None]
    description = "Imported from TinyTorch submission.json (" + ", ".join(o for o in origin if o) + ")" \
        if any(origin) else "Imported from TinyTorch submission.json"
    return Imported(
        division=data["division"], athlete_name=data["athlete_name"], github_repo=data["github_repo"],
        techniques_used=tuple(data["techniques_used"]), honor_code=data["honor_code"],
        description=_one_line(description, 400), claimed=claimed, notes=tuple(notes)), ()


def _kind(key: str) -> str:
    lowered = key.lower()
    if "accuracy_delta" in lowered or lowered == "accuracy_change":
        return "accuracy_delta"
    if "efficiency" in lowered:
        return "efficiency_score"
    if "latency" in lowered or "time" in lowered or "throughput" in lowered:
        return "latency"
    if "memory" in lowered or "size" in lowered or "param" in lowered or "bytes" in lowered:
        return "size"
    return "unrecognized"


def _hardware(value: Any) -> str:
    """TinyTorch's hardware field (a string or a mapping of specs) as one line of at most 200 characters."""
    if isinstance(value, dict):
        parts = [f"{k}: {v}" for k, v in value.items() if isinstance(v, (str, int, float)) and not isinstance(v, bool)]
        text = ", ".join(parts)
    else:
        text = value if isinstance(value, str) else ""
    return _one_line(text, 200) or "not stated (no hardware field in submission.json)"


def _one_line(text: str, limit: int) -> str:
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value in (
            float("inf"), float("-inf")):
        return None
    return float(value)


def _first_number(mapping: dict, keys: tuple[str, ...]) -> tuple[str, float] | None:
    for key in keys:
        value = _number(mapping.get(key))
        if value is not None and value >= 0:
            return key, value
    return None


class _Duplicate(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


def _line(text: str, path: tuple) -> int | None:
    """The line of the last key of ``path``, found key by key from the top (JSON keeps no positions)."""
    offset = 0
    for part in path:
        if not isinstance(part, str):
            continue
        found = text.find(json.dumps(part), offset)
        if found < 0:
            break
        offset = found
    return text.count("\n", 0, offset) + 1 if path else None


def _dotted(path: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(path))


@cache
def _validator() -> jsonschema.protocols.Validator:
    spec = schema.load(SCHEMA)
    return jsonschema.validators.validator_for(spec)(spec)
