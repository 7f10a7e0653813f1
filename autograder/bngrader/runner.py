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
counts. On a Dask cluster without a shared file system no start is seen, and only the per-cell
and per-notebook limits apply.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import time
from pathlib import Path
from typing import Callable


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
        task_timeout: float = 3600, poll: float = 1.0) -> None:
    """Call ``on_result(task, fn(task))`` for every task, in the order they finish; a task whose
    worker failed or died, or that ran past ``task_timeout``, gets ``on_result(task, failed(task, why))``.
    Each task gets exactly one ``on_result``. KeyboardInterrupt stops the workers and propagates."""
    pending = list(tasks)
    try:
        while pending:
            pending, suspects = _with_pool(min(workers, len(pending)), pending, fn, on_result, failed,
                                           scheduler, initializer, task_timeout, poll)
            for task in suspects:  # running when a worker died: each alone, so a second death is its own
                _, again = _with_pool(1, [task], fn, on_result, failed, scheduler, initializer, task_timeout, poll)
                if again:
                    on_result(task, failed(task, "the grading worker died while grading it (the other "
                                                 "submissions were graded)"))
    finally:
        if not scheduler:
            _stop_resource_tracker()  # once, after the last pool


def _with_pool(workers, tasks, fn, on_result, failed, scheduler, initializer, task_timeout, poll):
    pool = _Pool(workers, scheduler, initializer)
    interrupted, again = False, []
    try:
        again, suspects = _one_pool(pool, tasks, fn, on_result, failed, task_timeout, poll)
        return again, suspects
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        pool.close(now=interrupted or bool(again))


def _one_pool(pool, tasks, fn, on_result, failed, task_timeout, poll) -> tuple[list[dict], list[dict]]:
    """Run ``tasks`` on ``pool`` until all are delivered or the pool breaks. Returns the tasks to
    run again on a fresh pool: (not started or stopped on purpose, running when a worker died)."""
    futures = {pool.executor.submit(fn, t): i for i, t in enumerate(tasks)}
    started: dict[int, float] = {}
    delivered: set[int] = set()
    broken = stopped = False  # stopped: the pool was broken on purpose, to end an overdue task
    waiting = set(futures)
    while waiting and not broken:
        done, waiting = cf.wait(waiting, timeout=poll, return_when=cf.FIRST_COMPLETED)
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
        for fut in waiting:
            i = futures[fut]
            if i not in started and (fut.running() or pool.pool is None) and _has_started(tasks[i]):
                started[i] = now
        overdue = [i for i, t0 in started.items() if i not in delivered and now - t0 > task_timeout]
        for i in overdue:
            delivered.add(i)
            on_result(tasks[i], failed(tasks[i], f"grading it took longer than {task_timeout:.0f} s and "
                                                 "was stopped (the other submissions were graded)"))
        if overdue:
            for fut in waiting:
                fut.cancel()
            if pool.pool is not None:  # a process pool: stop its workers, resubmit the rest
                pool.stop_workers()
                broken = stopped = True
            else:
                waiting = {f for f in waiting if futures[f] not in delivered}
    if not broken:
        return [], []
    left = [i for i in range(len(tasks)) if i not in delivered]
    if stopped:
        return [tasks[i] for i in left], []
    ran = {i for i in left if _has_started(tasks[i])}  # had a worker when the pool broke
    return [tasks[i] for i in left if i not in ran], [tasks[i] for i in left if i in ran]
