"""What the grader imports: every third-party package declared and locked; grading without the GitHub client."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(lines: list[str]) -> set[str]:
    return {_canonical(re.split(r"[<>=!~;\[ ]", line.strip(), maxsplit=1)[0]) for line in lines
            if line.strip() and not line.lstrip().startswith("#")}


def _imported_distributions() -> dict[str, set[str]]:
    """Distribution -> the grader modules that import one of its packages (absolute imports outside the stdlib)."""
    owners = metadata.packages_distributions()
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "grader").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top == "grader":
                    continue
                for dist in owners.get(top, [f"<no distribution provides {top}>"]):
                    found.setdefault(_canonical(dist), set()).add(path.relative_to(ROOT).as_posix())
    return found


def test_every_imported_package_is_declared_and_hash_locked() -> None:
    declared = _requirement_names(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    imported = _imported_distributions()
    assert {"numpy", "pygithub", "requests", "referencing"} <= set(imported), imported  # the scan sees imports
    assert {d: m for d, m in imported.items() if d not in declared} == {}
    ci_in = _requirement_names((ROOT / "requirements" / "ci.in").read_text().splitlines())
    assert ci_in - {"setuptools"} == declared  # "Keep in step with [project] dependencies"
    locked = {_canonical(n) for n in re.findall(r"^([A-Za-z0-9_.-]+)==", (ROOT / "requirements" / "ci.txt").read_text(),
                                                  re.M)}
    assert declared - locked == set()


def test_grading_does_not_load_the_github_client() -> None:
    """grade.py needs only RepoVerification's shape; PyGithub and requests cost ~40% of its import time."""
    code = ("import json, sys; import grader.grading.grade, grader.grading.compare, grader.grading.profiling, "
            "grader.grading.standings_run; print(json.dumps(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('github', 'requests', 'urllib3'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert json.loads(done.stdout) == []
    done = subprocess.run([sys.executable, "-c", code.replace("grader.grading.grade,", "grader.ci.github_api,", 1)],
                          capture_output=True, text=True, timeout=120, check=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert "github" in json.loads(done.stdout)  # the check can fail: the GitHub side does load it
