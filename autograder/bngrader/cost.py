"""What each lesson costs where people wait (``bngrader benchmark``, ``make benchmark``).

One run measures, on this machine and in this order:

- the **floor**: a fresh kernel importing TensorFlow and Keras, executed as a lesson is;
- each lesson in **grading mode**, as the autograder executes it (``NBGRADER_EXECUTION=autograde``:
  ``%%demo`` cells skipped, ``bncourse.budget`` short);
- each lesson in **full mode**, as a learner's Run All.

It prints one table against the course's budgets: a lesson that imports TensorFlow grades in at most
``KERAS_RATIO`` times the floor, a NumPy lesson in at most ``NUMPY_SECONDS``, and every lesson runs in
full mode in at most ``FULL_SECONDS``. The ratios compare figures of the same run, so a busy machine
moves both sides; the load average at the start and the end is printed with them.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

KERAS_RATIO = 2.5
NUMPY_SECONDS = 2.5
FULL_SECONDS = 60.0
FLOOR_SOURCE = "import tensorflow as tf\nimport keras\n"


def uses_tensorflow(nb) -> bool:
    """True if a cell that runs while grading (not ``%%demo``) imports TensorFlow or Keras, or
    sets the lesson up for Keras."""
    words = ("import keras", "import tensorflow", "from keras", "from tensorflow", "keras=True",
             "bncourse.experiments", "from bncourse.experiments")
    return any(c.cell_type == "code" and not c.source.lstrip().startswith("%%demo")
               and any(w in c.source for w in words) for c in nb.cells)


@dataclass
class LessonCost:
    lesson: str
    keras: bool
    grading_s: float
    full_s: float
    results: dict = field(default_factory=dict)  # the full run's recorded key results
    error: str | None = None  # the first cell error of either run

    def grading_budget(self, floor: float) -> tuple[str, bool]:
        """(the measure shown, within budget)"""
        if self.keras:
            ratio = self.grading_s / floor
            return f"{ratio:.1f}x floor", ratio <= KERAS_RATIO
        return f"{self.grading_s:.1f} s", self.grading_s <= NUMPY_SECONDS


def floor_seconds() -> float:
    """Seconds to execute a one-cell notebook that imports TensorFlow and Keras."""
    import nbformat

    from bngrader.course import execute

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "floor.ipynb"
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(FLOOR_SOURCE)]), path)
        run = execute(path, autograde=True)
    if run["error"]:
        raise RuntimeError(f"the floor notebook failed: {run['error']}")
    return run["seconds"]


def measure(path: Path) -> LessonCost:
    import nbformat

    from bngrader.course import execute

    grading = execute(path, autograde=True)
    full = execute(path)
    return LessonCost(Path(path).parent.name, uses_tensorflow(nbformat.read(path, as_version=4)), grading["seconds"],
                      full["seconds"], {r["name"]: r["value"] for r in full["results"]},
                      grading["error"] or full["error"])


def table(floor: float, costs: list[LessonCost], load: tuple[str, str]) -> list[str]:
    """The report's lines (pure: the tests give it figures)."""
    lines = [f"Lesson cost on {os.cpu_count()} CPU cores; load average (1 min) {load[0]} at the start, "
             f"{load[1]} at the end",
             f"floor: a fresh kernel importing TensorFlow and Keras, {floor:.1f} s",
             f"budgets: grading a Keras lesson <= {KERAS_RATIO:g}x the floor, a NumPy lesson <= {NUMPY_SECONDS:g} s; "
             f"full mode <= {FULL_SECONDS:g} s",
             f"{'lesson':<22} {'grading':>8} {'measure':>12} {'':>4} {'full':>8} {'':>4}",
             ]
    over = 0
    for c in costs:
        shown, ok = c.grading_budget(floor)
        full_ok = c.full_s <= FULL_SECONDS
        over += (not ok) + (not full_ok)
        lines.append(f"{c.lesson:<22} {c.grading_s:>7.1f}s {shown:>12} {'ok' if ok else 'OVER':>4} "
                     f"{c.full_s:>7.1f}s {'ok' if full_ok else 'OVER':>4}" + (f"  error: {c.error}" if c.error else ""))
    lines.append(f"{len(costs)} lessons: {over} budget(s) exceeded")
    return lines


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


def main(paths: list[Path]) -> int:
    """Measure and print; exit status 1 if a notebook failed (a budget exceeded is reported, not an error)."""
    start = _load()
    print("floor: executing a notebook that imports TensorFlow and Keras ...", flush=True)
    floor = floor_seconds()
    costs = []
    for path in paths:
        costs.append(measure(path))
        print(f"  {costs[-1].lesson}: grading {costs[-1].grading_s:.1f} s, full {costs[-1].full_s:.1f} s", flush=True)
    print("\n" + "\n".join(table(floor, costs, (start, _load()))))
    return int(any(c.error for c in costs))
