"""The commands an organizer runs by hand (docs/organizers.md): ``doctor`` (are the repository's
GitHub settings what the workflows need?) and ``record`` (a score record for an entry committed to
main directly, or re-recorded from a trusted grade).

Flags and the environment in, options and clients out, then ``grader.ci``; nothing else happens here.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from grader.cli import common
from grader.core.errors import UsageError


def _add_doctor(sub: common.Subcommands) -> None:
    p = sub.add_parser("doctor", help="check a competition repository's GitHub settings; print each fix",
                       description="Exit 0 when everything the workflows need is in place, 1 when something is "
                                   "missing or unreadable (each with its fix), 2 when GitHub cannot be asked.")
    p.add_argument("--repo", required=True, metavar="OWNER/NAME")
    p.add_argument("--token-env", default="GITHUB_TOKEN", metavar="VAR",
                   help="environment variable holding an organizer's token (default: GITHUB_TOKEN)")
    p.add_argument("--api-url", default=None, help="API base (default: $GITHUB_API_URL or api.github.com)")
    p.set_defaults(func=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    from grader.ci import doctor
    from grader.ci import github_api as gh
    from grader.core import names

    if not names.REPOSITORY.match(args.repo):
        raise UsageError(f"doctor: --repo {args.repo!r} is not OWNER/NAME")
    token = os.environ.get(args.token_env)
    if not token:
        raise UsageError(f"doctor: set {args.token_env} to a token of a repository admin")
    client = gh.make_client(token, args.api_url or gh.api_url_from_env(),
                            throttle=False)
    return doctor.run(args.repo, client)


def _add_record(sub: common.Subcommands) -> None:
    p = sub.add_parser("record", help="write submissions/<slug>/score.json from a trusted re-grade")
    p.add_argument("--result", type=Path, required=True, help="result.json of the re-grade")
    p.add_argument("--slug", required=True)
    p.add_argument("--event", type=Path, required=True, help="the event payload ($GITHUB_EVENT_PATH)")
    p.add_argument("--event-name", required=True, choices=["push", "workflow_dispatch"])
    p.add_argument("--graded-commit", required=True, help="the commit the re-grade ran on ($GITHUB_SHA)")
    p.add_argument("--submissions", type=Path, default=Path("submissions"))
    p.add_argument("--api-url", default="https://api.github.com", help="GitHub API base ($GITHUB_API_URL)")
    p.add_argument("--organizer", metavar="LOGIN",
                   help="the entry was committed to main directly by this organizer (no PR): attribute it to "
                        "LOGIN instead of asking the API for the merged PR")
    p.set_defaults(func=_record)


def _record(args: argparse.Namespace) -> int:
    from grader.ci import board_commands, event
    from grader.ci import github_api as gh

    client = None if args.organizer is not None else gh.make_client(gh.token_from_env(), args.api_url, throttle=False)
    lookup = board_commands.pull_lookup(args.organizer, client)
    options = board_commands.RecordOptions(
        result=args.result, slug=args.slug, event=event.read(args.event), event_source=str(args.event),
        event_name=args.event_name, graded_commit=args.graded_commit, submissions=args.submissions)
    return board_commands.run_record(options, lookup=lookup)


COMMANDS: tuple[common.AddCommand, ...] = (_add_doctor, _add_record)
