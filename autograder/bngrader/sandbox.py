"""The sandbox a student's kernel runs in: bubblewrap (``bwrap``), and who may answer its sockets.

The kernel sees no network, a private ``/tmp``, and of the file system only the system, the
Python environment, the course's helper package and data (all read-only) and the folders it is
given to write in. ``solutions/``, ``autograder/``, gradebooks and other submissions do not exist
in there. :func:`peer_in_tree` tells whether a Unix socket is answered by the kernel's own
process tree (a kernel could swap its socket path for a link to another socket).
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path


def sandbox_available() -> bool:
    """bubblewrap is installed and can create namespaces here."""
    exe = shutil.which("bwrap")
    if not exe:
        return False
    import subprocess

    probe = subprocess.run([exe, "--unshare-all", "--ro-bind", "/", "/", "true"], capture_output=True)
    return probe.returncode == 0


def _system_binds() -> list[str]:
    args = []
    for top in ("/usr", "/etc", "/lib", "/lib64", "/lib32", "/bin", "/sbin"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    return args


def sandbox_argv(writable: list[str], env: dict[str, str], cwd: str, file_limit_mb: int = 200,
                 readonly_files: list[str] = ()) -> list[str]:
    """bwrap command prefix: read-only system and Python, ``writable`` folders, ``readonly_files``
    (e.g. the connection file), nothing else. No file may grow past ``file_limit_mb``."""
    import importlib.util

    package = Path(importlib.util.find_spec("bncourse").origin).resolve().parent  # wherever pip put it
    readonly = {sys.base_prefix, sys.prefix, str(package), str(package.parent / "data")}
    extra = os.environ.get("BNCOURSE_DATA")
    if extra:
        readonly.add(extra)
    argv = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
            *_system_binds(), "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    # the tmpfs mounts (/, /tmp, /dev) are RAM: HardenedExecute counts them against the memory limit
    for path in sorted(readonly):
        if os.path.exists(path):
            argv += ["--ro-bind", path, path]
    for path in writable:
        argv += ["--bind", path, path]
    for path in readonly_files:
        argv += ["--ro-bind", path, path]
    for key, value in sorted(env.items()):
        argv += ["--setenv", key, value]
    argv += ["--chdir", cwd, "prlimit", f"--fsize={file_limit_mb * 2**20}", "--"]
    return argv


def kernel_env(home: str) -> dict[str, str]:
    """The kernel's whole environment: no PYTHONPATH to the reference checks."""
    env = {
        "PATH": os.pathsep.join([os.path.dirname(os.path.abspath(sys.executable)), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": home, "LANG": "C.UTF-8", "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1",
        "NBGRADER_EXECUTION": "autograde", "TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "0",
        "KERAS_HOME": os.path.join(home, ".keras"), "MPLCONFIGDIR": os.path.join(home, ".mpl"),
    }
    if os.environ.get("BNCOURSE_DATA"):
        env["BNCOURSE_DATA"] = os.environ["BNCOURSE_DATA"]
    return env


def peer_in_tree(conn: socket.socket, root_pid: int) -> bool:
    """Whether the process at the other end of the Unix socket ``conn`` (SO_PEERCRED, as this
    process's PID namespace sees it) is ``root_pid`` or one of its descendants."""
    import struct

    import psutil

    pid, _, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    try:
        root = psutil.Process(root_pid)
        return pid == root_pid or any(p.pid == pid for p in root.children(recursive=True))
    except psutil.Error:
        return False
