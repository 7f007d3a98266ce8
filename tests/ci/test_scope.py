"""grader.ci.scope: one submission folder per PR, and a precise reason otherwise."""

from __future__ import annotations

import pytest

from grader.ci.scope import ChangedFile, Scope, check, parse_name_status
from grader.core import config

PATTERN = config.load().submission.slug


def scope_of(*files: ChangedFile, listed_total: int | None = None) -> Scope:
    return check(files, slug=PATTERN, listed_total=listed_total)


def test_a_pr_adding_one_submission_folder_is_in_scope() -> None:
    got = scope_of(ChangedFile("submissions/ada-quant/submission.yaml", "added"),
                   ChangedFile("submissions/ada-quant/model.py", "modified"),
                   ChangedFile("submissions/ada-quant/weights/w.npz", "added"))
    assert got == Scope("ada-quant", ())


def test_a_rename_inside_the_folder_is_in_scope() -> None:
    got = scope_of(ChangedFile("submissions/ada/new.py", "renamed", "submissions/ada/old.py"))
    assert got.ok and got.slug == "ada"


@pytest.mark.parametrize("path, fragment", [
    ("grader/sandbox/parent.py", "changes the grader or its workflows"),
    (".github/workflows/grade.yml", "changes the grader or its workflows"),
    ("README.md", "is outside submissions/<slug>/"),
    ("submissions/README.md", "is outside submissions/<slug>/"),
])
def test_a_file_outside_the_folder_is_refused_with_what_to_drop(path: str, fragment: str) -> None:
    got = scope_of(ChangedFile("submissions/ada/model.py", "added"), ChangedFile(path, "modified"))
    assert got.slug is None and any(p.startswith(f"{path}: ") and fragment in p for p in got.problems)


def test_two_submissions_are_refused_with_a_split_hint() -> None:
    got = scope_of(ChangedFile("submissions/ada/model.py", "added"), ChangedFile("submissions/bob/model.py", "modified"))
    assert got.problems == ("touches 2 submission folders (ada, bob); split it into one PR per submission",)


def test_a_score_record_is_refused() -> None:
    got = scope_of(ChangedFile("submissions/ada/score.json", "added"))
    assert got.slug is None and "score records (score.json) are written by the grader" in got.problems[0]


def test_a_deletion_in_a_submission_is_refused() -> None:
    got = scope_of(ChangedFile("submissions/ada/model.py", "removed"))
    assert "deletes a file from a submission" in got.problems[0]


def test_a_rename_out_of_a_submission_is_refused() -> None:
    got = scope_of(ChangedFile("submissions/ada/model.py", "renamed", "submissions/bob/model.py"))
    assert got.problems == ("submissions/bob/model.py -> submissions/ada/model.py: moves a file between folders; "
                            "drop this rename and add the file as a new one",)


def test_a_rename_from_the_grader_into_a_submission_is_refused() -> None:
    got = scope_of(ChangedFile("submissions/ada/x.py", "renamed", "grader/x.py"))
    assert got.slug is None and "moves a file between folders" in got.problems[0]


@pytest.mark.parametrize("slug", ["Ada", "ada_quant", "-ada", "a" * 41])
def test_a_slug_that_breaks_the_pattern_is_refused(slug: str) -> None:
    got = scope_of(ChangedFile(f"submissions/{slug}/model.py", "added"))
    assert got.slug is None and got.problems[0].startswith(f"submissions/{slug}/: the folder name must match")


@pytest.mark.parametrize("path", ["submissions/ada/../grader/x.py", "/etc/passwd", "submissions/ada/a\\b.py",
                                  "submissions/ada/\x1b[31m.py"])
def test_an_unsafe_path_is_refused(path: str) -> None:
    assert "not a plain relative path" in scope_of(ChangedFile(path, "added")).problems[0]


def test_an_empty_pr_is_refused() -> None:
    assert scope_of().problems == ("the PR changes no files; add your folder submissions/<slug>/",)


def test_files_github_did_not_list_are_refused() -> None:
    got = scope_of(ChangedFile("submissions/ada/model.py", "added"), listed_total=3001)
    assert got.slug is None and "GitHub lists only 1 of the PR's 3001 changed files" in got.problems[0]


def test_every_problem_is_reported_not_just_the_first() -> None:
    got = scope_of(ChangedFile("grader/x.py", "modified"), ChangedFile("submissions/ada/score.json", "added"),
                   ChangedFile("submissions/bob/m.py", "removed"))
    assert len(got.problems) == 4


def test_parse_name_status_reads_git_z_output_with_renames() -> None:
    raw = "A\0submissions/a/m.py\0M\0README.md\0R087\0old/x.py\0submissions/a/x.py\0D\0gone.py\0"
    assert parse_name_status(raw) == [ChangedFile("submissions/a/m.py", "added"), ChangedFile("README.md", "modified"),
                                      ChangedFile("submissions/a/x.py", "renamed", "old/x.py"),
                                      ChangedFile("gone.py", "removed")]


@pytest.mark.parametrize("raw", ["X\0a\0", "R100\0only-one\0", "A\0"])
def test_parse_name_status_rejects_malformed_output(raw: str) -> None:
    with pytest.raises(ValueError, match="git name-status field"):
        parse_name_status(raw)
