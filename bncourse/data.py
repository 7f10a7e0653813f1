"""Offline MNIST: read the idx files shipped in ``data/mnist`` and verify them.

Nothing here touches the network. The four files and their SHA-256 sums
(``data/mnist/SHA256SUMS``) are part of the repository; set ``BNCOURSE_DATA``
to point at another folder holding the same four files.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
from pathlib import Path

import numpy as np

FILES = {
    "train": ("train-images.idx3-ubyte.gz", "train-labels.idx1-ubyte.gz"),
    "test": ("t10k-images.idx3-ubyte.gz", "t10k-labels.idx1-ubyte.gz"),
}
_CHECKED: set[tuple[Path, int, int]] = set()  # (path, size, mtime_ns) of files whose checksum matched


class DataError(RuntimeError):
    """A data file is missing or does not match its checksum."""


def data_dir() -> Path:
    """The folder holding the MNIST files (``BNCOURSE_DATA`` overrides it)."""
    env = os.environ.get("BNCOURSE_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "data" / "mnist"


def _expected_sums(folder: Path) -> dict[str, str]:
    sums = folder / "SHA256SUMS"
    if not sums.is_file():
        raise DataError(
            f"{sums} is missing. Restore it with `git checkout -- data/mnist` "
            "from the course repository."
        )
    table = {}
    for line in sums.read_text().splitlines():
        if line.strip():
            digest, name = line.split()
            table[name.lstrip("*")] = digest
    return table


def _stamp(path: Path) -> tuple[Path, int, int]:
    """(path, size, modification time): a file replaced or edited since gets a new stamp."""
    st = path.stat()
    return path, st.st_size, st.st_mtime_ns


def _verified(folder: Path, name: str) -> tuple[Path, int, int]:
    """The stamp of ``folder / name`` once its SHA-256 matches ``SHA256SUMS`` (checked once per stamp)."""
    path = folder / name
    stamp = _stamp(path) if path.is_file() else None
    if stamp in _CHECKED:
        return stamp
    fix = (
        "Restore it with `git checkout -- data/mnist/` (the course ships MNIST), "
        "or set BNCOURSE_DATA to a folder with the four original MNIST idx .gz files."
    )
    if stamp is None:
        raise DataError(f"MNIST file {path} is missing. {fix}")
    expected = _expected_sums(folder).get(name)
    if expected is None:
        raise DataError(f"{folder / 'SHA256SUMS'} has no checksum for {name}. {fix}")
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != expected:
        raise DataError(
            f"MNIST file {path} is corrupt: SHA-256 {actual[:12]}..., "
            f"expected {expected[:12]}.... {fix}"
        )
    _CHECKED.add(stamp)  # stamped before the read: a file changed during it is checked again next time
    return stamp


@functools.lru_cache(maxsize=8)
def _read_idx(stamp: tuple[Path, int, int]) -> np.ndarray:
    """The decoded idx file (uint8), cached for the life of the process (the kernel).

    Keyed by the file's stamp, so a file that changes is read again. The array is read-only
    (a view of the decompressed bytes): :func:`load_mnist` only ever returns new arrays made
    from it, so nothing a learner does to the returned arrays can change the cache.
    """
    path = stamp[0]
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    array = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)
    array.flags.writeable = False  # frombuffer over bytes is read-only already; say so
    return array


def load_mnist(split: str = "train", n: int | None = None, *, flatten: bool = False):
    """Load MNIST images and labels from the files shipped with the course.

    Args:
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000 images).
        n: keep only the first ``n`` examples (``None`` keeps all).
        flatten: return images as (N, 784) rows instead of (N, 28, 28, 1).

    Returns:
        ``(x, y)``: ``x`` float32 in [0, 1], shape (N, 28, 28, 1) or (N, 784);
        ``y`` int64 labels 0-9, shape (N,). Both are new arrays at every call, yours to change:
        the decoded files are read once per process and kept read-only (see ``_read_idx``).

    Raises:
        DataError: a file is missing or its SHA-256 does not match ``SHA256SUMS``.
    """
    if split not in FILES:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    folder = data_dir()
    images_name, labels_name = FILES[split]
    images = _read_idx(_verified(folder, images_name))
    labels = _read_idx(_verified(folder, labels_name))
    if n is not None:
        images, labels = images[:n], labels[:n]
    x = images.astype(np.float32) / 255.0
    x = x.reshape(len(x), -1) if flatten else x[..., None]
    return x, labels.astype(np.int64)
