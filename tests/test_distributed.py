"""``bngrader grade --scheduler tcp://...`` on a real Dask cluster whose workers see none of the
instructor's files.

A ``dask scheduler`` on 127.0.0.1 and two ``dask worker`` processes, each started from an empty
folder of its own inside a bubblewrap mount namespace: the course root is an empty tmpfs there,
with only the installed packages bound back read-only (``.venv``, ``bncourse/``,
``autograder/bngrader/``: what ``pip install`` gives a worker machine), ``/tmp`` is a private
tmpfs (so the class, the output folders and everything else pytest wrote do not exist), and
the MNIST files are a read-only copy at ``BNCOURSE_DATA``. Nothing of ``solutions/``,
``autograder/reference/``, the submissions or the output folders is readable (asserted by tasks
that try). The same lesson-02 class is graded through that cluster and by the process pool;
the CSVs, feedback pages, Gradescope files and gradebook scores must agree, and both wall
times are reported.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from bngrader import course, runner
from conftest import REPORTS, ROOT

A = "02_numpy_forward"
DEADLINE = "2026-11-01 00:00:00 UTC"
BIN = Path(sys.executable).parent
GRADE = [sys.executable, "-m", "bngrader", "grade"]
MARK = "bngrader-test-distributed"  # in every worker's name: how leftovers are found
WRONG_FORWARD = "def batchnorm_forward(x, gamma, beta, eps=1e-3):\n    return x, {}\n"

pytestmark = pytest.mark.skipif(not shutil.which("bwrap"), reason="needs bubblewrap (apt-get install bubblewrap)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker_argv(address: str, name: str) -> list[str]:
    """A dask worker that sees the system and the course's installed packages, nothing else of
    this machine's files (its /tmp is its own, empty)."""
    keep = [ROOT / ".venv", ROOT / "bncourse", ROOT / "autograder" / "bngrader"]
    # /proc is bound, not mounted anew: a fresh proc mount here would stop the kernels' own bwrap
    # (nested inside) from mounting theirs
    argv = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--bind", "/proc", "/proc", "--die-with-parent",
            "--tmpfs", "/tmp", "--tmpfs", str(ROOT)]
    for path in keep:
        argv += ["--ro-bind", str(path), str(path)]
    argv += ["--ro-bind", str(ROOT / "data" / "mnist"), "/tmp/mnist",  # the dataset, copied to each worker machine
             "--dir", f"/tmp/{name}", "--chdir", f"/tmp/{name}",
             str(BIN / "dask"), "worker", address, "--nthreads", "1", "--nworkers", "1", "--name", name,
             "--no-dashboard", "--local-directory", f"/tmp/{name}", "--death-timeout", "60"]
    return argv


def _worker_env() -> dict[str, str]:
    """No PYTHONPATH, and not this environment's bin on PATH: the worker finds what it needs itself."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "BNCOURSE_DATA": "/tmp/mnist",
            "TF_CPP_MIN_LOG_LEVEL": "2"}


def _leftovers(port: int, sessions: set[int], pids: set[int]) -> list[str]:
    """Processes still alive that the cluster started: in its sessions, among the descendants seen
    before it was stopped, or naming its workers or its scheduler's port."""
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        with contextlib.suppress(psutil.Error, TypeError, OSError):
            line = " ".join(p.info["cmdline"] or [])
            if p.info["status"] == psutil.STATUS_ZOMBIE:  # ended, waiting for its parent (or init) to reap it
                continue
            if p.pid != os.getpid() and (p.pid in pids or os.getsid(p.pid) in sessions or MARK in line
                                         or (f"--port {port}" in line and "scheduler" in line)):
                found.append(f"{p.pid} {line[:120]}")
    return found


class Cluster:
    def __init__(self, base: Path):
        self.port = _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.logs = base / "logs"
        self.logs.mkdir()
        self.seen: set[int] = set()  # every process of the cluster seen when it was stopped
        empty = base / "scheduler"
        empty.mkdir()
        self.procs = [self._start([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                                   "--no-dashboard"], "scheduler", cwd=empty, env=None)]
        self.procs += [self._start(_worker_argv(self.address, f"{MARK}-{i}"), f"worker{i}", cwd=base, env=_worker_env())
                       for i in (1, 2)]

    def _start(self, argv, name, cwd, env):
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        return subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def client(self):
        from dask.distributed import Client

        return Client(self.address, timeout=60)

    def wait_for_workers(self, n: int = 2, timeout: float = 120):
        with self.client() as client:
            client.wait_for_workers(n, timeout=timeout)

    def log(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(self.logs.iterdir()))

    def stop(self):
        for proc in self.procs:
            with contextlib.suppress(psutil.Error):
                self.seen |= {c.pid for c in psutil.Process(proc.pid).children(recursive=True)} | {proc.pid}
        for proc in reversed(self.procs):  # workers first, then the scheduler
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        deadline = time.monotonic() + 20  # the nannies' workers and the kernels end after their parents
        while (alive := _leftovers(self.port, {p.pid for p in self.procs}, self.seen)) and time.monotonic() < deadline:
            time.sleep(0.2)
        for line in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(line.split()[0]), signal.SIGKILL)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        c.wait_for_workers(2)
    except Exception:
        c.stop()
        pytest.fail(f"the cluster did not start:\n{c.log()}")
    yield c
    c.stop()


