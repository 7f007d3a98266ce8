"""GitHub: the REST API behind one interface (``github_api``, the only place a client is made), the event
payload (``event``), Actions annotations (one policy: ``annotations.emit``) and outputs, the PR's scope and
intake, the grade artifact, the PR comment, posting it, and publishing the board under branch protection.

May import: ``grader.board`` and below; never ``grader.grading`` or ``grader.cli``.
"""
