"""Run grading tasks on worker processes so that one task's failure stays that task's.

``run(tasks, fn, ...)`` calls ``fn(task)`` for every task on a pool of warm worker processes
(or a Dask cluster) and hands each result to ``on_result`` as it arrives. What a worker can do
to the run, and what becomes of it:

* ``fn`` raises: the task gets ``failed(task, why)``; the others carry on.
* the worker process dies (a crash, the kernel's OOM killer, ``os._exit`` in grader code): a
  process pool is then broken for every task in it. Tasks that had not started go to a fresh
  pool; each task that was running is tried once more alone, and gets ``failed`` if its worker
  dies again.
* a task runs longer than ``task_timeout`` seconds from its own start (a grader hang that no
  per-cell limit caught): it gets ``failed``; the pool's workers are stopped and the other
  unfinished tasks resubmitted to a fresh pool, without counting it against them.

A task (any object with ``token`` and ``started`` attributes) is known to have started from its ``started`` file: the worker writes the task's ``token``
there first thing (:func:`mark_started`), so time spent waiting in the pool's queue never
counts. On a remote Dask scheduler (any address but ``local``) there is no shared file system:
the runner wraps the task so that it calls :func:`mark_started_on_worker` first instead,
which logs the token as a Dask event (topic :data:`STARTED_TOPIC`) that reaches the client
through the scheduler, and the client polls those events; past the deadline the task's future is cancelled and the worker that runs
it is restarted through its nanny (``Client.restart_workers``), which ends the grading and its
kernels (a worker started without a nanny keeps running it until the notebook limits stop it).

For a remote scheduler, ``pack`` turns each task into what travels (the submission's bytes)
just before it is submitted, at most ``window`` tasks are in flight at once (so the client and
the scheduler hold a bounded number of submissions: :meth:`_Pool.window`), and ``shared`` (what every task needs:
the template gradebook, the reference checks) is sent once to every worker with
``client.scatter(..., broadcast=True)``; ``fn`` gets it as its second argument.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import time
from pathlib import Path
from typing import Callable

STARTED_TOPIC = "bngrader-started"  # Dask event: a task started on a remote worker


def is_remote(scheduler: str | None) -> bool:
    """A Dask scheduler given by address: its workers may share no file with this machine."""
    return bool(scheduler) and scheduler != "local"


def mark_started_on_worker(token: str) -> None:
    """Called by a task on a Dask worker as it starts: tells the client through the scheduler."""
    from distributed import get_worker

    with contextlib.suppress(Exception):  # not on a worker (a test calling it directly): no deadline
        worker = get_worker()
        worker.log_event(STARTED_TOPIC, {"token": token, "worker": worker.address})


def _remote_call(fn: Callable, token: str, *args):
    """What a remote worker runs: says the task started, then runs it."""
    mark_started_on_worker(token)
    return fn(*args)


def mark_started(task: dict) -> None:
    """Called by the worker as it starts ``task``: records that it runs, for the deadline."""
    if task.started:
        with contextlib.suppress(OSError):
            Path(task.started).parent.mkdir(parents=True, exist_ok=True)
            Path(task.started).write_text(task.token)


def _has_started(task: dict) -> bool:
    try:
        return Path(task.started).read_text() == task.token
    except (OSError, AttributeError):
        return False


class _Pool:
    """A process pool or a Dask client behind one concurrent.futures interface."""

    def __init__(self, workers: int, scheduler: str | None, initializer: Callable | None):
        self.client = self.cluster = self.pool = None
        self.remote = is_remote(scheduler)
        self.on_worker: dict[str, str] = {}  # remote: started task token -> its worker
        if scheduler:
            from dask.distributed import Client, LocalCluster

            if scheduler == "local":
                import logging

                self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                            dashboard_address=None, silence_logs=logging.ERROR)
                self.client = Client(self.cluster)
            else:
                self.client = Client(scheduler)
            self.executor = self.client.get_executor(pure=False)
        else:
            import multiprocessing as mp

            self.pool = self.executor = cf.ProcessPoolExecutor(
                max_workers=workers, mp_context=mp.get_context("spawn"), initializer=initializer)

    def refresh(self) -> None:
        """Remote: the tasks that have started since, from the scheduler's event log."""
        if self.remote:
            with contextlib.suppress(Exception):
                for _, msg in self.client.get_events(STARTED_TOPIC):
                    if isinstance(msg, dict):
                        self.on_worker[str(msg.get("token"))] = str(msg.get("worker"))

    def has_started(self, task) -> bool:
        return task.token in self.on_worker if self.remote else _has_started(task)

    def stop_task(self, fut, task) -> None:
        """Remote: cancel an overdue task and restart the worker running it (ends its grading)."""
        fut.cancel()  # the executor's future: cancels the Dask future too
        worker = self.on_worker.get(task.token)
        if self.remote and worker:
            with contextlib.suppress(Exception):
                self.client.restart_workers([worker], raise_for_error=False)

    def share(self, shared):
        """``shared`` once on every worker (a future the tasks get as their argument), or as is."""
        if shared is None or self.client is None:
            return shared
        return self.client.scatter([shared], broadcast=True, hash=False)[0]

    def window(self, tasks: int) -> int:
        """How many tasks may be submitted at once: all of them, but on a remote cluster three
        per worker thread (at least 16), so that not every submission is in memory at once."""
        if not self.remote:
            return tasks
        with contextlib.suppress(Exception):
            return max(16, 3 * sum(self.client.nthreads().values()))
        return 16

    def stop_workers(self) -> None:
        """Stop the pool's worker processes now (and with them their kernels)."""
        if self.pool is not None:
            for proc in list((self.pool._processes or {}).values()):
                with contextlib.suppress(Exception):
                    proc.terminate()

    def close(self, now: bool = False) -> None:
        if self.pool is not None:
            if now:
                self.stop_workers()
            self.pool.shutdown(wait=not now, cancel_futures=True)
        else:
            with contextlib.suppress(Exception):
                if now:
                    self.client.cancel(list(self.client.futures.values()), force=True)
                self.client.close()
            if self.cluster is not None:
                self.cluster.close()