def _write(folder: Path, nb, name=f"{A}.ipynb"):
    import nbformat

    nb.metadata["bncourse_test_student"] = folder.parent.name  # submissions differ, as real ones do
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / name)


@pytest.fixture(scope="module")
def klass(tmp_path_factory) -> Path:
    """Five lesson-02 submissions: correct, wrong, late, blank, and one whose folder holds a
    link and an unreadable timestamp (what only the instructor's machine can see)."""
    sub = tmp_path_factory.mktemp("class") / "submitted"
    _write(sub / "correct" / A, course.learner_submission(A))
    _write(sub / "wrong" / A, course.learner_submission(A, {"batchnorm_forward": WRONG_FORWARD}))
    _write(sub / "late" / A, course.learner_submission(A))
    (sub / "late" / A / "timestamp.txt").write_text("2026-11-20 12:00:00 UTC")
    _write(sub / "blank" / A, course.learner_submission(A, solved=False))
    odd = sub / "odd_folder" / A
    _write(odd, course.learner_submission(A), f"{A}-1.ipynb")
    (odd / "timestamp.txt").write_text("yesterday")
    os.symlink(ROOT / "solutions" / A / f"{A}.ipynb", odd / "data.csv")
    return sub


def test_workers_see_none_of_the_instructors_files(cluster, klass):
    """The hiding works: a task that tries to read a solution, the reference, a submission or the
    output folder fails; the installed packages are there."""
    secrets = [ROOT / "solutions" / A / f"{A}.py", ROOT / "autograder" / "reference" / "bn_reference.py",
               ROOT / "notebooks" / A / f"{A}.ipynb", klass / "correct" / A / f"{A}.ipynb", klass.parent]
    with cluster.client() as client:
        workers = list(client.scheduler_info(n_workers=-1)["workers"])
        assert len(workers) == 2
        for worker in workers:
            for path in secrets:
                with pytest.raises(FileNotFoundError):
                    client.submit(Path.read_bytes if path.suffix else os.listdir, path, workers=[worker],
                                  pure=False).result(60)
            seen = client.submit(os.listdir, str(ROOT), workers=[worker], pure=False).result(60)
            assert sorted(seen) == [".venv", "autograder", "bncourse"]
            assert client.submit(os.listdir, str(ROOT / "autograder"), workers=[worker], pure=False).result(60) \
                == ["bngrader"]


def _grade(args: list[str]) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    proc = subprocess.run([*GRADE, A, *args], capture_output=True, text=True, timeout=600)
    return proc, time.monotonic() - start


def _files(out: Path, sub: str) -> dict[str, bytes]:
    return {str(p.relative_to(out / sub)): p.read_bytes() for p in sorted((out / sub).rglob("*"))
            if p.is_file() and "mathjax" not in p.parts}


def _scores(db: Path) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{db}") as gb:
        return {(s.student.id, nb.name, g.name): (g.score, g.max_score) for s in gb.find_assignment(A).submissions
                for nb in s.notebooks for g in nb.grades}


# What differs between any two gradings of one notebook, on one machine too: a page's fresh CSP
# nonce, and a graded notebook's execution times. (Where the kernel's printed text was cut into
# messages does not: the grader coalesces each cell's streams.)
NONCE = re.compile(rb'nonce-[A-Za-z0-9_-]+|nonce="[A-Za-z0-9_-]+"')


def _normal(rel: str, data: bytes):
    """A result file without what differs between runs: pages without nonces, notebooks without
    execution times."""
    if rel.endswith(".html"):
        return NONCE.sub(b"", data)
    if not rel.endswith(".ipynb"):
        return data
    nb = json.loads(data)
    for cell in nb["cells"]:
        cell.get("metadata", {}).pop("execution", None)
    return nb


