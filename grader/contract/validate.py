"""``tinymlperf validate``: static checks of a submission folder, every problem at once.

No submission code runs here: files are listed without following links, read
with ``O_NOFOLLOW``, Python is only parsed (``ast``), YAML is loaded strictly
(``grader.core.yamlsrc``) and checked against ``schemas/submission.schema.json``,
``.npz`` files are inspected before numpy reads them (``grader.contract.weightfile``).

The folder format: a folder ``submissions/<slug>/`` with
``submission.yaml``, ``model.py`` (defines ``load(folder) -> model``),
``build.py`` (defines ``build(baseline_dir, calibration_images, out_dir)``;
required in the Closed Division), ``.npz`` weight files (required in the Open
Division unless ``build.py`` makes them), an optional ``README.md``, and at most
one package folder of the entry's own Python code (a TinyTorch subset, say):
``.py`` files only, an ``__init__.py`` in it and in each of its subpackages, at
most ``PACKAGE_MAX_DEPTH`` folders deep, named so that it cannot shadow a
standard-library or allowed module (``package_name_problem``). Its files count
in every limit exactly as top-level files do (files, bytes, code bytes, the
Closed Division's code bytes).

A Closed Division entry ships code and documentation only: its weights must be
what its recipe makes from the baseline's, so a data file in it (``.npz``, any
``.yaml`` but ``submission.yaml``) is refused, and its Python is held to
``closed_max_code_bytes``, the bound on data hidden in code literals
(SECURITY.md, "Closed Division").
"""

from __future__ import annotations

import ast
import keyword
import os
import re
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader import __version__
from grader.contract import submission, weightfile
from grader.contract.imports import import_problems, referenced_modules
from grader.contract.layout import MODEL_FILE, RECIPE_FILE, RECORD_FILE, SUBMISSION_FILE
from grader.contract.submission import Submission
from grader.core.config import Competition, SubmissionLimits
from grader.core.errors import UsageError
from grader.core.problem import Problem, display_path

__all__ = ["Problem", "ValidationResult", "validate_folder"]

PYCACHE = "__pycache__"
REQUIRED = {SUBMISSION_FILE: "the entry's description", MODEL_FILE: "defines load(folder) -> model"}
# Top-level names each Python file of the contract must define.
ENTRY_POINTS = {MODEL_FILE: "load", RECIPE_FILE: "build"}
_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
# What a Closed entry may ship besides submission.yaml: code, and documentation for the reviewers
# (which never reaches its recipe or its model: grader/grading/grade.py hands them the .py files only).
CODE_SUFFIX = ".py"
DOC_SUFFIXES = (".md", ".txt")
# The package folder: <pkg>/<sub>/<module>.py at most (TinyTorch's own layout is tinytorch/core/tensor.py).
PACKAGE_MAX_DEPTH = 2
PACKAGE_INIT = "__init__.py"
_MODULE_NAME = re.compile(r"[a-z_][a-z0-9_]*")
# Names the package may not take besides the standard library's and the allowlist's: the grader's own
# package and the modules the worker loads from the entry by file name.
RESERVED_PACKAGE_NAMES = frozenset({"grader", "model", "build", "worker"})


@dataclass(frozen=True)
class ValidationResult:
    """Every problem found in ``folder``; ``submission`` is set whenever submission.yaml itself is valid."""

    folder: Path
    problems: tuple[Problem, ...]
    submission: Submission | None

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        """The document described by ``schemas/validation.schema.json``."""
        return {
            "schema_version": 1,
            "grader_version": __version__,
            "folder": display_path(self.folder),
            "ok": self.ok,
            "problems": [p.to_json() for p in self.problems],
            "submission": self.submission.to_json() if self.submission else None,
        }


def _not_part_of_entry(entry: os.DirEntry) -> bool:
    """Whether ``entry`` sits in a submission folder without being part of the entry.

    Python's byte-code cache appears whenever model.py is imported locally; git
    ignores it (.gitignore) and the sandbox never copies it. ``score.json`` is the
    leaderboard bot's record of a merged entry, written on main after the merge:
    a PR that adds, changes or deletes it is refused by the scope check
    (grader/ci/scope.py), so one found here is the bot's, and grading a merged
    entry again must not trip over it.
    """
    if entry.name == PYCACHE:
        return entry.is_dir(follow_symlinks=False)
    return entry.name == RECORD_FILE and entry.is_file(follow_symlinks=False)


