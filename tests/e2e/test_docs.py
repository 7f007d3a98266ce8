"""The documentation pinned to the code: check ids, commands, links, excerpts, the worked example, the example entry.

Each test fails when the code changes under the docs (a renamed check, a new
threshold, a moved file) or the docs drift from the code, so README.md and
docs/submitting.md cannot quietly rot.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from grader.baseline import model as baseline_model
from grader.contract import scaffold
from grader.contract.validate import validate_folder
from grader.core import config
from grader.grading import grade
from grader.judge import rules, scoring
from grader.measure import stats, timing
from grader.report import markdown_report as report
from tests import grading_helpers as grading

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SUBMITTING = ROOT / "docs" / "submitting.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]
BASELINE_DIR = Path(baseline_model.__file__).parent

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
MARKED_BLOCK = re.compile(r"<!-- (example|excerpt): ([^ ]+) -->\n```[^\n]*\n(.*?)^```", re.S | re.M)
ANCHOR = re.compile(r'<a id="([^"]+)"></a>')
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def _prose(text: str) -> str:
    """The Markdown without fenced code blocks, where links are not links."""
    return FENCE.sub("", text)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(text: str) -> set[str]:
    headings = {_slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", _prose(text), re.M)}
    return headings | set(ANCHOR.findall(text))


def _blocks(text: str, kind: str) -> dict[str, str]:
    return {name: body for k, name, body in MARKED_BLOCK.findall(text) if k == kind}


# --------------------------------------------------------------------------- check ids


def _evidence(division: str) -> rules.Evidence:
    speed = timing.SpeedupEstimate(2.0, 1.9, 2.1, 0.05, 0.69, 0.69, 0.03, 12, 0.95, 0.25)
    scores = scoring.score(speed, 2_000_000, 500_000, 70.0, 69.0, 1.0)
    return rules.Evidence(
        division=division, scores=scores, entry_accuracy_pct=69.0, entry_dithered_accuracy_pct=69.0,
        baseline_accuracy_pct=70.0, baseline_dithered_accuracy_pct=70.0, timed_images=1000,
        inconsistent_images=0, idle_cpu_entry_s=0.0, idle_cpu_baseline_s=0.0, timing_pairs=20,
        timing_pairs_discarded=0, multi_core_samples=0, discard_reasons=(), baseline_timed_s=1.0,
        entry_timed_s=0.5, timing_warnings=(), claimed={"speedup": 2.0})


def produced_check_ids() -> set[str]:
    """Every check id the grader can emit: literal ``Check("...`` ids in the source plus what the rules produce."""
    source = "".join((ROOT / "grader" / name).read_text(encoding="utf-8") for name in ("judge/rules.py", "grading/grade.py"))
    literal = set(re.findall(r'(?:Check|_range)\(\s*"([a-z_]+)"', source))
    evaluated = {c.id for division in ("closed", "open") for c in rules.evaluate(_evidence(division), config.load())}
    return literal | evaluated


def test_check_ids_are_collected_from_both_modules() -> None:
    ids = produced_check_ids()
    # One id per source of checks: validation, metadata, running, the rules, the f-string ids.
    assert {"format", "repo_link", "runs", "speedup_range", "dither_entry", "idle_cpu_baseline"} <= ids
    assert len(ids) == 21


@pytest.mark.parametrize("check_id", sorted(produced_check_ids()))
def test_every_check_has_an_entry_where_the_report_links(check_id: str) -> None:
    link = f"{report.DOCS_URL}#check-{check_id.replace('_', '-')}"
    path, fragment = link.split("#")
    text = (ROOT / path).read_text(encoding="utf-8")
    assert fragment in ANCHOR.findall(text), f"{path} has no <a id=\"{fragment}\"></a>"
    # The anchor sits right before the entry's own heading.
    assert re.search(rf'<a id="{fragment}"></a>\n### `{check_id}`\n', text)


def test_the_docs_have_no_entry_for_a_check_that_does_not_exist() -> None:
    documented = {a.removeprefix("check-") for a in ANCHOR.findall(SUBMITTING.read_text()) if a.startswith("check-")}
    assert documented == {i.replace("_", "-") for i in produced_check_ids()}


# --------------------------------------------------------------------------- README commands


def _ci_test_command() -> str:
    lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if "pytest" in line]
    assert len(lines) == 1, lines
    return lines[0].strip()


def test_readme_test_command_is_what_ci_runs() -> None:
    readme = README.read_text()
    commands = [line for block in FENCE.findall(readme) for line in block.splitlines() if "pytest" in line]
    assert commands == ["python -m pip install -e '.[test]' && python -m pytest -q"]
    assert _ci_test_command() == commands[0]