def _stop_resource_tracker():
    """Wait for multiprocessing's resource tracker (a helper process the pool starts): it would
    otherwise outlive the grader by a moment."""
    from multiprocessing import resource_tracker

    with contextlib.suppress(Exception):  # private API: if it changes, the tracker exits on its own
        resource_tracker._resource_tracker._stop()


def run(tasks: list[dict], fn: Callable, on_result: Callable, failed: Callable, *, workers: int,
        scheduler: str | None = None, initializer: Callable | None = None,
        task_timeout: float = 3600, poll: float = 1.0, pack: Callable | None = None, shared=None) -> None:
    """Call ``on_result(task, fn(task))`` for every task, in the order they finish; a task whose
    worker failed or died, or that ran past ``task_timeout``, gets ``on_result(task, failed(task, why))``.
    Each task gets exactly one ``on_result``. KeyboardInterrupt stops the workers and propagates.
    With ``pack``, ``fn`` gets ``pack(task)`` (made on this machine just before it is submitted;
    if it raises, the task gets ``failed``); with ``shared``, ``fn`` gets it as second argument."""
    pending = list(tasks)
    job = _Job(fn, on_result, failed, scheduler, initializer, task_timeout, poll, pack, shared)
    try:
        while pending:
            pending, suspects = _with_pool(min(workers, len(pending)), pending, job)
            for task in suspects:  # running when a worker died: each alone, so a second death is its own
                _, again = _with_pool(1, [task], job)
                if again:
                    on_result(task, failed(task, "the grading worker died while grading it (the other "
                                                 "submissions were graded)"))
    finally:
        if not scheduler:
            _stop_resource_tracker()  # once, after the last pool


