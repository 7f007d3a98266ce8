"""``report.md``: the human summary of a result, reused by the PR comment and the job summary.

``render(result) -> str`` is pure: a ``GradeResult`` in, GitHub-flavoured
Markdown out. Every string that came from the student passes through
``grader.core.markdown.text``; numbers are formatted here, never taken as text.
"""

from __future__ import annotations

import math

from grader.core import markdown
from grader.judge.result import Claimed, GradeResult, Measured, Metrics, TimingReport
from grader.judge.rules import Check
from grader.judge.scoring import Scores

# Where each check is explained; the PR comment passes an absolute URL (relative
# links do not resolve in comments).
DOCS_URL = "docs/submitting.md"
_ICON = {"pass": "✅", "fail": "❌", "warn": "⚠️", "not_checked": "➖"}
_STATUS = {
    "valid": "✅ **valid**: every rule passed",
    "failed": "❌ **failed**: graded, but at least one rule failed",
    "error": "⚠️ **could not grade**",
}


def _ci(scores: Scores) -> str:
    low, high = scores.speedup_ci_low, scores.speedup_ci_high
    return "inconclusive" if low is None or high is None else f"{low:.3f}–{high:.3f}x"


def _scores_table(s: Scores) -> str:
    rows = [
        ["Speedup", f"**{s.speedup:.3f}x**", f"95% CI {_ci(s)} (noise of this run, on this machine)"],
        ["Compression", f"**{s.compression:.3f}x**", "baseline size / entry size"],
        ["Accuracy delta", f"**{s.accuracy_delta_pp:+.2f} pp**", "entry − baseline"],
        ["Efficiency", f"**{s.efficiency:.3f}**", "speedup × compression / (1 + accuracy loss in pp)"],
    ]
    return markdown.table(["Score", "Value", "How"], rows, right=(1,))


def _metrics_table(b: Metrics, e: Metrics) -> str:
    rows = [
        ["Accuracy (10,000 test images)", f"{b.accuracy_pct:.2f}%", f"{e.accuracy_pct:.2f}%"],
        ["Accuracy, ±1 dithered", f"{b.dithered_accuracy_pct:.2f}%", f"{e.dithered_accuracy_pct:.2f}%"],
        ["Latency per image, median", f"{b.latency_ms_median:.3f} ms", f"{e.latency_ms_median:.3f} ms"],
        ["Latency per image, p90", f"{b.latency_ms_p90:.3f} ms", f"{e.latency_ms_p90:.3f} ms"],
        ["Size (zlib-9 weights + code)", f"{b.size_bytes:,} B", f"{e.size_bytes:,} B"],
        ["Parameters (nonzero)", f"{b.parameters:,} ({b.nonzeros:,})", f"{e.parameters:,} ({e.nonzeros:,})"],
        ["Dtypes", _dtypes(b.dtypes), _dtypes(e.dtypes)],
    ]
    return markdown.table(["Measured", "Baseline", "Entry"], rows, right=(1, 2))


def _claimed_section(result: GradeResult, claimed: Claimed, s: Scores, e: Metrics) -> list[str]:
    """The student's own measurements (``claimed``) beside the grader's, and whether they agree."""
    rows = []
    if claimed.speedup is not None:
        rows.append(["Speedup", f"{claimed.speedup:.2f}x", f"{s.speedup:.2f}x (95% CI {_ci(s)})"])
    if claimed.accuracy_pct is not None:
        rows.append(["Accuracy", f"{claimed.accuracy_pct:.2f}%", f"{e.accuracy_pct:.2f}%"])
    if claimed.compression is not None:
        rows.append(["Compression", f"{claimed.compression:.2f}x", f"{s.compression:.2f}x"])
    if not rows:
        return []
    check = result.check("claimed_metrics")
    verdict = ("⚠️ they disagree beyond what the hardware explains (see `claimed_metrics`); the grade uses the "
               "values measured here" if check is not None and check.status == "warn"
               else "they agree within what the hardware explains")
    where = markdown.text(claimed.hardware or "your machine", 200)
    return ["", "### Your measurements", "",
            f"You measured on {where}; graded here on {markdown.text(result.hardware.cpu_model, 80)}: "
            f"{verdict}.", "",
            markdown.table(["", "You measured", "Graded here"], rows, right=(1, 2))]


