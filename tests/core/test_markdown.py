"""grader.core.markdown: untrusted strings stay inert wherever we render them."""

from __future__ import annotations

import re

import pytest

from grader.core import markdown


@pytest.mark.parametrize(("raw", "rendered"), [
    ("Ada", "Ada"),
    ("a|b", "a\\|b"),
    ("<script>x</script>", "&lt;script&gt;x&lt;/script&gt;"),
    ("@octocat", "@\u200boctocat"),
    ("see https://evil.example", "see https:\u200b//evil.example"),
    ("www.evil.example", "w\u200bww.evil.example"),
    ("[x](y)", "\\[x\\](y)"),
    ("**bold**", "\\*\\*bold\\*\\*"),
    ("line\nbreak\r\n| row |", "line break \\| row \\|"),
    ("- list", "\\- list"),
    ("1. ordered", "1\\. ordered"),
    ("# heading", "\\# heading"),
    ("1.5x faster, 0.5-100x", "1.5x faster, 0.5-100x"),
])
def test_text_escapes_what_would_be_syntax(raw: str, rendered: str) -> None:
    assert markdown.text(raw) == rendered


def test_bidi_overrides_and_zero_width_characters_are_dropped() -> None:
    assert markdown.text("ad\u202emin\u200b\u2066x\u00ad") == "admin" + "x"


def test_text_is_truncated_with_an_ellipsis() -> None:
    assert markdown.text("x" * 50, max_length=10) == "x" * 9 + "…"


def test_repo_link_only_links_well_formed_github_urls() -> None:
    assert markdown.repo_link("https://github.com/ada/tiny-torch") == "[ada/tiny-torch](https://github.com/ada/tiny-torch)"
    unescaped_link = re.compile(r"(?<!\\)\]\(")
    assert not unescaped_link.search(markdown.repo_link("https://github.com/ada/x)](javascript:alert(1)"))
    assert not unescaped_link.search(markdown.repo_link("[a](javascript:alert(1))"))
