"""Strict YAML for files students write: plain data plus the source position of every value.

PyYAML alone is too forgiving for untrusted input: it silently keeps the last of
duplicate keys, expands aliases (alias bombs), accepts tabs, and builds
timestamps or arbitrary tagged objects. ``load`` accepts one document of
mappings, lists, strings, numbers, booleans and null, and turns everything else
into a ``Problem`` with a 1-based line and column, reporting all it can find:

* size over the limit (checked before anything is decoded), BOM, non-UTF-8 bytes,
  characters YAML forbids, tab characters;
* syntax errors, several documents, anchors and aliases, nesting too deep;
* duplicate keys, keys that are not strings, tags other than the JSON types,
  numbers that are not finite or too long to read.

The returned ``Document.positions`` maps a JSON path (tuple of keys and list
indexes) to where its value starts and ``key_positions`` to where its key is,
so schema errors deep in the document point at the right line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from grader.core.problem import Problem

JsonPath = tuple[str | int, ...]
Position = tuple[int, int]  # 1-based line, column
MakeProblem = Callable[[int | None, int | None, str, str], Problem]

# Far deeper than any submission.yaml needs; keeps PyYAML's recursive composer safe.
MAX_DEPTH = 32
_BOM = b"\xef\xbb\xbf"
_TAG = "tag:yaml.org,2002:"
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null")}


@dataclass(frozen=True)
class Document:
    """A loaded YAML document: its data (None if unusable) and what went wrong."""

    data: Any
    problems: tuple[Problem, ...]
    positions: dict[JsonPath, Position] = field(default_factory=dict)
    key_positions: dict[JsonPath, Position] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def position(self, path: JsonPath, *, key: bool = False) -> Position | None:
        """Where ``path`` is (its key when ``key``), or its nearest ancestor that has a position."""
        if key and path in self.key_positions:
            return self.key_positions[path]
        for end in range(len(path), -1, -1):
            if path[:end] in self.positions:
                return self.positions[path[:end]]
        return None


def dotted(path: JsonPath) -> str:
    """``claimed.speedup`` / ``techniques_used[2]``; ``""`` for the document itself.

    Keys that are not plain words are shown quoted and escaped (``['a\\nb']``),
    so a student's key can never break a message across lines.
    """
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _WORD.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{ascii(part)}]"
    return out


def load(raw: bytes, file: str) -> Document:
    """Parse ``raw`` (the bytes of ``file``, a display path) strictly; never raises for bad input."""

    def problem(line: int | None, column: int | None, message: str, code: str) -> Problem:
        return Problem(file, line, column, message, code)

    if raw.startswith(_BOM):
        return Document(None, (problem(1, 1, "starts with a byte-order mark (BOM); save the file as UTF-8 "
                                              "without BOM", "yaml-bom"),))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line, column = _position_of_byte(raw, e.start)
        return Document(None, (problem(line, column, f"not valid UTF-8 (byte 0x{raw[e.start]:02x}); "
                                                     "save the file as UTF-8", "yaml-encoding"),))
    tabs = [problem(n, line.index("\t") + 1, "tab character; YAML files here must use spaces only", "yaml-tab")
            for n, line in enumerate(text.splitlines(), 1) if "\t" in line]
    if tabs:
        return Document(None, tuple(tabs))
    structural = list(_scan_events(text, problem))
    if structural:
        return Document(None, tuple(structural))
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:  # already parsed cleanly once; kept for safety
        return Document(None, (_yaml_error(e, text, problem),))
    if root is None:
        return Document(None, (problem(1, 1, "the file is empty", "yaml-empty"),))
    builder = _Builder(problem)
    data = builder.build(root, ())
    return Document(data if not builder.problems else None, tuple(builder.problems),
                    builder.positions, builder.key_positions)


def _scan_events(text: str, problem: MakeProblem) -> Iterator[Problem]:
    """Syntax errors, extra documents, anchors, aliases and excessive nesting, from the event stream."""
    depth = documents = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            assert event.start_mark is not None  # the parser marks every event it emits
            line, column = event.start_mark.line + 1, event.start_mark.column + 1
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents == 2:
                    yield problem(line, column, "more than one YAML document (a second '---'); "
                                                "keep exactly one", "yaml-documents")
            elif isinstance(event, yaml.AliasEvent):
                yield problem(line, column, f"alias '*{event.anchor}' is not allowed; write the value out",
                              "yaml-alias")
            elif isinstance(event, (yaml.ScalarEvent, yaml.CollectionStartEvent)) and event.anchor is not None:
                yield problem(line, column, f"anchor '&{event.anchor}' is not allowed; write the value out",
                              "yaml-anchor")
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    yield problem(line, column, f"nested more than {MAX_DEPTH} levels deep", "yaml-depth")
                    return
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError as e:
        yield _yaml_error(e, text, problem)


def _yaml_error(error: yaml.YAMLError, text: str, problem: MakeProblem) -> Problem:
    """A PyYAML error as a positioned problem with PyYAML's own wording."""
    if isinstance(error, yaml.reader.ReaderError):
        line = text.count("\n", 0, error.position) + 1
        column = error.position - (text.rfind("\n", 0, error.position) + 1) + 1
        char = error.character if isinstance(error.character, str) else chr(error.character)
        return problem(line, column, f"character U+{ord(char):04X} is not allowed in YAML", "yaml-character")
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        what = ": ".join(part for part in (error.context, error.problem) if part)
        if mark is not None:
            return problem(mark.line + 1, mark.column + 1, f"YAML syntax error: {what}", "yaml-syntax")
        return problem(None, None, f"YAML syntax error: {what}", "yaml-syntax")
    return problem(None, None, f"YAML error: {error}", "yaml-syntax")


