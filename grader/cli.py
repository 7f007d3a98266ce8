"""The ``tinymlperf`` command: flags in, exit code out; the work happens in the library.

Exit codes (every command):
  0  success (a valid submission, a written file)
  1  the input was checked and has problems (invalid submission, failed rules)
  2  could not run: usage error, missing data, sandbox or GitHub failure
"""

from __future__ import annotations

import argparse
import os
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


# --- validate / new (issue #2 [format]) -------------------------------------------------------------


def _register_validate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check a submission folder statically (no code is run)",
                       description="Check a submission folder statically; exit 0 valid, 1 invalid, 2 usage error.")
    p.add_argument("folder", type=Path, metavar="DIR", help="the submission folder, e.g. submissions/my-entry")
    p.add_argument("--json", action="store_true", help="print the result as JSON (schemas/validation.schema.json)")
    p.add_argument("--config", type=Path, help="competition.yaml to use instead of the packaged one")
    p.add_argument("--allow-score-record", action="store_true",
                   help="ignore the bot's score.json (for regrading merged entries)")
    p.set_defaults(func=_cmd_validate)


def _cmd_validate(args: argparse.Namespace) -> int:
    from grader import annotations, config, schema, validate

    result = validate.validate_folder(args.folder, config.load(args.config),
                                      allow_score_record=args.allow_score_record)
    github = os.environ.get("GITHUB_ACTIONS") == "true"
    if args.json:
        sys.stdout.write(schema.dumps(result.to_json()))
        if github:  # stdout stays pure JSON; the runner reads workflow commands from stderr too
            sys.stderr.write(annotations.render(result.problems))
    else:
        for problem in result.problems:
            print(problem)
        if github:
            sys.stdout.write(annotations.render(result.problems))
        count = len(result.problems)
        print(f"{result.to_json()['folder']}: " + ("valid" if result.ok else
                                                    f"{count} problem{'s' * (count != 1)}"))
    return EXIT_OK if result.ok else EXIT_INVALID


def _register_new(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("new", help="create submissions/SLUG/ from the baseline, ready to validate and grade",
                       description="Scaffold a submission folder that passes validate; refuses to overwrite.")
    p.add_argument("slug", metavar="SLUG", help="folder name: lowercase letters, digits, hyphens")
    p.add_argument("--division", choices=["closed", "open"], required=True)
    p.add_argument("--root", type=Path, default=Path("submissions"), help="where to create it (default: submissions)")
    p.add_argument("--athlete", dest="athlete_name", help="your name for the leaderboard (default: SLUG)")
    p.add_argument("--github-repo", help="https URL of your GitHub repository")
    p.add_argument("--baseline-weights", type=Path,
                   help="baseline weights.npz to copy for the Open Division (default: the packaged one)")
    p.set_defaults(func=_cmd_new)


def _cmd_new(args: argparse.Namespace) -> int:
    from grader import config, scaffold

    try:
        folder = scaffold.create(args.slug, args.division, args.root, config.load(),
                                 athlete_name=args.athlete_name, github_repo=args.github_repo,
                                 baseline_weights=args.baseline_weights)
    except scaffold.FolderExists as e:
        print(f"tinymlperf: {e}", file=sys.stderr)
        return EXIT_INVALID
    print(scaffold.next_steps(folder, args.division))
    return EXIT_OK


_REGISTRY += [_register_validate, _register_new]