def _measured_table(m: Measured) -> str:
    """What a stopped grade kept: each number, or that its stage was not reached."""
    def num(value: float | int | None, fmt: str, unit: str) -> str:
        return "not reached" if value is None else format(value, fmt) + unit
    rows = [
        ["Latency per image (calibration)", num(m.baseline_ms_per_image, ".3f", " ms"),
         num(m.entry_ms_per_image, ".3f", " ms")],
        ["Entry / baseline time", "1x" if m.latency_ratio is not None else "", num(m.latency_ratio, ".2f", "x")],
        ["Accuracy", "", num(m.accuracy_pct, ".2f", "%") + (f" on {m.accuracy_images:,} images"
                                                         if m.accuracy_images else "")],
        ["Size (zlib-9 weights + code)", num(m.baseline_size_bytes, ",", " B"), num(m.size_bytes, ",", " B")],
    ]
    return (f"Stopped at: {markdown.text(m.stage, 20)}\n\n"
            + markdown.table(["Measured", "Baseline", "Entry"], rows, right=(1, 2)))


def _dtypes(dtypes: tuple[tuple[str, int], ...]) -> str:
    return ", ".join(f"{markdown.text(name, 32)} ×{count:,}" for name, count in sorted(dtypes)) or "none"


def _checks_table(checks: tuple[Check, ...], docs_url: str) -> str:
    rows = [[f"{_ICON[c.status]} {c.status.replace('_', ' ')}",
             f"[`{c.id}`]({docs_url}#check-{c.id.replace('_', '-')})",
             markdown.text(c.message, 600)] for c in checks]
    return markdown.table(["", "Check", "Detail"], rows)


STOPPED_BY = {"target": "reaching the target interval", "budget": "the timing budget", "max_pairs": "max_pairs",
              "image_supply": "the supply of test images the workers had not seen (not restarted: the workers were "
                              "not stateless, see SECURITY.md, or timing.restart_workers is off)"}


def _speed_definition(t: TimingReport) -> str:
    """What the speedup is a ratio of, and the paired mean beside it."""
    if t.speed_quantile is None:
        return "Speedup: the geometric mean of the paired ratios. "
    return (f"Speedup: the ratio of the models' {t.speed_quantile:.0%} quantile sample times, each model's speed "
            f"when the machine is quiet; the geometric mean of the paired ratios, {math.exp(t.log_ratio_mean):.3f}x, "
            "averages whatever contention the machine had while timing. ")


def _timing_section(t: TimingReport) -> list[str]:
    interval = (f"±{t.ci_half_width:.1%}" if t.ci_half_width is not None else "inconclusive")
    discarded = f" ({t.pairs_discarded} more discarded)" if t.pairs_discarded else ""
    sample = (f"of {t.queries_per_sample} minus {t.short_queries} queries × {t.batch_size} image(s){discarded} (each "
              "model timed on a long and a short request, each after " if t.short_queries else
              f"of {t.queries_per_sample} queries × {t.batch_size} image(s){discarded}, each sample after ")
    lines = [
        f"{t.pairs} interleaved pairs {sample}{t.warmup_queries} warm-up queries"
        f"{'; the difference cancels fixed per-request costs)' if t.short_queries else ''}"
        + (f"; the slower model's long request held {t.slower_queries} of them, lasting as long, its time scaled"
           if t.slower_queries else "")
        + (f"; the test images ran out {t.worker_starts - 1} time(s), and each time all three workers were started "
           "afresh (stateless: they remember nothing) and given them in a new order" if t.worker_starts > 1 else "")
        + f"; stopped by {STOPPED_BY[t.stop_reason]}. Times are each worker's CPU time read from the kernel, "
        f"minus the harness's (a null model timed in the same pairs). Wall-clock speedup "
        f"{t.wall_speedup:.3f}x; the timed CPU was held by other processes {t.wait_fraction:.0%} of the time. "
        f"CV baseline {t.cv_baseline:.1%}, entry {t.cv_entry:.1%}.",
        "",
        _speed_definition(t) + f"Interval: {interval} at {t.confidence:.0%} confidence ("
        + ("order statistics of each model's samples, distribution-free" if t.speed_quantile is not None
           else "t-interval on paired log ratios")
        + f"). It covers {markdown.text(t.interval_covers, 300)}.",
    ]
    lines += [f"- ⚠️ {markdown.text(w, 300)}" for w in t.warnings]
    return lines


