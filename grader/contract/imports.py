"""The sandbox's import allowlist, checked statically (``ast``) so ``validate`` says it in a second.

The sandbox refuses at run time any import of a module that is neither on
``sandbox.allowed_imports`` nor one of the entry's own modules; this finds the
``import`` statements that would be refused, with their line, before anything
runs. It reads statements only: ``__import__("os")`` or importlib tricks are
left to the sandbox (which refuses them too), this is for honest mistakes.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from grader.core.problem import Problem


def imported_modules(tree: ast.Module) -> list[tuple[str, int, int]]:
    """(top-level module, line, column) of every absolute import statement, anywhere in the file."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name.partition(".")[0], node.lineno, node.col_offset + 1) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module.partition(".")[0], node.lineno, node.col_offset + 1))
    return sorted(found, key=lambda f: (f[1], f[2]))


def referenced_modules(tree: ast.Module, package: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every module an import statement of the file may load, as the parts of its absolute dotted name.

    ``package`` is the package the file belongs to (``()`` for a top-level file, whose relative
    imports fail at run time and are skipped), to resolve relative imports. ``from a.b import c``
    names ``a.b`` and ``a.b.c``: ``c`` may be a submodule. Importing ``a.b`` runs ``a`` first; the
    caller adds the parents.
    """
    found: list[tuple[str, ...]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [tuple(alias.name.split(".")) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level and (not package or node.level - 1 >= len(package)):
                continue  # above the top of the entry's package: an ImportError at run time
            base = package[:len(package) - node.level + 1] if node.level else ()
            module = base + tuple(node.module.split(".")) if node.module else base
            found.append(module)
            found += [module + (alias.name,) for alias in node.names if alias.name != "*"]
    return found


def import_problems(tree: ast.Module, file: str, allowed: Iterable[str], own: Iterable[str]) -> list[Problem]:
    """One problem per import of a module the sandbox would refuse, naming the allowed ones."""
    allowed, own = tuple(allowed), frozenset(own)
    listed = ", ".join(allowed)
    return [Problem(file, line, column, f"import {module}: the sandbox refuses this module; allowed: {listed} "
                    "(competition.yaml sandbox.allowed_imports) and the entry's own modules", "import-denied")
            for module, line, column in imported_modules(tree) if module not in allowed and module not in own]
