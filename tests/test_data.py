"""Offline MNIST: shipped, verified, and loud when missing or corrupt."""

import shutil

import numpy as np
import pytest

from bncourse import DataError, load_mnist
from bncourse import data as data_mod


def test_train_and_test_splits_load_with_expected_shapes():
    x, y = load_mnist("train")
    assert x.shape == (60000, 28, 28, 1) and x.dtype == np.float32
    assert y.shape == (60000,) and set(np.unique(y)) == set(range(10))
    assert 0.0 <= x.min() and x.max() == 1.0
    xt, yt = load_mnist("test", n=500, flatten=True)
    assert xt.shape == (500, 784) and yt.shape == (500,)


def test_shipped_files_match_the_manifest():
    folder = data_mod.data_dir()
    names = sorted(n for pair in data_mod.FILES.values() for n in pair)
    assert sorted(data_mod._expected_sums(folder)) == names
    assert "LeCun" in (folder / "README.md").read_text()


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    for f in data_mod.data_dir().iterdir():
        shutil.copy(f, tmp_path / f.name)
    monkeypatch.setenv("BNCOURSE_DATA", str(tmp_path))
    monkeypatch.setattr(data_mod, "_CHECKED", set())
    return tmp_path


def test_missing_file_names_the_file_and_the_fix(data_copy):
    (data_copy / "t10k-labels.idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"t10k-labels\.idx1-ubyte\.gz is missing.*git checkout"):
        load_mnist("test")


def test_corrupt_file_is_detected_by_checksum(data_copy):
    path = data_copy / "t10k-images.idx3-ubyte.gz"
    raw = bytearray(path.read_bytes())
    raw[1000] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"t10k-images\.idx3-ubyte\.gz is corrupt"):
        load_mnist("test")


def test_missing_manifest_is_reported(data_copy):
    (data_copy / "SHA256SUMS").unlink()
    with pytest.raises(DataError, match="SHA256SUMS is missing"):
        load_mnist("test")


def test_bad_split_is_a_clear_error():
    with pytest.raises(ValueError, match="split must be"):
        load_mnist("validation")


def test_decoded_files_are_cached_and_a_learners_changes_do_not_reach_the_cache():
    x, y = load_mnist("test", n=100)
    first = x.copy(), y.copy()
    hits = data_mod._read_idx.cache_info().hits
    x[:] = 0.0  # a learner normalizing in place
    y[:] = 7
    x2, y2 = load_mnist("test", n=100)
    assert data_mod._read_idx.cache_info().hits >= hits + 2  # served from the cache, not decoded again
    np.testing.assert_array_equal(x2, first[0])
    np.testing.assert_array_equal(y2, first[1])
    assert x2.flags.writeable and y2.flags.writeable and x2 is not x
    cached = data_mod._read_idx(data_mod._verified(data_mod.data_dir(), data_mod.FILES["test"][1]))
    assert not cached.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        cached[0] = 1


def test_a_file_corrupted_after_a_load_is_checked_again(data_copy):
    load_mnist("test", n=10)
    path = data_copy / "t10k-labels.idx1-ubyte.gz"
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"t10k-labels\.idx1-ubyte\.gz is corrupt"):
        load_mnist("test", n=10)