def validate_folder(folder: Path, config: Competition) -> ValidationResult:
    """Check ``folder`` against the format and the limits in ``config``; never runs its code.

    Raises UsageError only when ``folder`` is not a folder at all.
    """
    shown = display_path(folder)
    limits = config.submission
    if folder.is_symlink():
        return ValidationResult(folder, (Problem(shown, None, None, "the submission folder is a symbolic link; "
                                                 "add a real folder", "symlink"),), None)
    if not folder.is_dir():
        raise UsageError(f"{shown}: not a folder")
    problems: list[Problem] = []

    def add(name: str | None, message: str, code: str, line: int | None = None, column: int | None = None) -> None:
        problems.append(Problem(f"{shown}/{name}" if name else shown, line, column, message, code))

    if not limits.slug.fullmatch(folder.name):
        add(None, f"folder name {_quote(folder.name)} is not a valid slug: use lowercase letters, digits and "
                  f"inner hyphens (pattern {limits.slug_pattern})", "slug")
    with os.scandir(folder) as listing:
        entries = sorted((e for e in listing if not _not_part_of_entry(e)), key=lambda e: e.name)
    if not entries:
        add(None, "the folder is empty: add submission.yaml, model.py and build.py or .npz weights", "empty")
        return ValidationResult(folder, tuple(problems), None)
    files: dict[str, int] = {}
    packages = [e.name for e in entries if _is_real_dir(e) and _MODULE_NAME.fullmatch(e.name)]
    for entry in entries:
        if entry.name in packages:
            found_files, found_problems = _package(folder, entry.name, shown, config, packages)
            files.update(found_files)
            problems.extend(found_problems)
            continue
        found = _entry_problem(entry, limits.allowed_suffixes)
        if found is not None:
            message, code, named = found
            add(entry.name if named else None, message, code)
        else:
            files[entry.name] = entry.stat(follow_symlinks=False).st_size
    problems.extend(_limit_problems(files, shown, limits))
    names = [e.name for e in entries]
    for name, role in REQUIRED.items():
        if name not in names:
            hint = submission.closest(name, names)
            add(None, f"{name} is missing ({role})" + (f"; found {hint!r}: names are case-sensitive and "
                                                        "exact" if hint else ""), "missing-file")
    within_limits = not any(p.code.startswith("limit-") for p in problems)
    parsed = _read_submission(folder, files, shown, limits.max_yaml_bytes, add)
    problems.extend(parsed.problems if parsed else ())
    closed = _declared_division(parsed) == "closed"
    if closed:
        problems.extend(_closed_problems(files, shown, limits.closed_max_code_bytes))
    if within_limits:
        for name in sorted(files):
            if name.endswith(".py"):
                problems.extend(_python_problems(folder / name, f"{shown}/{name}", ENTRY_POINTS.get(name),
                                                 limits.max_code_bytes))
            elif name.endswith(".npz") and not closed:  # a Closed one is refused whatever it holds
                problems.extend(weightfile.check(folder / name, f"{shown}/{name}", limits.max_npz_uncompressed_bytes))
    if within_limits:
        problems.extend(_import_check(folder, shown, files, config))
    if parsed and parsed.submission:
        problems.extend(_division_problems(parsed, f"{shown}/{SUBMISSION_FILE}"))
    return ValidationResult(folder, tuple(sorted(problems, key=Problem.sort_key)),
                            parsed.submission if parsed else None)


