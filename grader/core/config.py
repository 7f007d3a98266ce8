"""The competition config (``grader/competition.yaml``) as typed, frozen values.

Organizers edit one YAML file; it is checked against
``schemas/competition.schema.json`` before anything reads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml

from grader.core import schema
from grader.core.errors import GraderError

DEFAULT_CONFIG = "competition.yaml"


@dataclass(frozen=True)
class Range:
    min: float
    max: float


@dataclass(frozen=True)
class Accuracy:
    max_drop_pp: float
    min_accuracy_pct: float
    closed_max_gain_pp: float
    dither_max_diff_pp: float


@dataclass(frozen=True)
class Timing:
    batch_size: int
    min_sample_seconds: float
    min_queries_per_sample: int
    warmup_queries: int
    calibration_samples: int
    min_pairs: int
    max_pairs: int
    target_ci_half_width: float
    confidence: float
    budget_seconds: float
    short_sample_fraction: float = 0.125  # short request / long request; their difference is the sample (0: off)
    equal_duration_samples: bool = True  # the slower model's samples hold fewer queries, lasting as long
    speed_quantile: float = 0.1  # each model's speed: this quantile of its sample times (its quiet-machine speed)
    restart_workers: bool = True  # stateless workers start afresh when the fresh images run out (else timing stops)


@dataclass(frozen=True)
class Sandbox:
    memory_mb: int
    cpu_seconds: int
    wall_seconds: int
    file_bytes: int
    output_bytes: int
    allowed_imports: tuple[str, ...]
    allow_weak_isolation_in_ci: bool = False  # grade under GitHub Actions below user+netns (says so in the result)


@dataclass(frozen=True)
class Budgets:
    """Seconds the entry may take per stage; past one, the grade stops early with what was measured."""

    load_seconds: float  # import model.py + load(), per worker
    build_seconds: float  # build.py's build()
    accuracy_seconds: float  # the entry's accuracy pass, projected from a first chunk
    timing_seconds: float  # the timing run for min_pairs pairs, projected from the calibration
    slow_margin: float  # stop too when the calibrated speedup < sanity.speedup.min / slow_margin
    accuracy_probe_images: int  # predicted first, to project the accuracy pass


@dataclass(frozen=True)
class SubmissionLimits:
    slug_pattern: str  # the one definition of a submission folder's name; the schemas' slug patterns equal it
    max_files: int
    max_total_bytes: int
    max_code_bytes: int
    closed_max_code_bytes: int  # Closed: all .py bytes, the room for data hidden in literals
    max_yaml_bytes: int
    max_npz_uncompressed_bytes: int
    allowed_suffixes: tuple[str, ...]

    @cached_property
    def slug(self) -> re.Pattern[str]:
        """``slug_pattern`` compiled once: the test of every slug the grader takes (use ``fullmatch``)."""
        return re.compile(self.slug_pattern)


@dataclass(frozen=True)
class Standings:
    """Re-timing the leaders together (``tinymlperf standings``, ``standings.yml``)."""

    top_n: int  # valid entries per division
    rounds: int
    pairs_per_round: int
    speed_quantile: float  # of each model's times per query, pooled over the rounds (standings_stats.pooled)
    confidence: float
    max_job_minutes: float  # split into groups sharing anchor entries beyond this
    anchors: int
    schedule: str | None  # cron of standings.yml's schedule, None for manual runs only


@dataclass(frozen=True)
class Competition:
    name: str
    speedup_range: Range
    compression_range: Range
    accuracy: Accuracy
    accuracy_penalty_per_pp: float
    timing: Timing
    sandbox: Sandbox
    budgets: Budgets
    calibration_images: int
    submission: SubmissionLimits
    require_owner_match: bool
    per_athlete: Literal["best", "latest"]
    chart_entries: int
    standings: Standings


def parse(raw: dict, source: str) -> Competition:
    """Build a Competition from the parsed YAML, after checking it against the schema."""
    schema.check(raw, "competition", source)
    return Competition(
        name=raw["name"],
        speedup_range=Range(**raw["sanity"]["speedup"]),
        compression_range=Range(**raw["sanity"]["compression"]),
        accuracy=Accuracy(**raw["accuracy"]),
        accuracy_penalty_per_pp=raw["scoring"]["accuracy_penalty_per_pp"],
        timing=Timing(**raw["timing"]),
        sandbox=Sandbox(**{**raw["sandbox"], "allowed_imports": tuple(raw["sandbox"]["allowed_imports"])}),
        budgets=Budgets(**raw["budgets"]),
        calibration_images=raw["calibration_images"],
        submission=SubmissionLimits(**{**raw["submission"],
                                       "allowed_suffixes": tuple(raw["submission"]["allowed_suffixes"])}),
        require_owner_match=raw["github"]["require_owner_match"],
        per_athlete=raw["leaderboard"]["per_athlete"],
        chart_entries=raw["leaderboard"]["chart_entries"],
        standings=Standings(**raw["standings"]),
    )


def load(path: Path | None = None) -> Competition:
    """Load ``path``, or the packaged ``competition.yaml`` (read once per process) when ``path`` is None."""
    if path is None:
        return _packaged()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise GraderError(f"{path}: cannot read competition config: {e}") from e
    return _parse_text(text, str(path))


@cache
def _packaged() -> Competition:
    """The packaged config; values are frozen, so every caller may share one."""
    return _parse_text(resources.files("grader").joinpath(DEFAULT_CONFIG).read_text(encoding="utf-8"),
                       DEFAULT_CONFIG)


def _parse_text(text: str, source: str) -> Competition:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise GraderError(f"{source}: not valid YAML: {e}") from e
    return parse(raw, source)
