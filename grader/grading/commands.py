"""The commands that run an entry, each returning its exit code: ``grade`` (a student's, and the
workflows' grading step), ``baseline``, and the student's tools ``profile`` and ``compare``.

The ``tinymlperf`` CLI turns flags into the options below and builds the collaborators
(where CIFAR-10 is, a GitHub client, a progress printer); what is checked, written
and printed, and which outcome is which exit code, is decided here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from grader.board import placement
from grader.ci import repo_verification
from grader.core import config, schema
from grader.core.errors import EXIT_ERROR, EXIT_INVALID, EXIT_OK, GraderError, SubmissionError, UsageError
from grader.core.paths import BASELINE_DIR
from grader.grading import compare, grade, profiling
from grader.report import markdown_report as report
from grader.sandbox.isolation import Requested

if TYPE_CHECKING:
    from github import Github

DataFinder = Callable[[], Path]  # the CIFAR-10 folder (found, fetched or verified), or DataError
Progress = grade.Progress
EXIT_BY_STATUS = {"valid": EXIT_OK, "failed": EXIT_INVALID, "error": EXIT_ERROR}


@dataclass(frozen=True)
class GradeOptions:
    """``grade``: the folder, where the result (and report) go, and how the linked repository is checked."""

    folder: Path
    out: Path = Path("result.json")
    report: Path | None = None
    repo_verification: Path | None = None  # the file ``verify-repo --out`` wrote
    pr_author: str | None = None  # must own the repository under the config's require_owner_match
    config: Path | None = None
    isolation: Requested = "auto"
    seed: int | None = None


def run_grade(options: GradeOptions, *, find_data: DataFinder, github: Github | None,
              progress: Progress) -> int:
    """Grade the folder; write result.json (and the report) on every exit code; exit 0 valid, 1 failed, 2 error.

    ``github`` checks the linked repository when no verification file is given (None: not checked).
    """
    competition: config.Competition | None = None
    try:  # result.json and report.md are written on every exit code, a grade that cannot start included
        competition = config.load(options.config)
        if not options.folder.is_dir():
            raise UsageError(f"{options.folder}: not a folder")
        data_dir = find_data()
    except GraderError as e:
        result = grade.could_not_grade(options.folder, competition, BASELINE_DIR, str(e))
    else:
        verify = repo_verification.verifier(competition, saved=options.repo_verification, client=github,
                                            pr_author=options.pr_author)
        request = grade.GradeRequest(folder=options.folder, data_dir=data_dir, config=competition,
                                     baseline_dir=BASELINE_DIR, isolation=options.isolation, seed=options.seed,
                                     verify_repo=verify)
        result = grade.grade(request, progress=progress)
    schema.write(options.out, result.to_json(), "result")
    where = placement.where_it_stands(result, options.folder, competition) if competition else None
    extra = (("Where it stands", placement.render(where)),) if where else ()
    if options.report:
        options.report.write_text(report.render(result, extra=extra), encoding="utf-8")
    print(grade.summary_line(result) + (f"; {where.line()}" if where else ""))
    return EXIT_BY_STATUS[result.status]


@dataclass(frozen=True)
class BaselineOptions:
    """``baseline``: where the baseline's own measurement goes."""

    out: Path = Path("baseline.json")
    config: Path | None = None
    isolation: Requested = "auto"
    seed: int | None = None


def run_baseline(options: BaselineOptions, *, find_data: DataFinder, progress: Progress) -> int:
    """Measure the baseline alone on this machine, write ``out`` and print its numbers."""
    competition = config.load(options.config)  # before a CIFAR-10 download, so a broken config fails at once
    measured = grade.measure_baseline(find_data(), competition, BASELINE_DIR, isolation=options.isolation,
                                      seed=options.seed, progress=progress)
    schema.write(options.out, measured, "baseline")
    m = measured["metrics"]
    print(f"baseline: accuracy {m['accuracy_pct']:.2f}% (dithered {m['dithered_accuracy_pct']:.2f}%), "
          f"latency median {m['latency_ms_median']:.3f} ms, p90 {m['latency_ms_p90']:.3f} ms per image, "
          f"size {m['size_bytes']:,} B; wrote {options.out}")
    return EXIT_OK


Tool = Literal["profile", "compare"]
TOOL_HEADINGS: dict[Tool, str] = {"profile": "Profile", "compare": "Compared with the baseline"}
MAX_IMAGES = 10_000


@dataclass(frozen=True)
class ToolOptions:
    """``profile`` / ``compare``: the entry, how many test images, and a Markdown file to append to."""

    folder: Path
    images: int
    report: Path | None = None
    config: Path | None = None
    isolation: Requested = "auto"


def run_tool(tool: Tool, options: ToolOptions, *, find_data: DataFinder, progress: Progress) -> int:
    """Run the student's ``tool`` beside the baseline in the sandbox (never a score); exit 1 when the entry fails."""
    if not options.folder.is_dir():
        raise UsageError(f"{options.folder}: not a folder")
    if not 1 <= options.images <= MAX_IMAGES:
        raise UsageError(f"--images must be between 1 and {MAX_IMAGES}")
    competition = config.load(options.config)  # before a CIFAR-10 download, so a broken config fails at once
    request = grade.GradeRequest(folder=options.folder, data_dir=find_data(), config=competition,
                                 baseline_dir=BASELINE_DIR, isolation=options.isolation)
    try:
        if tool == "profile":
            profiles = profiling.profile(request, options.images, progress=progress)
            text, shown = profiling.render(*profiles), profiling.render(*profiles, plain=True)
        else:
            text = shown = compare.render(compare.compare(request, options.images, progress=progress))
    except SubmissionError as e:
        print(f"tinymlperf {tool}: {e}", file=sys.stderr)
        return EXIT_INVALID
    print(shown, end="")
    if options.report:
        append_section(options.report, TOOL_HEADINGS[tool], text)
    return EXIT_OK


def append_section(report_file: Path, heading: str, text: str) -> None:
    """Append ``### heading`` and ``text`` to the Markdown file ``report_file`` (created when missing)."""
    before = report_file.read_text(encoding="utf-8") if report_file.exists() else ""
    report_file.write_text(before + ("\n" if before else "") + f"### {heading}\n\n" + text, encoding="utf-8")
