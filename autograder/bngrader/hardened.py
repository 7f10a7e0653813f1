"""nbgrader's Execute step, hardened. Used by ``grade.py`` through nbgrader's own
``Autograde`` converter (``Autograde.autograde_preprocessors``).

What changes against stock ``nbgrader.preprocessors.Execute``:

* **Sandbox.** The kernel runs under bubblewrap (``bwrap``): no network, a private
  ``/tmp``, and of the file system only the system, the Python environment, the
  course's helper package and data (read-only) and a scratch folder of its own
  (``<work>/kernel``: its home and its working folder, a copy of the regular files next to
  the notebook, notebooks excluded). nbgrader reads and writes the graded notebook in a
  folder the kernel cannot reach, so nothing the kernel writes (a link, a replaced
  notebook, a log of the hidden tests' inputs) is read back or handed to anyone.
  ``solutions/``, ``autograder/``, the gradebook and other submissions do not exist
  in there. The kernel talks to the grader over Unix sockets in a short folder of
  its own (socket paths are limited to ~107 bytes).
* **Hidden tests run outside the kernel.** Each autograded test cell runs in this
  process, against proxies of the student's functions and values (:mod:`wire`).
  Patching numpy, the check helpers or ``print`` in the notebook cannot change a
  verdict, and the reference checks never enter the sandbox.
* **Limits.** A time limit per cell and per notebook, a memory limit per kernel (its
  processes' resident memory plus the files it keeps in the sandbox's tmpfs mounts such as
  ``/tmp``), a disk quota (bytes and number of files it writes, sparse files charged their
  full size; a file-size limit besides), a cap on output. A cell that times out (even one that ignores SIGINT) or kills its kernel
  gets an error output; the kernel is restarted, the earlier cells are replayed, and
  grading goes on, so later exercises still count.

Every event (timeout, dead kernel, truncated output, a test cell failed by its hidden tests) is written to
``<work>/events-<notebook>.json`` for ``grade.py`` to turn into a status.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import copy
import io
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import Execute
from traitlets import Integer, Unicode

from bngrader import fsguard, reference, wire
from bngrader.bridge import BridgeClient, CellBridge, Fatal
from bngrader.sandbox import kernel_env, sandbox_argv
from bngrader.watcher import Watcher


def is_test_cell(cell) -> bool:
    return cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)


def _names(tree: ast.AST) -> tuple[set[str], set[str]]:
    loaded, bound = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return loaded, bound


def error_output(ename: str, evalue: str) -> NotebookNode:
    """An error output with the message only: no traceback lines, so no hidden code."""
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


HIDDEN_BEGIN, HIDDEN_END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"  # nbgrader's delimiters


def in_hidden_tests(error: BaseException, source: str, filename: str) -> bool:
    """Whether ``error`` left the test cell's code (compiled as ``filename``) from a line between
    the hidden-test delimiters: the visible checks passed and a hidden test failed. Read from the
    traceback in this process (the error output keeps the message only)."""
    lines = source.splitlines()
    begin = next((i + 1 for i, ln in enumerate(lines) if HIDDEN_BEGIN in ln), None)
    if begin is None:
        return False
    end = next((i + 1 for i, ln in enumerate(lines) if HIDDEN_END in ln and i + 1 > begin), len(lines) + 1)
    tb, at = error.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            at = tb.tb_lineno  # the outermost frame of the cell's own code: the statement that raised
            break
        tb = tb.tb_next
    return at is not None and begin < at < end


def stream_output(text: str) -> NotebookNode:
    return NotebookNode(output_type="stream", name="stdout", text=text)


class HardenedExecute(Execute):
    """Execute for ``grade.py``: sandboxed kernel, hidden tests outside it, hard limits."""

    work_dir = Unicode("", help="Scratch folder for this submission (kernel home, connection files, events).").tag(config=True)
    sandbox = Unicode("bwrap", help="'bwrap' or 'none' (documented fallback: no file or network isolation).").tag(config=True)
    notebook_timeout = Integer(900, help="Seconds for the whole notebook.").tag(config=True)
    memory_limit_mb = Integer(3000, help="Resident memory of the kernel's process tree.").tag(config=True)
    max_output_kb = Integer(2048, help="Output kept per notebook; the rest is dropped.").tag(config=True)
    max_replays = Integer(3, help="Kernel restarts per notebook after a timeout or a crash.").tag(config=True)
    bridge_max_mb = Integer(wire.DEFAULT_MAX_BYTES // 2**20,
                            help="Largest message between a test cell and the notebook, either way.").tag(config=True)
    disk_limit_mb = Integer(200, help="Bytes the kernel may keep in its folders (home, working folder, "
                                      "sockets); also the largest file it may write.").tag(config=True)
    max_files = Integer(2000, help="Files and folders the kernel may create in its folders.").tag(config=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.interrupt_on_timeout = False  # a timeout raises; we kill and restart the kernel
        self.shutdown_kernel = "immediate"

    # ------------------------------------------------------------------ kernel
    def create_kernel_manager(self):
        # <work>/kernel holds the grader's files (connection files, kernel.log): the sandbox sees
        # them read-only at most, so it cannot turn one into a link the grader then writes through.
        # It may write only in <work>/kernel/box (its home and working folder) and its sockets.
        work = Path(self.work_dir)
        kdir = work / "kernel"
        box = kdir / "box"
        cwd = self._fresh_kernel_folders(box)
        env = kernel_env(str(box / "home"))
        # Unix socket paths are limited to ~107 bytes: the sockets get a short folder of their own.
        if not getattr(self, "_socket_dir", None):
            self._socket_dir = tempfile.mkdtemp(prefix="bnk-", dir="/tmp" if os.path.isdir("/tmp") else None)
        connection = kdir / f"connection-{self._restarts}.json"
        cmd = [os.path.abspath(sys.executable), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        if self.sandbox == "bwrap":
            cmd = sandbox_argv([str(box), self._socket_dir], env, str(cwd), file_limit_mb=self.disk_limit_mb,
                               readonly_files=[str(connection)]) + cmd
        km = AsyncKernelManager(kernel_name="python3", config=self.config, transport="ipc",
                                ip=os.path.join(self._socket_dir, "k"))
        km.connection_file = str(connection)
        km._kernel_spec = KernelSpec(argv=cmd, display_name="Python 3 (sandboxed)", language="python")
        self._kernel_cwd = str(cwd)  # _start_kernel starts it there (nbclient would use the notebook's folder)
        self.km = km
        return km

    def _fresh_kernel_folders(self, box: Path) -> Path:
        """The kernel's home and working folder, emptied at every (re)start: what an earlier
        kernel wrote is gone (a quota kill does not kill the next kernel too). The working
        folder gets a copy of the regular files next to the notebook, notebooks excluded (the
        one nbgrader grades holds the hidden tests); links and special files are skipped."""
        fsguard.remove_tree(box)
        home, cwd = box / "home", box / "cwd"
        for folder in (home, cwd):
            folder.mkdir(parents=True)
        source = self.resources.get("metadata", {}).get("path")
        if source and os.path.isdir(source):
            for entry in os.scandir(source):
                if entry.is_file(follow_symlinks=False) and not entry.name.endswith(".ipynb"):
                    with contextlib.suppress(fsguard.UnsafeFile):
                        fsguard.copy_regular(Path(entry.path), cwd / entry.name)
        return cwd

    def _start_kernel(self):
        self.km = self.create_kernel_manager()
        # The kernel gets only kernel_env(): no PYTHONPATH to the reference checks.
        kdir = Path(self.work_dir) / "kernel"
        self._kernel_log = open(kdir / "kernel.log", "ab")  # the kernel's own stdout/stderr
        self.start_new_kernel(env=kernel_env(str(kdir / "box" / "home")), stdout=self._kernel_log,
                              stderr=self._kernel_log, cwd=self._kernel_cwd)
        self.start_new_kernel_client()
        self.wait_for_reply(self.kc.kernel_info())
        proc = getattr(self.km.provisioner, "process", None)
        self._client = BridgeClient(self, os.path.join(self._socket_dir, f"bridge-{self._restarts}"))
        self._watcher = None if proc is None else Watcher(
            proc.pid, memory_mb=self.memory_limit_mb, disk_mb=self.disk_limit_mb, max_files=self.max_files,
            roots=[str(Path(self.work_dir) / "kernel"), getattr(self, "_socket_dir", None) or ""])
        self._watch_memory()

    def _stop_kernel(self):
        if self.km is not None:
            with contextlib.suppress(Exception):
                self._cleanup_kernel()
        self.km = self.kc = None
        if getattr(self, "_client", None) is not None:
            self._client.close()
        if getattr(self, "_kernel_log", None):
            self._kernel_log.close()

    def _watch_memory(self):
        """Start the resource watcher on the kernel just started (see :mod:`watcher`)."""
        if self._watcher is not None:
            self._watcher.start()

    def _limit_reason(self) -> str | None:
        """Why the watcher stopped the kernel (memory or disk quota), or None."""
        watcher = getattr(self, "_watcher", None)
        return watcher.reason if watcher is not None else None

    # ------------------------------------------------------------------ outputs
    def output(self, outs, msg, display_id, cell_index):
        size = len(json.dumps(msg.get("content", {}), default=str))
        self._output_bytes += size
        if self._output_bytes > self.max_output_kb * 1024:
            if not self._truncated:
                self._truncated = True
                self._event("output_truncated", cell_index, f"output beyond {self.max_output_kb} kB was dropped")
                outs.append(stream_output(f"[grader: output beyond {self.max_output_kb} kB was dropped]\n"))
            return None
        return super().output(outs, msg, display_id, cell_index)

    # ------------------------------------------------------------------ main loop
    def _event(self, kind, index, detail):
        self._events.append({"kind": kind, "cell": index, "detail": detail})

    def preprocess(self, nb, resources=None, km=None):
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self._events, self._restarts, self._output_bytes, self._truncated = [], 0, 0, False
        self._watcher, self._broken = None, set()
        self._checker_ns = {"__builtins__": builtins, "__name__": "__grader__"}
        deadline = time.monotonic() + self.notebook_timeout
        cell_timeout = self.timeout
        try:
            self._start_kernel()
        except Exception as exc:  # noqa: BLE001 - e.g. the sandbox cannot start: every cell is not run
            self._stop_kernel()
            self._event("kernel_died", 0, f"the kernel could not start ({type(exc).__name__}: {str(exc)[:120]})")
        self.nb.metadata["language_info"] = {"name": "python"}
        try:
            for index, cell in enumerate(self.nb.cells):
                if cell.cell_type != "code":
                    continue
                left = deadline - time.monotonic()
                if left <= 1 or self.kc is None:
                    why = ("the notebook's time limit was reached" if left <= 1
                           else "the kernel could not be restored after an earlier failure")
                    cell.outputs = [error_output("NotRun", f"this cell was not run: {why}.")]
                    self._event("not_run", index, why)
                    continue
                self.timeout = int(max(1, min(cell_timeout, left)))
                self._run_cell(cell, index, deadline)
        finally:
            if self._watcher is not None:
                self._watcher.stop()
            self._stop_kernel()
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None
            self.timeout = cell_timeout
            key = self.resources.get("unique_key", "notebook")
            Path(self.work_dir, f"events-{key}.json").write_text(json.dumps(self._events))
        return self.nb, self.resources

    def _run_cell(self, cell, index, deadline):
        try:
            if is_test_cell(cell):
                self._run_test_outside(cell, index)
            else:
                self.execute_cell(cell, index, store_history=True)
            return
        except CellTimeoutError:
            over = self._limit_reason() or (self._watcher.enforce() if self._watcher is not None else None)
            if over:  # over a limit and out of time: the limit is the cause worth naming
                kind, msg = "kernel_died", str(over)
                cell.outputs.append(error_output("KernelDied", msg))
            else:
                kind, msg = "timeout", f"this cell ran longer than {self.timeout} s and was stopped."
                cell.outputs.append(error_output("TimeoutError", msg))
        except DeadKernelError:
            if self._limit_reason():  # the watcher's sentence: memory or disk quota
                kind, msg = "kernel_died", self._limit_reason()
            else:
                kind, msg = "kernel_died", "the kernel died while running this cell (a crash or os._exit)."
            cell.outputs.append(error_output("KernelDied", msg))
        self._event(kind, index, msg)
        self._broken.add(index)
        self._restart_and_replay(index, deadline)

    def _restart_and_replay(self, upto, deadline):
        self._stop_kernel()
        if self._watcher is not None:
            self._watcher.stop()
        if self._restarts >= self.max_replays:
            return
        self._restarts += 1
        self._start_kernel()
        for j, cell in enumerate(self.nb.cells[:upto]):
            if cell.cell_type != "code" or j in self._broken or is_test_cell(cell):
                continue
            self.timeout = int(max(1, min(self.timeout, deadline - time.monotonic())))
            try:
                self._side_execute(copy.deepcopy(cell), j)
            except (CellTimeoutError, DeadKernelError):
                self._event("replay_failed", j, "replaying earlier cells after a restart failed")
                self._stop_kernel()
                return

    def _side_execute(self, cell, index):
        """Execute ``cell`` in the kernel without it taking the place of notebook cell ``index``
        (nbclient writes each executed cell back into the notebook)."""
        original = self.nb.cells[index]
        try:
            self.execute_cell(cell, index, store_history=False)
        finally:
            self.nb.cells[index] = original

    # ------------------------------------------------------------------ hidden tests
    def _run_test_outside(self, cell, index):
        reference.enable()  # the hidden tests import the reference checks: in this process only
        client = self._client
        client.start_test(time.monotonic() + self.timeout)
        cell.outputs = []
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", f"cell {index}")
        try:
            tree = ast.parse(cell.source)
        except SyntaxError as exc:
            cell.outputs.append(error_output("SyntaxError", str(exc)))
            return
        bridge = CellBridge(client, index)
        loaded, bound = _names(tree)
        wanted = sorted(n for n in loaded - bound if not hasattr(builtins, n) and not n.startswith("__"))
        if wanted:
            try:
                self._checker_ns.update(bridge.request({"op": "lookup", "names": wanted}))
            except Fatal:
                pass
            except Exception as exc:  # noqa: BLE001 - the notebook's values are out of reach: the test fails
                cell.outputs.append(error_output(type(exc).__name__, str(exc)))
                return
        out = io.StringIO()
        error = None
        if client.fatal is None:
            try:
                with contextlib.redirect_stdout(out):
                    exec(compile(tree, f"<test cell {grade_id}>", "exec"), self._checker_ns)
            except BaseException as exc:  # noqa: BLE001 - every failure is a failed test
                error = exc
        if out.getvalue():
            cell.outputs.append(stream_output(out.getvalue()))
        if client.fatal is not None:
            raise client.fatal
        if error is not None:
            message = str(error) or repr(error)
            cell.outputs.append(error_output(type(error).__name__, message))
            if in_hidden_tests(error, cell.source, f"<test cell {grade_id}>"):
                self._event("hidden_test_failed", index, grade_id)
