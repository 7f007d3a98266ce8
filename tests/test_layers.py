"""The districts of ``grader/`` form layers: a module imports only its own district or lower ones."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

GRADER = Path(__file__).resolve().parents[1] / "grader"
# Lowest first; each district's __init__ docstring says the same in words.
LAYERS = ("core", "contract", "sandbox", "measure", "judge", "report", "board", "ci", "grading", "cli")
# Entries the grader ships and runs by path in a sandbox: never imported by the grader's own code.
DATA_PACKAGES = ("baseline", "null_model")


def _grader_imports(path: Path, root: Path = GRADER) -> list[tuple[int, str]]:
    """``(line, module)`` for every import of a ``grader`` module in ``path``, relative ones resolved."""
    package = ".".join(path.relative_to(root.parent).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names = [f"{module}.{a.name}" for a in node.names]
            found += [(node.lineno, name) for name in names if name.startswith("grader.")]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("grader.")]
    return found


def _district(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS + DATA_PACKAGES else None


def _modules() -> list[Path]:
    return sorted(p for p in GRADER.rglob("*.py") if p.relative_to(GRADER).parts[0] in LAYERS)


def test_every_district_is_a_package_that_says_what_it_owns_and_may_import() -> None:
    on_disk = {p.name for p in GRADER.iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert on_disk == set(LAYERS + DATA_PACKAGES + ("schemas",))
    for name in LAYERS:
        doc = ast.get_docstring(ast.parse((GRADER / name / "__init__.py").read_text(encoding="utf-8")))
        assert doc and "May import" in doc, name


def test_no_module_outside_the_districts_but_the_package_entry_points() -> None:
    assert sorted(p.name for p in GRADER.glob("*.py")) == ["__init__.py", "__main__.py"]


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(GRADER)))
def test_a_module_imports_only_its_own_district_or_lower_ones(path: Path) -> None:
    own = LAYERS.index(path.relative_to(GRADER).parts[0])
    upward = [f"line {line}: {module}" for line, module in _grader_imports(path)
              if (district := _district(module)) in LAYERS and LAYERS.index(district) > own]
    assert upward == [], f"{path.relative_to(GRADER)} imports a higher district"


def test_the_layer_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = GRADER / "core" / "schema.py"
    source = module.read_text(encoding="utf-8") + "\nfrom grader.ci import scope\nfrom ..grading import grade\n"
    fake = tmp_path / "grader" / "core" / "schema.py"
    fake.parent.mkdir(parents=True)
    fake.write_text(source, encoding="utf-8")
    imported = [m for _, m in _grader_imports(fake, tmp_path / "grader")]
    assert "grader.ci.scope" in imported and "grader.grading.grade" in imported

