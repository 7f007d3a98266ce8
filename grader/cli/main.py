"""The ``tinymlperf`` command: the parser, assembled from the commands of each audience, and ``main``.

The commands live by who runs them: ``grader.cli.student`` (new, validate, grade, profile,
compare, baseline), ``grader.cli.workflow`` (the steps of .github/workflows/) and
``grader.cli.organizer`` (doctor, record). Each turns flags into options and calls the library.

Exit codes (every command):
  0  success (a valid submission, a written file)
  1  the input was checked and has problems (invalid submission, failed rules)
  2  could not run: usage error, missing data, sandbox or GitHub failure
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from grader import __version__
from grader.cli import common, organizer, student, workflow
from grader.core.errors import EXIT_ERROR, GraderError, UsageError

COMMANDS: tuple[common.AddCommand, ...] = (*student.COMMANDS, *workflow.COMMANDS, *organizer.COMMANDS)


def build_parser() -> argparse.ArgumentParser:
    """The ``tinymlperf`` parser with every subcommand; each sets ``func`` (namespace -> exit code)."""
    parser = common.Parser(prog="tinymlperf", description="Grade TinyMLPerf competition entries.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=common.Parser)
    sub.required = True
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    try:
        args = build_parser().parse_args(argv)
        command: Callable[[argparse.Namespace], int] = args.func  # set by each command's parser
        return command(args)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except GraderError as e:
        print(f"tinymlperf: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("tinymlperf: interrupted", file=sys.stderr)
        return 130
