"""The ``tinymlperf`` command: flags in, exit code out; the work happens in the library.

Exit codes (every command):
  0  success (a valid submission, a written file)
  1  the input was checked and has problems (invalid submission, failed rules)
  2  could not run: usage error, missing data, sandbox or GitHub failure
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from grader import __version__
from grader.core.errors import GitHubError, GraderError, SubmissionError, UsageError

if TYPE_CHECKING:
    from grader.judge.result import GradeResult

EXIT_OK, EXIT_INVALID, EXIT_ERROR = 0, 1, 2

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

CI_PROGRESS_SECONDS = 15.0  # a CI log gets a repeated progress line (timing: N pairs) at most this often


def _progress_printer(stream=None, clock: Callable[[], float] = time.monotonic) -> Callable[[str], None]:
    """Every progress line on a terminal; on a CI log, each stage and a repeated line every 15 s, timestamped."""
    stream = stream or sys.stderr
    if stream.isatty():
        return lambda message: print(f"tinymlperf: {message}", file=stream, flush=True)
    started = clock()
    last: dict[str, float] = {}

    def log(message: str) -> None:
        kind = message.split(":", 1)[0] if _REPEATED.match(message) else message
        now = clock()
        if kind in last and now - last[kind] < CI_PROGRESS_SECONDS:
            return
        last[kind] = now
        print(f"tinymlperf [{now - started:5.0f} s]: {message}", file=stream, flush=True)
    return log


_REPEATED = re.compile(r"^timing: \d+ pairs")


def _resolve_data(args: argparse.Namespace) -> Path:
    from grader.measure import data

    progress = data.terminal_progress if sys.stderr.isatty() else None
    return data.resolve(args.data, download=not args.no_download, progress=progress)


def _add_common_grade_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, help="folder holding cifar-10-batches-py/ (default: $TINYMLPERF_DATA, "
                                             "then the user cache, then download)")
    p.add_argument("--no-download", action="store_true", help="never download CIFAR-10")
    p.add_argument("--config", type=Path, help="competition config (default: the packaged competition.yaml)")
    p.add_argument("--isolation", choices=["auto", "process"], default="auto",
                   help="auto: a uid of its own in its own PID, network and mount namespaces where possible")
    p.add_argument("--seed", type=int, help="seed for dither noise and timing order (default: fresh per run)")


def _cmd_grade(args: argparse.Namespace) -> int:
    from grader.baseline import model as baseline_model
    from grader.board import placement
    from grader.core import config, schema
    from grader.grading import grade
    from grader.report import markdown_report as report

    competition = config.load(args.config)
    if not args.folder.is_dir():
        raise UsageError(f"{args.folder}: not a folder")
    baseline_dir = Path(baseline_model.__file__).parent
    try:
        data_dir = _resolve_data(args)
    except GraderError as e:  # result.json and report.md are written on every exit code
        result = grade.could_not_grade(args.folder, competition, baseline_dir, str(e))
    else:
        request = grade.GradeRequest(
            folder=args.folder, data_dir=data_dir, config=competition, baseline_dir=baseline_dir,
            isolation=args.isolation, seed=args.seed, verify_repo=_repo_verifier(competition, args),
        )
        result = grade.grade(request, progress=_progress_printer())
    schema.write(args.out, result.to_json(), "result")
    where = _placement(result, competition, args.folder)
    extra = (("Where it stands", placement.render(where)),) if where else ()
    if args.report:
        args.report.write_text(report.render(result, extra=extra), encoding="utf-8")
    print(grade.summary_line(result) + (f"; {where.line()}" if where else ""))
    return {"valid": EXIT_OK, "failed": EXIT_INVALID, "error": EXIT_ERROR}[result.status]


def _placement(result: GradeResult, competition, folder: Path):
    """Where the entry would rank among the committed score records beside it (None: no scores or no board)."""
    from grader.board import leaderboard, placement, record

    submissions = folder.resolve().parent
    try:
        records = [r for r in record.load_all(submissions) if r.slug != folder.resolve().name]
        sha = leaderboard.baseline_sha256(_BASELINE_WEIGHTS)
        board = leaderboard.build(records, leaderboard.CurrentGrader(__version__, sha), competition.per_athlete,
                                  competition.chart_entries, competition.name)
    except GraderError:
        return None  # a folder outside a submissions/ tree, or a record that does not read: no board to compare
    return placement.place(result, board, competition.accuracy_penalty_per_pp)


def _repo_verifier(competition, args: argparse.Namespace):
    """How grade learns about the linked repository.

    In CI a separate step verifies it (holding the token) and passes the file, so
    the step that runs submission code never has a token in its environment.
    Locally, a GITHUB_TOKEN is used directly; with neither it is "not checked".
    """
    from grader.ci import github_api as gh
    from grader.core import schema

    if args.repo_verification is not None:
        saved = schema.read(args.repo_verification, "repo_verification")

        def from_file(url: str) -> gh.RepoVerification:
            if saved["url"] != url:
                return gh.RepoVerification("not_checked", "the verification file is about another URL")
            return gh.RepoVerification(saved["status"], saved["reason"])
        return from_file
    client = gh.client_from_env()
    if client is None:
        return None
    owner = args.pr_author if competition.require_owner_match else None
    return lambda url: gh.verify_repo(url, client=client, expected_owner=owner)


def _register_grade(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("grade", help="grade a submission folder end to end",
                       description="Rebuild, measure accuracy, time against the baseline, check the rules. "
                                   "Exit 0 valid, 1 graded with failed rules, 2 could not grade.")
    p.add_argument("folder", type=Path, help="submissions/<slug>/")
    p.add_argument("--out", type=Path, default=Path("result.json"), help="result JSON (default: result.json)")
    p.add_argument("--report", type=Path, help="also write the Markdown report here")
    p.add_argument("--repo-verification", type=Path, help="result of `verify-repo --out` (else GITHUB_TOKEN is used)")
    p.add_argument("--pr-author", help="the PR author's login, for the config's require_owner_match")
    _add_common_grade_flags(p)
    p.set_defaults(func=_cmd_grade)


_REGISTRY.append(_register_grade)


def _cmd_baseline(args: argparse.Namespace) -> int:
    from grader.baseline import model as baseline_model
    from grader.core import config, schema
    from grader.grading import grade

    measured = grade.measure_baseline(_resolve_data(args), config.load(args.config),
                                      Path(baseline_model.__file__).parent, isolation=args.isolation,
                                      seed=args.seed, progress=_progress_printer())
    schema.write(args.out, measured, "baseline")
    m = measured["metrics"]
    print(f"baseline: accuracy {m['accuracy_pct']:.2f}% (dithered {m['dithered_accuracy_pct']:.2f}%), "
          f"latency median {m['latency_ms_median']:.3f} ms, p90 {m['latency_ms_p90']:.3f} ms per image, "
          f"size {m['size_bytes']:,} B; wrote {args.out}")
    return EXIT_OK


def _cmd_data(args: argparse.Namespace) -> int:
    print(_resolve_data(args))
    return EXIT_OK


def _register_data(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="find CIFAR-10 (downloading and verifying it if needed); print its folder")
    p.add_argument("--data", type=Path, help="folder holding cifar-10-batches-py/ (default: $TINYMLPERF_DATA, "
                                             "then the user cache, then download)")
    p.add_argument("--no-download", action="store_true", help="never download CIFAR-10")
    p.set_defaults(func=_cmd_data)


def _register_baseline(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("baseline", help="measure the baseline alone on this machine (with hardware specs)")
    p.add_argument("--out", type=Path, default=Path("baseline.json"), help="output JSON (default: baseline.json)")
    _add_common_grade_flags(p)
    p.set_defaults(func=_cmd_baseline)


_REGISTRY += [_register_baseline, _register_data]
# --- GitHub pipeline commands (the workflows' only steps; see docs/organizers.md) ---------------

def _cmd_scope(args: argparse.Namespace) -> int:
    from grader.ci import actions, annotations, scope
    from grader.ci import github_api as gh
    from grader.core import config
    if args.name_status:
        try:
            files = scope.parse_name_status(Path(args.name_status).read_text(encoding="utf-8", errors="surrogateescape"))
        except (OSError, ValueError) as e:
            raise UsageError(f"{args.name_status}: {e}") from e
        listed = None
    else:
        repo = args.repo or os.environ.get("GITHUB_REPOSITORY")
        if not repo:
            raise UsageError("scope --pr needs --repo or $GITHUB_REPOSITORY")
        client = gh.make_client(gh.token_from_env(), gh.api_url_from_env())
        files, listed = gh.changed_files(client, repo, args.pr)
    if args.allow_no_submission and files and not scope.touches_submissions(files) and (
            listed is None or listed <= len(files)):
        print(annotations.emit("this PR changes no file under submissions/, so there is nothing to grade; "
                                  "its review decides", title="No submission", level="notice"))
        if args.github_output:
            actions.write_output(Path(args.github_output), "slug", "")
        return EXIT_OK
    result = scope.check(files, slug=config.load().submission.slug, listed_total=listed)
    for problem in result.problems:
        print(annotations.emit(problem, title="Not one submission"))
    if not result.ok:
        return EXIT_INVALID
    if args.github_output:
        actions.write_output(Path(args.github_output), "slug", result.slug or "")
    print(result.slug)
    return EXIT_OK


def _register_scope(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scope", help="the one submission slug a PR adds or changes (exit 1 with what to fix)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--name-status", metavar="FILE", help="output of `git diff --name-status -z BASE...HEAD`")
    src.add_argument("--pr", type=int, help="read the PR's files from the API (GITHUB_TOKEN, --repo)")
    p.add_argument("--repo", default=None, help="owner/name for --pr (default: $GITHUB_REPOSITORY)")
    p.add_argument("--github-output", metavar="FILE", help="append slug=<slug> to this $GITHUB_OUTPUT file")
    p.add_argument("--allow-no-submission", action="store_true",
                   help="exit 0 with an empty slug when no file under submissions/ changes (an organizer's PR)")
    p.set_defaults(func=_cmd_scope)


def _cmd_take_submission(args: argparse.Namespace) -> int:
    from grader.ci import annotations, intake
    from grader.core import config
    problems = intake.take_submission(Path(args.pr_root), args.slug, Path(args.dest), config.load().submission)
    for problem in problems:
        print(annotations.emit(problem, title="Submission folder"))
    return EXIT_INVALID if problems else EXIT_OK


def _register_take_submission(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("take-submission", help="copy only submissions/SLUG/ (regular files) from a PR checkout")
    p.add_argument("pr_root", help="the PR head's checkout")
    p.add_argument("slug")
    p.add_argument("--dest", default=".", help="the grader's tree (default: .)")
    p.set_defaults(func=_cmd_take_submission)


def _cmd_artifact_metadata(args: argparse.Namespace) -> int:
    from grader.ci import artifact
    print(artifact.write_metadata(Path(args.out), pr_number=args.pr, head_sha=args.head_sha,
                                  base_sha=args.base_sha, run_id=args.run_id))
    return EXIT_OK


def _register_artifact_metadata(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("artifact-metadata", help="write the grade artifact's metadata.json")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--pr", type=int, required=True)
    p.add_argument("--head-sha", required=True)
    p.add_argument("--base-sha", required=True)
    p.add_argument("--run-id", type=int, required=True)
    p.set_defaults(func=_cmd_artifact_metadata)


def _cmd_annotate(args: argparse.Namespace) -> int:
    from grader.ci import actions
    from grader.core import schema
    from grader.judge.result import GradeResult
    folder = Path(args.folder)
    result = GradeResult.from_json(schema.read(folder / "result.json", "result"), str(folder / "result.json"))
    for line in actions.result_annotations(result):
        print(line)
    if args.summary and (folder / "report.md").is_file():
        actions.append_summary(Path(args.summary), (folder / "report.md").read_text(encoding="utf-8"))
    return EXIT_OK


def _register_annotate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("annotate", help="print a result's annotations; append report.md to the job summary")
    p.add_argument("folder", help="folder holding result.json and report.md")
    p.add_argument("--summary", metavar="FILE", help="the $GITHUB_STEP_SUMMARY file")
    p.set_defaults(func=_cmd_annotate)


def _cmd_verify_repo(args: argparse.Namespace) -> int:
    from grader.ci import github_api as gh
    from grader.core import config, schema

    if (args.url is None) == (args.submission is None):
        raise UsageError("verify-repo: give either URL or --submission DIR")
    competition = config.load(args.config)
    url = args.url if args.url is not None else _submission_repo_url(args.submission, competition)
    if url is None:
        verification = gh.RepoVerification("not_checked", f"{args.submission} has no readable github_repo "
                                                          "(tinymlperf validate says why)")
        url = ""
    else:
        owner = args.expected_owner or (args.pr_author if competition.require_owner_match else None)
        verification = None
        if owner is None and args.merged_pr_author and competition.require_owner_match:
            try:
                owner = _merged_pr_author(args.submission)
            except GraderError as e:
                verification = gh.RepoVerification("not_checked", f"the merged PR's author is unknown: {e}")
        if verification is None:
            verification = gh.verify_repo(url, client=gh.client_from_env(), expected_owner=owner)
    if args.out:
        schema.write(args.out, {"schema_version": 1, "url": url, "status": verification.status,
                                "reason": verification.reason}, "repo_verification")
    print(f"{verification.status}: {verification.reason}")
    return {"verified": EXIT_OK, "failed": EXIT_INVALID}.get(verification.status, EXIT_ERROR)


def _merged_pr_author(folder: Path | None) -> str:
    """The author of the merged PR that last changed ``folder`` on HEAD (the leaderboard's athlete)."""
    from grader.ci import github_api as gh
    from grader.ci import merge_info

    if folder is None:
        raise UsageError("verify-repo: --merged-pr-author needs --submission")
    source = merge_info.source_commit(folder.parent, "HEAD", folder.name)
    repo = os.environ.get("GITHUB_REPOSITORY", "")
    if source is None:
        raise GraderError(f"{folder} is not in HEAD's history")
    client = gh.make_client(gh.token_from_env(), gh.api_url_from_env(), throttle=False)
    return gh.find_merged_pr(client, repo, source).athlete_login


def _submission_repo_url(folder: Path, competition) -> str | None:
    from grader.contract.validate import validate_folder

    submission = validate_folder(folder, competition).submission
    return submission.github_repo if submission else None


def _register_verify_repo(sub: argparse._SubParsersAction) -> None:
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
    p.add_argument("--config", type=Path, help="competition config (default: the packaged competition.yaml)")
    p.add_argument("--out", type=Path, help="also write the verification as JSON (for grade --repo-verification)")
    p.set_defaults(func=_cmd_verify_repo)


def _cmd_comment(args: argparse.Namespace) -> int:
    from grader.ci import event, post
    from grader.ci import github_api as gh
    event_path = Path(args.event or os.environ.get("GITHUB_EVENT_PATH", ""))
    run = post.parse_run(event.read(event_path), str(event_path))
    client = gh.client_from_env()
    if client is None:
        raise GitHubError("GITHUB_TOKEN is not set; the comment workflow must pass it in `env:`")
    try:
        outcome = post.post(run, Path(args.artifact), client=client,
                            server_url=os.environ.get("GITHUB_SERVER_URL", "https://github.com"),
                            bot_login=args.bot_login)
    except gh.StaleRun as e:
        from grader.ci import annotations
        print(annotations.emit(f"{e}", title="Stale grade run", level="notice"))
        return EXIT_OK
    except gh.PullMismatch as e:
        print(f"tinymlperf comment: refused: {e}", file=sys.stderr)
        return EXIT_INVALID
    print(outcome.message)
    return EXIT_OK


def _register_comment(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("comment", help="post or update the PR's score comment for a finished grade run")
    p.add_argument("--artifact", required=True, metavar="DIR", help="the downloaded grade artifact (hostile)")
    p.add_argument("--event", metavar="FILE", help="workflow_run event payload (default: $GITHUB_EVENT_PATH)")
    p.add_argument("--bot-login", default="github-actions[bot]", help="login whose comments may be edited")
    p.set_defaults(func=_cmd_comment)


_REGISTRY += [_register_scope, _register_take_submission, _register_artifact_metadata, _register_annotate,
              _register_verify_repo, _register_comment]
# ---------------------------------------------------------------- leaderboard (issue #6)

_BASELINE_WEIGHTS = Path(__file__).resolve().parents[1] / "baseline" / "weights.npz"


def _cmd_leaderboard(args: argparse.Namespace) -> int:
    from grader.board import leaderboard, record, standings
    from grader.core import config, files

    competition = config.load(args.config)
    records = record.load_all(args.submissions)
    # With no records nothing can be stale, so the weights are only needed once records exist.
    sha = leaderboard.baseline_sha256(args.baseline_weights) if records else None
    latest = standings.read(args.standings) if args.standings.exists() else None
    board = leaderboard.build(records, leaderboard.CurrentGrader(__version__, sha), competition.per_athlete,
                              competition.chart_entries, competition.name, standings=latest)
    content = leaderboard.render(board) + _unpublished_section(args.submissions)
    if args.check:
        try:
            same = args.out.read_text(encoding="utf-8") == content
        except OSError:
            same = False
        print(f"{args.out}: {'up to date' if same else 'out of date; run tinymlperf leaderboard'}")
        return EXIT_OK if same else EXIT_INVALID
    files.write_atomic(args.out, content)
    print(f"{args.out}: written from {len(records)} score record(s)")
    return EXIT_OK


def _unpublished_section(submissions: Path) -> str:
    """The board's "Not on the board" section from leaderboard-failures.json beside submissions/."""
    from grader.ci import publish_state

    section = publish_state.render_section(publish_state.read(submissions.parent / publish_state.STATE_NAME))
    return f"\n{section}" if section else ""


def _register_leaderboard(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("leaderboard", help="rebuild leaderboard.md from submissions/*/score.json")
    p.add_argument("--submissions", type=Path, default=Path("submissions"))
    p.add_argument("--out", type=Path, default=Path("leaderboard.md"))
    p.add_argument("--check", action="store_true", help="exit 1 if --out is not what would be written")
    p.add_argument("--config", type=Path, default=None, help="competition.yaml (default: packaged)")
    p.add_argument("--baseline-weights", type=Path, default=_BASELINE_WEIGHTS)
    p.add_argument("--standings", type=Path, default=Path("standings.json"),
                   help="the latest standings run, the ranking of record (default: standings.json, if present)")
    p.set_defaults(func=_cmd_leaderboard)


def _cmd_record(args: argparse.Namespace) -> int:
    from grader.ci import event, merge_info, publish
    from grader.ci import github_api as gh
    from grader.core import names

    if args.organizer is not None:
        if not names.LOGIN.match(args.organizer):
            raise UsageError(f"record: --organizer {args.organizer!r} is not a GitHub login")
        info = merge_info.MergeInfo(athlete_login=args.organizer, pr_number=None)

        def lookup(repo: str, sha: str) -> merge_info.MergeInfo:
            return info
    else:
        client = gh.make_client(gh.token_from_env(), args.api_url, throttle=False)

        def lookup(repo: str, sha: str) -> merge_info.MergeInfo:
            return gh.find_merged_pr(client, repo, sha)
    outcome = publish.record_result(args.result, args.slug, args.submissions, event.read(args.event),
                                    args.event_name, args.graded_commit, lookup, str(args.event))
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
    p.add_argument("--organizer", metavar="LOGIN",
                   help="the entry was committed to main directly by this organizer (no PR): attribute it to "
                        "LOGIN instead of asking the API for the merged PR")
    p.set_defaults(func=_cmd_record)


def _cmd_to_grade(args: argparse.Namespace) -> int:
    import json

    from grader.ci import merge_info, publish, publish_state

    state = publish_state.read(args.state or args.submissions.parent / publish_state.STATE_NAME)
    slugs = merge_info.to_grade(args.submissions, args.after, args.before, args.all,
                                lambda slug, source: publish_state.gave_up(state, slug, source))
    print(json.dumps(publish.chunks(slugs, args.chunk_size)))
    return EXIT_OK


def _register_to_grade(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("to-grade", help="print the submissions a leaderboard run must grade (JSON chunks)")
    p.add_argument("--submissions", type=Path, default=Path("submissions"))
    p.add_argument("--after", default="HEAD", help="the pushed commit")
    p.add_argument("--before", default=None, help="the commit main pointed to before the push")
    p.add_argument("--all", action="store_true", help="every submission (regrade-all)")
    p.add_argument("--chunk-size", type=int, default=4)
    p.add_argument("--state", type=Path, default=None,
                   help="entries that failed to publish, retried a bounded number of times "
                        "(default: leaderboard-failures.json beside the submissions folder)")
    p.set_defaults(func=_cmd_to_grade)


_REGISTRY += [_register_leaderboard, _register_record, _register_to_grade]
# --- validate / new (issue #2 [format]) -------------------------------------------------------------


def _register_validate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check a submission folder statically (no code is run)",
                       description="Check a submission folder statically; exit 0 valid, 1 invalid, 2 usage error.")
    p.add_argument("folder", type=Path, metavar="DIR", help="the submission folder, e.g. submissions/my-entry")
    p.add_argument("--json", action="store_true", help="print the result as JSON (schemas/validation.schema.json)")
    p.add_argument("--config", type=Path, help="competition.yaml to use instead of the packaged one")
    p.set_defaults(func=_cmd_validate)


def _cmd_validate(args: argparse.Namespace) -> int:
    from grader.ci import annotations
    from grader.contract import validate
    from grader.core import config, schema

    result = validate.validate_folder(args.folder, config.load(args.config))
    if args.json:
        sys.stdout.write(schema.dumps(result.to_json()))
        if annotations.active():  # stdout stays pure JSON; the runner reads workflow commands from stderr too
            sys.stderr.write(annotations.emit_problems(result.problems))
    else:
        sys.stdout.write(annotations.emit_problems(result.problems))
        count = len(result.problems)
        print(f"{result.to_json()['folder']}: " + ("valid" if result.ok else
                                                    f"{count} problem{'s' * (count != 1)}"))
    return EXIT_OK if result.ok else EXIT_INVALID


def _register_new(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("new", help="create submissions/SLUG/ from the baseline, ready to validate and grade",
                       description="Scaffold a submission folder that passes validate; refuses to overwrite.")
    p.add_argument("slug", metavar="SLUG", help="folder name: lowercase letters, digits, hyphens")
    p.add_argument("--division", choices=["closed", "open"],
                   help="required unless --from-tinytorch names it")
    p.add_argument("--from-tinytorch", type=Path, metavar="SUBMISSION_JSON",
                   help="fill submission.yaml from TinyTorch's submission.json (generate_submission)")
    p.add_argument("--root", type=Path, default=Path("submissions"), help="where to create it (default: submissions)")
    p.add_argument("--athlete", dest="athlete_name", help="your name for the leaderboard (default: SLUG)")
    p.add_argument("--github-repo", help="https URL of your GitHub repository")
    p.add_argument("--baseline-weights", type=Path,
                   help="baseline weights.npz to copy for the Open Division (default: the packaged one)")
    p.set_defaults(func=_cmd_new)


def _cmd_new(args: argparse.Namespace) -> int:
    from grader.contract import scaffold
    from grader.core import config

    imported = None
    if args.from_tinytorch is not None:
        imported, found = scaffold.read_tinytorch(args.from_tinytorch)
        for problem in found:
            print(problem, file=sys.stderr)
        if imported is None:
            return EXIT_INVALID
    division = args.division or (imported.division if imported else None)
    if division is None:
        raise UsageError("--division is required (closed or open) unless --from-tinytorch names it")
    if imported is not None and division != imported.division:
        raise UsageError(f"--division {division} contradicts division {imported.division!r} in "
                         f"{args.from_tinytorch}; drop one")
    try:
        folder = scaffold.create(args.slug, division, args.root, config.load(),
                                 athlete_name=args.athlete_name, github_repo=args.github_repo,
                                 baseline_weights=args.baseline_weights, imported=imported)
    except scaffold.FolderExists as e:
        print(f"tinymlperf: {e}", file=sys.stderr)
        return EXIT_INVALID
    for note in imported.notes if imported else ():
        print(f"{note} (not in submission.yaml)", file=sys.stderr)
    print(scaffold.next_steps(folder, division))
    return EXIT_OK


_REGISTRY += [_register_validate, _register_new]


# --- the student's own tools (profile, compare): an entry beside the baseline, in the sandbox, never a score ---

STUDENT_TOOLS = {
    # command: (help, default --images, what --images means, the report's heading)
    "profile": ("where the entry's time goes (per function) and its size per array, beside the baseline's, run in "
                "the sandbox (for you; never for ranking)", 200, "test images to profile, one per call", "Profile"),
    "compare": ("compare the entry's predictions with the baseline's on the test images (agreement, accuracy per "
                "class, what it gets wrong that the baseline did not)", 10_000, "first test images to compare",
                "Compared with the baseline"),
}


def _register_student_tools(sub: argparse._SubParsersAction) -> None:
    for name, (help_text, images, images_help, _) in STUDENT_TOOLS.items():
        p = sub.add_parser(name, help=help_text)
        p.add_argument("folder", type=Path, help="the submission folder")
        p.add_argument("--images", type=int, default=images, help=f"{images_help} (default {images})")
        p.add_argument("--report", type=Path, help="also append it to this Markdown file (e.g. report.md)")
        _add_common_grade_flags(p)
        p.set_defaults(func=_cmd_student_tool)


def _cmd_student_tool(args: argparse.Namespace) -> int:
    from grader.baseline import model as baseline_model
    from grader.core import config
    from grader.grading import compare, grade, profiling

    if not args.folder.is_dir():
        raise UsageError(f"{args.folder}: not a folder")
    if not 1 <= args.images <= 10_000:
        raise UsageError("--images must be between 1 and 10000")
    request = grade.GradeRequest(folder=args.folder, data_dir=_resolve_data(args), config=config.load(args.config),
                                 baseline_dir=Path(baseline_model.__file__).parent, isolation=args.isolation)
    try:
        if args.command == "profile":
            text = profiling.render(*profiling.profile(request, args.images, progress=_progress_printer()))
        else:
            text = compare.render(compare.compare(request, args.images, progress=_progress_printer()))
    except SubmissionError as e:
        print(f"tinymlperf {args.command}: {e}", file=sys.stderr)
        return EXIT_INVALID
    print(text, end="")
    if args.report:
        _append_section(args.report, STUDENT_TOOLS[args.command][3], text)
    return EXIT_OK


def _append_section(report: Path, heading: str, text: str) -> None:
    """Append ``### heading`` and ``text`` to the Markdown file ``report`` (created when missing)."""
    before = report.read_text(encoding="utf-8") if report.exists() else ""
    report.write_text(before + ("\n" if before else "") + f"### {heading}\n\n" + text, encoding="utf-8")


_REGISTRY.append(_register_student_tools)
# --- standings (issue #12): the leaders re-timed together ------------------------------------------


def _cmd_standings(args: argparse.Namespace) -> int:
    import json
    import time

    from grader.baseline import model as baseline_model
    from grader.board import leaderboard, record, standings
    from grader.ci import actions
    from grader.core import config, schema
    from grader.grading import standings_run

    competition = config.load(args.config)
    records = record.load_all(args.submissions)
    sha = leaderboard.baseline_sha256(_BASELINE_WEIGHTS)
    plan = standings.plan(standings.choose(records, leaderboard.CurrentGrader(__version__, sha), competition),
                          competition)
    print(standings.describe_plan(plan, competition), flush=True)
    if args.combine:
        if args.expect_groups is not None:
            plan = standings.Plan((), standings.parse_groups(args.expect_groups, "--expect-groups"), ())
        groups = [schema.read(path, standings.GROUP_SCHEMA) for path in args.combine]
        result = standings.combine(groups, records, competition, plan, ", ".join(map(str, args.combine)))
        schema.write(args.out, result, standings.SCHEMA)
        print(f"{args.out}: written from {len(groups)} group result(s)")
        return EXIT_OK
    if args.plan_only:
        if args.github_output:
            actions.write_output(Path(args.github_output), "indices", json.dumps(list(range(len(plan.groups)))))
            actions.write_output(Path(args.github_output), "groups", json.dumps([list(g) for g in plan.groups]))
        return EXIT_OK
    if not plan.groups:
        print("standings: no valid entries to time")
        return EXIT_OK
    by_slug = {r.slug: r for r in records}
    run_id = args.run_id or os.urandom(6).hex()
    common = dict(isolation=args.isolation, seed=args.seed, progress=_progress_printer())
    started = time.monotonic()
    if args.group is not None:
        if not 0 <= args.group < len(plan.groups):
            raise UsageError(f"standings: --group {args.group}: the plan has groups 0..{len(plan.groups) - 1}")
        accuracy = {s: by_slug[s].accuracy_pct or 0.0 for s in plan.groups[args.group]}
        result = standings_run.time_group(plan.groups[args.group], accuracy, args.submissions, _resolve_data(args),
                                          competition, Path(baseline_model.__file__).parent, group=args.group,
                                          run_id=run_id, **common)
        schema.write(args.group_out, result, standings.GROUP_SCHEMA)
        print(f"{args.group_out}: group {args.group} timed in {result['minutes']:.1f} minutes")
        return EXIT_OK
    groups = standings_run.run_all(plan, by_slug, args.submissions, _resolve_data(args), competition,
                                   Path(baseline_model.__file__).parent, run_id=run_id, **common)
    result = standings.combine(groups, records, competition, plan)
    schema.write(args.out, result, standings.SCHEMA)
    print(f"{args.out}: written; measured {(time.monotonic() - started) / 60:.1f} minutes "
          f"(estimated {plan.minutes:.1f})")
    print(standings.summary(result))
    return EXIT_OK


def _register_standings(sub: argparse._SubParsersAction) -> None:
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
    _add_common_grade_flags(p)
    p.set_defaults(func=_cmd_standings)


_REGISTRY.append(_register_standings)


def _deployment_commands() -> list[Callable[[argparse._SubParsersAction], None]]:
    from grader.cli import deploy as cli_deploy  # the leaderboard's publish step and the organizer's checks
    return cli_deploy.REGISTRY


_REGISTRY += _deployment_commands()