def _entry_problem(entry: os.DirEntry, allowed_suffixes: tuple[str, ...]) -> tuple[str, str, bool] | None:
    """(message, code, whether the name is safe to show as a path) for a forbidden folder entry."""
    name = entry.name
    if entry.is_symlink():
        target = os.readlink(entry.path)
        inside = not os.path.isabs(target) and ".." not in Path(target).parts
        where = "inside" if inside else "outside"
        return (f"{_quote(name)} is a symbolic link (to {_quote(target)}, {where} the folder); add the real "
                "file instead", "symlink", False)
    if name.startswith("."):
        return f"{_quote(name)} is a hidden file; remove it", "hidden-file", False
    if not _SAFE_NAME.fullmatch(name) or ".." in name:
        return (f"file name {_quote(name)} may only use ASCII letters, digits, '_', '-' and '.' "
                "(no spaces, no '..')", "file-name", False)
    mode = entry.stat(follow_symlinks=False).st_mode
    if stat.S_ISDIR(mode):
        return (f"folder {_quote(name)} is not a package name: the one subfolder an entry may have is a Python "
                "package of its own code, named in lowercase letters, digits and '_' (e.g. tinytorch)",
                "subfolder", True)
    if not stat.S_ISREG(mode):
        return "is not a regular file", "special-file", True
    suffix = os.path.splitext(name)[1]
    if name == "submission.json" and suffix not in allowed_suffixes:
        return ("is TinyTorch's generate_submission file, which the grader does not read from an entry: run "
                "`tinymlperf new SLUG --from-tinytorch submission.json` to turn it into submission.yaml (it "
                "explains every field it cannot map), then remove it from the folder", "tinytorch-json", True)
    if suffix not in allowed_suffixes:
        return (f"file type {suffix or '(none)'!s} is not allowed; allowed: {', '.join(allowed_suffixes)}",
                "file-type", True)
    return None


def _is_real_dir(entry: os.DirEntry) -> bool:
    return not entry.is_symlink() and entry.is_dir(follow_symlinks=False)


def package_name_problem(name: str, allowed_imports: tuple[str, ...]) -> str | None:
    """Why ``name`` cannot be an entry's package (it would shadow a module the sandbox or the entry relies on)."""
    if not _MODULE_NAME.fullmatch(name) or keyword.iskeyword(name):
        return "is not a Python module name in lowercase letters, digits and '_'"
    if name in allowed_imports:
        return "shadows an allowed module of the sandbox (competition.yaml sandbox.allowed_imports)"
    if name in sys.stdlib_module_names or name in sys.builtin_module_names:
        return "shadows a module of Python's standard library"
    if name in RESERVED_PACKAGE_NAMES:
        return "is a name the grader uses itself (grader, model, build, worker)"
    return None


def _package(folder: Path, name: str, shown: str, config: Competition,
             packages: list[str]) -> tuple[dict[str, int], list[Problem]]:
    """The package folder's files (relative path -> size) and its problems; files only when it is well formed."""
    where = f"{shown}/{name}"
    problems = []
    if packages.index(name) > 0:
        problems.append(Problem(where, None, None, f"a second package folder (first: {packages[0]}): an entry may "
                                                   "ship one package of its own code; merge them", "package-count"))
    why = package_name_problem(name, config.sandbox.allowed_imports)
    if why:
        problems.append(Problem(where, None, None, f"package name {name!r} {why}; rename the folder (and its "
                                                   "imports), e.g. to tinytorch or mynet", "package-name"))
    elif (folder / f"{name}.py").exists():
        problems.append(Problem(where, None, None, f"both {name}/ and {name}.py exist: one of them could never be "
                                                   "imported; rename one", "package-name"))
    files: dict[str, int] = {}
    _walk_package(folder, name, 1, shown, files, problems)
    return files, problems