def test_distributed_run_gives_the_same_grades_and_files_as_the_process_pool(cluster, klass, tmp_path):
    common = ["--submitted", str(klass), "--deadline", DEADLINE, "--gradescope", "--cell-timeout", "60"]
    out1, out2 = tmp_path / "distributed", tmp_path / "processes"
    remote, remote_s = _grade([*common, "--scheduler", cluster.address, "--out", str(out1)])
    assert remote.returncode == 0, remote.stderr + cluster.log()
    assert f"dask {cluster.address}" in remote.stderr
    local, local_s = _grade([*common, "--workers", "2", "--out", str(out2)])
    assert local.returncode == 0, local.stderr

    csv1, csv2 = (out1 / "grades.csv").read_bytes(), (out2 / "grades.csv").read_bytes()
    assert csv1 == csv2
    rows = {line.split(",")[0]: line for line in csv1.decode().splitlines()[1:]}
    assert sorted(rows) == ["blank", "correct", "late", "odd_folder", "wrong"]
    # score (final), max_score, raw_score, late_penalty, status: "late" is 19.5 days late, so 20 days at 10 %
    # of 20: 14 autograded (10 code, 4 concept checks) and 6 for written answers, graded by hand later
    assert ",14,20,14,0,graded," in rows["correct"] and ",8,20,8,0,graded," in rows["wrong"]
    assert ",0,20,14,14,late," in rows["late"] and ",0,20,0,0,unattempted," in rows["blank"]
    assert ",14,20,14,0,suspicious," in rows["odd_folder"] and "data.csv is a symbolic link" in rows["odd_folder"] \
        and "timestamp.txt says 'yesterday'" in rows["odd_folder"] and "renamed" in rows["odd_folder"]
    for sub in ("feedback", "autograded", "gradescope"):
        f1, f2 = _files(out1, sub), _files(out2, sub)
        assert sorted(f1) == sorted(f2) and f1, sub
        for rel in f1:
            assert _normal(rel, f1[rel]) == _normal(rel, f2[rel]), f"{sub}/{rel} differs"
    for page in (out1 / "feedback").rglob("*.html"):
        assert (page.parent / "mathjax" / "MathJax.js").is_file()
    assert json.loads((out1 / "gradescope" / "wrong" / A / "results.json").read_text())["score"] == 8
    assert _scores(out1 / "gradebook.db") == _scores(out2 / "gradebook.db")
    assert len(list((out1 / "ledger" / A).glob("*.json"))) == 5
    assert not list((out1 / "work").glob(f"{A}/*")), "the instructor's machine graded nothing itself"
    line = (f"{len(rows)} lesson-02 submissions: distributed (2 bwrap-isolated dask workers, 1 thread each) "
            f"{remote_s:.1f} s, process pool (--workers 2) {local_s:.1f} s")
    REPORTS["distributed grading (tests/test_distributed.py)"] = [line]
    print(line)


@dataclass(frozen=True)
class Job:
    seconds: float
    token: str
    started: str = ""


def test_a_remote_task_past_its_deadline_is_stopped_and_its_worker_restarted(cluster):
    """The deadline without shared files: measured from the worker's 'started' event; the hung
    task's worker is restarted by its nanny, the others are graded."""
    with cluster.client() as client:
        before = set(client.run(os.getpid).values())
    got = {}
    tasks = [Job(300, "hang-0"), Job(0.2, "ok-1"), Job(0.2, "ok-2"), Job(0.2, "ok-3")]
    start = time.monotonic()
    # time.sleep: a function every worker has; pack (on this machine) turns a job into its argument
    runner.run(tasks, time.sleep, lambda t, r: got.setdefault(t.token, r), lambda t, why: {"failed": why},
               workers=2, scheduler=cluster.address, task_timeout=6, poll=0.5, pack=lambda t: t.seconds)
    seconds = time.monotonic() - start
    assert sorted(got) == ["hang-0", "ok-1", "ok-2", "ok-3"]
    assert "took longer than 6 s" in got["hang-0"]["failed"]
    assert [got[f"ok-{i}"] for i in (1, 2, 3)] == [None] * 3
    assert seconds < 60
    cluster.wait_for_workers(2, timeout=120)  # the restarted worker is back
    with cluster.client() as client:
        assert not any(client.processing().values()), "the hung task still runs"
        after = set(client.run(os.getpid).values())
    gone = before - after
    assert len(gone) == 1 and not psutil.pid_exists(gone.pop()), (before, after)  # that worker process ended


def test_no_cluster_process_outlives_the_cluster(cluster):
    start = time.monotonic()
    cluster.stop()
    assert len(cluster.seen) >= 5  # the scheduler, two bwraps, their nannies and workers
    assert time.monotonic() - start < 25, "some cluster process had to be killed"
    time.sleep(1)
    assert not _leftovers(cluster.port, {p.pid for p in cluster.procs}, cluster.seen)


def test_a_worker_with_another_grader_refuses_to_grade():
    from bngrader import remote

    with pytest.raises(RuntimeError, match="not the instructor's"):
        remote._prepare_worker({"package": "0" * 16, "key": "0" * 16})


def test_only_expected_result_files_are_written(tmp_path):
    from bngrader import remote

    remote.write_outputs(tmp_path, "s1", A, {"feedback/nb.html": b"<p>ok</p>", "feedback/../../../evil.html": b"x",
                                             "elsewhere/nb.html": b"x", "autograded/.hidden": b"x",
                                             "gradescope/results.json": b"{}"})
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")
                     if p.is_file() and "mathjax" not in p.parts)
    assert written == [f"feedback/s1/{A}/nb.html", f"gradescope/s1/{A}/results.json"]
    assert (tmp_path / "feedback" / "s1" / A / "mathjax" / "MathJax.js").is_file()


def test_a_worker_without_a_working_sandbox_refuses_to_grade(monkeypatch):
    from bngrader import remote

    monkeypatch.setattr(remote, "_sandbox_works", lambda: False)
    with pytest.raises(RuntimeError, match="bubblewrap is missing"):
        remote.check_sandbox("bwrap")
    remote.check_sandbox("none")  # the instructor chose no sandbox: nothing to check
