"""grader.contract.validate and ``tinymlperf validate``: every problem, each at its file:line:col, exit 0/1/2.

The text cases live in ``tests/examples/`` (valid/<slug>/ and invalid/<slug>/ with
``<slug>.expected.txt``, the exact output of ``tinymlperf validate <slug>``);
binary ones (encodings, links, archives) are made here in ``tmp_path``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
import zipfile
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from grader.ci import annotations
from grader.cli import main as cli
from grader.contract.validate import Problem, validate_folder
from grader.core import config, schema

EXAMPLES = Path(__file__).parents[1] / "examples"
VALID = sorted(p for p in (EXAMPLES / "valid").iterdir() if p.is_dir())
INVALID = sorted(p for p in (EXAMPLES / "invalid").iterdir() if p.is_dir())
CONFIG = config.load()
GOOD_YAML = (EXAMPLES / "valid" / "closed-minimal" / "submission.yaml").read_bytes()


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _not_in_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)


@pytest.mark.parametrize("folder", VALID, ids=lambda p: p.name)
def test_valid_example_exits_0(folder: Path, capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(folder.parent)
    assert run(["validate", folder.name], capsys) == (0, f"{folder.name}: valid\n", "")


@pytest.mark.parametrize("folder", INVALID, ids=lambda p: p.name)
def test_invalid_example_exits_1_with_expected_messages(folder: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(folder.parent)
    expected = (folder.parent / f"{folder.name}.expected.txt").read_text(encoding="utf-8")
    assert run(["validate", folder.name], capsys) == (1, expected, "")


@pytest.mark.parametrize("name", ["submission", "validation"])
def test_schemas_are_valid_draft_2020_12(name: str) -> None:
    jsonschema.Draft202012Validator.check_schema(schema.load(name))
    assert schema.load(name)["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_every_invalid_example_has_expected_output() -> None:
    expected = {p.name.removesuffix(".expected.txt") for p in (EXAMPLES / "invalid").glob("*.expected.txt")}
    assert expected == {p.name for p in INVALID}


def make(tmp_path: Path, name: str = "entry", yaml: bytes = GOOD_YAML, **files: bytes) -> Path:
    """A valid Closed entry in ``tmp_path/name`` with ``files`` added or replaced."""
    folder = tmp_path / name
    shutil.copytree(EXAMPLES / "valid" / "closed-minimal", folder)
    (folder / "submission.yaml").write_bytes(yaml)
    for file, data in files.items():
        (folder / file.replace("__", ".")).write_bytes(data)
    return folder


def found(folder: Path, **kwargs: object) -> list[tuple[str, int | None, int | None, str]]:
    """(file relative to the folder's parent, line, column, code) of every problem."""
    result = validate_folder(folder, kwargs.pop("config", CONFIG), **kwargs)  # type: ignore[arg-type]
    prefix = folder.parent.as_posix() + "/"
    # every problem is about the folder or a file in it, and the --json document lists exactly these
    assert all(p.file == prefix + folder.name or p.file.startswith(f"{prefix}{folder.name}/") for p in result.problems)
    assert schema.validate(result.to_json(), "validation") == []
    return [(p.file.removeprefix(prefix), p.line, p.column, p.code) for p in result.problems]


def savez(path: Path, **arrays: np.ndarray) -> bytes:
    np.savez(path, **arrays)
    return path.read_bytes()


# --- encodings and sizes of submission.yaml ----------------------------------------------------------


def test_bom_in_yaml(tmp_path: Path) -> None:
    assert found(make(tmp_path, yaml=b"\xef\xbb\xbf" + GOOD_YAML)) == [("entry/submission.yaml", 1, 1, "yaml-bom")]


def test_non_utf8_yaml(tmp_path: Path) -> None:
    yaml = GOOD_YAML.replace(b"Ada Lovelace", b"Ad\xe9 Lovelace")
    assert found(make(tmp_path, yaml=yaml)) == [("entry/submission.yaml", 2, 17, "yaml-encoding")]


def test_utf16_yaml(tmp_path: Path) -> None:
    assert found(make(tmp_path, yaml=GOOD_YAML.decode().encode("utf-16"))) == [
        ("entry/submission.yaml", 1, 1, "yaml-encoding")]


def test_oversize_yaml_is_refused_before_parsing(tmp_path: Path) -> None:
    limit = CONFIG.submission.max_yaml_bytes
    yaml = b"[" * (limit + 1)  # would be a syntax error if it were parsed
    assert found(make(tmp_path, yaml=yaml)) == [("entry/submission.yaml", None, None, "limit-yaml-bytes")]


# --- layout ------------------------------------------------------------------------------------------


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "entry").mkdir()
    assert found(tmp_path / "entry") == [("entry", None, None, "empty")]


