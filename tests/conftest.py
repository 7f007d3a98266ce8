"""Shared fixtures: the real CIFAR-10 test set when TINYMLPERF_DATA points at it, and loopback servers.

The tests mirror grader/ (tests/<district>/), cross-cutting ones are in tests/e2e/;
``-m "not slow"`` is the fast loop. tests/README.md says what goes where.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.measure import data
from tests import cifar_archive, pr_replay
from tests.github_server import GitHubServer

RUNNER_PREFIXES = ("GITHUB_", "RUNNER_", "ACTIONS_")


@pytest.fixture(autouse=True)
def _not_inside_a_workflow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts from a developer machine's environment, even when the suite runs on a runner.

    On GitHub Actions the runner sets ``GITHUB_ACTIONS=true`` (grade then refuses the ``process``
    level that many tests ask for), a real ``GITHUB_TOKEN``, ``GITHUB_STEP_SUMMARY`` and more. A
    test that plays a workflow sets what it needs itself (``monkeypatch.setenv``, workflow_replay).
    """
    for name in [n for n in os.environ if n.startswith(RUNNER_PREFIXES)]:
        monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def cifar_dir() -> Path:
    """The ``cifar-10-batches-py`` folder of the real test set.

    Skipped on a developer machine without the data; under CI=true a missing
    data set is a failure, so CI can never pass by skipping the real measurements.
    """
    root = os.environ.get("TINYMLPERF_DATA")
    if not root:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but TINYMLPERF_DATA is not set: .ci/run must prepare CIFAR-10")
        pytest.skip("TINYMLPERF_DATA not set (see README: getting the data)")
    return data.locate(Path(root))


@pytest.fixture(scope="session")
def cifar_test(cifar_dir: Path) -> data.Split:
    """The 10,000 real CIFAR-10 test images and labels."""
    return data.load_split(cifar_dir, "test")


@pytest.fixture(scope="session")
def small_data(tmp_path_factory: pytest.TempPathFactory, cifar_test: data.Split) -> Path:
    """1,000 real test images as the test set, and 200 more as the (unlabelled) calibration source."""
    folder = tmp_path_factory.mktemp("cifar") / data.FOLDER
    folder.mkdir()
    for name, part in ((data.TEST_BATCH, slice(0, 1000)), (data.TRAIN_BATCHES[0], slice(1000, 1200))):
        batch = {b"data": cifar_test.images[part].reshape(-1, 3072), b"labels": cifar_test.labels[part].tolist()}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    return folder


@pytest.fixture
def cifar_server() -> Iterator[tuple[str, cifar_archive.Archive]]:
    """A loopback HTTP server standing in for the CIFAR-10 download site."""
    with cifar_archive.serve_archive() as served:
        yield served


@pytest.fixture
def replay_origin(tmp_path: Path) -> Path:
    """The competition repo a replayed PR is cut from (tests/pr_replay.py)."""
    return pr_replay.make_origin(tmp_path)


@pytest.fixture
def replay_api() -> Iterator[GitHubServer]:
    """The loopback GitHub API the replayed workflows talk to, with the competition repo."""
    with GitHubServer() as server:
        yield pr_replay.seed_api(server)
