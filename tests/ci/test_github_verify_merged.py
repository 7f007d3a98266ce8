"""verify-repo at merge time: the linked repository is checked against the merged PR's author (require_owner_match)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests import gitfixture
from tests.github_server import GitHubServer

ROOT = Path(__file__).resolve().parents[2]
REPO = "tinyml/tinymlperf"


def _config(tmp: Path, require: bool) -> Path:
    raw = yaml.safe_load((ROOT / "grader" / "competition.yaml").read_text())
    raw["github"]["require_owner_match"] = require
    path = tmp / f"competition-{require}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _verify(checkout: Path, api: GitHubServer, config: Path, out: Path) -> tuple[int, str, dict[str, str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GITHUB_TOKEN": "ghs_test", "GITHUB_API_URL": api.url,
           "GITHUB_REPOSITORY": REPO}
    done = subprocess.run([sys.executable, "-m", "grader", "verify-repo", "--submission", "submissions/ada-int8",
                           "--merged-pr-author", "--config", str(config), "--out", str(out)],
                          cwd=checkout, env=env, capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout + done.stderr, json.loads(out.read_text())


@pytest.mark.slow
def test_the_repo_must_belong_to_the_merged_prs_author_not_to_whoever_the_yaml_names(tmp_path: Path) -> None:
    origin = gitfixture.origin(tmp_path)
    entry = (ROOT / "submissions" / "closed-int8-prune" / "submission.yaml").read_text().replace(
        "https://github.com/harvard-edge/cs249r_book", "https://github.com/mallory/tinytorch")
    merge = origin.merge_pr("ada-int8", "2025-03-01T10:00:00+00:00", content=entry)
    merge_later = origin.merge_pr("bo-other", "2025-03-02T10:00:00+00:00")  # HEAD is another PR's merge
    checkout = origin.clone(tmp_path / "checkout")
    with GitHubServer() as api:
        api.state.add_token("ghs_test", "github-actions[bot]")
        api.state.add_repo(REPO, {"README.md": "x"})
        api.state.add_repo("mallory/tinytorch", {"train.py": "print(1)\n"})
        api.state.merge(REPO, merge.after, 7, "ada")
        api.state.merge(REPO, merge_later.after, 8, "bo")
        code, out, saved = _verify(checkout, api, _config(tmp_path, True), tmp_path / "repo.json")
        assert code == 1 and saved["status"] == "failed", out
        assert saved["reason"] == "repository belongs to mallory, not the PR author ada"
        # Without the rule the same repository is fine: it exists and holds code.
        code, out, saved = _verify(checkout, api, _config(tmp_path, False), tmp_path / "repo2.json")
        assert code == 0 and saved["status"] == "verified", out
        # No merged PR for the entry's commit: not checked, and says why (the grade records it).
        api.state.commit_pulls.clear()
        code, out, saved = _verify(checkout, api, _config(tmp_path, True), tmp_path / "repo3.json")
        assert code == 2 and saved["status"] == "not_checked"
        assert saved["reason"].startswith("the merged PR's author is unknown: ") and "expected one merged" in out