def _walk_package(folder: Path, relative: str, depth: int, shown: str, files: dict[str, int],
                  problems: list[Problem]) -> None:
    """Collect the ``.py`` files of the package folder ``relative``; refuse anything else in it."""
    with os.scandir(folder / relative) as listing:
        entries = sorted((e for e in listing if not (e.name == PYCACHE and _is_real_dir(e))), key=lambda e: e.name)
    names = [e.name for e in entries]
    if PACKAGE_INIT not in names:
        problems.append(Problem(f"{shown}/{relative}", None, None,
                                f"{PACKAGE_INIT} is missing: every folder of the package needs one (it may be "
                                "empty)", "package-init"))
    for entry in entries:
        path = f"{relative}/{entry.name}"
        if _is_real_dir(entry) and _MODULE_NAME.fullmatch(entry.name) and not keyword.iskeyword(entry.name):
            if depth >= PACKAGE_MAX_DEPTH:
                problems.append(Problem(f"{shown}/{path}", None, None,
                                        f"is {depth + 1} folders deep; a package may be at most "
                                        f"{PACKAGE_MAX_DEPTH} deep (e.g. tinytorch/core/tensor.py)", "package-depth"))
            else:
                _walk_package(folder, path, depth + 1, shown, files, problems)
            continue
        found = _entry_problem(entry, (CODE_SUFFIX,))
        if found is None and not _MODULE_NAME.fullmatch(entry.name[:-len(CODE_SUFFIX)].lower()):
            found = (f"{_quote(entry.name)} is not an importable module name (letters, digits, '_')",
                     "package-file", True)
        if found is not None:
            message, code, named = found
            if code == "file-type":
                message = f"{message.split(';')[0]}; a package folder holds Python code (.py) only"
            problems.append(Problem(f"{shown}/{path}" if named else f"{shown}/{relative}", None, None, message,
                                    code if code != "file-type" else "package-file"))
        else:
            files[path] = entry.stat(follow_symlinks=False).st_size


def _quote(name: str) -> str:
    """A file name shown safely: ASCII only, no control characters."""
    return ascii(name)


def _limit_problems(files: dict[str, int], shown: str, limits: SubmissionLimits) -> list[Problem]:
    out = []
    total = sum(files.values())
    code = sum(size for name, size in files.items() if name.endswith(".py"))
    if len(files) > limits.max_files:
        out.append(Problem(shown, None, None, f"{len(files)} files, over the limit of {limits.max_files}",
                           "limit-files"))
    if total > limits.max_total_bytes:
        out.append(Problem(shown, None, None, f"{total:,} bytes in all, over the limit of "
                                              f"{limits.max_total_bytes:,}", "limit-total-bytes"))
    if code > limits.max_code_bytes:
        out.append(Problem(shown, None, None, f"{code:,} bytes of Python, over the limit of "
                                              f"{limits.max_code_bytes:,}", "limit-code-bytes"))
    return out


def _declared_division(parsed: submission.Parsed | None) -> str | None:
    """The division submission.yaml names, even when other keys of it are wrong (every problem at once)."""
    data = parsed.document.data if parsed else None
    division = data.get("division") if isinstance(data, dict) else None
    return division if division in ("closed", "open") else None


def _closed_problems(files: dict[str, int], shown: str, max_code_bytes: int) -> list[Problem]:
    """A Closed entry's data files, and Python over the Closed limit: room to smuggle trained weights."""
    out = []
    for name in sorted(files):
        if name == SUBMISSION_FILE or name.endswith((CODE_SUFFIX, *DOC_SUFFIXES)):
            continue
        out.append(Problem(f"{shown}/{name}", None, None,
                           "Closed Division weights must come from build.py applied to the baseline; a Closed "
                           f"entry ships only code ({CODE_SUFFIX}) and documentation ({', '.join(DOC_SUFFIXES)}): "
                           "remove this file, or enter the Open Division", "closed-data"))
    code = sum(size for name, size in files.items() if name.endswith(CODE_SUFFIX))
    if code > max_code_bytes:
        out.append(Problem(shown, None, None,
                           f"{code:,} bytes of Python, over the Closed Division limit of {max_code_bytes:,} "
                           "(comments and docstrings count: the limit bounds data hidden in code)",
                           "limit-closed-code-bytes"))
    return out


