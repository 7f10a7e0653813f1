"""bngrader/runner.py: one task's failure stays that task's, whatever the worker does.

Real worker processes (spawned, as grade.py's pool): a task that raises, one whose worker
dies every time it runs it, one that hangs past the deadline, and honest tasks around them.
Every task gets exactly one result; the honest ones get their own.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from bngrader import runner


@dataclass(frozen=True)
class Job:
    kind: str
    token: str
    started: str


def work(task):
    runner.mark_started(task)
    kind = task.kind
    if kind == "raise":
        raise ValueError("broken grader code")
    if kind == "die":
        os._exit(3)  # the worker process dies: the whole process pool breaks
    if kind == "hang":
        time.sleep(120)
    time.sleep(0.2)
    return {"ok": task.token}


def failed(task, why):
    return {"failed": why}


def _tasks(tmp_path, kinds):
    return [Job(k, f"{k}-{i}", str(tmp_path / f"{k}-{i}.started")) for i, k in enumerate(kinds)]


def _run(tmp_path, kinds, **kw):
    got = {}

    def on_result(task, result):
        assert task.token not in got, f"{task.token} got two results"
        got[task.token] = result

    tasks = _tasks(tmp_path, kinds)
    start = time.monotonic()
    runner.run(tasks, work, on_result, failed, workers=2, **kw)
    assert sorted(got) == sorted(t.token for t in tasks)
    return got, time.monotonic() - start


def test_honest_tasks_get_their_results(tmp_path):
    got, _ = _run(tmp_path, ["ok"] * 4)
    assert all(r == {"ok": k} for k, r in got.items())


def test_a_raising_task_and_a_dying_worker_stay_their_own(tmp_path):
    got, _ = _run(tmp_path, ["ok", "raise", "ok", "die", "ok", "ok"])
    assert got["raise-1"] == {"failed": "the grading worker failed (ValueError: broken grader code)"}
    assert "worker died while grading it" in got["die-3"]["failed"]
    assert sorted(k for k, r in got.items() if "ok" in r) == ["ok-0", "ok-2", "ok-4", "ok-5"]  # none blamed


def test_a_hanging_task_is_stopped_at_its_deadline_and_the_rest_is_graded(tmp_path):
    got, seconds = _run(tmp_path, ["hang", "ok", "ok", "ok"], task_timeout=4, poll=0.2)
    assert "took longer than 4 s" in got["hang-0"]["failed"]
    assert sorted(k for k, r in got.items() if "ok" in r) == ["ok-1", "ok-2", "ok-3"]
    assert seconds < 60, f"the hung task held the run for {seconds:.0f} s"
