"""``tinymlperf new``: a submission folder that validates and grades as it is.

Closed Division: a copy of the baseline's ``model.py`` plus a ``build.py``
recipe that writes the baseline weights unchanged. Open Division: the
``model.py`` copy plus a copy of the baseline's ``weights.npz``. Comments in
each file say where to optimize. The folder is built and validated in a
staging folder first, so a failed run leaves nothing behind, and an existing
folder is never touched.

``--from-tinytorch submission.json`` fills ``submission.yaml`` from the file the
course's ``generate_submission`` wrote (``grader.contract.tinytorch``): the division, the
athlete, the repository, the techniques and the honor code as they are, the
student's own measurements as ``claimed`` metrics with their hardware.
"""

from __future__ import annotations

import json
import os
import shutil
import string
import tempfile
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from grader.contract import tinytorch
from grader.contract.layout import MODEL_FILE, RECIPE_FILE, SUBMISSION_FILE, WEIGHTS_FILE
from grader.contract.submission import Division
from grader.contract.tinytorch import Imported
from grader.contract.validate import validate_folder
from grader.core.config import Competition
from grader.core.errors import GraderError, UsageError
from grader.core.problem import Problem, display_path

BASELINE_PACKAGE = "grader.baseline"
DEFAULT_REPO = "https://github.com/YOUR-GITHUB-USERNAME/YOUR-REPOSITORY"
HONOR_CODE = "I certify that this submission follows the rules"
_TECHNIQUE = {
    "closed": "Baseline CNN, weights passed through build.py unchanged (from tinymlperf new; list your techniques)",
    "open": "Baseline CNN and weights unchanged (from tinymlperf new; list your techniques)",
}
_CLAIMED_EXAMPLE = """\
# Optional: your own measurements; the grader compares them with what it measures.
# claimed:
#   accuracy_pct: 70.5
#   speedup: 2.0
#   compression: 4.0"""
_MODEL_BANNER = """\
# Your entry's model, copied from grader/baseline/model.py by `tinymlperf new`.
# The grader calls load(folder), then model.predict(images) with uint8 images of
# shape N x 3 x 32 x 32; predict returns N x 10 float scores or N int labels.
# OPTIMIZE HERE: faster convolutions, int8 arithmetic, pruned or smaller layers.
# Keep load() reading the weight file(s) your entry ships or build.py writes.

"""


class FolderExists(GraderError):
    """The target folder already exists; ``new`` never overwrites (exit 1)."""


def create(slug: str, division: Division, root: Path, config: Competition, *, athlete_name: str | None = None,
           github_repo: str | None = None, baseline_weights: Path | Traversable | None = None,
           imported: Imported | None = None) -> Path:
    """Create ``root/slug`` for ``division`` and return it; it passes ``validate_folder``.

    ``baseline_weights`` is the ``weights.npz`` copied into Open entries
    (default: the one packaged in ``grader.baseline``). ``imported``: the fields
    of a TinyTorch submission.json, which fill submission.yaml (``athlete_name``
    and ``github_repo`` given here still win).
    Raises FolderExists, UsageError (bad slug or field values) or GraderError (no baseline weights).
    """
    if not config.submission.slug.fullmatch(slug):
        raise UsageError(f"{slug!r} is not a valid slug: use lowercase letters, digits and inner hyphens "
                         f"(pattern {config.submission.slug_pattern})")
    target = root / slug
    if target.exists() or target.is_symlink():
        raise FolderExists(f"{display_path(target)} already exists; pick another slug or remove it first")
    if imported is not None:
        athlete_name, github_repo = athlete_name or imported.athlete_name, github_repo or imported.github_repo
    files = _files(slug, division, athlete_name or slug, github_repo or DEFAULT_REPO, baseline_weights, imported)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".new-", dir=root))
    try:
        work = staging / slug
        work.mkdir()
        for name, data in files.items():
            (work / name).write_bytes(data)
        result = validate_folder(work, config)
        if not result.ok:
            details = "; ".join(p.message for p in result.problems)
            raise UsageError(f"these values would make an invalid submission: {details}")
        try:
            target.mkdir()  # claims the name atomically
        except FileExistsError as e:
            raise FolderExists(f"{display_path(target)} already exists; pick another slug or remove it first") from e
        for name in files:
            os.replace(work / name, target / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _files(slug: str, division: Division, athlete_name: str, github_repo: str,
           baseline_weights: Path | Traversable | None, imported: Imported | None = None) -> dict[str, bytes]:
    """Name -> content of every file of the new folder."""
    templates = resources.files("grader.contract").joinpath("templates")
    baseline = resources.files(BASELINE_PACKAGE)
    techniques = imported.techniques_used if imported else (_TECHNIQUE[division],)
    claimed = _CLAIMED_EXAMPLE
    if imported and imported.claimed:
        claimed = "# Your own measurements, from TinyTorch's submission.json; the grader shows them beside its own.\n" \
                  "claimed:\n" + "\n".join(f"  {k}: {json.dumps(v)}" for k, v in imported.claimed.items())
    yaml_text = string.Template(templates.joinpath("submission.yaml.in").read_text(encoding="utf-8")).substitute(
        division=division, athlete_name=json.dumps(athlete_name), github_repo=json.dumps(github_repo),
        techniques="\n".join(f"  - {json.dumps(t)}" for t in techniques),
        description=json.dumps(imported.description) if imported else "null", claimed=claimed,
        honor_code=json.dumps(imported.honor_code) if imported else HONOR_CODE)
    files = {
        SUBMISSION_FILE: yaml_text.encode("utf-8"),
        MODEL_FILE: _MODEL_BANNER.encode("utf-8") + baseline.joinpath(MODEL_FILE).read_bytes(),
    }
    if division == "closed":
        files[RECIPE_FILE] = templates.joinpath(RECIPE_FILE).read_bytes()
    else:
        source = baseline_weights if baseline_weights is not None else baseline.joinpath(WEIGHTS_FILE)
        if not source.is_file():
            raise GraderError(f"baseline weights not found at {source}; train them first "
                              "(grader/measure/training.py) or pass --baseline-weights")
        files[WEIGHTS_FILE] = source.read_bytes()
    return files


def next_steps(folder: Path, division: Division) -> str:
    """What to tell the student after ``create``."""
    shown = display_path(folder)
    where = f"{shown}/build.py (the recipe) and {shown}/model.py" if division == "closed" else f"{shown}/model.py " \
        f"and {shown}/{WEIGHTS_FILE}"
    return (f"created {shown} ({division} division)\n"
            f"next: edit {shown}/submission.yaml (athlete_name, github_repo, techniques_used),\n"
            f"      optimize {where},\n"
            f"      then run: tinymlperf validate {shown}")


def read_tinytorch(path: Path) -> tuple[Imported | None, tuple[Problem, ...]]:
    """Read TinyTorch's submission.json at ``path`` (never following a link); its problems name the file."""
    shown = display_path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as fh:
            raw = fh.read(tinytorch.MAX_BYTES + 1)
    except OSError as e:
        return None, (Problem(shown, None, None, f"cannot be read: {e.strerror or e}", "tinytorch-read"),)
    return tinytorch.read(raw, shown)