def test_readme_grade_command_names_a_valid_example_entry() -> None:
    readme = README.read_text()
    command = "python -m pip install -e . && tinymlperf grade submissions/closed-int8-prune --out result.json " \
              "--report report.md"
    assert command in [line for block in FENCE.findall(readme) for line in block.splitlines()]
    assert validate_folder(ROOT / "submissions" / "closed-int8-prune", config.load()).ok


def test_readme_offline_data_route_installs_what_the_converter_imports_and_the_error_names_it() -> None:
    import tomllib

    from grader.measure import data

    lines = [line for block in FENCE.findall(README.read_text()) for line in block.splitlines()]
    install = next(line for line in lines if "cifar10_from_jpeg" not in line and "'.[data]'" in line)
    convert = next(line for line in lines if "cifar10_from_jpeg.py" in line)
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(req.lower().startswith("pillow") for req in extras["data"]), extras["data"]
    assert install.split("#")[0].strip() == "python -m pip install -e '.[data]'"
    # the error a student without data meets names the same two commands
    assert "python -m pip install -e '.[data]'" in data.OFFLINE
    assert convert.split("/path/to/data")[0].strip() in data.OFFLINE


# --------------------------------------------------------------------------- links and excerpts


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_points_to_an_existing_file_and_anchor(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    broken = []
    for target in LINK.findall(_prose(text)):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, fragment = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif fragment and file.suffix == ".md" and fragment not in _anchors(file.read_text(encoding="utf-8")):
            broken.append(f"{target}: no such anchor")
    assert not broken


def test_quoted_config_is_verbatim() -> None:
    excerpts = _blocks(SUBMITTING.read_text(), "excerpt")
    assert excerpts, "docs/submitting.md quotes grader/competition.yaml"
    for path, body in excerpts.items():
        assert body in (ROOT / path).read_text(encoding="utf-8"), f"the excerpt of {path} is out of date"


def test_worked_example_numbers_follow_from_the_formulas() -> None:
    baseline = [0.0503, 0.0502, 0.0484, 0.0478, 0.0488, 0.0476, 0.0478, 0.0490, 0.0737, 0.0493, 0.0766, 0.0724,
                0.0478, 0.0487, 0.0483, 0.0487, 0.0471, 0.0486, 0.0729, 0.0500, 0.0498, 0.0477, 0.0475, 0.0481,
                0.0480, 0.0497, 0.0772, 0.0473, 0.0491, 0.0481, 0.0779, 0.0773, 0.0491, 0.0772, 0.0751, 0.0495,
                0.0480, 0.0769, 0.0481, 0.0497]
    entry = [0.0247, 0.0252, 0.0246, 0.0249, 0.0238, 0.0237, 0.0255, 0.0250, 0.0328, 0.0254, 0.0329, 0.0349,
             0.0242, 0.0254, 0.0242, 0.0238, 0.0252, 0.0248, 0.0331, 0.0247, 0.0250, 0.0242, 0.0243, 0.0251,
             0.0255, 0.0251, 0.0344, 0.0249, 0.0241, 0.0252, 0.0331, 0.0341, 0.0253, 0.0325, 0.0350, 0.0255,
             0.0246, 0.0349, 0.0252, 0.0253]
    timing_config = config.load().timing
    assert len(baseline) == timing_config.min_pairs, "the example shows the fewest pairs a grade takes"
    quantile = timing_config.speed_quantile
    estimate = timing.estimate(baseline, entry, 0.95, quantile)
    compression = 2_180_000 / 545_000
    text = SUBMITTING.read_text()
    rows = [f"| {i + 1} | {b:.4f} | {e:.4f} | {b / e:.4f} |" for i, (b, e) in enumerate(zip(baseline, entry, strict=True))]
    r, s = stats.quantile_ranks(len(baseline), quantile, 0.95)
    q_base, q_entry = stats.percentile(baseline, 100 * quantile), stats.percentile(entry, 100 * quantile)
    low_b, low_e = sorted(baseline)[:s], sorted(entry)[:s]
    expected = rows + [
        f"**{quantile:.0%} quantile**",
        "the nine smallest baseline times: " + ", ".join(f"{v:.4f}" for v in low_b),
        "the nine smallest entry times: " + ", ".join(f"{v:.4f}" for v in low_e),
        f"**speedup = {q_base:.5f} / {q_entry:.5f} = {estimate.speedup:.3f}x**",
        f"would read {math.exp(estimate.paired_log_mean):.3f}x",
        f"the {r}st to {s}th smallest", f"baseline {low_b[r - 1]:.4f} to {low_b[s - 1]:.4f}",
        f"entry\n  {low_e[r - 1]:.4f} to {low_e[s - 1]:.4f}",
        f"**{estimate.ci_low:.3f}x to {estimate.ci_high:.3f}x**", f"(±{estimate.half_width:.1%}",
        f"**compression = {compression:.3f}x**",
        f"= {scoring.efficiency(estimate.speedup, compression, 68.90 - 70.10, 1.0):.3f}**",
        f"would be {estimate.speedup:.3f} × 4.000 = {scoring.efficiency(estimate.speedup, compression, 70.60 - 70.10, 1.0):.3f}",
    ]
    assert [line for line in expected if line not in text] == []


def test_new_and_validate_output_shown_is_what_they_print(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    text = SUBMITTING.read_text()
    folder = scaffold.create("my-entry", "closed", Path("submissions"), config.load(), athlete_name="Ada Lovelace")
    assert scaffold.next_steps(folder, "closed") in text
    yaml_file = folder / "submission.yaml"
    yaml_file.write_text(re.sub(r"(?m)^  - .*$", "  - TODO", yaml_file.read_text()))
    problems = validate_folder(folder, config.load()).problems
    assert [str(p) for p in problems] == [line for line in text.splitlines()
                                          if line.startswith("submissions/my-entry/submission.yaml:")]


# --------------------------------------------------------------------------- the complete small example


@pytest.mark.cifar
@pytest.mark.slow
def test_the_complete_small_example_grades_valid_as_the_docs_say(tmp_path: Path, small_data: Path) -> None:
    examples = _blocks(SUBMITTING.read_text(), "example")
    assert sorted(examples) == ["build.py", "model.py", "submission.yaml"]
    folder = tmp_path / "my-entry"
    folder.mkdir()
    for name, body in examples.items():
        (folder / name).write_text(body, encoding="utf-8")
    result = grade.grade(grading.request(folder, small_data)).to_json()
    failed = [c for c in result["checks"] if c["status"] == "fail"]
    assert (result["status"], failed) == ("valid", [])
    scores = result["normalized_scores"]
    # What the docs promise: "a compression of about 2x ... an accuracy within a few hundredths of a point"
    # (on all 10,000 images; one image here is 0.1 pp).
    assert 1.9 < scores["compression"] < 2.1
    assert abs(scores["accuracy_delta_pp"]) <= 0.3
    assert result["optimized_metrics"]["dtypes"] == {"float16": 545_098}


# --------------------------------------------------------------------------- measured numbers

MEASURED = re.compile(r"<!-- measured: ([a-z-]+) -->\n```text\n(.*?)^```", re.S | re.M)
STAMP = re.compile(r"<!-- measured: ([a-z-]+)-stamp -->\n\(Measured by `python benchmarks/docs_numbers.py` on "
                   r"[^,]+, \d+ cores, \d{4}-\d\d-\d\d \d\d:\d\d UTC, load average [\d. ]+: .+ took \d+ s\..*\)\n"
                   r"<!-- /measured -->")


def test_every_measured_number_in_the_docs_is_a_block_docs_numbers_regenerates_with_its_stamp() -> None:
    text = SUBMITTING.read_text()
    blocks = dict(MEASURED.findall(text))
    script = (ROOT / "benchmarks" / "docs_numbers.py").read_text()
    regenerated = set(re.findall(r'replace\(text, "([a-z-]+)"', script))
    assert set(blocks) == regenerated and regenerated
    assert set(STAMP.findall(text)) == regenerated  # each stamped with the machine, the date and the load
    assert re.fullmatch(r"valid: speedup [\d.]+x \(95% CI [\d.]+-[\d.]+\), compression [\d.]+x, accuracy [\d.]+% "
                        r"\([+-][\d.]+ pp\), efficiency [\d.]+\n", blocks["grade-line"])
    assert re.search(r"ms per image, [\d.]+x the baseline's", blocks["time-budget"])
    # no hand-written "measured N.NNNx" elsewhere in the prose: measured figures live in those blocks
    assert not re.findall(r"measured \d+\.\d+x", _prose(text))


TEST_REFERENCE = re.compile(r"`((?:tests/[\w/]+\.py)|[GHPS])::(test_\w+)(?:\[[^\]]*\])?`")
SHORT_NAMES = {"G": "tests/grading/test_security_grade.py", "H": "tests/sandbox/test_sandbox_hostile.py",
               "P": "tests/e2e/test_security_pipeline.py", "S": "tests/sandbox/test_sandbox.py"}


def test_every_test_the_docs_cite_exists() -> None:
    """SECURITY.md and the guides cite tests as evidence (``file::name``, ``H::name``): each must be a real test."""
    missing = []
    for doc in [ROOT / "SECURITY.md", *DOCS, ROOT / "benchmarks" / "results" / "README.md"]:
        for where, name in TEST_REFERENCE.findall(doc.read_text(encoding="utf-8")):
            path = ROOT / SHORT_NAMES.get(where, where)
            if not path.is_file() or not re.search(rf"^(?:async )?def {name}\(", path.read_text(), re.M):
                missing.append(f"{doc.name}: {where}::{name}")
    assert missing == []
