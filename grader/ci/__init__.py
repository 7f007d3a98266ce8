"""GitHub: the REST API behind one interface (``github_api``, the only place a client is made), the event
payload (``event``), Actions annotations (one policy: ``annotations.emit``) and outputs, the PR's scope and
intake, the grade artifact, the PR comment, posting it, verifying a linked repository
(``repo_verification``), publishing the board under branch protection, and checking a repository's
settings (``doctor``). The workflows' commands, each returning its exit code, are ``pr_commands``
(per pull request) and ``board_commands`` (publishing the board).

May import: ``grader.board`` and below; never ``grader.grading`` or ``grader.cli``.
"""
