"""The grader's expected failures: one base class, a few kinds.

Problems in a student's folder are *results* (see ``grader.contract.validate``), not
exceptions. These exceptions are for runs that cannot go on; only the CLI turns
them into one-line messages and exit codes. Anything else is a bug.

Every command returns one of three exit codes: ``EXIT_OK`` (success: a valid
submission, a written file), ``EXIT_INVALID`` (the input was checked and has
problems: an invalid submission, failed rules) and ``EXIT_ERROR`` (could not run:
usage error, missing data, sandbox or GitHub failure).
"""

from __future__ import annotations

EXIT_OK, EXIT_INVALID, EXIT_ERROR = 0, 1, 2


class GraderError(Exception):
    """Base of every expected failure; the message is shown to the user as is."""


class UsageError(GraderError):
    """The command was called wrongly (exit 2)."""


class DataError(GraderError):
    """CIFAR-10 could not be found, fetched, or read."""


class SubmissionError(GraderError):
    """A submission folder cannot be graded at all (as opposed to failing a rule)."""


class SandboxError(GraderError):
    """The sandboxed worker failed, timed out, or broke the protocol."""


class GitHubError(GraderError):
    """A GitHub API call failed; the message carries a hint (token scope, rate limit)."""


class WorkerLimitError(SandboxError, SubmissionError):
    """The submission's code hit a sandbox limit (wall clock, CPU time, file size): its fault, not ours.

    A SandboxError (the worker is gone) that grading reports as the entry's failure, not as
    "could not grade".
    """


class BudgetExceeded(WorkerLimitError):
    """The submission's code ran past a stage's time budget (competition.yaml ``budgets:``).

    Graded as the entry's failed ``time_budget`` check, like an entry stopped early for being
    too slow, rather than as a crash (``runs``).
    """
