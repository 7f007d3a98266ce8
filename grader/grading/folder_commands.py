"""The student's commands on a submission folder that run none of its code, each returning its exit
code: ``validate`` (check it statically) and ``new`` (scaffold one from the baseline).

Kept apart from ``grader.grading.commands`` so these quick commands load no sandbox or numpy.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from grader.ci import annotations as actions_output
from grader.contract import scaffold, validate
from grader.contract.submission import Division
from grader.core import config, schema
from grader.core.errors import EXIT_INVALID, EXIT_OK, UsageError


def run_validate(folder: Path, config_path: Path | None = None, *, as_json: bool = False,
                 env: Mapping[str, str] = os.environ) -> int:
    """Check ``folder`` statically; print every problem (or the JSON result); exit 0 valid, 1 invalid.

    Each problem prints as ``emit`` says: its annotation on GitHub Actions, else ``file:line:col: message``.
    Under ``as_json`` stdout stays pure JSON, and on Actions the annotations go to stderr (the runner
    reads workflow commands from both).
    """
    result = validate.validate_folder(folder, config.load(config_path))
    if as_json:
        sys.stdout.write(schema.dumps(result.to_json()))
        if actions_output.active(env):
            sys.stderr.write(actions_output.emit_problems(result.problems, env))
    else:
        sys.stdout.write(actions_output.emit_problems(result.problems, env))
        count = len(result.problems)
        print(f"{result.to_json()['folder']}: " + ("valid" if result.ok else
                                                    f"{count} problem{'s' * (count != 1)}"))
    return EXIT_OK if result.ok else EXIT_INVALID


@dataclass(frozen=True)
class NewOptions:
    """``new``: the entry to scaffold; ``division`` may come from ``from_tinytorch`` instead."""

    slug: str
    division: Division | None = None
    from_tinytorch: Path | None = None  # TinyTorch's submission.json
    root: Path = Path("submissions")
    athlete_name: str | None = None
    github_repo: str | None = None
    baseline_weights: Path | None = None
    config: Path | None = None


def run_new(options: NewOptions) -> int:
    """Create ``root/slug/`` and print the next steps; exit 1 when the TinyTorch file or an existing folder stops it."""
    imported = None
    if options.from_tinytorch is not None:
        imported, found = scaffold.read_tinytorch(options.from_tinytorch)
        for problem in found:
            print(problem, file=sys.stderr)
        if imported is None:
            return EXIT_INVALID
    division = options.division or (imported.division if imported else None)
    if division is None:
        raise UsageError("--division is required (closed or open) unless --from-tinytorch names it")
    if imported is not None and division != imported.division:
        raise UsageError(f"--division {division} contradicts division {imported.division!r} in "
                         f"{options.from_tinytorch}; drop one")
    try:
        folder = scaffold.create(options.slug, division, options.root, config.load(options.config),
                                 athlete_name=options.athlete_name, github_repo=options.github_repo,
                                 baseline_weights=options.baseline_weights, imported=imported)
    except scaffold.FolderExists as e:
        print(f"tinymlperf: {e}", file=sys.stderr)
        return EXIT_INVALID
    for note in imported.notes if imported else ():
        print(f"{note} (not in submission.yaml)", file=sys.stderr)
    print(scaffold.next_steps(folder, division))
    return EXIT_OK
