"""autograder/hardened.py: the bridge socket is answered only by the kernel's own process tree; a kernel over
a limit is reported for the limit, not for the timeout its cell also reached."""

import os
import socket
import subprocess
import sys
import time

from hardened import peer_in_tree

SERVE = """
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(1)
conn, _ = s.accept()
time.sleep(30)
"""


def _serve(path, parent_cmd=()):
    proc = subprocess.Popen([*parent_cmd, sys.executable, "-c", SERVE, str(path)])
    for _ in range(200):
        if os.path.exists(path):
            break
        time.sleep(0.05)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(str(path))
    return proc, conn


def test_a_socket_served_by_the_kernel_or_its_child_is_accepted(tmp_path):
    proc, conn = _serve(tmp_path / "direct")
    try:
        assert peer_in_tree(conn, proc.pid)
    finally:
        conn.close()
        proc.kill()
    wrapper = ["/bin/sh", "-c", '"$0" "$@"; :']  # a shell in between: the server is its child
    proc, conn = _serve(tmp_path / "child", wrapper)
    try:
        assert peer_in_tree(conn, proc.pid)  # the server is the shell's child
    finally:
        conn.close()
        proc.kill()


def test_a_socket_answered_by_another_process_is_refused(tmp_path):
    """What a kernel that swapped its socket path for a link to another socket would get."""
    kernel = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    other, conn = _serve(tmp_path / "elsewhere")
    os.symlink(tmp_path / "elsewhere", tmp_path / "bridge-0")
    linked = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        assert not peer_in_tree(conn, kernel.pid)
        linked.connect(str(tmp_path / "bridge-0"))  # connect() follows the link
        assert not peer_in_tree(linked, kernel.pid)
    finally:
        conn.close()
        linked.close()
        kernel.kill()
        other.kill()


# -- limits and timeouts: a kernel over a limit is reported for the limit, even when its cell
# also ran out of time before the watcher (every 0.25 s) got to it, e.g. on a loaded machine.

HOG = """
for i in range(4):  # 400 MB of files in the sandbox's /tmp (RAM), each under the file-size limit
    with open(f"/tmp/hog{i}.bin", "wb") as f:
        for _ in range(100):
            f.write(b"t" * 2**20)
import time
time.sleep(60)
"""


def _execute(tmp_path, source, monkeypatch, watcher=True):
    import nbformat
    from hardened import HardenedExecute, sandbox_available

    if not sandbox_available():
        raise AssertionError("bubblewrap (bwrap) is needed: apt-get install bubblewrap")
    if not watcher:  # the watcher never gets there in time: only the timeout path can tell
        monkeypatch.setattr(HardenedExecute, "_watch_memory", lambda self: None)
    ex = HardenedExecute(timeout=6, memory_limit_mb=300, max_replays=0, work_dir=str(tmp_path / "work"))
    (tmp_path / "work").mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nb, _ = ex.preprocess(nb, {"metadata": {"path": str(tmp_path)}, "unique_key": "nb"})
    return nb.cells[0].outputs[-1], ex._events[0]


def test_a_tmpfs_hog_is_stopped_for_memory_by_the_watcher(tmp_path, monkeypatch):
    out, event = _execute(tmp_path, HOG, monkeypatch)
    assert (out.ename, event["kind"]) == ("KernelDied", "kernel_died"), event
    assert "files in its /tmp" in event["detail"]


def test_a_tmpfs_hog_that_also_times_out_is_reported_for_memory(tmp_path, monkeypatch):
    out, event = _execute(tmp_path, HOG, monkeypatch, watcher=False)
    assert (out.ename, event["kind"]) == ("KernelDied", "kernel_died"), event
    assert "more than 300 MB of memory" in event["detail"] and "files in its /tmp" in event["detail"]


def test_a_cell_that_only_runs_long_is_a_timeout(tmp_path, monkeypatch):
    out, event = _execute(tmp_path, "import time\ntime.sleep(60)", monkeypatch, watcher=False)
    assert (out.ename, event["kind"]) == ("TimeoutError", "timeout"), event
