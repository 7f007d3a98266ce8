"""The steps of the grade and comment workflows on a pull request, each returning its exit code.

``scope`` (which submission the PR is about), ``take_submission`` (copy only that
folder from the PR's checkout), ``artifact_metadata``, ``annotate`` (the result's
annotations and job summary) and ``comment`` (post the score). The ``tinymlperf``
CLI turns flags into these arguments and builds the GitHub clients; the policy
(what is printed, which outcome is which exit code) lives here.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from github import Github

from grader.ci import actions, artifact, intake, post, scope
from grader.ci import github_api as gh
from grader.ci.annotations import emit
from grader.core import config, schema
from grader.core.errors import EXIT_INVALID, EXIT_OK, UsageError
from grader.judge.result import GradeResult


@dataclass(frozen=True)
class ScopeOptions:
    """``scope``: the changed files come from ``name_status`` (a ``git diff --name-status -z`` file) or PR ``pr``."""

    name_status: Path | None
    pr: int | None = None
    repo: str | None = None  # owner/name, for ``pr``
    github_output: Path | None = None
    allow_no_submission: bool = False
    config: Path | None = None


def run_scope(options: ScopeOptions, *, client: Github | None = None) -> int:
    """Print the one slug the PR submits (exit 0), or every problem (exit 1). ``client`` reads PR ``pr``'s files."""
    if options.name_status is not None:
        try:
            files = scope.parse_name_status(options.name_status.read_text(encoding="utf-8",
                                                                          errors="surrogateescape"))
        except (OSError, ValueError) as e:
            raise UsageError(f"{options.name_status}: {e}") from e
        listed = None
    else:
        if client is None or options.repo is None or options.pr is None:
            raise UsageError("scope --pr needs a repository and a GitHub client")
        files, listed = gh.changed_files(client, options.repo, options.pr)
    if options.allow_no_submission and files and not scope.touches_submissions(files) and (
            listed is None or listed <= len(files)):
        print(emit("this PR changes no file under submissions/, so there is nothing to grade; "
                               "its review decides", title="No submission", level="notice"))
        if options.github_output:
            actions.write_output(options.github_output, "slug", "")
        return EXIT_OK
    result = scope.check(files, slug=config.load(options.config).submission.slug, listed_total=listed)
    for problem in result.problems:
        print(emit(problem, title="Not one submission"))
    if not result.ok:
        return EXIT_INVALID
    if options.github_output:
        actions.write_output(options.github_output, "slug", result.slug or "")
    print(result.slug)
    return EXIT_OK


def run_take_submission(pr_root: Path, slug: str, dest: Path, config_path: Path | None = None) -> int:
    """Copy ``submissions/<slug>/`` from the PR's checkout into ``dest``; exit 1 with annotations on a problem."""
    problems = intake.take_submission(pr_root, slug, dest, config.load(config_path).submission)
    for problem in problems:
        print(emit(problem, title="Submission folder"))
    return EXIT_INVALID if problems else EXIT_OK


@dataclass(frozen=True)
class ArtifactMetadata:
    """``artifact-metadata``: what the comment workflow needs to know about the grade run."""

    out: Path
    pr: int
    head_sha: str
    base_sha: str
    run_id: int


def run_artifact_metadata(options: ArtifactMetadata) -> int:
    """Write the grade artifact's ``metadata.json`` and print its path."""
    print(artifact.write_metadata(options.out, pr_number=options.pr, head_sha=options.head_sha,
                                  base_sha=options.base_sha, run_id=options.run_id))
    return EXIT_OK


def run_annotate(folder: Path, summary: Path | None = None) -> int:
    """Print ``folder/result.json``'s annotations; append ``folder/report.md`` to the job ``summary``."""
    result = GradeResult.from_json(schema.read(folder / "result.json", "result"), str(folder / "result.json"))
    for line in actions.result_annotations(result):
        print(line)
    if summary and (folder / "report.md").is_file():
        actions.append_summary(summary, (folder / "report.md").read_text(encoding="utf-8"))
    return EXIT_OK


@dataclass(frozen=True)
class CommentOptions:
    """``comment``: where the downloaded grade artifact is and whose comments may be edited."""

    artifact: Path
    server_url: str = "https://github.com"
    bot_login: str = "github-actions[bot]"
    config: Path | None = None


def run_comment(run: post.RunInfo, options: CommentOptions, *, client: Github) -> int:
    """Post or update the PR's score comment: exit 0 (also for a stale run, as a notice), 1 when refused.

    The config is read before GitHub is asked anything, so a broken one fails the step with its name.
    """
    competition = config.load(options.config)
    try:
        outcome = post.post(run, options.artifact, client=client, server_url=options.server_url,
                            bot_login=options.bot_login, load_config=lambda: competition)
    except gh.StaleRun as e:
        print(emit(f"{e}", title="Stale grade run", level="notice"))
        return EXIT_OK
    except gh.PullMismatch as e:
        print(f"tinymlperf comment: refused: {e}", file=sys.stderr)
        return EXIT_INVALID
    print(outcome.message)
    return EXIT_OK
