"""bngrader/fsguard.py: links are never followed, reads are bounded, usage is measured."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

from bngrader import fsguard, grade


@pytest.fixture
def outside(tmp_path_factory):
    secret = tmp_path_factory.mktemp("instructor") / "instructor.txt"
    secret.write_text("instructor only")
    return secret


def test_reading_refuses_links_fifos_and_big_files(tmp_path, outside):
    os.symlink(outside, tmp_path / "link.txt")
    os.mkfifo(tmp_path / "pipe.txt")
    with open(tmp_path / "big.bin", "wb") as f:
        f.truncate(11)
    (tmp_path / "ok.txt").write_text("fine")
    for name, why in (("link.txt", "is a symbolic link"), ("pipe.txt", "is not a regular file"),
                      ("big.bin", "is larger than")):
        with pytest.raises(fsguard.UnsafeFile, match=f"{name} {why}"):
            fsguard.read_regular(tmp_path / name, max_bytes=10)
    assert fsguard.read_regular(tmp_path / "ok.txt", max_bytes=10) == b"fine"


def test_copy_replaces_a_link_at_the_destination_instead_of_writing_through_it(tmp_path, outside):
    (tmp_path / "page.html").write_text("<p>feedback</p>")
    os.symlink(outside, tmp_path / "copy.html")
    fsguard.copy_regular(tmp_path / "page.html", tmp_path / "copy.html")
    assert outside.read_text() == "instructor only"
    assert not (tmp_path / "copy.html").is_symlink()
    assert (tmp_path / "copy.html").read_text() == "<p>feedback</p>"


def test_scan_is_bounded_and_names_every_oddity(tmp_path, outside):
    (tmp_path / "nb.ipynb").write_text("{}")
    os.symlink(outside, tmp_path / "timestamp.txt")
    os.mkfifo(tmp_path / "fifo")
    with open(tmp_path / "huge.bin", "wb") as f:
        f.truncate(3 * 2**30)  # sparse: scanning it must not read 3 GB
    start = time.monotonic()
    entries, problems = fsguard.scan_folder(tmp_path, max_bytes=2**20)
    assert time.monotonic() - start < 2
    assert {e.rel: e.kind for e in entries} == {"nb.ipynb": "file", "timestamp.txt": "link", "fifo": "special",
                                                "huge.bin": "big"}
    assert problems == ["fifo is not a regular file (not used)", "huge.bin is larger than 1 MB (not used)",
                        "timestamp.txt is a symbolic link (not used)"]
    (tmp_path / "many").mkdir()
    for i in range(30):
        (tmp_path / "many" / str(i)).write_text("x")
    entries, problems = fsguard.scan_folder(tmp_path, max_files=10)
    assert len(entries) == 10 and problems[-1] == "more than 10 files in the submission folder (the rest were not read)"


def test_tree_usage_charges_sparse_files_their_size_and_does_not_follow_links(tmp_path):
    with open(tmp_path / "sparse.bin", "wb") as f:
        f.truncate(100 * 2**20)
    os.symlink("/usr", tmp_path / "usr")
    used, entries = fsguard.tree_usage([str(tmp_path)], 1000)
    assert entries == 2 and 100 * 2**20 <= used < 101 * 2**20
    for i in range(50):
        (tmp_path / f"f{i}").write_text("x")
    assert fsguard.tree_usage([str(tmp_path)], 20)[1] == 21  # stops counting past the cap


@pytest.mark.skipif(not shutil.which("bwrap"), reason="needs bubblewrap")
def test_tmpfs_usage_sees_the_sandbox_tmp():
    proc = subprocess.Popen(["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--dev", "/dev", "--tmpfs", "/tmp",
                             "sh", "-c", "head -c 30000000 /dev/zero > /tmp/x && sleep 30"])
    try:
        import psutil

        deadline = time.monotonic() + 20
        used = 0
        while used < 30_000_000 and time.monotonic() < deadline:
            time.sleep(0.2)
            pids = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
            used = fsguard.tmpfs_usage(pids)
        assert 30_000_000 <= used < 40_000_000
        assert fsguard.tmpfs_usage([os.getpid()]) == 0  # the grader's own mounts are not the sandbox's
    finally:
        proc.kill()
        proc.wait()


def test_copy_flags_names_links_copies_and_the_solution(tmp_path):
    a, nb = "02_numpy_forward", "02_numpy_forward.ipynb"
    subs = {s: tmp_path / s / a for s in ("ann", "bob", "cat", "dan", "eve", "fay", "gus")}
    for folder in subs.values():
        folder.mkdir(parents=True)
    (subs["ann"] / nb).write_text('{"same": 1}')
    (subs["bob"] / nb).write_text('{"same": 1}')
    (subs["cat"] / nb).write_text('{"own": 1}')
    os.symlink(subs["cat"] / nb, subs["dan"] / nb)
    shutil.copyfile(grade.ROOT / "solutions" / a / nb, subs["eve"] / nb)
    for untouched in ("fay", "gus"):  # the released notebook, handed in as it was: no copy of anyone's
        shutil.copyfile(grade.ROOT / "notebooks" / a / nb, subs[untouched] / nb)
    flags = grade.copy_flags(subs, [a], a)
    assert flags == {"ann": {a: [("suspicious", "identical to another submission: bob")]},
                     "bob": {a: [("suspicious", "identical to another submission: ann")]},
                     "cat": {a: []},
                     "dan": {a: [("suspicious", f"{nb} is a symbolic link (not graded)")]},
                     "eve": {a: [("suspicious", f"{nb} is identical to the solution notebook (not graded)")]},
                     "fay": {a: []}, "gus": {a: []}}