def _read_bytes(path: Path, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of a regular file, never following a symlink."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as fh:
        return fh.read(limit + 1)


def _read_submission(folder: Path, files: dict[str, int], shown: str, max_bytes: int,
                     add: Callable[[str | None, str, str], None]) -> submission.Parsed | None:
    name = SUBMISSION_FILE
    if name not in files:
        return None
    if files[name] > max_bytes:
        add(name, f"is {files[name]:,} bytes, over the {max_bytes:,}-byte limit", "limit-yaml-bytes")
        return None
    raw = _read_bytes(folder / name, max_bytes)
    if len(raw) > max_bytes:
        add(name, f"is over the {max_bytes:,}-byte limit", "limit-yaml-bytes")
        return None
    weights = tuple(sorted(n for n in files if n.endswith(".npz")))
    return submission.read(raw, f"{shown}/{name}", folder=folder, has_recipe=RECIPE_FILE in files, weight_files=weights)


def _python_problems(path: Path, file: str, entry_point: str | None, max_bytes: int) -> list[Problem]:
    """Syntax errors, and a missing top-level ``load``/``build``; the code is parsed, never run."""
    source = _read_bytes(path, max_bytes)
    try:
        tree = ast.parse(source.decode("utf-8"), filename=file)
    except UnicodeDecodeError as e:
        line = source.count(b"\n", 0, e.start) + 1
        return [Problem(file, line, None, "not valid UTF-8; save the file as UTF-8", "python-encoding")]
    except SyntaxError as e:
        return [Problem(file, e.lineno, e.offset, f"Python syntax error: {e.msg}", "python-syntax")]
    except (ValueError, RecursionError, MemoryError) as e:
        return [Problem(file, None, None, f"cannot be parsed as Python: {type(e).__name__}", "python-syntax")]
    if entry_point and entry_point not in _top_level_names(tree):
        signature = "load(folder) -> model" if entry_point == "load" else \
            "build(baseline_dir, calibration_images, out_dir)"
        return [Problem(file, None, None, f"must define {signature} at the top level", "python-entry-point")]
    return []


def _import_check(folder: Path, shown: str, files: dict[str, int], config: Competition) -> list[Problem]:
    """Imports the sandbox would refuse, in the code it runs: model.py, build.py and the entry's modules they import.

    The entry's modules are followed as Python imports them: a top-level ``helpers.py``, and in the
    package folder every ``__init__.py`` on the way to a module and the module itself, relative
    imports included. Other files (a ``train.py`` run on the student's machine, a module of the
    package nothing imports) are never run by the grader and may import anything. Files that do
    not parse are skipped: their syntax errors are reported above.
    """
    own = {name[:-3] for name in files if name.endswith(".py")}
    own |= {e.name for e in os.scandir(folder) if e.is_dir(follow_symlinks=False)}  # package folders
    queue = [name for name in (MODEL_FILE, RECIPE_FILE) if name in files]
    seen, out = set(queue), []
    while queue:
        name = queue.pop(0)
        try:
            tree = ast.parse(_read_bytes(folder / name, config.submission.max_code_bytes).decode("utf-8"))
        except (UnicodeDecodeError, SyntaxError, ValueError, RecursionError, MemoryError, OSError):
            continue
        out += import_problems(tree, f"{shown}/{name}", config.sandbox.allowed_imports, own)
        for module in referenced_modules(tree, _package_of(name)):
            for depth in range(1, len(module) + 1):
                found = _module_file(module[:depth], files)
                if found is None:
                    break
                if found not in seen:
                    seen.add(found)
                    queue.append(found)
    return out


def _package_of(name: str) -> tuple[str, ...]:
    """The package a file of the entry belongs to: ``()`` at the top, ``("tinytorch", "core")`` for its modules."""
    return tuple(name.split("/")[:-1])


def _module_file(parts: tuple[str, ...], files: dict[str, int]) -> str | None:
    """The entry's file Python would load for the module ``parts`` (a package before a module, as it does)."""
    path = "/".join(parts)
    for candidate in (f"{path}/{PACKAGE_INIT}", f"{path}{CODE_SUFFIX}"):
        if candidate in files:
            return candidate
    return None


def _top_level_names(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _division_problems(parsed: submission.Parsed, file: str) -> list[Problem]:
    """Closed needs a recipe; Open needs weights or a recipe. Shown on the ``division`` line."""
    entry = parsed.submission
    assert entry is not None
    line, column = parsed.document.position(("division",)) or (None, None)
    if entry.division == "closed" and not entry.has_recipe:
        return [Problem(file, line, column, "division: closed entries must include build.py, the recipe that "
                                            "turns the baseline weights into yours", "closed-needs-recipe")]
    if entry.division == "open" and not entry.has_recipe and not entry.weight_files:
        return [Problem(file, line, column, "division: open entries need .npz weight files or a build.py that "
                                            "makes them", "open-needs-weights")]
    return []