def test_symlink_inside_and_outside_the_folder(tmp_path: Path) -> None:
    folder = make(tmp_path)
    (tmp_path / "secret.txt").write_text("x")
    (folder / "notes.txt").symlink_to("../secret.txt")
    (folder / "copy.py").symlink_to("model.py")
    result = validate_folder(folder, CONFIG)
    assert [(p.code, p.message) for p in result.problems] == [
        ("symlink", "'copy.py' is a symbolic link (to 'model.py', inside the folder); add the real file instead"),
        ("symlink", "'notes.txt' is a symbolic link (to '../secret.txt', outside the folder); add the real file "
                    "instead"),
    ]


def test_symlinked_yaml_is_not_read(tmp_path: Path) -> None:
    folder = make(tmp_path)
    (tmp_path / "real.yaml").write_bytes(GOOD_YAML)
    (folder / "submission.yaml").unlink()
    (folder / "submission.yaml").symlink_to(tmp_path / "real.yaml")
    assert found(folder) == [("entry", None, None, "symlink")]


def test_symlinked_folder(tmp_path: Path) -> None:
    folder = make(tmp_path)
    (tmp_path / "link").symlink_to(folder)
    assert found(tmp_path / "link") == [("link", None, None, "symlink")]


@pytest.mark.parametrize("name, code", [
    (".env", "hidden-file"),
    (".git", "hidden-file"),
    ("my model.py", "file-name"),
    ("modèle.py", "file-name"),
    ("a..b.py", "file-name"),
    ("-rf.py", "file-name"),
    ("weights.NPZ", "file-type"),
    ("model.pyc", "file-type"),
])
def test_bad_file_names(tmp_path: Path, name: str, code: str) -> None:
    folder = make(tmp_path)
    (folder / name).write_bytes(b"x = 1\n")
    shown = "entry" if code != "file-type" else f"entry/{name}"
    assert found(folder) == [(shown, None, None, code)]


def test_file_name_with_newline_is_shown_escaped(tmp_path: Path) -> None:
    folder = make(tmp_path)
    (folder / "evil\nname.py").write_bytes(b"")
    (problem,) = validate_folder(folder, CONFIG).problems
    assert "\n" not in str(problem) and "'evil\\nname.py'" in problem.message


def test_fifo_is_not_a_regular_file(tmp_path: Path) -> None:
    folder = make(tmp_path)
    os.mkfifo(folder / "pipe.txt")
    assert found(folder) == [("entry/pipe.txt", None, None, "special-file")]


def test_limits_on_count_and_sizes(tmp_path: Path) -> None:
    limits = dataclasses.replace(CONFIG.submission, max_files=4, max_total_bytes=3000, max_code_bytes=1000)
    small = dataclasses.replace(CONFIG, submission=limits)
    folder = make(tmp_path, **{"helpers__py": b"# " + b"x" * 900 + b"\n", "README__md": b"y" * 1500})
    assert [code for *_, code in found(folder, config=small)] == [
        "limit-files", "limit-total-bytes", "limit-code-bytes"]


def test_the_bots_score_record_is_not_part_of_the_entry(tmp_path: Path) -> None:
    # A merged entry carries the bot's score.json; grading it again must not trip over it
    # (a PR that adds or changes one is refused by the scope check instead).
    limits = dataclasses.replace(CONFIG.submission, max_files=len(os.listdir(EXAMPLES / "valid" / "closed-minimal")))
    one_file_short = dataclasses.replace(CONFIG, submission=limits)
    folder = make(tmp_path, score__json=b"{}")
    assert found(folder, config=one_file_short) == []


def test_a_score_record_that_is_not_a_plain_file_is_still_refused(tmp_path: Path) -> None:
    folder = make(tmp_path)
    (folder / "score.json").mkdir()
    assert found(folder) == [("entry/score.json", None, None, "subfolder")]
    os.rmdir(folder / "score.json")
    (folder / "score.json").symlink_to("model.py")
    assert found(folder) == [("entry", None, None, "symlink")]