class _Job:
    """What every pool of one :func:`run` does with its tasks."""

    def __init__(self, fn, on_result, failed, scheduler, initializer, task_timeout, poll, pack, shared):
        self.fn, self.on_result, self.failed = fn, on_result, failed
        self.scheduler, self.initializer, self.task_timeout, self.poll = scheduler, initializer, task_timeout, poll
        self.pack, self.shared = pack, shared

    def submit(self, pool, task, shared_arg):
        """The task's future, or None when packing it failed (it then got its result here)."""
        try:
            payload = self.pack(task) if self.pack else task
        except Exception as exc:  # noqa: BLE001 - e.g. the submission became unreadable: its own failure
            self.on_result(task, self.failed(task, f"it could not be sent to a worker ({type(exc).__name__}: "
                                                   f"{str(exc)[:200]})"))
            return None
        args = () if self.shared is None else (shared_arg,)
        if pool.remote:
            return pool.executor.submit(_remote_call, self.fn, task.token, payload, *args)
        return pool.executor.submit(self.fn, payload, *args)


def _with_pool(workers, tasks, job):
    pool = _Pool(workers, job.scheduler, job.initializer)
    interrupted, again = False, []
    try:
        again, suspects = _one_pool(pool, tasks, job)
        return again, suspects
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        pool.close(now=interrupted or bool(again))


def _fill(pool, tasks, job, todo, shared_arg, futures, waiting, delivered) -> None:
    """Submit tasks from ``todo`` until the pool's window is full (or none is left)."""
    limit = pool.window(len(tasks))
    while len(waiting) < limit and (i := next(todo, None)) is not None:
        fut = job.submit(pool, tasks[i], shared_arg)
        if fut is None:
            delivered.add(i)
        else:
            futures[fut] = i
            waiting.add(fut)


def _one_pool(pool, tasks, job) -> tuple[list[dict], list[dict]]:
    """Run ``tasks`` on ``pool`` until all are delivered or the pool breaks. Returns the tasks to
    run again on a fresh pool: (not started or stopped on purpose, running when a worker died)."""
    on_result, failed, task_timeout = job.on_result, job.failed, job.task_timeout
    shared_arg = pool.share(job.shared)
    futures: dict = {}
    started: dict[int, float] = {}
    delivered: set[int] = set()
    broken = stopped = False  # stopped: the pool was broken on purpose, to end an overdue task
    waiting: set = set()
    todo = iter(range(len(tasks)))
    while not broken:
        _fill(pool, tasks, job, todo, shared_arg, futures, waiting, delivered)
        if not waiting:
            break
        done, waiting = cf.wait(waiting, timeout=job.poll, return_when=cf.FIRST_COMPLETED)
        for fut in done:
            i = futures[fut]
            try:
                result = fut.result()
            except cf.process.BrokenProcessPool:
                broken = True
                continue
            except Exception as exc:  # noqa: BLE001 - e.g. a Dask worker killed: this task's failure only
                result = failed(tasks[i], f"the grading worker failed ({type(exc).__name__}: {str(exc)[:200]})")
            delivered.add(i)
            on_result(tasks[i], result)
        now = time.monotonic()
        pool.refresh()
        for fut in waiting:
            i = futures[fut]
            if i not in started and (fut.running() or pool.pool is None) and pool.has_started(tasks[i]):
                started[i] = now
        overdue = [i for i, t0 in started.items() if i not in delivered and now - t0 > task_timeout]
        for i in overdue:
            delivered.add(i)
            on_result(tasks[i], failed(tasks[i], f"grading it took longer than {task_timeout:.0f} s and "
                                                 "was stopped (the other submissions were graded)"))
        if overdue:
            if pool.pool is not None:  # a process pool: stop its workers, resubmit the rest
                for fut in waiting:
                    fut.cancel()
                pool.stop_workers()
                broken = stopped = True
            else:  # Dask: cancel the overdue ones (a remote one's worker is restarted)
                for fut in [f for f in waiting if futures[f] in overdue]:
                    pool.stop_task(fut, tasks[futures[fut]])
                waiting = {f for f in waiting if futures[f] not in delivered}
    if not broken:
        return [], []
    left = [i for i in range(len(tasks)) if i not in delivered]
    if stopped:
        return [tasks[i] for i in left], []
    ran = {i for i in left if _has_started(tasks[i])}  # had a worker when the pool broke
    return [tasks[i] for i in left if i not in ran], [tasks[i] for i in left if i in ran]
