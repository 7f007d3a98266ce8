"""The ``tinymlperf`` command: flags in, exit code out; the work happens in the library.

Exit codes (every command):
  0  success (a valid submission, a written file)
  1  the input was checked and has problems (invalid submission, failed rules)
  2  could not run: usage error, missing data, sandbox or GitHub failure
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from grader import __version__
from grader.errors import GraderError, UsageError

EXIT_OK, EXIT_INVALID, EXIT_ERROR = 0, 1, 2

Command = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so main() owns every exit code."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tinymlperf", description="Grade TinyMLPerf competition entries.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for register in _REGISTRY:
        register(sub)
    return parser


# Each entry adds one subcommand and sets ``func`` to its command function.
_REGISTRY: list[Callable[[argparse._SubParsersAction], None]] = []


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except GraderError as e:
        print(f"tinymlperf: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("tinymlperf: interrupted", file=sys.stderr)
        return 130


# --- grade / baseline ------------------------------------------------------------------------------

def _progress_printer() -> Callable[[str], None]:
    """Progress lines on a terminal; silence otherwise (CI logs stay readable)."""
    if sys.stderr.isatty():
        return lambda message: print(f"tinymlperf: {message}", file=sys.stderr, flush=True)
    return lambda message: None


def _resolve_data(args: argparse.Namespace) -> Path:
    from grader import data

    progress = data.terminal_progress if sys.stderr.isatty() else None
    return data.resolve(args.data, download=not args.no_download, progress=progress)


def _add_common_grade_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, help="folder holding cifar-10-batches-py/ (default: $TINYMLPERF_DATA, "
                                             "then the user cache, then download)")
    p.add_argument("--no-download", action="store_true", help="never download CIFAR-10")
    p.add_argument("--config", type=Path, help="competition config (default: the packaged competition.yaml)")
    p.add_argument("--isolation", choices=["auto", "process"], default="auto",
                   help="auto: an unprivileged user in its own network namespace where possible")
    p.add_argument("--seed", type=int, help="seed for dither noise and timing order (default: fresh per run)")


def _cmd_grade(args: argparse.Namespace) -> int:
    from grader import config, grade, report, schema
    from grader.baseline import model as baseline_model

    competition = config.load(args.config)
    if not args.folder.is_dir():
        raise UsageError(f"{args.folder}: not a folder")
    request = grade.GradeRequest(
        folder=args.folder, data_dir=_resolve_data(args), config=competition,
        baseline_dir=Path(baseline_model.__file__).parent, allow_score_record=args.merged,
        isolation=args.isolation, seed=args.seed, verify_repo=_repo_verifier(competition, args),
    )
    result = grade.grade(request, progress=_progress_printer())
    schema.write(args.out, result, "result")
    if args.report:
        args.report.write_text(report.render(result), encoding="utf-8")
    print(grade.summary_line(result))
    return {"valid": EXIT_OK, "failed": EXIT_INVALID, "error": EXIT_ERROR}[result["status"]]


def _repo_verifier(competition, args: argparse.Namespace):
    """The repo-link check, or None (recorded as "not checked") when no GitHub client is wired in."""
    return None


def _register_grade(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("grade", help="grade a submission folder end to end",
                       description="Rebuild, measure accuracy, time against the baseline, check the rules. "
                                   "Exit 0 valid, 1 graded with failed rules, 2 could not grade.")
    p.add_argument("folder", type=Path, help="submissions/<slug>/")
    p.add_argument("--out", type=Path, default=Path("result.json"), help="result JSON (default: result.json)")
    p.add_argument("--report", type=Path, help="also write the Markdown report here")
    p.add_argument("--merged", action="store_true",
                   help="grading merged main: a bot-written score.json in the folder is expected, not an error")
    _add_common_grade_flags(p)
    p.set_defaults(func=_cmd_grade)


_REGISTRY.append(_register_grade)