def test_non_utf8_python(tmp_path: Path) -> None:
    folder = make(tmp_path, helpers__py=b"x = 1\ny = '\xff'\n")
    assert found(folder) == [("entry/helpers.py", 2, None, "python-encoding")]


def test_build_without_build_function(tmp_path: Path) -> None:
    folder = make(tmp_path, build__py=b"def make(a, b, c):\n    pass\n")
    assert found(folder) == [("entry/build.py", None, None, "python-entry-point")]


def test_load_may_be_imported_or_assigned(tmp_path: Path) -> None:
    folder = make(tmp_path, model__py=b"from kernels import load\n", kernels__py=b"def load(f):\n    return f\n")
    assert found(folder) == []
    (folder / "model.py").write_bytes(b"import kernels\nload = kernels.load\n")
    assert found(folder) == []


def test_not_a_folder_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["validate", str(tmp_path / "nope")], capsys)
    assert (code, out) == (2, "") and "not a folder" in err


# --- weight files ------------------------------------------------------------------------------------


def open_entry(tmp_path: Path, **files: bytes) -> Path:
    yaml = GOOD_YAML.replace(b"division: closed", b"division: open")
    folder = make(tmp_path, yaml=yaml, **files)
    (folder / "build.py").unlink()
    return folder


def test_open_entry_with_plain_weights_is_valid(tmp_path: Path) -> None:
    weights = savez(tmp_path / "w.npz", w=np.ones((3, 4), np.float32), q=np.arange(5, dtype=np.int8))
    folder = open_entry(tmp_path, weights__npz=weights)
    result = validate_folder(folder, CONFIG)
    assert result.ok and result.submission is not None
    assert result.submission.weight_files == ("weights.npz",) and not result.submission.has_recipe


def test_npz_with_object_array(tmp_path: Path) -> None:
    weights = savez(tmp_path / "w.npz", w=np.ones(3, np.float32), evil=np.array([{"a": 1}, None], dtype=object))
    assert found(open_entry(tmp_path, weights__npz=weights)) == [("entry/weights.npz", None, None, "npz-object")]


def test_npz_with_structured_or_text_dtype(tmp_path: Path) -> None:
    weights = savez(tmp_path / "w.npz", s=np.array(["a", "b"]))
    assert found(open_entry(tmp_path, weights__npz=weights)) == [("entry/weights.npz", None, None, "npz-dtype")]


def test_zip_bomb_is_caught_from_the_directory(tmp_path: Path) -> None:
    limit = 1_000_000
    small = dataclasses.replace(CONFIG, submission=dataclasses.replace(CONFIG.submission,
                                                                       max_npz_uncompressed_bytes=limit))
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        header = np.lib.format.header_data_from_array_1_0(np.zeros(1, np.uint8))
        header["shape"] = (4 * limit,)
        with archive.open("w.npy", "w") as member:
            np.lib.format.write_array_header_1_0(member, header)
            for _ in range(4):
                member.write(bytes(limit))
    assert bomb.stat().st_size < limit // 50
    folder = open_entry(tmp_path, weights__npz=bomb.read_bytes())
    assert found(folder, config=small) == [("entry/weights.npz", None, None, "npz-too-large")]


def test_npz_header_that_lies_about_its_shape(tmp_path: Path) -> None:
    liar = tmp_path / "liar.npz"
    with zipfile.ZipFile(liar, "w") as archive, archive.open("w.npy", "w") as member:
        header = np.lib.format.header_data_from_array_1_0(np.zeros(1, np.float32))
        header["shape"] = (10**12,)
        np.lib.format.write_array_header_1_0(member, header)
        member.write(bytes(16))
    assert found(open_entry(tmp_path, weights__npz=liar.read_bytes())) == [
        ("entry/weights.npz", None, None, "npz-size-mismatch")]


@pytest.mark.parametrize("data", [b"", b"not a zip at all", b"PK\x03\x04" + bytes(40)])
def test_npz_that_is_not_an_archive(tmp_path: Path, data: bytes) -> None:
    assert found(open_entry(tmp_path, weights__npz=data)) == [("entry/weights.npz", None, None, "npz-unreadable")]


