"""The ``tinymlperf`` commands of the deployment side: publish, board-pr, doctor.

Registered by ``grader.cli.main`` like its own commands (flags in, exit code out; the
work happens in ``grader.ci.publish``, ``grader.ci.github_api`` and ``grader.ci.doctor``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from grader.core.errors import UsageError

EXIT_OK, EXIT_INVALID = 0, 1  # as documented in grader.cli.main
LEADERBOARD_PR_BODY = ("Score records and leaderboard.md written by the leaderboard workflow, which could not push "
                       "to the protected branch directly (no bypass for its token). It touches only "
                       "`submissions/*/score.json`, `leaderboard.md` and `leaderboard-failures.json`. "
                       "See docs/organizers.md.")


def _cmd_publish(args: argparse.Namespace) -> int:
    import json

    from grader.ci import actions, annotations, event, publish, publish_state
    from grader.ci import github_api as gh

    try:
        slugs = " ".join(json.loads(args.chunks)).split()
    except (ValueError, TypeError) as e:
        raise UsageError(f"publish: --chunks is not the planner's JSON list: {e}") from e
    client = gh.make_client(gh.token_from_env(), args.api_url, throttle=False)
    done, state = publish.publish_all(
        slugs, args.results, args.submissions, event.read(args.event), args.event_name,
        args.graded_commit, lambda repo, sha: gh.find_merged_pr(client, repo, sha),
        publish_state.read(state_path := args.state or args.submissions.parent / publish_state.STATE_NAME),
        str(args.event))
    publish_state.write(state_path, state)
    lines = []
    for item in done:
        if item.action == "failed":
            tries = f"attempt {item.attempts} of {state.max_attempts}"
            print(annotations.emit(f"{item.detail} ({tries})", title=f"Not published: {item.slug}",
                                      file=f"submissions/{item.slug}"))
            lines.append(f"- ❌ `{item.slug}` not published ({tries}): {item.detail}")
        else:
            print(f"{item.slug}: {item.action}: {item.detail}")
            lines.append(f"- `{item.slug}` {item.action}: {item.detail}")
    if args.summary:
        actions.append_summary(Path(args.summary), "\n".join(["### Leaderboard records", "", *lines, ""]))
    if args.github_output:
        actions.write_output(Path(args.github_output), "unpublished",
                             " ".join(i.slug for i in done if i.action == "failed"))
    return EXIT_OK


def _register_publish(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("publish", help="write every graded entry's score.json; one failure never stops the others",
                       description="Exit 0 even when entries failed: they are listed as ::error annotations, in "
                                   "the job summary, in the step output `unpublished` and in leaderboard-failures.json.")
    p.add_argument("--chunks", required=True, help="the planner's JSON list of space-joined slugs")
    p.add_argument("--results", type=Path, default=Path("results"), help="folder of <slug>/result.json")
    p.add_argument("--event", type=Path, required=True, help="the event payload ($GITHUB_EVENT_PATH)")
    p.add_argument("--event-name", required=True, choices=["push", "workflow_dispatch"])
    p.add_argument("--graded-commit", required=True, help="the commit the re-grade ran on ($GITHUB_SHA)")
    p.add_argument("--submissions", type=Path, default=Path("submissions"))
    p.add_argument("--state", type=Path, default=None,
                   help="default: leaderboard-failures.json beside the submissions folder (the board reads it there)")
    p.add_argument("--api-url", default="https://api.github.com", help="GitHub API base ($GITHUB_API_URL)")
    p.add_argument("--summary", metavar="FILE", help="the $GITHUB_STEP_SUMMARY file")
    p.add_argument("--github-output", metavar="FILE", help="the $GITHUB_OUTPUT file")
    p.set_defaults(func=_cmd_publish)


def _cmd_board_pr(args: argparse.Namespace) -> int:
    from grader.ci import annotations
    from grader.ci import github_api as gh

    repo = args.repo or os.environ.get("GITHUB_REPOSITORY")
    if not repo:
        raise UsageError("board-pr needs --repo or $GITHUB_REPOSITORY")
    token = gh.token_from_env()
    if token is None:
        raise UsageError("board-pr needs GITHUB_TOKEN")
    client = gh.make_client(token, gh.api_url_from_env())
    pull = gh.open_board_pr(client, repo, args.branch, base=args.base, title=args.title, check_name=args.check,
                            body=args.body)
    print(annotations.emit(f"{pull.action} {pull.url}; {pull.note}", title="Leaderboard PR", level="notice"))
    return EXIT_OK


def _register_board_pr(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("board-pr", help="open (or find) the PR carrying the bot's records; enable auto-merge")
    p.add_argument("--branch", required=True, help="the branch the records were pushed to")
    p.add_argument("--base", default="main")
    p.add_argument("--repo", default=None, help="owner/name (default: $GITHUB_REPOSITORY)")
    p.add_argument("--title", default="leaderboard: record re-graded entries")
    p.add_argument("--body", default=LEADERBOARD_PR_BODY, help="the PR's description (default: the leaderboard's)")
    p.add_argument("--check", default="Grade submission", metavar="NAME",
                   help="required check to report as passed on the PR's head (empty: none)")
    p.set_defaults(func=_cmd_board_pr)


def _cmd_doctor(args: argparse.Namespace) -> int:
    from grader.ci import doctor
    from grader.ci import github_api as gh
    from grader.core import names

    if not names.REPOSITORY.match(args.repo):
        raise UsageError(f"doctor: --repo {args.repo!r} is not OWNER/NAME")
    token = os.environ.get(args.token_env)
    if not token:
        raise UsageError(f"doctor: set {args.token_env} to a token of a repository admin")
    client = gh.make_client(token, args.api_url or gh.api_url_from_env(), throttle=False)
    findings = doctor.diagnose(args.repo, doctor.api_get(client))
    sys.stdout.write(doctor.render(args.repo, findings))
    return EXIT_OK if all(f.status == "ok" for f in findings) else EXIT_INVALID


def _register_doctor(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check a competition repository's GitHub settings; print each fix",
                       description="Exit 0 when everything the workflows need is in place, 1 when something is "
                                   "missing or unreadable (each with its fix), 2 when GitHub cannot be asked.")
    p.add_argument("--repo", required=True, metavar="OWNER/NAME")
    p.add_argument("--token-env", default="GITHUB_TOKEN", metavar="VAR",
                   help="environment variable holding an organizer's token (default: GITHUB_TOKEN)")
    p.add_argument("--api-url", default=None, help="API base (default: $GITHUB_API_URL or api.github.com)")
    p.set_defaults(func=_cmd_doctor)


REGISTRY: list[Callable[[argparse._SubParsersAction], None]] = [_register_publish, _register_board_pr,
                                                                 _register_doctor]
