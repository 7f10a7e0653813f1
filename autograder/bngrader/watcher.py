"""The resource watcher: a kernel that goes over its memory limit or its disk quota is stopped.

Memory is the resident memory of the kernel's whole process tree plus the files it keeps in the
sandbox's tmpfs mounts (``/tmp``, ``/dev/shm``: RAM too). The disk quota is the bytes and the
number of entries under the kernel's own folders, links not followed, sparse files charged their
full size. A thread checks every ``interval`` seconds; the executor also calls :meth:`Watcher.enforce`
once more when a cell times out, so a kernel that went over a limit while its cell also ran out
of time is reported for the limit.
"""

from __future__ import annotations

import contextlib
import threading

from bngrader import fsguard


class Watcher:
    """Watches the process tree rooted at ``pid``; ``reason`` says why it was stopped (or None)."""

    def __init__(self, pid: int, *, memory_mb: int, disk_mb: int, max_files: int, roots: list[str],
                 interval: float = 0.25):
        self.pid, self.memory_mb, self.disk_mb, self.max_files = pid, memory_mb, disk_mb, max_files
        self.roots, self.interval = [r for r in roots if r], interval
        self.reason: str | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        def watch():
            while not self._stop.wait(self.interval):
                if self.enforce():
                    return

        threading.Thread(target=watch, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def enforce(self) -> str | None:
        """If the kernel is over a limit: record why, kill its process tree, return the reason."""
        import psutil

        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return None
        reason = self.memory_over(procs) or self.disk_over()
        if reason:
            self.reason = reason
            for p in reversed(procs):
                with contextlib.suppress(psutil.Error):
                    p.kill()
        return reason

    def memory_over(self, procs) -> str | None:
        """Why the kernel is over its memory limit, or None. Files in the sandbox's tmpfs mounts
        are RAM too and count."""
        import psutil

        rss = 0
        for p in procs:
            with contextlib.suppress(psutil.Error):
                rss += p.memory_info().rss
        files = fsguard.tmpfs_usage([p.pid for p in procs])
        if rss + files <= self.memory_mb * 2**20:
            return None
        tmp = f" (of which {files / 2**20:.0f} MB are files in its /tmp or other tmpfs)" if files >= 2**20 else ""
        return f"the kernel used more than {self.memory_mb} MB of memory{tmp} and was stopped."

    def disk_over(self) -> str | None:
        """Why the kernel is over its disk quota, or None."""
        used, entries = fsguard.tree_usage(self.roots, self.max_files)
        if entries > self.max_files:
            return f"the kernel wrote more than {self.max_files} files (disk quota) and was stopped."
        if used > self.disk_mb * 2**20:
            return f"the kernel wrote more than {self.disk_mb} MB to disk (disk quota) and was stopped."
        return None