def test_npz_with_corrupted_data(tmp_path: Path) -> None:
    weights = bytearray(savez(tmp_path / "w.npz", w=np.arange(1000, dtype=np.float32)))
    weights[200] ^= 0xFF  # inside the stored array data: the CRC no longer matches
    assert found(open_entry(tmp_path, weights__npz=bytes(weights))) == [
        ("entry/weights.npz", None, None, "npz-unreadable")]


def test_npz_with_non_array_member(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("../evil.py", "print('hi')")
    assert found(open_entry(tmp_path, weights__npz=path.read_bytes())) == [
        ("entry/weights.npz", None, None, "npz-member")]


# --- outputs -----------------------------------------------------------------------------------------


def test_json_output_matches_its_schema_and_result_submission(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EXAMPLES / "valid")
    code, out, _ = run(["validate", "closed-full", "--json"], capsys)
    data = json.loads(out)
    assert code == 0 and schema.validate(data, "validation") == []
    assert result_submission_problems(data["submission"]) == []
    assert data["submission"]["claimed"] == {"accuracy_pct": 71.2, "speedup": 2.5, "compression": 3.9}
    assert out == schema.dumps(data)

    monkeypatch.chdir(EXAMPLES / "invalid")
    code, out, _ = run(["validate", "deep-errors", "--json"], capsys)
    data = json.loads(out)
    assert code == 1 and schema.validate(data, "validation") == [] and data["submission"] is None
    assert [(p["line"], p["column"]) for p in data["problems"]] == [(9, 17), (10, 12), (11, 16)]


def result_submission_problems(value: object) -> list[str]:
    """Problems of ``value`` as result.schema.json's ``submission`` (validated in place, so $refs resolve)."""
    result = schema.load("result")
    only_submission = {**result, "required": ["submission"],
                       "properties": {"submission": result["properties"]["submission"]}}
    validator = jsonschema.Draft202012Validator(only_submission)
    return [e.message for e in validator.iter_errors({"submission": value})]


def test_github_annotations_are_printed_in_actions(capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EXAMPLES / "invalid")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    code, out, _ = run(["validate", "honor-code-altered"], capsys)
    assert code == 1
    assert ("::error file=honor-code-altered/submission.yaml,line=7,col=13::honor_code: must be exactly "
            "\"I certify that this submission follows the rules\"\n") in out
    code, out, err = run(["validate", "honor-code-altered", "--json"], capsys)
    assert json.loads(out)["ok"] is False and err.startswith("::error file=")


def test_annotation_escaping() -> None:
    problem = Problem("a,b:c%.yaml", 3, None, "50% done\r\nnext: x, y", "x")
    assert annotations.render([problem]) == "::error file=a%2Cb%3Ac%25.yaml,line=3::50%25 done%0D%0Anext: x, y\n"
    assert annotations.render([]) == ""
    assert annotations.command("m", title="t:1", level="warning") == "::warning title=t%3A1::m"


def test_problem_str_with_and_without_position() -> None:
    assert str(Problem("f", 7, 3, "m", "c")) == "f:7:3: m"
    assert str(Problem("f", 7, None, "m", "c")) == "f:7: m"
    assert str(Problem("f", None, None, "m", "c")) == "f: m"


def test_paths_outside_the_current_directory_are_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = make(tmp_path, yaml=b"division: x\n")
    monkeypatch.chdir(EXAMPLES)
    assert validate_folder(folder, CONFIG).problems[0].file == f"{folder.as_posix()}/submission.yaml"


def test_validate_takes_well_under_a_second(tmp_path: Path) -> None:
    weights = savez(tmp_path / "w.npz", **{f"a{i}": np.ones((128, 128), np.float32) for i in range(8)})
    folder = open_entry(tmp_path, weights__npz=weights)
    validate_folder(folder, CONFIG)  # warm caches (schema compile)
    start = time.perf_counter()
    assert validate_folder(folder, CONFIG).ok
    assert time.perf_counter() - start < 1.0


def test_pythons_bytecode_cache_is_not_part_of_the_entry(tmp_path: Path) -> None:
    folder = tmp_path / "cached"
    shutil.copytree(Path(__file__).parents[2] / "submissions" / "closed-int8-prune", folder)
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"\x00" * 16)
    assert validate_folder(folder, config.load()).ok
    (folder / "__pycache__" / "model.cpython-311.pyc").unlink()
    (folder / "__pycache__").rmdir()
    (folder / "__pycache__").write_text("a file, not the cache")
    assert not validate_folder(folder, config.load()).ok
