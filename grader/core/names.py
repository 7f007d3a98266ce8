"""The shapes of GitHub names the grader trusts, each defined once: a login, ``owner/name``, a commit, a repo URL.

The patterns are the ones in ``schemas/score.schema.json`` (``athlete_login``,
``repository``, ``merge_commit_sha``) and ``schemas/submission.schema.json``
(``github_repo``); ``tests/core/test_patterns.py`` checks that they agree.
"""

from __future__ import annotations

import re

OWNER = r"[A-Za-z0-9][A-Za-z0-9-]{0,38}"  # a GitHub login: an account or organization
NAME = r"[A-Za-z0-9._-]{1,100}"  # a repository's name

LOGIN = re.compile(rf"^{OWNER}$")
REPOSITORY = re.compile(rf"^{OWNER}/{NAME}$")
SHA = re.compile(r"^[0-9a-f]{40}$")
REPO_URL = re.compile(rf"^https://github\.com/({OWNER})/({NAME})/?$")
# REPO_URL, with a clone URL's ".git" left out of the name
_CLONE_URL = re.compile(rf"^https://github\.com/({OWNER})/({NAME}?)(?:\.git)?/?$")


def parse_repo_url(url: str) -> tuple[str, str] | None:
    """``(owner, name)`` of an ``https://github.com/owner/name`` URL (``.git`` and a final ``/`` allowed), else None."""
    match = _CLONE_URL.match(url.strip())
    return (match.group(1), match.group(2)) if match else None
