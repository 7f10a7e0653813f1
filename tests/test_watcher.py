"""bngrader/watcher.py: a process tree over its memory limit or its disk quota is stopped, with the
reason; one under its limits is left alone. (Files in a sandbox's tmpfs: tests/test_hardened.py.)"""

import subprocess
import sys
import time

from bngrader.watcher import Watcher

HOLD = "import sys, time\nblock = bytearray(int(sys.argv[1]) * 2**20)\nblock[::4096] = b'x' * len(block[::4096])\n" \
       "print('ready', flush=True)\ntime.sleep(60)"


def _holding(mb):
    """A process tree (a shell and its child) whose child holds ``mb`` MB of resident memory."""
    proc = subprocess.Popen(["/bin/sh", "-c", f'"{sys.executable}" -c "$0" {mb}; :', HOLD],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_a_tree_over_its_memory_limit_is_killed_with_the_reason(tmp_path):
    proc = _holding(300)
    try:
        w = Watcher(proc.pid, memory_mb=200, disk_mb=100, max_files=100, roots=[str(tmp_path)])
        reason = w.enforce()
        assert reason == w.reason and "more than 200 MB of memory" in reason
        assert proc.wait(timeout=10) is not None
    finally:
        proc.kill()


def test_a_tree_under_its_limits_is_left_alone(tmp_path):
    proc = _holding(50)
    try:
        w = Watcher(proc.pid, memory_mb=400, disk_mb=100, max_files=100, roots=[str(tmp_path)])
        assert w.enforce() is None and w.reason is None
        assert proc.poll() is None
    finally:
        proc.kill()


def test_the_disk_quota_counts_bytes_sparse_files_and_entries(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        w = Watcher(proc.pid, memory_mb=4000, disk_mb=5, max_files=50, roots=[str(tmp_path)])
        with open(tmp_path / "sparse.bin", "wb") as f:
            f.truncate(6 * 2**20)  # no block written: charged its full size all the same
        assert "more than 5 MB to disk" in w.disk_over()
        (tmp_path / "sparse.bin").unlink()
        for i in range(60):
            (tmp_path / f"{i}.txt").write_text("x")
        assert "more than 50 files" in w.disk_over()
        assert w.enforce() and proc.wait(timeout=10) is not None
    finally:
        proc.kill()


def test_the_thread_stops_a_tree_that_grows_past_the_limit(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "import time\nblocks = []\nfor _ in range(60):\n"
                             "    blocks.append(bytearray(10 * 2**20)); blocks[-1][::4096] = b'x' * 2560\n"
                             "    time.sleep(0.05)\ntime.sleep(60)"])
    try:
        w = Watcher(proc.pid, memory_mb=250, disk_mb=100, max_files=100, roots=[str(tmp_path)], interval=0.1)
        w.start()
        assert proc.wait(timeout=30) is not None
        time.sleep(0.2)
        assert "more than 250 MB of memory" in w.reason
    finally:
        w.stop()
        proc.kill()