def _sandbox(result: GradeResult) -> str:
    """The isolation the entry's workers had; "none" only ever means that no worker ran."""
    if result.isolation.level == "none":
        return "sandbox: not started (no code of the entry ran)"
    return f"sandbox isolation: {markdown.text(result.isolation.level, 20)}"


def _environment(result: GradeResult) -> str:
    h = result.hardware
    return (f"Grader {markdown.text(result.grader_version, 64)} · {markdown.text(h.cpu_model, 80)}, "
            f"{h.cores} cores, {h.ram_bytes / 2**30:.1f} GiB · {markdown.text(h.os, 80)} · "
            f"Python {markdown.text(h.python, 20)}, NumPy {markdown.text(h.numpy, 20)}, "
            f"{markdown.text(h.blas, 80)} · {_sandbox(result)} · "
            f"baseline weights sha256 `{result.baseline_sha256[:12]}`")


def render(result: GradeResult, docs_url: str = DOCS_URL, *, extra: tuple[tuple[str, str], ...] = ()) -> str:
    """The whole report for a result; check ids link into ``docs_url``.

    ``extra``: (heading, Markdown) sections for the student's own copy (where it stands, a
    profile), placed after the checks; never part of the PR comment's ranking data.
    """
    sub = result.submission
    folder = markdown.text(result.folder, 100) if result.folder else "this folder"
    title = (f"{markdown.text(sub.slug, 64)} · {sub.division.capitalize()} Division · "
             f"{markdown.text(sub.athlete_name, 100)}") if sub else (
                 folder if result.status == "error" else f"{folder} (submission.yaml does not validate)")
    out = [f"## TinyMLPerf grade: {title}", "", _STATUS[result.status]]
    if result.status == "error" and result.error:
        out += ["", f"> {markdown.text(result.error, 1500)}"]
    scores, baseline, entry = result.normalized_scores, result.baseline_metrics, result.optimized_metrics
    if scores is not None:
        # A result with scores has both models' metrics (grade writes them together).
        assert baseline is not None and entry is not None, "normalized_scores without metrics"
        out += ["", _scores_table(scores), "", "### Measurements", "", _metrics_table(baseline, entry)]
        if sub and sub.claimed and sub.claimed.any:
            out += _claimed_section(result, sub.claimed, scores, entry)
    if result.measured:
        out += ["", "### Measured before the grade stopped", "", _measured_table(result.measured)]
    if result.checks:
        out += ["", "### Checks", "", _checks_table(result.checks, docs_url)]
    for heading, body in extra:
        out += ["", f"### {heading}", "", body]
    if result.timing is not None:
        out += ["", "### Timing", ""] + _timing_section(result.timing)
    if sub:
        out += ["", "### Entry", "",
                f"Repository: {markdown.repo_link(sub.github_repo)} "
                f"({markdown.text(result.repo_verification.status.replace('_', ' '), 20)})",
                "", "Techniques:"]
        out += [f"- {markdown.text(t, 300)}" for t in sub.techniques_used]
    out += ["", f"<sub>{_environment(result)}</sub>", ""]
    return "\n".join(out)
