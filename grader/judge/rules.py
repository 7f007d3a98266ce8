"""The competition's rules as checks: each one pass, fail, warn or not checked, with a message.

Pure: measurements and config in, checks out. Every check id is documented in
``docs/submitting.md#checks`` (the PR comment links there), so the ids are
part of the interface: rename one only together with its doc entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from grader.core.config import Competition
from grader.judge.scoring import Scores
from grader.measure.timing import MAX_INVALID_FRACTION

Status = Literal["pass", "fail", "warn", "not_checked"]

# The worker's CPU use while the other model is being timed may be at most this
# fraction of the other's timed seconds: a sleeping process uses ~0, so more
# than this is a background thread stealing the shared CPU.
IDLE_CPU_FRACTION = 0.05


# A speedup measured on the student's own machine (claimed.hardware) is flagged only outside our
# 95% CI widened by this factor each way: the spread of the same pair's speedup across timing
# methods and BLAS thread counts on one machine, measured by benchmarks/claimed_speedup_spread.py
# (docs/submitting.md, claimed_metrics), before any difference of CPU.
HARDWARE_SPEEDUP_BAND = 1.5
# A claimed accuracy may differ from ours by this much (the same weights, other float rounding).
ACCURACY_CLAIM_PP = 0.5

# Timed predictions must equal the accuracy pass's for the same images. Up to this
# fraction may differ: BLAS takes other code paths for 1 image than for 500, and
# the float noise can flip a near-tie. A model that behaves differently when
# timed differs on far more.
MISMATCH_FRACTION = 0.005

# A timing run is not trusted when more than this fraction of its pairs was discarded
# (a worker not running during its own turn, or running on more than one core).
MAX_DISCARDED_FRACTION = MAX_INVALID_FRACTION
# Entry samples that used more CPU than wall time: one may be a counter glitch, two are not.
MAX_MULTI_CORE_SAMPLES = 1


@dataclass(frozen=True)
class Check:
    id: str
    status: Status
    message: str

    def to_json(self) -> dict:
        return {"id": self.id, "status": self.status, "message": self.message}


@dataclass(frozen=True)
class Evidence:
    """What the grade measured, as the rules need it."""

    division: Literal["closed", "open"]
    scores: Scores
    entry_accuracy_pct: float
    entry_dithered_accuracy_pct: float
    baseline_accuracy_pct: float
    baseline_dithered_accuracy_pct: float
    inconsistent_images: int  # timed predictions that differ from the accuracy pass (entry)
    timed_images: int
    idle_cpu_entry_s: float  # entry worker's CPU while the baseline was timed
    idle_cpu_baseline_s: float
    baseline_timed_s: float
    entry_timed_s: float
    timing_pairs: int  # pairs timed, used or discarded
    timing_pairs_discarded: int
    multi_core_samples: int  # entry samples whose CPU time exceeded their wall time
    discard_reasons: tuple[str, ...]
    timing_warnings: tuple[str, ...]
    denied: tuple[str, ...]  # sandbox denials during recipe, accuracy and timing
    claimed: dict | None


def _range(check_id: str, label: str, value: float, low: float, high: float) -> Check:
    if low <= value <= high:
        return Check(check_id, "pass", f"{label} {value:.2f}x is within {low:g}-{high:g}x")
    return Check(check_id, "fail", f"{label} {value:.2f}x is outside the allowed {low:g}-{high:g}x")


def _claims(claimed: dict | None, ev: Evidence) -> Check:
    """The student's own numbers beside ours; a warning (never a failure) when they disagree.

    A claim measured on other hardware (``claimed.hardware``, as TinyTorch's
    submission.json states it) is flagged only when its speedup lies outside our
    95% CI widened by ``HARDWARE_SPEEDUP_BAND`` each way, and its compression is
    shown, not compared: the course counts parameters, we count zlib bytes
    (docs/submitting.md, ``claimed_metrics``, has the measurements behind both).
    """
    if not claimed or not any(k in claimed for k in ("speedup", "accuracy_pct", "compression")):
        return Check("claimed_metrics", "not_checked", "no claimed metrics in submission.yaml")
    off: list[str] = []
    agree: list[str] = []
    s = ev.scores
    elsewhere = claimed.get("hardware")
    where = f" on {elsewhere}" if elsewhere else ""
    if "speedup" in claimed:
        low = s.speedup_ci_low if s.speedup_ci_low is not None else s.speedup
        high = s.speedup_ci_high if s.speedup_ci_high is not None else s.speedup
        band = HARDWARE_SPEEDUP_BAND if elsewhere else 1.0
        said = (f"you measured {claimed['speedup']:.2f}x{where}; graded here {s.speedup:.2f}x "
                f"(95% CI {low:.2f}-{high:.2f}x")
        said += f", {band:g}x band for other hardware)" if elsewhere else ")"
        (agree if low / band <= claimed["speedup"] <= high * band else off).append(said)
    if "accuracy_pct" in claimed:
        said = f"accuracy claimed {claimed['accuracy_pct']:.2f}%, measured {ev.entry_accuracy_pct:.2f}%"
        (agree if abs(claimed["accuracy_pct"] - ev.entry_accuracy_pct) <= ACCURACY_CLAIM_PP else off).append(said)
    if "compression" in claimed:
        said = f"compression claimed {claimed['compression']:.2f}x, measured {s.compression:.2f}x"
        if elsewhere:
            agree.append(said + " (not compared: the course counts parameters, the grader zlib bytes)")
        else:
            (agree if abs(claimed["compression"] / s.compression - 1) <= 0.02 else off).append(said)
    if off:
        return Check("claimed_metrics", "warn", "; ".join(off + agree) + ": beyond what the hardware explains; "
                     "the value measured here counts")
    return Check("claimed_metrics", "pass", "; ".join(agree))


def _timing_checks(ev: Evidence) -> list[Check]:
    multi = ev.multi_core_samples
    one_core = Check("one_core", "fail" if multi > MAX_MULTI_CORE_SAMPLES else "pass",
                     f"the entry used more CPU time than wall time in {multi} of {ev.timing_pairs} timed samples"
                     + (": it ran on more than one core, which the timing does not allow" if multi > MAX_MULTI_CORE_SAMPLES
                        else " (it ran on the one core it was given)"))
    discarded, total = ev.timing_pairs_discarded, ev.timing_pairs
    trusted = discarded <= MAX_DISCARDED_FRACTION * total
    why = "; ".join(ev.discard_reasons[:3])
    integrity = Check("timing_integrity", "pass" if trusted else "fail",
                      f"{discarded} of {total} timed pairs discarded (limit {MAX_DISCARDED_FRACTION:.0%})"
                      + (f": {why}" if why else "")
                      + ("" if trusted else ". A worker was stopped, throttled or preempted during its turns, or used "
                         "more than one core: the speedup cannot be trusted; grade again on a quiet machine"))
    return [one_core, integrity]


def evaluate(ev: Evidence, config: Competition) -> list[Check]:
    """Every rule of the competition applied to what was measured, in a fixed order."""
    acc = config.accuracy
    s = ev.scores
    checks = [
        _range("speedup_range", "speedup", s.speedup, config.speedup_range.min, config.speedup_range.max),
        _range("compression_range", "compression", s.compression,
               config.compression_range.min, config.compression_range.max),
    ]
    drop = -s.accuracy_delta_pp
    checks.append(Check("accuracy_drop", "pass" if drop < acc.max_drop_pp else "fail",
                        f"accuracy changed by {s.accuracy_delta_pp:+.2f} pp vs the baseline "
                        f"(a drop must stay under {acc.max_drop_pp:g} pp)"))
    checks.append(Check("min_accuracy", "pass" if ev.entry_accuracy_pct >= acc.min_accuracy_pct else "fail",
                        f"accuracy {ev.entry_accuracy_pct:.2f}% (minimum {acc.min_accuracy_pct:g}%)"))
    if ev.division == "closed":
        gained = s.accuracy_delta_pp > acc.closed_max_gain_pp
        checks.append(Check("closed_no_retraining", "fail" if gained else "pass",
                            f"Closed Division accuracy gain {s.accuracy_delta_pp:+.2f} pp "
                            f"({'more than' if gained else 'within'} the {acc.closed_max_gain_pp:g} pp "
                            "a retraining-free optimization can gain)"))
    for who, clean, dithered in (("entry", ev.entry_accuracy_pct, ev.entry_dithered_accuracy_pct),
                                 ("baseline", ev.baseline_accuracy_pct, ev.baseline_dithered_accuracy_pct)):
        gap = abs(clean - dithered)
        ok = gap <= acc.dither_max_diff_pp
        # The baseline is ours: if it trips a check, the machine is suspect, not the entry.
        bad: Status = "fail" if who == "entry" else "warn"
        checks.append(Check(f"dither_{who}", "pass" if ok else bad,
                            f"{who} accuracy {clean:.2f}% clean vs {dithered:.2f}% with ±1 dither "
                            f"(gap {gap:.2f} pp, limit {acc.dither_max_diff_pp:g} pp"
                            + ("" if ok else "; a model that memorized test images fails this") + ")"))
    allowed = int(MISMATCH_FRACTION * ev.timed_images)
    consistent = ev.inconsistent_images <= allowed
    checks.append(Check("deterministic", "pass" if consistent else "fail",
                        f"{ev.inconsistent_images} of {ev.timed_images} predictions made while timed differ from "
                        f"the accuracy pass for the same images (at most {allowed} may, from float noise"
                        + (")" if consistent else "): the model is nondeterministic or behaves differently "
                                                  "when timed")))
    for who, idle, other in (("entry", ev.idle_cpu_entry_s, ev.baseline_timed_s),
                             ("baseline", ev.idle_cpu_baseline_s, ev.entry_timed_s)):
        limit = IDLE_CPU_FRACTION * other
        bad = "fail" if who == "entry" else "warn"
        checks.append(Check(f"idle_cpu_{who}", "pass" if idle <= limit else bad,
                            f"{who} worker used {idle:.3f} s CPU while the other model was timed "
                            f"for {other:.2f} s (limit {limit:.3f} s)"
                            + ("" if idle <= limit else ": background work while idle is not allowed")))
    checks += _timing_checks(ev)
    checks.append(Check("sandbox", "fail" if ev.denied else "pass",
                        "the sandbox denied: " + ", ".join(ev.denied[:10]) if ev.denied
                        else "no action was denied by the sandbox"))
    if ev.timing_warnings:
        checks.append(Check("timing_quality", "warn", "; ".join(ev.timing_warnings)))
    else:
        checks.append(Check("timing_quality", "pass", "the speedup's interval reached its target from enough "
                                                      "usable pairs"))
    checks.append(_claims(ev.claimed, ev))
    return checks


def status_of(checks: list[Check]) -> Literal["valid", "failed"]:
    """``failed`` when any check failed; warnings and unchecked items do not fail an entry."""
    return "failed" if any(c.status == "fail" for c in checks) else "valid"
