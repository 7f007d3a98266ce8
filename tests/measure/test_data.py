"""CIFAR-10 loading: the real test set, synthetic batches, and the download path over loopback HTTP."""

from __future__ import annotations

import hashlib
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from grader.core.errors import DataError
from grader.measure import data
from tests.cifar_archive import Archive, make_archive, write_batch

# --- the real test set --------------------------------------------------------------------------

def test_real_test_set_has_10000_images_1000_per_class(cifar_test: data.Split) -> None:
    assert cifar_test.images.shape == (10000, 3, 32, 32)
    assert cifar_test.images.dtype == np.uint8
    assert np.bincount(cifar_test.labels).tolist() == [1000] * 10
    assert 100 < cifar_test.images.mean() < 150  # real photos, not zeros or noise


# --- synthetic batches --------------------------------------------------------------------------

def test_synthetic_batch_round_trips_in_channel_major_layout(tmp_path: Path) -> None:
    written = write_batch(tmp_path / "test_batch", 7)
    loaded = data.load_batch(tmp_path / "test_batch")
    np.testing.assert_array_equal(loaded.images, written.images)
    np.testing.assert_array_equal(loaded.labels, written.labels)
    assert loaded.images[0, 1, 0, 0] == written.images.reshape(7, 3072)[0, 1024]


def test_truncated_batch_is_refused_naming_the_file(tmp_path: Path) -> None:
    write_batch(tmp_path / "test_batch", 7)
    raw = (tmp_path / "test_batch").read_bytes()
    (tmp_path / "test_batch").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match=r"test_batch: not a readable CIFAR-10 batch"):
        data.load_batch(tmp_path / "test_batch")


def test_batch_that_names_code_is_refused_not_run(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self):  # pickled as a call to os.system
            import os
            return (os.system, ("touch pwned",))

    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(DataError, match="refusing to load"):
        data.load_batch(tmp_path / "test_batch")
    assert not (tmp_path / "pwned").exists()


def test_batch_with_wrong_array_shape_is_refused(tmp_path: Path) -> None:
    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(DataError, match=r"uint8 array of shape \[N, 3072\]"):
        data.load_batch(tmp_path / "test_batch")


def test_missing_batch_file_is_named(tmp_path: Path) -> None:
    write_batch(tmp_path / "test_batch", 2)
    with pytest.raises(DataError, match="data_batch_1: missing"):
        data.load_split(tmp_path, "train")


def test_locate_accepts_the_folder_or_its_parent(tmp_path: Path) -> None:
    (tmp_path / data.FOLDER).mkdir()
    write_batch(tmp_path / data.FOLDER / "test_batch", 2)
    assert data.locate(tmp_path) == tmp_path / data.FOLDER
    assert data.locate(tmp_path / data.FOLDER) == tmp_path / data.FOLDER


def test_data_flag_wins_over_environment_and_cache(tmp_path: Path) -> None:
    for name in ("flag", "env", "cache"):
        (tmp_path / name / data.FOLDER).mkdir(parents=True)
        write_batch(tmp_path / name / data.FOLDER / "test_batch", 1)
    env = {data.ENV_VAR: str(tmp_path / "env")}
    cache = tmp_path / "cache"
    assert data.resolve(tmp_path / "flag", env=env, cache=cache).parent.name == "flag"
    assert data.resolve(None, env=env, cache=cache).parent.name == "env"
    assert data.resolve(None, env={}, cache=cache, cache_digests=None).parent.name == "cache"


def test_environment_pointing_at_nothing_is_an_error_not_a_download(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no CIFAR-10 test batch here"):
        data.resolve(None, env={data.ENV_VAR: str(tmp_path)}, cache=tmp_path / "cache", url="http://127.0.0.1:9/")


@pytest.mark.parametrize("named", ["--data", data.ENV_VAR])
def test_a_folder_named_without_data_says_what_it_must_hold_and_the_offline_route(tmp_path: Path,
                                                                                  named: str) -> None:
    arg, env = (tmp_path, {}) if named == "--data" else (None, {data.ENV_VAR: str(tmp_path)})
    with pytest.raises(DataError) as info:
        data.resolve(arg, env=env, cache=tmp_path / "cache", download=False)
    message = str(info.value)
    assert f"{named} must name a folder holding cifar-10-batches-py/" in message
    assert "pip install -e '.[data]'" in message and "cifar10_from_jpeg.py" in message


# --- download over loopback ---------------------------------------------------------------------

def test_download_verifies_extracts_and_caches(tmp_path: Path, cifar_server: tuple[str, Archive]) -> None:
    url, served = cifar_server
    served.body = make_archive(tmp_path)
    cache = tmp_path / "cache"
    seen: list[tuple[int, int | None]] = []
    found = data.resolve(None, env={}, cache=cache, url=url, md5=hashlib.md5(served.body).hexdigest(),
                         progress=lambda done, total: seen.append((done, total)))
    assert found == cache / data.FOLDER
    assert data.load_split(found, "train").images.shape == (20, 3, 32, 32)
    assert seen[-1] == (len(served.body), len(served.body))
    assert sorted(p.name for p in cache.iterdir()) == [data.FOLDER]  # no temp files left
    served.body = b"gone"  # a second resolve uses the cache, not the network
    assert data.resolve(None, env={}, cache=cache, url=url, md5="0" * 32, cache_digests=None) == found


def test_download_with_wrong_checksum_is_refused_and_leaves_nothing(tmp_path: Path,
                                                                    cifar_server: tuple[str, Archive]) -> None:
    url, served = cifar_server
    served.body = make_archive(tmp_path)
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="has MD5 .* expected 0{32}; refusing it") as info:
        data.resolve(None, env={}, cache=cache, url=url, md5="0" * 32)
    assert "--data DIR" in str(info.value) and data.ENV_VAR in str(info.value)
    assert list(cache.iterdir()) == []


def test_truncated_download_is_refused_and_leaves_nothing(tmp_path: Path, cifar_server: tuple[str, Archive]) -> None:
    url, served = cifar_server
    full = make_archive(tmp_path)
    served.body, served.claimed_length = full[: len(full) // 2], len(full)
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="truncated|failed"):
        data.resolve(None, env={}, cache=cache, url=url, md5=hashlib.md5(full).hexdigest())
    assert list(cache.iterdir()) == []


@pytest.mark.parametrize("member", ["../escape.txt", "/abs.txt", "cifar-10-batches-py/../../up.txt", "link"])
def test_archive_member_escaping_the_folder_is_refused(tmp_path: Path, cifar_server: tuple[str, Archive],
                                                       member: str) -> None:
    url, served = cifar_server
    info = tarfile.TarInfo(member)
    if member == "link":
        info.name, info.type, info.linkname = f"{data.FOLDER}/link", tarfile.SYMTYPE, "/etc/passwd"
    else:
        info.size = 1
    served.body = make_archive(tmp_path, extra=info)
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="refusing member"):
        data.resolve(None, env={}, cache=cache, url=url, md5=hashlib.md5(served.body).hexdigest())
    assert list(cache.iterdir()) == []
    assert not (tmp_path / "escape.txt").exists()


def test_offline_gives_one_message_naming_the_three_ways(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        data.resolve(None, env={}, cache=tmp_path / "cache", url="http://127.0.0.1:9/none.tar.gz")
    message = str(info.value)
    assert "download of http://127.0.0.1:9/none.tar.gz failed" in message
    assert "--data DIR" in message and data.ENV_VAR in message and str(tmp_path / "cache") in message
    assert "pip install -e '.[data]'" in message and "cifar10_from_jpeg.py" in message  # the offline route
