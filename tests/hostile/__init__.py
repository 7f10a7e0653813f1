"""Hostile submissions for ``tests/test_grade.py``: one module per class of attack.

Each module defines ``CASES`` (student id -> :class:`Case`) and ``build(ctx)``, which
writes those students' submissions with the helpers of :class:`Context`. The test grades
all of them in one class run, with the adversarial cases of ``test_grade.py`` itself, and
asserts each case's exact status and that no case scores above its honest content.
Modules may also define their own tests, collected through ``test_grade.py``.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ALL_MODULES = ["bridge", "files", "html", "inputs"]
ASSIGNMENT = "02_numpy_forward"
# The class's lesson: its code exercises' points, and its concept checks (1 point each), which every
# submission built from the solution answers right, whatever its code cells attempt. HONEST: the
# most an honest, complete submission earns automatically (the written answers wait for a hand grade).
CODE = {"test_batchnorm_forward": 3, "test_update_moving_stats": 2, "test_batchnorm_inference": 2,
        "test_batchnorm_layer": 3}


def _concept_cells() -> dict[str, int]:
    import nbformat

    nb = nbformat.read(Path(__file__).resolve().parents[2] / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id", "") for c in nb.cells]
    return {g: 1 for g in ids if g.startswith("test_concept_")}


CONCEPT_CELLS = _concept_cells()
CONCEPTS = len(CONCEPT_CELLS)
POINTS = {**CODE, **CONCEPT_CELLS}  # every autograded cell, full marks
HONEST = sum(POINTS.values())
# HOSTILE_ONLY=files,html grades only those modules' students (plus two controls): for quick
# iteration on one class of attack. make test always grades all of them.
ONLY = [m for m in os.environ.get("HOSTILE_ONLY", "").split(",") if m]
MODULES = ONLY or ALL_MODULES


@dataclass
class Case:
    status: str
    honest: float  # the most this submission's honest content earns
    cells: dict = field(default_factory=dict)  # cells that must still be graded as stated
    reason: str = ""  # a phrase the reason must contain


@dataclass
class Context:
    """What a module needs to write its students' submissions."""

    root: Path  # the test's scratch folder (outside the course tree)
    sub: Path  # the submitted/ tree: <sub>/<student>/<assignment>/<notebook>.ipynb
    out: Path  # grade.py's --out folder
    port: int  # a loopback TCP listener no kernel may reach
    assignment: str
    own: Callable  # student -> their submission folder
    solved: Callable  # answers dict | None -> a solved learner notebook (answers replace cells)
    blank: Callable  # grade_id -> the blank release's source of that cell
    solution: Callable  # grade_id -> the solution's source of that answer cell
    index: Callable  # grade_id -> cell index in the learner notebook
    write: Callable  # (folder, nb, name=None) -> writes the notebook


def modules():
    return [importlib.import_module(f"hostile.{name}") for name in MODULES]


def all_cases() -> dict[str, Case]:
    cases: dict[str, Case] = {}
    for mod in modules():
        clash = set(cases) & set(mod.CASES)
        assert not clash, f"{mod.__name__}: student ids used twice: {clash}"
        cases.update(mod.CASES)
    return cases


def build_all(ctx: Context) -> None:
    for mod in modules():
        mod.build(ctx)
