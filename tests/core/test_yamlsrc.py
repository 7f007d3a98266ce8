"""grader.core.yamlsrc: strict YAML with positions; every bad input is a positioned problem, never a traceback."""

from __future__ import annotations

import time

import pytest

from grader.core import yamlsrc


def problems(source: bytes) -> list[str]:
    return [str(p) for p in yamlsrc.load(source, "f.yaml").problems]


def test_plain_document_loads_with_positions_of_keys_and_values() -> None:
    doc = yamlsrc.load(b"a: 1\nb:\n  - x\n  - {c: 2.5}\n", "f.yaml")
    assert doc.ok and doc.data == {"a": 1, "b": ["x", {"c": 2.5}]}
    assert doc.position(("b", 1, "c")) == (4, 9)
    assert doc.position(("b",), key=True) == (2, 1)
    assert doc.position(("b", 0)) == (3, 5)


def test_position_of_missing_path_falls_back_to_nearest_ancestor() -> None:
    doc = yamlsrc.load(b"a:\n  b: 1\n", "f.yaml")
    assert doc.position(("a", "zzz", 3)) == (2, 3)


def test_duplicate_keys_are_rejected_naming_both_lines() -> None:
    assert problems(b"a: 1\nb:\n  c: 1\n  c: 2\na: 3\n") == [
        "f.yaml:4:3: b.c: duplicate key (first defined on line 3)",
        "f.yaml:5:1: a: duplicate key (first defined on line 1)",
    ]


def test_every_anchor_and_alias_is_reported() -> None:
    assert problems(b"a: &x [1]\nb: *x\nc: *x\n") == [
        "f.yaml:1:4: anchor '&x' is not allowed; write the value out",
        "f.yaml:2:4: alias '*x' is not allowed; write the value out",
        "f.yaml:3:4: alias '*x' is not allowed; write the value out",
    ]


def test_alias_bomb_is_rejected_without_expanding_it() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    start = time.perf_counter()
    doc = yamlsrc.load("\n".join(lines).encode(), "f.yaml")
    assert time.perf_counter() - start < 1.0
    assert doc.data is None and {p.code for p in doc.problems} == {"yaml-anchor", "yaml-alias"}


def test_tabs_are_reported_on_each_line_that_has_one() -> None:
    assert problems(b"a: 1\nb:\n\t- x\nc: 'tab\there'\n") == [
        "f.yaml:3:1: tab character; YAML files here must use spaces only",
        "f.yaml:4:8: tab character; YAML files here must use spaces only",
    ]


def test_bom_is_rejected() -> None:
    assert problems(b"\xef\xbb\xbfa: 1\n") == [
        "f.yaml:1:1: starts with a byte-order mark (BOM); save the file as UTF-8 without BOM"]


def test_non_utf8_byte_is_located() -> None:
    assert problems(b"a: 1\nb: caf\xe9\n") == ["f.yaml:2:7: not valid UTF-8 (byte 0xe9); save the file as UTF-8"]


def test_control_character_is_located() -> None:
    assert problems(b"a: 1\nb: x\x07y\n") == ["f.yaml:2:5: character U+0007 is not allowed in YAML"]


def test_syntax_error_is_located() -> None:
    assert problems(b"a: [1, 2\nb: 3\n") == [
        "f.yaml:2:2: YAML syntax error: while parsing a flow sequence: expected ',' or ']', but got ':'"]


def test_second_document_is_rejected() -> None:
    assert problems(b"a: 1\n---\na: 2\n") == [
        "f.yaml:2:1: more than one YAML document (a second '---'); keep exactly one"]


def test_nesting_is_bounded_before_composing() -> None:
    doc = yamlsrc.load(b"[" * 100_000, "f.yaml")
    assert [p.code for p in doc.problems] == ["yaml-depth"]


@pytest.mark.parametrize("source, code", [
    (b"a: !!python/object/apply:os.system [ls]\n", "yaml-tag"),
    (b"a: !!binary aGVsbG8=\n", "yaml-tag"),
    (b"a: !custom x\n", "yaml-tag"),
    (b"a: !!set {x}\n", "yaml-tag"),
    (b"a: !!int nope\n", "yaml-value"),
    (b"a: .nan\n", "yaml-value"),
    (b"a: -.inf\n", "yaml-value"),
    (b"a: 1" + b"0" * 5000 + b"\n", "yaml-value"),
    (b"1: x\n", "yaml-key"),
    (b"? [a, b]\n: x\n", "yaml-key"),
    (b"", "yaml-empty"),
    (b"# only a comment\n", "yaml-empty"),
])
def test_non_json_values_are_problems(source: bytes, code: str) -> None:
    doc = yamlsrc.load(source, "f.yaml")
    assert doc.data is None and [p.code for p in doc.problems] == [code]


def test_unquoted_date_is_kept_as_text() -> None:
    assert yamlsrc.load(b"when: 2024-05-01\n", "f.yaml").data == {"when": "2024-05-01"}


def test_dotted_paths() -> None:
    assert yamlsrc.dotted(()) == ""
    assert yamlsrc.dotted(("claimed", "speedup")) == "claimed.speedup"
    assert yamlsrc.dotted(("techniques_used", 2)) == "techniques_used[2]"
    assert yamlsrc.dotted(("claimed", "a b\nc")) == "claimed['a b\\nc']"
