"""A scratch copy of the course (``BNCOURSE_ROOT``) with chosen lessons, and the helpers to hand in,
count a lesson's points and run ``bngrader`` in it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from conftest import ROOT

L1 = "01_formulas_by_hand"


def points(assignment: str) -> tuple[float, dict[str, float]]:
    """A released lesson's points: the autograded cells' total, and each written question's (graded
    by hand) by grade id."""
    nb = nbformat.read(ROOT / "notebooks" / assignment / f"{assignment}.ipynb", as_version=4)
    graded = [c.metadata["nbgrader"] for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    written = {m["grade_id"]: float(m["points"]) for m in graded if m.get("solution")}
    return sum(float(m["points"]) for m in graded if not m.get("solution")), written


def bngrader(root: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    """``python -m bngrader ARGS`` in the scratch course; asserts its exit status (0 when ``ok``)."""
    proc = subprocess.run([sys.executable, "-m", "bngrader", *args], cwd=root, capture_output=True, text=True,
                          timeout=900, env={**os.environ, "BNCOURSE_ROOT": str(root)})
    assert (proc.returncode == 0) == ok, proc.stdout + proc.stderr
    return proc


def make_course(root: Path, lessons: list[str]) -> Path:
    """autograder/ (its config and reference checks) and ``lessons``' sources, released."""
    shutil.copytree(ROOT / "autograder", root / "autograder",
                    ignore=shutil.ignore_patterns("__pycache__", "*.db", "*.csv", "bngrader"))
    for a in lessons:
        shutil.copytree(ROOT / "solutions" / a, root / "solutions" / a, ignore=shutil.ignore_patterns("*.ipynb"))
    bngrader(root, "release")
    return root


def hand_in(root: Path, folder: Path, assignment: str, answers: dict[str, str], solved: bool,
            timestamp: str | None = None) -> Path:
    """The released notebook, answer cells filled from the solution (``solved``) then ``answers``,
    at ``folder/<assignment>/<assignment>.ipynb`` (and ``timestamp.txt``)."""
    release = nbformat.read(root / "notebooks" / assignment / f"{assignment}.ipynb", as_version=4)
    solution = nbformat.read(root / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    given = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solution.cells
             if c.metadata.get("nbgrader", {}).get("solution")} if solved else {}
    given.update(answers)
    for cell in release.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in given and cell.metadata["nbgrader"].get("solution"):
            cell.source = given[gid]
    target = folder / assignment
    target.mkdir(parents=True, exist_ok=True)
    nbformat.write(release, target / f"{assignment}.ipynb")
    if timestamp:
        (target / "timestamp.txt").write_text(timestamp)
    return target
