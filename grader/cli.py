"""The ``tinymlperf`` command: flags in, exit code out; the work happens in the library.

Exit codes (every command):
  0  success (a valid submission, a written file)
  1  the input was checked and has problems (invalid submission, failed rules)
  2  could not run: usage error, missing data, sandbox or GitHub failure
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from collections.abc import Callable, Sequence

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


# ---------------------------------------------------------------- leaderboard (issue #6)

_BASELINE_WEIGHTS = Path(__file__).parent / "baseline" / "weights.npz"


def _cmd_leaderboard(args: argparse.Namespace) -> int:
    from grader import config, leaderboard, record

    competition = config.load(args.config)
    records = record.load_all(args.submissions)
    # With no records nothing can be stale, so the weights are only needed once records exist.
    sha = leaderboard.baseline_sha256(args.baseline_weights) if records else None
    board = leaderboard.build(records, leaderboard.CurrentGrader(__version__, sha), competition.per_athlete,
                              competition.chart_entries, competition.name)
    content = leaderboard.render(board)
    if args.check:
        try:
            same = args.out.read_text(encoding="utf-8") == content
        except OSError:
            same = False
        print(f"{args.out}: {'up to date' if same else 'out of date; run tinymlperf leaderboard'}")
        return EXIT_OK if same else EXIT_INVALID
    leaderboard.write_atomic(args.out, content)
    print(f"{args.out}: written from {len(records)} score record(s)")
    return EXIT_OK


def _register_leaderboard(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("leaderboard", help="rebuild leaderboard.md from submissions/*/score.json")
    p.add_argument("--submissions", type=Path, default=Path("submissions"))
    p.add_argument("--out", type=Path, default=Path("leaderboard.md"))
    p.add_argument("--check", action="store_true", help="exit 1 if --out is not what would be written")
    p.add_argument("--config", type=Path, default=None, help="competition.yaml (default: packaged)")
    p.add_argument("--baseline-weights", type=Path, default=_BASELINE_WEIGHTS)
    p.set_defaults(func=_cmd_leaderboard)


def _cmd_record(args: argparse.Namespace) -> int:
    import os

    from grader import merge_info, publish

    gh = merge_info.client(args.api_url, os.environ.get("GITHUB_TOKEN"))
    outcome = publish.record_result(
        args.result, args.slug, args.submissions, publish.read_event(args.event), args.event_name,
        args.graded_commit, lambda repo, sha: merge_info.find_merged_pr(gh, repo, sha), str(args.event))
    print(f"{outcome.path}: {outcome.action}: {outcome.detail}")
    return EXIT_OK


def _register_record(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("record", help="write submissions/<slug>/score.json from a trusted re-grade")
    p.add_argument("--result", type=Path, required=True, help="result.json of the re-grade")
    p.add_argument("--slug", required=True)
    p.add_argument("--event", type=Path, required=True, help="the event payload ($GITHUB_EVENT_PATH)")
    p.add_argument("--event-name", required=True, choices=["push", "workflow_dispatch"])
    p.add_argument("--graded-commit", required=True, help="the commit the re-grade ran on ($GITHUB_SHA)")
    p.add_argument("--submissions", type=Path, default=Path("submissions"))
    p.add_argument("--api-url", default="https://api.github.com", help="GitHub API base ($GITHUB_API_URL)")
    p.set_defaults(func=_cmd_record)


def _cmd_to_grade(args: argparse.Namespace) -> int:
    import json

    from grader import merge_info, publish

    slugs = merge_info.to_grade(args.submissions, args.after, args.before, args.all)
    print(json.dumps(publish.chunks(slugs, args.chunk_size)))
    return EXIT_OK


def _register_to_grade(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("to-grade", help="print the submissions a leaderboard run must grade (JSON chunks)")
    p.add_argument("--submissions", type=Path, default=Path("submissions"))
    p.add_argument("--after", default="HEAD", help="the pushed commit")
    p.add_argument("--before", default=None, help="the commit main pointed to before the push")
    p.add_argument("--all", action="store_true", help="every submission (regrade-all)")
    p.add_argument("--chunk-size", type=int, default=4)
    p.set_defaults(func=_cmd_to_grade)


_REGISTRY += [_register_leaderboard, _register_record, _register_to_grade]
