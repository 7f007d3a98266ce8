"""Make untrusted strings inert in GitHub-flavoured Markdown.

Every student string that reaches a PR comment, a job summary, a report or the
leaderboard goes through ``text``: no HTML, no @mentions, no links or images,
no table breaks, no invisible or bidirectional control characters.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

import tabulate as tabulate_module

from grader.core.names import REPO_URL

# Punctuation that opens or closes inline syntax anywhere in a line: backslash-escape it.
# ``(``, ``)`` and ``!`` need no escape once ``[`` and ``]`` have one.
_PUNCTUATION = set("\\`*_[]#|~")
# Block markers that only act at the start of a line (lists, quotes, headings).
_LEADING = re.compile(r"^(?:[-+]|\d{1,9}[.)])(?=\s|$)")
# Zero-width space: breaks autolinks (``http://``, ``www.``) and @mentions
# without changing what a reader sees.
_ZWSP = "\u200b"
_AUTOLINK = re.compile(r"(?i)(://|www\.)")


def clean(value: str) -> str:
    """Drop control and format characters (RTL overrides, zero-width, NUL); fold whitespace."""
    kept = []
    for ch in value:
        category = unicodedata.category(ch)
        if ch in "\t\n\r" or category in ("Zl", "Zp"):
            kept.append(" ")
        elif category not in ("Cc", "Cf", "Cs", "Co", "Cn"):
            kept.append(ch)
    return " ".join("".join(kept).split())


def text(value: str, max_length: int = 200) -> str:
    """``value`` as inert inline Markdown, safe inside a table cell, at most ``max_length`` characters."""
    value = clean(value)
    if len(value) > max_length:
        value = value[: max_length - 1] + "…"
    value = _AUTOLINK.sub(lambda m: m.group(1)[0] + _ZWSP + m.group(1)[1:], value)
    leading = _LEADING.match(value)
    marker = leading.end() - 1 if leading else -1
    out = []
    for i, ch in enumerate(value):
        if i == marker:
            out.append("\\" + ch)
        elif ch == "&":
            out.append("&amp;")
        elif ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        elif ch == "@":
            out.append("@" + _ZWSP)
        elif ch in _PUNCTUATION:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def repo_link(url: str) -> str:
    """A Markdown link for a well-formed ``https://github.com/owner/repo`` URL, else inert text."""
    match = REPO_URL.match(url)
    if not match:
        return text(url, 100)
    owner, repo = match.groups()
    return f"[{text(owner + '/' + repo, 100)}](https://github.com/{owner}/{repo})"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], right: Sequence[int] = ()) -> str:
    """A GitHub-flavoured table of already-escaped cells, the same bytes on every machine.

    Columns whose index is in ``right`` are right-aligned (numbers). tabulate pads
    by display width only where the optional ``wcwidth`` package is installed, so
    emoji would pad differently from one machine to the next; padding by code
    points keeps reports and the leaderboard deterministic.
    """
    saved = tabulate_module.WIDE_CHARS_MODE
    tabulate_module.WIDE_CHARS_MODE = False
    try:
        align = ["right" if i in right else "left" for i in range(len(headers))]
        lines = tabulate_module.tabulate([list(r) for r in rows], headers=list(headers), tablefmt="github",
                                         disable_numparse=True, colalign=align).split("\n")
    finally:
        tabulate_module.WIDE_CHARS_MODE = saved
    # tabulate's github format draws no alignment colons: mark right-aligned columns for GitHub.
    cells = lines[1].split("|")
    for i in right:
        cells[i + 1] = cells[i + 1][:-1] + ":"
    lines[1] = "|".join(cells)
    return "\n".join(lines)
