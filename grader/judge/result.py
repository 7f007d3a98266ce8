"""A grade's result, typed: ``result.json`` as frozen dataclasses, one per object of its schema.

``GradeResult.to_json`` is the one way a result becomes JSON and ``GradeResult.from_json``
the one way JSON becomes a result; both check the data against
``grader/schemas/result.schema.json``, so every reader (report, score record, PR
comment, annotations) works on fields that exist, never on string keys. The JSON
keeps the schema's names and every number as it was measured (no rounding, no
int/float conversion), so ``from_json(data).to_json() == data`` and a result
written through ``schema.dumps`` is always the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from grader.core import schema
from grader.judge.rules import Check
from grader.judge.scoring import Scores
from grader.measure.timing import WHO, Turn

SCHEMA = "result"
SCHEMA_VERSION = 1

Status = Literal["valid", "failed", "error"]
Division = Literal["closed", "open"]
Stage = Literal["validate", "build", "load", "timing", "accuracy", "rules"]
IsolationLevel = Literal["process", "user+netns", "none"]
RepoStatus = Literal["verified", "failed", "not_checked"]
StopReason = Literal["target", "budget", "max_pairs", "image_supply"]
T = TypeVar("T")


@dataclass(frozen=True)
class Claimed:
    """The student's own numbers from submission.yaml; a field is None when they did not claim it."""

    accuracy_pct: float | None = None
    speedup: float | None = None
    compression: float | None = None
    hardware: str | None = None

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.accuracy_pct, self.speedup, self.compression, self.hardware))

    def to_json(self) -> dict[str, Any]:
        fields = {"accuracy_pct": self.accuracy_pct, "speedup": self.speedup, "compression": self.compression,
                  "hardware": self.hardware}
        return {k: v for k, v in fields.items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Claimed:
        return cls(**data)


@dataclass(frozen=True)
class SubmissionInfo:
    """What submission.yaml said, as the result records it."""

    slug: str
    division: Division
    athlete_name: str
    github_repo: str
    techniques_used: tuple[str, ...]
    description: str | None
    honor_code: str
    claimed: Claimed | None

    def to_json(self) -> dict[str, Any]:
        return {"slug": self.slug, "division": self.division, "athlete_name": self.athlete_name,
                "github_repo": self.github_repo, "techniques_used": list(self.techniques_used),
                "description": self.description, "honor_code": self.honor_code,
                "claimed": None if self.claimed is None else self.claimed.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SubmissionInfo:
        claimed = data["claimed"]
        return cls(data["slug"], data["division"], data["athlete_name"], data["github_repo"],
                   tuple(data["techniques_used"]), data["description"], data["honor_code"],
                   None if claimed is None else Claimed.from_json(claimed))


@dataclass(frozen=True)
class Metrics:
    """One model's measurements: accuracy (clean, dithered), latency per image, size."""

    accuracy_pct: float
    dithered_accuracy_pct: float
    latency_ms_median: float
    latency_ms_p90: float
    size_bytes: int
    parameters: int
    nonzeros: int
    dtypes: tuple[tuple[str, int], ...]  # (dtype name, elements), by name

    def to_json(self) -> dict[str, Any]:
        return {"accuracy_pct": self.accuracy_pct, "dithered_accuracy_pct": self.dithered_accuracy_pct,
                "latency_ms_median": self.latency_ms_median, "latency_ms_p90": self.latency_ms_p90,
                "size_bytes": self.size_bytes, "parameters": self.parameters, "nonzeros": self.nonzeros,
                "dtypes": dict(self.dtypes)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Metrics:
        return cls(data["accuracy_pct"], data["dithered_accuracy_pct"], data["latency_ms_median"],
                   data["latency_ms_p90"], data["size_bytes"], data["parameters"], data["nonzeros"],
                   tuple(sorted(data["dtypes"].items())))


@dataclass(frozen=True)
class CalibrationReport:
    """Per-query costs measured before timing (seconds), and whether the image supply shortened the samples."""

    overhead_query_s: float
    baseline_query_s: float
    entry_query_s: float
    shortened_by_supply: bool

    def to_json(self) -> dict[str, Any]:
        return {"overhead_query_s": self.overhead_query_s, "baseline_query_s": self.baseline_query_s,
                "entry_query_s": self.entry_query_s, "shortened_by_supply": self.shortened_by_supply}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CalibrationReport:
        return cls(data["overhead_query_s"], data["baseline_query_s"], data["entry_query_s"],
                   data["shortened_by_supply"])


@dataclass(frozen=True)
class TimingSample:
    """One timed pair: each model's raw counters for its long request (and its short one), and why it was discarded.

    The pair's sample for each model is its long request minus its short one (``short`` None: the long one alone).
    """

    overhead: Turn
    baseline: Turn
    entry: Turn
    discarded: str | None
    short: tuple[Turn, Turn, Turn] | None = None  # overhead, baseline, entry

    def to_json(self) -> dict[str, Any]:
        data = {"overhead": self.overhead.to_json(), "baseline": self.baseline.to_json(),
                "entry": self.entry.to_json(), "discarded": self.discarded}
        if self.short is not None:
            data["short"] = {who: turn.to_json() for who, turn in zip(WHO, self.short, strict=True)}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TimingSample:
        short = data.get("short")
        return cls(Turn(**data["overhead"]), Turn(**data["baseline"]), Turn(**data["entry"]), data["discarded"],
                   None if short is None else (Turn(**short["overhead"]), Turn(**short["baseline"]),
                                               Turn(**short["entry"])))


@dataclass(frozen=True)
class IdleCpu:
    """CPU seconds each worker used while the other model was timed."""

    baseline: float
    entry: float

    def to_json(self) -> dict[str, Any]:
        return {"baseline": self.baseline, "entry": self.entry}


@dataclass(frozen=True)
class TimingReport:
    """The paired timing run: its plan, every pair's raw times, the estimate and its warnings."""

    pairs: int
    pairs_discarded: int
    batch_size: int
    queries_per_sample: int  # of the long request
    warmup_queries: int
    calibration: CalibrationReport
    baseline_seconds: tuple[float, ...]
    entry_seconds: tuple[float, ...]
    overhead_seconds: tuple[float, ...]
    samples: tuple[TimingSample, ...]
    log_ratio_mean: float
    log_ratio_sd: float | None
    ci_half_width: float | None
    confidence: float
    interval_covers: str
    wall_speedup: float
    wait_fraction: float
    cv_baseline: float
    cv_entry: float
    stop_reason: StopReason
    idle_cpu_seconds: IdleCpu
    warnings: tuple[str, ...]
    short_queries: int = 0  # of the short request subtracted from each long one (0: none)
    speed_quantile: float | None = None  # the speedup is the ratio of this quantile of each model's samples
    slower_queries: int | None = None  # the slower model's long request, sized to last as long (None: all equal)
    worker_starts: int = 1  # the workers were started this many times, the test images given anew each time

    def to_json(self) -> dict[str, Any]:
        return {
            "speed_quantile": self.speed_quantile, "slower_queries": self.slower_queries,
            "worker_starts": self.worker_starts,
            "pairs": self.pairs, "pairs_discarded": self.pairs_discarded, "batch_size": self.batch_size,
            "queries_per_sample": self.queries_per_sample, "short_queries": self.short_queries,
            "warmup_queries": self.warmup_queries,
            "calibration": self.calibration.to_json(),
            "baseline_seconds": list(self.baseline_seconds), "entry_seconds": list(self.entry_seconds),
            "overhead_seconds": list(self.overhead_seconds), "samples": [s.to_json() for s in self.samples],
            "log_ratio_mean": self.log_ratio_mean, "log_ratio_sd": self.log_ratio_sd,
            "ci_half_width": self.ci_half_width, "confidence": self.confidence,
            "interval_covers": self.interval_covers, "wall_speedup": self.wall_speedup,
            "wait_fraction": self.wait_fraction, "cv_baseline": self.cv_baseline, "cv_entry": self.cv_entry,
            "stop_reason": self.stop_reason, "idle_cpu_seconds": self.idle_cpu_seconds.to_json(),
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TimingReport:
        idle = data["idle_cpu_seconds"]
        return cls(
            data["pairs"], data["pairs_discarded"], data["batch_size"], data["queries_per_sample"],
            data["warmup_queries"], CalibrationReport.from_json(data["calibration"]),
            tuple(data["baseline_seconds"]), tuple(data["entry_seconds"]), tuple(data["overhead_seconds"]),
            tuple(TimingSample.from_json(s) for s in data["samples"]),
            data["log_ratio_mean"], data["log_ratio_sd"], data["ci_half_width"], data["confidence"],
            data["interval_covers"], data["wall_speedup"], data["wait_fraction"], data["cv_baseline"],
            data["cv_entry"], data["stop_reason"], IdleCpu(idle["baseline"], idle["entry"]),
            tuple(data["warnings"]), data.get("short_queries", 0), data.get("speed_quantile"),
            data.get("slower_queries"), data.get("worker_starts", 1))


@dataclass(frozen=True)
class IsolationReport:
    """The isolation the entry's workers actually had: the level, and each wall (or why it is missing)."""

    level: IsolationLevel
    details: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"level": self.level, "details": list(self.details)}


@dataclass(frozen=True)
class RepoReport:
    """Whether the linked repository was verified, and why (not)."""

    status: RepoStatus
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason}


@dataclass(frozen=True)
class Hardware:
    """The machine a grade ran on (timings are only comparable within one)."""

    cpu_model: str
    cores: int
    ram_bytes: int
    os: str
    python: str
    numpy: str
    blas: str

    def to_json(self) -> dict[str, Any]:
        return {"cpu_model": self.cpu_model, "cores": self.cores, "ram_bytes": self.ram_bytes, "os": self.os,
                "python": self.python, "numpy": self.numpy, "blas": self.blas}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Hardware:
        return cls(data["cpu_model"], data["cores"], data["ram_bytes"], data["os"], data["python"],
                   data["numpy"], data["blas"])


@dataclass(frozen=True)
class Measured:
    """What a grade measured before it stopped (failed or error); a number is None when its stage was not reached."""

    stage: Stage
    entry_ms_per_image: float | None = None
    baseline_ms_per_image: float | None = None
    latency_ratio: float | None = None  # entry / baseline per-image time
    accuracy_pct: float | None = None
    accuracy_images: int | None = None  # clean test images accuracy_pct is measured on
    size_bytes: int | None = None
    baseline_size_bytes: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"stage": self.stage, "entry_ms_per_image": self.entry_ms_per_image,
                "baseline_ms_per_image": self.baseline_ms_per_image, "latency_ratio": self.latency_ratio,
                "accuracy_pct": self.accuracy_pct, "accuracy_images": self.accuracy_images,
                "size_bytes": self.size_bytes, "baseline_size_bytes": self.baseline_size_bytes}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Measured:
        return cls(data["stage"], data["entry_ms_per_image"], data["baseline_ms_per_image"], data["latency_ratio"],
                   data["accuracy_pct"], data["accuracy_images"], data["size_bytes"], data["baseline_size_bytes"])


@dataclass(frozen=True)
class GradeResult:
    """One ``result.json``. ``status``: valid = graded, every rule passed; failed = graded, some rule
    failed (or the folder did not validate); error = could not grade (``error`` says why)."""

    grader_version: str
    status: Status
    error: str | None
    submission: SubmissionInfo | None  # None: submission.yaml could not be read (the checks say why)
    baseline_metrics: Metrics | None
    optimized_metrics: Metrics | None
    normalized_scores: Scores | None
    timing: TimingReport | None
    checks: tuple[Check, ...]
    isolation: IsolationReport
    repo_verification: RepoReport
    hardware: Hardware
    baseline_sha256: str
    timestamp: str
    folder: str | None = None  # the graded folder's name (titles the report when submission.yaml is unreadable)
    measured: Measured | None = None  # only when a grade stopped before the full metrics
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        """The result as result.schema.json data (checked: a result we cannot write is our bug)."""
        data: dict[str, Any] = {
            "schema_version": self.schema_version,
            "grader_version": self.grader_version,
            "status": self.status,
            "error": self.error,
            "submission": _or_none(self.submission),
            "baseline_metrics": _or_none(self.baseline_metrics),
            "optimized_metrics": _or_none(self.optimized_metrics),
            "normalized_scores": _or_none(self.normalized_scores),
            "timing": _or_none(self.timing),
            "checks": [c.to_json() for c in self.checks],
            "isolation": self.isolation.to_json(),
            "repo_verification": self.repo_verification.to_json(),
            "hardware": self.hardware.to_json(),
            "baseline_sha256": self.baseline_sha256,
            "timestamp": self.timestamp,
        }
        if self.folder is not None:
            data["folder"] = self.folder
        if self.measured is not None:
            data["measured"] = self.measured.to_json()
        schema.check(data, SCHEMA, "grade result")
        return data

    @classmethod
    def from_json(cls, data: Any, source: str) -> GradeResult:
        """A result from JSON data; GraderError naming ``source`` when it breaks the schema or holds NaN."""
        schema.check(data, SCHEMA, source)
        schema.require_finite(data, source)
        iso, repo = data["isolation"], data["repo_verification"]
        return cls(
            grader_version=data["grader_version"],
            status=data["status"],
            error=data["error"],
            submission=_parsed(SubmissionInfo.from_json, data["submission"]),
            baseline_metrics=_parsed(Metrics.from_json, data["baseline_metrics"]),
            optimized_metrics=_parsed(Metrics.from_json, data["optimized_metrics"]),
            normalized_scores=_parsed(lambda s: Scores(**s), data["normalized_scores"]),
            timing=_parsed(TimingReport.from_json, data["timing"]),
            checks=tuple(Check(c["id"], c["status"], c["message"]) for c in data["checks"]),
            isolation=IsolationReport(iso["level"], tuple(iso["details"])),
            repo_verification=RepoReport(repo["status"], repo["reason"]),
            hardware=Hardware.from_json(data["hardware"]),
            baseline_sha256=data["baseline_sha256"],
            timestamp=data["timestamp"],
            folder=data.get("folder"),
            measured=_parsed(Measured.from_json, data.get("measured")),
            schema_version=data["schema_version"],
        )

    def check(self, check_id: str) -> Check | None:
        """The first check with this id, if any."""
        return next((c for c in self.checks if c.id == check_id), None)

    @property
    def failed_checks(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status == "fail")


def _or_none(part: Any) -> dict[str, Any] | None:
    return None if part is None else part.to_json()


def _parsed(parse: Callable[[dict[str, Any]], T], data: dict[str, Any] | None) -> T | None:
    return None if data is None else parse(data)
