"""The grader's end of the data-only bridge (:mod:`wire`) to one sandboxed kernel.

A hidden test cell runs in the grader's process; the student's names it uses are looked up in
the kernel and reach it as data or as proxies (:class:`CellBridge`). :class:`BridgeClient` owns
the connection: it installs the kernel's agent the first time a test needs it, accepts the
socket only when the kernel's own process tree answers it, keeps every call within the test
cell's deadline, and closes the connection for good when the kernel sends something it refuses.
"""

from __future__ import annotations

import contextlib
import socket
import time

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode

from bngrader import wire
from bngrader.sandbox import peer_in_tree


class Fatal(Exception):
    """The kernel timed out or died during a call from a test cell."""


class BridgeClient:
    """One kernel's connection. ``executor`` runs cells in the kernel (``_side_execute``), knows its
    process (``km``), its limits (``bridge_max_mb``, ``timeout``) and why it was stopped
    (``_limit_reason``)."""

    def __init__(self, executor, path: str):
        self.executor, self.path = executor, path
        self.conn: socket.socket | None = None
        self.refused: str | None = None  # why the connection was closed for good
        self.request_id = 0
        self.fatal: Exception | None = None  # the test cell's timeout or dead kernel
        self.deadline = 0.0

    def start_test(self, deadline: float) -> None:
        self.fatal, self.deadline = None, deadline

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(OSError):
                self.conn.close()
            self.conn = None

    def _process(self):
        return getattr(getattr(self.executor.km, "provisioner", None), "process", None)

    def connect(self, index: int) -> None:
        """Install the agent in the kernel (one cell execution) and connect to its socket."""
        code = wire.bootstrap_code(self.path, self.executor.bridge_max_mb * 2**20)
        cell = NotebookNode(cell_type="code", source=code, metadata={}, outputs=[])
        self.executor._side_execute(cell, index)
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if errors:
            raise wire.RemoteError(f"the grader could not reach the notebook's code ({errors[0].ename})")
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # within the test's deadline: a kernel that fills the socket's backlog cannot hold the grader
        conn.settimeout(max(0.05, self.deadline - time.monotonic()))
        conn.connect(self.path)
        proc = self._process()
        if proc is None or not peer_in_tree(conn, proc.pid):
            # the socket folder is the kernel's: it may have swapped the path for a link to
            # another socket on this machine. Only the kernel's own process tree may answer.
            conn.close()
            raise wire.RemoteError("the grader could not reach the notebook's code (the bridge socket "
                                   "was answered by a process outside the kernel)")
        self.conn = conn

    def kernel_alive(self) -> bool:
        proc = self._process()
        for _ in range(20):  # the socket closes a moment before the process is gone
            if proc is None or proc.poll() is not None:
                return False
            time.sleep(0.05)
        return True

    def refuse(self, exc: wire.BridgeError):
        """The kernel sent a message the grader refuses: this connection is out of step, so it
        is closed for good (this kernel's later tests fail with the same reason)."""
        self.refused = str(exc)
        self.close()
        raise wire.BridgeError(f"the grader refused the notebook's answer: {exc}") from None

    def rpc(self, request: dict, index: int):
        """One request to the agent, within the test cell's deadline. A timeout or a dead kernel
        is fatal for the cell (:class:`Fatal`); a refused message fails the test with its reason."""
        if self.fatal is not None:
            raise Fatal("the kernel is gone")
        if self.refused:
            raise wire.BridgeError(f"the grader stopped talking to this notebook: {self.refused}")
        self.request_id += 1
        request = {**request, "id": self.request_id}
        max_bytes = self.executor.bridge_max_mb * 2**20
        try:
            if self.conn is None:
                self.connect(index)
            self.conn.settimeout(max(0.05, self.deadline - time.monotonic()))
            wire.send(self.conn, request, max_bytes)  # too large: refused before a byte is sent
            data = wire.receive(self.conn, max_bytes, deadline=self.deadline)
        except (CellTimeoutError, TimeoutError):
            self.fatal = CellTimeoutError(f"Cell execution timed out after {self.executor.timeout} s")
            raise Fatal("timeout") from None
        except DeadKernelError as exc:
            self.fatal = exc
            raise Fatal("dead kernel") from None
        except wire.MessageTooLarge:
            raise  # the grader's own request: nothing was sent, the connection is in step
        except wire.BridgeError as exc:
            self.refuse(exc)
        except OSError:
            data = None
        if data is None:
            if self.executor._limit_reason() or not self.kernel_alive():
                self.fatal = DeadKernelError("Kernel died")
                raise Fatal("dead kernel")
            raise wire.RemoteError("the grader lost contact with the notebook's code (was the kernel's state "
                                   "tampered with?)")
        try:
            data = wire.check_response(data, self.request_id)
        except wire.BridgeError as exc:
            self.refuse(exc)
        if "error" in data:
            wire.raise_remote(data["error"])
        return data["ok"]


class CellBridge:
    """What one test cell's proxies talk to: requests go through the kernel's client; answers
    are decoded into values or proxies (:mod:`wire`)."""

    def __init__(self, client: BridgeClient, index: int):
        self.client, self.index = client, index

    def decode(self, data):
        return wire.decode(data, remote=lambda handle: wire.RemoteObject(self, handle))

    def request(self, request, raw=False):
        result = self.client.rpc(request, self.index)
        if raw:
            return result
        if request["op"] != "lookup":
            return self.decode(result)
        if type(result) is not dict or not set(result) <= set(request["names"]):
            self.client.refuse(wire.BridgeError("a lookup answered with names the test did not ask for"))
        values = {}
        for name, data in result.items():
            try:
                values[name] = self.decode(data)
            except wire.BridgeError as exc:
                raise wire.BridgeError(f"the notebook's {name!r} was refused: {exc}") from None
        return values