def _position_of_byte(raw: bytes, offset: int) -> Position:
    line_start = raw.rfind(b"\n", 0, offset) + 1
    return raw.count(b"\n", 0, offset) + 1, offset - line_start + 1


class _Builder:
    """Turns a composed node tree into JSON-like data, recording positions and problems."""

    def __init__(self, problem: MakeProblem) -> None:
        self._problem = problem
        self._constructor = SafeConstructor()
        self.problems: list[Problem] = []
        self.positions: dict[JsonPath, Position] = {}
        self.key_positions: dict[JsonPath, Position] = {}

    def _add(self, node: Node, message: str, code: str) -> None:
        self.problems.append(self._problem(node.start_mark.line + 1, node.start_mark.column + 1, message, code))

    def build(self, node: Node, path: JsonPath) -> Any:
        self.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            if node.tag != _TAG + "seq":
                self._add(node, f"{dotted(path) or 'document'}: tag '{_short(node.tag)}' is not allowed", "yaml-tag")
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        return self._scalar(node, path)

    def _mapping(self, node: MappingNode, path: JsonPath) -> dict[str, Any] | None:
        if node.tag != _TAG + "map":
            self._add(node, f"{dotted(path) or 'document'}: tag '{_short(node.tag)}' is not allowed", "yaml-tag")
        out: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag != _TAG + "str":
                label = key_node.value if isinstance(key_node, ScalarNode) else "a list or mapping"
                self._add(key_node, f"key {ascii(label[:60])} must be a plain string (quote it)", "yaml-key")
                continue
            key = key_node.value
            if key in first_line:
                self._add(key_node, f"{dotted(path + (key,))}: duplicate key (first defined on line "
                                    f"{first_line[key]})", "yaml-duplicate-key")
                continue
            first_line[key] = key_node.start_mark.line + 1
            self.key_positions[path + (key,)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = self.build(value_node, path + (key,))
        return out

    def _scalar(self, node: Node, path: JsonPath) -> Any:
        label = dotted(path) or "value"
        if node.tag == _TAG + "timestamp":
            return node.value  # an unquoted date is meant as text
        if node.tag not in _SCALAR_TAGS:
            self._add(node, f"{label}: tag '{_short(node.tag)}' is not allowed; only strings, numbers, booleans "
                            "and null", "yaml-tag")
            return None
        try:
            value = self._constructor.construct_object(node, deep=True)
        except (ConstructorError, ValueError, OverflowError) as e:
            reason = "too many digits" if len(node.value) > 100 else str(e).splitlines()[0]
            self._add(node, f"{label}: cannot read {node.value[:40]!r} as {_short(node.tag)}: {reason}",
                      "yaml-value")
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self._add(node, f"{label}: {node.value!r} is not a finite number", "yaml-value")
            return None
        return value


def _short(tag: str) -> str:
    """``tag:yaml.org,2002:int`` -> ``!!int``, as the student wrote it."""
    return "!!" + tag[len(_TAG):] if tag.startswith(_TAG) else tag
