"""The commands the GitHub workflows call (.github/workflows/, docs/organizers.md): per PR ``scope``,
``take-submission``, ``verify-repo``, ``artifact-metadata``, ``annotate`` and ``comment``; on main
``to-grade``, ``data``, ``publish``, ``leaderboard``, ``board-pr`` and ``standings``.

Flags and the workflow's environment in, options and clients out, then ``grader.ci`` or
``grader.grading``; nothing else happens here.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from grader.cli import common
from grader.core.errors import EXIT_OK, GitHubError, UsageError
from grader.core.paths import BASELINE_WEIGHTS

LEADERBOARD_PR_BODY = ("Score records and leaderboard.md written by the leaderboard workflow, which could not push "
                       "to the protected branch directly (no bypass for its token). It touches only "
                       "`submissions/*/score.json`, `leaderboard.md` and `leaderboard-failures.json`. "
                       "See docs/organizers.md.")


# --- the grade and comment workflows, on a pull request ------------------------------------------

def _add_scope(sub: common.Subcommands) -> None:
    p = sub.add_parser("scope", help="the one submission slug a PR adds or changes (exit 1 with what to fix)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--name-status", metavar="FILE", help="output of `git diff --name-status -z BASE...HEAD`")
    src.add_argument("--pr", type=int, help="read the PR's files from the API (GITHUB_TOKEN, --repo)")
    p.add_argument("--repo", default=None, help="owner/name for --pr (default: $GITHUB_REPOSITORY)")
    p.add_argument("--github-output", metavar="FILE", help="append slug=<slug> to this $GITHUB_OUTPUT file")
    p.add_argument("--allow-no-submission", action="store_true",
                   help="exit 0 with an empty slug when no file under submissions/ changes (an organizer's PR)")
    common.add_config_flag(p)
    p.set_defaults(func=_scope)


def _scope(args: argparse.Namespace) -> int:
    from grader.ci import github_api as gh
    from grader.ci import pr_commands

    repo, client = None, None
    if not args.name_status:
        repo = common.repository(args.repo, "scope --pr")
        client = gh.make_client(gh.token_from_env(), gh.api_url_from_env())
    options = pr_commands.ScopeOptions(
        name_status=Path(args.name_status) if args.name_status else None, pr=args.pr, repo=repo,
        github_output=Path(args.github_output) if args.github_output else None,
        allow_no_submission=args.allow_no_submission, config=args.config)
    return pr_commands.run_scope(options, client=client)


def _add_take_submission(sub: common.Subcommands) -> None:
    p = sub.add_parser("take-submission", help="copy only submissions/SLUG/ (regular files) from a PR checkout")
    p.add_argument("pr_root", help="the PR head's checkout")
    p.add_argument("slug")
    p.add_argument("--dest", default=".", help="the grader's tree (default: .)")
    common.add_config_flag(p)
    p.set_defaults(func=_take_submission)


def _take_submission(args: argparse.Namespace) -> int:
    from grader.ci import pr_commands

    return pr_commands.run_take_submission(Path(args.pr_root), args.slug, Path(args.dest), args.config)


def _add_verify_repo(sub: common.Subcommands) -> None:
    p = sub.add_parser("verify-repo", help="check a submission's GitHub repo exists and holds code (GITHUB_TOKEN)",
                       description="Exit 0 verified, 1 failed, 2 not checked (no token or no network).")
    p.add_argument("url", nargs="?", help="https://github.com/OWNER/REPO")
    p.add_argument("--submission", type=Path, help="read the URL from this folder's submission.yaml instead")
    p.add_argument("--expected-owner", default=None, help="fail unless the repo belongs to this login")
    p.add_argument("--pr-author", default=None,
                   help="the PR author's login: required as owner when the config's require_owner_match is on")
    p.add_argument("--merged-pr-author", action="store_true",
                   help="with --submission on main: require as owner the author of the merged PR that last changed "
                        "the folder (GITHUB_TOKEN with pull-requests: read, $GITHUB_REPOSITORY)")
    common.add_config_flag(p)
    p.add_argument("--out", type=Path, help="also write the verification as JSON (for grade --repo-verification)")
    p.set_defaults(func=_verify_repo)


def _verify_repo(args: argparse.Namespace) -> int:
    from grader.ci import github_api as gh
    from grader.ci import repo_verification

    if (args.url is None) == (args.submission is None):
        raise UsageError("verify-repo: give either URL or --submission DIR")
    options = repo_verification.VerifyRepoOptions(
        url=args.url, submission=args.submission, expected_owner=args.expected_owner, pr_author=args.pr_author,
        merged_pr_author=args.merged_pr_author, repository=os.environ.get("GITHUB_REPOSITORY", ""),
        config=args.config, out=args.out)
    merge_client = gh.make_client(gh.token_from_env(), gh.api_url_from_env(), throttle=False)
    return repo_verification.run(options, client=common.github_client(), merge_client=merge_client)


def _add_artifact_metadata(sub: common.Subcommands) -> None:
    p = sub.add_parser("artifact-metadata", help="write the grade artifact's metadata.json")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--pr", type=int, required=True)
    p.add_argument("--head-sha", required=True)
    p.add_argument("--base-sha", required=True)
    p.add_argument("--run-id", type=int, required=True)
    p.set_defaults(func=_artifact_metadata)


def _artifact_metadata(args: argparse.Namespace) -> int:
    from grader.ci import pr_commands

    return pr_commands.run_artifact_metadata(pr_commands.ArtifactMetadata(
        out=Path(args.out), pr=args.pr, head_sha=args.head_sha, base_sha=args.base_sha, run_id=args.run_id))


def _add_annotate(sub: common.Subcommands) -> None:
    p = sub.add_parser("annotate", help="print a result's annotations; append report.md to the job summary")
    p.add_argument("folder", help="folder holding result.json and report.md")
    p.add_argument("--summary", metavar="FILE", help="the $GITHUB_STEP_SUMMARY file")
    p.set_defaults(func=_annotate)


def _annotate(args: argparse.Namespace) -> int:
    from grader.ci import pr_commands

    return pr_commands.run_annotate(Path(args.folder), Path(args.summary) if args.summary else None)


def _add_comment(sub: common.Subcommands) -> None:
    p = sub.add_parser("comment", help="post or update the PR's score comment for a finished grade run")
    p.add_argument("--artifact", required=True, metavar="DIR", help="the downloaded grade artifact (hostile)")
    p.add_argument("--event", metavar="FILE", help="workflow_run event payload (default: $GITHUB_EVENT_PATH)")
    p.add_argument("--bot-login", default="github-actions[bot]", help="login whose comments may be edited")
    common.add_config_flag(p)
    p.set_defaults(func=_comment)


def _comment(args: argparse.Namespace) -> int:
    from grader.ci import event, post, pr_commands
    from grader.ci import github_api as gh

    event_path = Path(args.event or os.environ.get("GITHUB_EVENT_PATH", ""))
    run = post.parse_run(event.read(event_path), str(event_path))
    client = gh.client_from_env()
    if client is None:
        raise GitHubError("GITHUB_TOKEN is not set; the comment workflow must pass it in `env:`")
    options = pr_commands.CommentOptions(artifact=Path(args.artifact),
                                         server_url=os.environ.get("GITHUB_SERVER_URL", "https://github.com"),
                                         bot_login=args.bot_login, config=args.config)
    return pr_commands.run_comment(run, options, client=client)


# --- the leaderboard and standings workflows, on main -------------------------------------------

def _add_to_grade(sub: common.Subcommands) -> None:
    p = sub.add_parser("to-grade", help="print the submissions a leaderboard run must grade (JSON chunks)")
    p.add_argument("--submissions", type=Path, default=Path("submissions"))
    p.add_argument("--after", default="HEAD", help="the pushed commit")
    p.add_argument("--before", default=None, help="the commit main pointed to before the push")
    p.add_argument("--all", action="store_true", help="every submission (regrade-all)")
    p.add_argument("--chunk-size", type=int, default=4)
    p.add_argument("--state", type=Path, default=None,
                   help="entries that failed to publish, retried a bounded number of times "
                        "(default: leaderboard-failures.json beside the submissions folder)")
    p.set_defaults(func=_to_grade)


def _to_grade(args: argparse.Namespace) -> int:
    from grader.ci import board_commands

    return board_commands.run_to_grade(board_commands.ToGradeOptions(
        submissions=args.submissions, after=args.after, before=args.before, everything=args.all,
        chunk_size=args.chunk_size, state=args.state))


def _add_data(sub: common.Subcommands) -> None:
    p = sub.add_parser("data", help="find CIFAR-10 (downloading and verifying it if needed); print its folder")
    common.add_data_flags(p)
    p.set_defaults(func=_data)


def _data(args: argparse.Namespace) -> int:
    print(common.data_finder(args)())
    return EXIT_OK


def _add_publish(sub: common.Subcommands) -> None:
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
    p.set_defaults(func=_publish)


def _publish(args: argparse.Namespace) -> int:
    from grader.ci import board_commands, event
    from grader.ci import github_api as gh

    slugs = board_commands.parse_chunks(args.chunks)
    client = gh.make_client(gh.token_from_env(), args.api_url, throttle=False)
    options = board_commands.PublishOptions(
        slugs=slugs, results=args.results, event=event.read(args.event), event_source=str(args.event),
        event_name=args.event_name, graded_commit=args.graded_commit, submissions=args.submissions,
        state=args.state, summary=Path(args.summary) if args.summary else None,
        github_output=Path(args.github_output) if args.github_output else None)
    return board_commands.run_publish(options, client=client)


def _add_leaderboard(sub: common.Subcommands) -> None:
    p = sub.add_parser("leaderboard", help="rebuild leaderboard.md from submissions/*/score.json")
    p.add_argument("--submissions", type=Path, default=Path("submissions"))
    p.add_argument("--out", type=Path, default=Path("leaderboard.md"))
    p.add_argument("--check", action="store_true", help="exit 1 if --out is not what would be written")
    p.add_argument("--config", type=Path, default=None, help="competition.yaml (default: packaged)")
    p.add_argument("--baseline-weights", type=Path, default=BASELINE_WEIGHTS)
    p.add_argument("--standings", type=Path, default=Path("standings.json"),
                   help="the latest standings run, the ranking of record (default: standings.json, if present)")
    p.set_defaults(func=_leaderboard)


def _leaderboard(args: argparse.Namespace) -> int:
    from grader.ci import board_commands

    return board_commands.run_leaderboard(board_commands.LeaderboardOptions(
        submissions=args.submissions, out=args.out, check=args.check, config=args.config,
        baseline_weights=args.baseline_weights, standings=args.standings))


def _add_board_pr(sub: common.Subcommands) -> None:
    p = sub.add_parser("board-pr", help="open (or find) the PR carrying the bot's records; enable auto-merge")
    p.add_argument("--branch", required=True, help="the branch the records were pushed to")
    p.add_argument("--base", default="main")
    p.add_argument("--repo", default=None, help="owner/name (default: $GITHUB_REPOSITORY)")
    p.add_argument("--title", default="leaderboard: record re-graded entries")
    p.add_argument("--body", default=LEADERBOARD_PR_BODY, help="the PR's description (default: the leaderboard's)")
    p.add_argument("--check", default="Grade submission", metavar="NAME",
                   help="required check to report as passed on the PR's head (empty: none)")
    p.set_defaults(func=_board_pr)


def _board_pr(args: argparse.Namespace) -> int:
    from grader.ci import board_commands
    from grader.ci import github_api as gh

    repo = common.repository(args.repo, "board-pr")
    token = gh.token_from_env()
    if token is None:
        raise UsageError("board-pr needs GITHUB_TOKEN")
    client = gh.make_client(token, gh.api_url_from_env())
    options = board_commands.BoardPrOptions(repo=repo, branch=args.branch, base=args.base, title=args.title,
                                            body=args.body, check=args.check)
    return board_commands.run_board_pr(options, client=client)


def _add_standings(sub: common.Subcommands) -> None:
    p = sub.add_parser("standings", help="re-time the top entries of each division together: the ranking of record",
                       description="Plan (prints estimated runner minutes), time every group of entries in rounds, "
                                   "write standings.json. In the workflow: --plan-only, then --group K per job, "
                                   "then --combine.")
    p.add_argument("--submissions", type=Path, default=Path("submissions"))
    p.add_argument("--out", type=Path, default=Path("standings.json"), help="default: standings.json")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--plan-only", action="store_true", help="print the plan and its cost, time nothing")
    mode.add_argument("--group", type=int, metavar="K", help="time only group K of the plan (one job)")
    mode.add_argument("--combine", type=Path, nargs="+", metavar="FILE",
                      help="combine the groups' results (--group-out files) into --out; runs no submission code")
    p.add_argument("--group-out", type=Path, default=Path("standings-group.json"), help="with --group")
    p.add_argument("--github-output", metavar="FILE",
                   help="with --plan-only: append indices=[0, 1, ...] and groups=[[slug, ...], ...]")
    p.add_argument("--expect-groups", metavar="JSON",
                   help="with --combine: the plan's groups (the plan job's output), instead of planning again")
    p.add_argument("--run-id", help="identifies one run across its groups (default: random)")
    common.add_run_flags(p)
    p.set_defaults(func=_standings)


def _standings(args: argparse.Namespace) -> int:
    from grader.grading import standings_run

    options = standings_run.StandingsOptions(
        submissions=args.submissions, out=args.out, plan_only=args.plan_only, group=args.group,
        combine=tuple(args.combine or ()), group_out=args.group_out,
        github_output=Path(args.github_output) if args.github_output else None, expect_groups=args.expect_groups,
        run_id=args.run_id, config=args.config, isolation=args.isolation, seed=args.seed)
    return standings_run.run(options, find_data=common.data_finder(args), progress=common.progress_printer())


COMMANDS: tuple[common.AddCommand, ...] = (
    _add_scope, _add_take_submission, _add_verify_repo, _add_artifact_metadata, _add_annotate, _add_comment,
    _add_to_grade, _add_data, _add_publish, _add_leaderboard, _add_board_pr, _add_standings)
