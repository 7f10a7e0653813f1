"""File-system rules for the grader: never follow a link from the student's side, read in
bounded memory, and measure what a kernel wrote.

Everything a student controls (the submitted folder, and whatever the kernel writes) is
looked at with ``lstat``/``O_NOFOLLOW``: a symbolic link, a FIFO or a device is refused, not
followed; a file is read in chunks and only up to a size cap. ``grade.py`` uses the reading
side, ``hardened.py`` the measuring side (its disk and tmpfs watcher).
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20
MAX_FILE_BYTES = 50 * 2**20  # a submitted file larger than this is not read
MAX_FILES = 200  # entries of a submission folder that are looked at
MAX_TOTAL_BYTES = 200 * 2**20  # bytes of a submission folder that are hashed; the rest by size and time
_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


class UnsafeFile(Exception):
    """A file the grader refuses to read or copy; the message names the file and why."""


def _mb(n: int) -> str:
    return f"{n / 2**20:g} MB"


def open_regular(path: Path, max_bytes: int = MAX_FILE_BYTES) -> int:
    """A read-only descriptor on ``path`` if it is a regular file of at most ``max_bytes``:
    never through a symbolic link (O_NOFOLLOW), never a FIFO or a device (O_NONBLOCK, fstat)."""
    path = Path(path)
    try:
        fd = os.open(path, _FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFile(f"{path.name} is a symbolic link") from None
        raise UnsafeFile(f"{path.name} cannot be read ({exc.strerror})") from None
    st = os.fstat(fd)
    problem = (None if stat.S_ISREG(st.st_mode) else "is not a regular file") or (
        f"is larger than {_mb(max_bytes)}" if st.st_size > max_bytes else None)
    if problem:
        os.close(fd)
        raise UnsafeFile(f"{path.name} {problem}")
    return fd


def read_regular(path: Path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file (see :func:`open_regular`); stops at ``max_bytes`` even if
    the file grows while it is read."""
    with os.fdopen(open_regular(path, max_bytes), "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UnsafeFile(f"{Path(path).name} is larger than {_mb(max_bytes)}")
    return data


def copy_regular(src: Path, dst: Path, max_bytes: int = MAX_FILE_BYTES) -> None:
    """Copy one regular file in chunks; ``dst`` is created anew (an existing link there is
    replaced, not written through)."""
    fd = open_regular(src, max_bytes)
    with os.fdopen(fd, "rb") as fin:
        if os.path.lexists(dst):
            os.unlink(dst)
        out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(out, "wb") as fout:
            copied = 0
            while chunk := fin.read(CHUNK):
                copied += len(chunk)
                if copied > max_bytes:
                    raise UnsafeFile(f"{Path(src).name} is larger than {_mb(max_bytes)}")
                fout.write(chunk)


def hash_regular(path: Path, max_bytes: int = MAX_FILE_BYTES) -> str:
    """sha256 of a regular file, read in chunks."""
    h = hashlib.sha256()
    with os.fdopen(open_regular(path, max_bytes), "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Entry:
    """One entry of a scanned folder: ``kind`` is file, big (over the cap, not read), dir,
    link or special; ``digest`` is the content hash of a file that was read."""

    rel: str
    kind: str
    size: int
    digest: str = ""


def scan_folder(folder: Path, max_files: int = MAX_FILES, max_bytes: int = MAX_FILE_BYTES,
                hash_files: bool = True, max_total: int = MAX_TOTAL_BYTES) -> tuple[list[Entry], list[str]]:
    """Every entry under ``folder`` (links not followed, files hashed in chunks if
    ``hash_files``, up to ``max_total`` bytes, the rest by size and time), and the problems a
    human should know about: links, special files, files over ``max_bytes``, more than
    ``max_files`` entries (the rest is not looked at). Memory stays bounded whatever the
    folder holds."""
    folder = Path(folder)
    if os.path.islink(folder) or not folder.is_dir():
        return [], [f"the submission folder {folder.name} is a symbolic link or not a folder"]
    entries: list[Entry] = []
    problems: list[str] = []
    hashed = 0
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        try:
            with os.scandir(folder / rel_dir) as it:
                children = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            problems.append(f"{rel_dir or '.'} cannot be listed ({exc.strerror})")
            continue
        for child in children:
            if len(entries) >= max_files:
                problems.append(f"more than {max_files} files in the submission folder (the rest were not read)")
                return entries, problems
            rel = f"{rel_dir}/{child.name}" if rel_dir else child.name
            st = child.stat(follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                entries.append(Entry(rel, "link", 0, os.readlink(child.path)[:200]))
                problems.append(f"{rel} is a symbolic link (not used)")
            elif stat.S_ISDIR(st.st_mode):
                entries.append(Entry(rel, "dir", 0))
                stack.append(rel)
            elif not stat.S_ISREG(st.st_mode):
                entries.append(Entry(rel, "special", 0))
                problems.append(f"{rel} is not a regular file (not used)")
            elif st.st_size > max_bytes:
                entries.append(Entry(rel, "big", st.st_size, str(st.st_mtime_ns)))
                problems.append(f"{rel} is larger than {_mb(max_bytes)} (not used)")
            elif not hash_files or hashed + st.st_size > max_total:
                entries.append(Entry(rel, "file", st.st_size, f"mtime {st.st_mtime_ns}"))
            else:
                hashed += st.st_size
                try:
                    entries.append(Entry(rel, "file", st.st_size, hash_regular(folder / rel, max_bytes)))
                except UnsafeFile as exc:  # changed between the listing and the read
                    entries.append(Entry(rel, "special", 0))
                    problems.append(f"{exc} (not used)")
    return entries, problems


def tree_usage(roots: list[str], max_entries: int) -> tuple[int, int]:
    """(bytes, entries) under ``roots``, links not followed. A file counts as the larger of
    its apparent size and its allocated blocks, so a sparse file is charged its full size.
    Stops counting once past ``max_entries`` (so a flood of files costs bounded time)."""
    total = count = 0
    stack = [r for r in roots if os.path.isdir(r) and not os.path.islink(r)]
    while stack:
        try:
            it = os.scandir(stack.pop())
        except OSError:
            continue
        with it:
            for entry in it:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                count += 1
                if count > max_entries:
                    return total, count
                if stat.S_ISDIR(st.st_mode):
                    stack.append(entry.path)
                else:
                    total += max(st.st_size, st.st_blocks * 512)
    return total, count


def _mount_ns(pid: int | str) -> str:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return ""


def tmpfs_usage(pids: list[int]) -> int:
    """Bytes held by the tmpfs mounts (RAM) that ``pids`` see in mount namespaces other than
    the grader's own, e.g. the sandbox's ``/tmp``, ``/dev``, ``/dev/shm`` and its root.
    Measured with statvfs through ``/proc/<pid>/root``: no file is opened or listed."""
    ours, seen, total = _mount_ns("self"), set(), 0
    for pid in pids:
        ns = _mount_ns(pid)
        if not ns or ns == ours:
            continue
        try:
            with open(f"/proc/{pid}/mounts") as f:
                mounts = [line.split() for line in f]
        except OSError:
            continue
        for fields in mounts:
            if len(fields) < 3 or fields[2] != "tmpfs":
                continue
            point = fields[1].encode().decode("unicode_escape")  # \040 for spaces
            path = f"/proc/{pid}/root{point}"
            try:
                key = (ns, os.stat(path).st_dev)
                if key in seen:
                    continue
                seen.add(key)
                vfs = os.statvfs(path)
            except OSError:
                continue
            total += (vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize
    return total


def remove_tree(path: Path) -> None:
    """Remove a folder a kernel wrote into, whatever it did to its permissions; links inside
    are removed, not followed (shutil.rmtree)."""

    def retry(func, failed, _exc):
        parent = os.path.dirname(failed)
        for p in (parent, failed):
            if os.path.isdir(p) and not os.path.islink(p):
                os.chmod(p, 0o700)
        func(failed)

    if os.path.lexists(path):
        if os.path.islink(path) or not os.path.isdir(path):
            os.unlink(path)
        else:
            shutil.rmtree(path, onerror=retry)
