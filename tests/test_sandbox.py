"""bngrader/sandbox.py: the bridge socket is answered only by the kernel's own process tree;
the sandbox's command line binds only what it must."""

import os
import socket
import subprocess
import sys
import time

from bngrader.sandbox import kernel_env, peer_in_tree, sandbox_argv

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


def test_the_sandbox_binds_the_system_read_only_and_only_the_given_folders_writable(tmp_path):
    argv = sandbox_argv([str(tmp_path / "box")], {"HOME": "/h"}, str(tmp_path / "box"), file_limit_mb=7,
                        readonly_files=[str(tmp_path / "connection.json")])
    pairs = list(zip(argv, argv[1:], argv[2:]))
    assert ("--bind", str(tmp_path / "box"), str(tmp_path / "box")) in pairs
    assert ("--ro-bind", str(tmp_path / "connection.json"), str(tmp_path / "connection.json")) in pairs
    assert [a for a in argv if a.startswith("--fsize=")] == [f"--fsize={7 * 2**20}"]
    binds = {b for flag, b, _ in pairs if flag == "--bind"}
    assert binds == {str(tmp_path / "box")}  # nothing else writable: not the course, not the solutions
    assert "--unshare-all" in argv and "--clearenv" in argv


def test_the_kernel_environment_names_no_grader_path():
    env = kernel_env("/home/k")
    assert "PYTHONPATH" not in env and env["NBGRADER_EXECUTION"] == "autograde"
    assert not [v for v in env.values() if "autograder" in v or "solutions" in v]
