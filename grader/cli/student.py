"""The commands a student runs (docs/submitting.md): ``new``, ``validate``, ``grade``, ``profile``,
``compare`` and ``baseline``. ``grade`` is also the grading step of the workflows.

Flags in, options out, then ``grader.grading.folder_commands`` or ``grader.grading.commands``;
nothing else happens here.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from grader.cli import common

if TYPE_CHECKING:
    from grader.grading.commands import Tool


def _add_new(sub: common.Subcommands) -> None:
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
    common.add_config_flag(p)
    p.set_defaults(func=_new)


def _new(args: argparse.Namespace) -> int:
    from grader.grading import folder_commands

    return folder_commands.run_new(folder_commands.NewOptions(
        slug=args.slug, division=args.division, from_tinytorch=args.from_tinytorch, root=args.root,
        athlete_name=args.athlete_name, github_repo=args.github_repo, baseline_weights=args.baseline_weights,
        config=args.config))


def _add_validate(sub: common.Subcommands) -> None:
    p = sub.add_parser("validate", help="check a submission folder statically (no code is run)",
                       description="Check a submission folder statically; exit 0 valid, 1 invalid, 2 usage error.")
    p.add_argument("folder", type=Path, metavar="DIR", help="the submission folder, e.g. submissions/my-entry")
    p.add_argument("--json", action="store_true", help="print the result as JSON (schemas/validation.schema.json)")
    p.add_argument("--config", type=Path, help="competition.yaml to use instead of the packaged one")
    p.set_defaults(func=_validate)


def _validate(args: argparse.Namespace) -> int:
    from grader.grading import folder_commands

    return folder_commands.run_validate(args.folder, args.config, as_json=args.json)


def _add_grade(sub: common.Subcommands) -> None:
    p = sub.add_parser("grade", help="grade a submission folder end to end",
                       description="Rebuild, measure accuracy, time against the baseline, check the rules. "
                                   "Exit 0 valid, 1 graded with failed rules, 2 could not grade.")
    p.add_argument("folder", type=Path, help="submissions/<slug>/")
    p.add_argument("--out", type=Path, default=Path("result.json"), help="result JSON (default: result.json)")
    p.add_argument("--report", type=Path, help="also write the Markdown report here")
    p.add_argument("--repo-verification", type=Path, help="result of `verify-repo --out` (else GITHUB_TOKEN is used)")
    p.add_argument("--pr-author", help="the PR author's login, for the config's require_owner_match")
    common.add_run_flags(p)
    p.set_defaults(func=_grade)


def _grade(args: argparse.Namespace) -> int:
    from grader.grading import commands

    options = commands.GradeOptions(folder=args.folder, out=args.out, report=args.report,
                                    repo_verification=args.repo_verification, pr_author=args.pr_author,
                                    config=args.config, isolation=args.isolation, seed=args.seed)
    return commands.run_grade(options, find_data=common.data_finder(args), github=common.github_client(),
                              progress=common.progress_printer())


# tool: (help, default --images, what --images means)
TOOLS: dict[Tool, tuple[str, int, str]] = {
    "profile": ("where the entry's time goes (per function) and its size per array, beside the baseline's, run in "
                "the sandbox (for you; never for ranking)", 200, "test images to profile, one per call"),
    "compare": ("compare the entry's predictions with the baseline's on the test images (agreement, accuracy per "
                "class, what it gets wrong that the baseline did not)", 10_000, "first test images to compare"),
}


def _tool_command(tool: Tool) -> common.AddCommand:
    help_text, images, images_help = TOOLS[tool]

    def add(sub: common.Subcommands) -> None:
        p = sub.add_parser(tool, help=help_text)
        p.add_argument("folder", type=Path, help="the submission folder")
        p.add_argument("--images", type=int, default=images, help=f"{images_help} (default {images})")
        p.add_argument("--report", type=Path, help="also append it to this Markdown file (e.g. report.md)")
        common.add_run_flags(p, seed=False)  # no dither, no random order: a seed would change nothing
        p.set_defaults(func=lambda args: _tool(tool, args))
    return add


def _tool(tool: Tool, args: argparse.Namespace) -> int:
    from grader.grading import commands

    options = commands.ToolOptions(folder=args.folder, images=args.images, report=args.report, config=args.config,
                                   isolation=args.isolation)
    return commands.run_tool(tool, options, find_data=common.data_finder(args), progress=common.progress_printer())


def _add_baseline(sub: common.Subcommands) -> None:
    p = sub.add_parser("baseline", help="measure the baseline alone on this machine (with hardware specs)")
    p.add_argument("--out", type=Path, default=Path("baseline.json"), help="output JSON (default: baseline.json)")
    common.add_run_flags(p)
    p.set_defaults(func=_baseline)


def _baseline(args: argparse.Namespace) -> int:
    from grader.grading import commands

    options = commands.BaselineOptions(out=args.out, config=args.config, isolation=args.isolation, seed=args.seed)
    return commands.run_baseline(options, find_data=common.data_finder(args), progress=common.progress_printer())


COMMANDS: tuple[common.AddCommand, ...] = (_add_new, _add_validate, _add_grade, _tool_command("profile"),
                                           _tool_command("compare"), _add_baseline)
