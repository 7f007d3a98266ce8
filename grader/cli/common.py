"""What the ``tinymlperf`` commands share: the parser class, one way to add a command, flags several
commands take, and the small factories that build a command's collaborators from flags and the
environment (where CIFAR-10 is, a GitHub client, the progress printer).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from grader.core.errors import UsageError

if TYPE_CHECKING:
    from github import Github

Subcommands = argparse._SubParsersAction
# Adds one subcommand to the parser and sets its ``func`` (namespace -> exit code). Every command is
# one of these, listed in its audience module's ``COMMANDS``; ``grader.cli.main`` adds them all.
AddCommand = Callable[[Subcommands], None]


class Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so main() owns every exit code."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def add_config_flag(p: argparse.ArgumentParser) -> None:
    """``--config``: for a command whose behaviour depends on competition.yaml."""
    p.add_argument("--config", type=Path, help="competition config (default: the packaged competition.yaml)")


def add_data_flags(p: argparse.ArgumentParser) -> None:
    """``--data`` and ``--no-download``: where CIFAR-10 is."""
    p.add_argument("--data", type=Path, help="folder holding cifar-10-batches-py/ (default: $TINYMLPERF_DATA, "
                                             "then the user cache, then download)")
    p.add_argument("--no-download", action="store_true", help="never download CIFAR-10")


def add_run_flags(p: argparse.ArgumentParser, *, seed: bool = True) -> None:
    """The flags of every command that runs entries: data, config, isolation, and seed where it has a use."""
    add_data_flags(p)
    add_config_flag(p)
    p.add_argument("--isolation", choices=["auto", "process"], default="auto",
                   help="auto: a uid of its own in its own PID, network and mount namespaces where possible")
    if seed:
        p.add_argument("--seed", type=int, help="seed for dither noise and timing order (default: fresh per run)")


def data_finder(args: argparse.Namespace) -> Callable[[], Path]:
    """Finds CIFAR-10 when called (``--data``, $TINYMLPERF_DATA, the cache, else a download unless forbidden)."""
    from grader.measure import data

    def find() -> Path:
        progress = data.terminal_progress if sys.stderr.isatty() else None
        return data.resolve(args.data, download=not args.no_download, progress=progress)
    return find


def progress_printer() -> Callable[[str], None]:
    """The progress lines of a run, on stderr."""
    from grader.grading import progress

    return progress.printer()


def github_client() -> Github | None:
    """A PyGithub client from GITHUB_TOKEN and GITHUB_API_URL, or None without a token."""
    from grader.ci import github_api as gh

    return gh.client_from_env()


def repository(given: str | None, command: str) -> str:
    """``--repo`` or $GITHUB_REPOSITORY; a usage error naming ``command`` without either."""
    repo = given or os.environ.get("GITHUB_REPOSITORY")
    if not repo:
        raise UsageError(f"{command} needs --repo or $GITHUB_REPOSITORY")
    return repo
