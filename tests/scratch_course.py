"""A scratch copy of the course (``BNCOURSE_ROOT``) with chosen lessons, lesson 1 optionally with
a written question graded by hand, and the helpers to hand in and run ``bngrader`` in it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from conftest import ROOT

L1 = "01_formulas_by_hand"
WRITTEN = """
# %% [written id=why_eps points=2]
# Why does batch norm add epsilon inside the square root? One or two sentences.
#
# ### BEGIN SOLUTION
# A feature with (near-)zero batch variance would divide by zero; epsilon bounds the scale.
# ### END SOLUTION
"""


def bngrader(root: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    """``python -m bngrader ARGS`` in the scratch course; asserts its exit status (0 when ``ok``)."""
    proc = subprocess.run([sys.executable, "-m", "bngrader", *args], cwd=root, capture_output=True, text=True,
                          timeout=900, env={**os.environ, "BNCOURSE_ROOT": str(root)})
    assert (proc.returncode == 0) == ok, proc.stdout + proc.stderr
    return proc


def make_course(root: Path, lessons: list[str], written: bool = True) -> Path:
    """autograder/ (its config and reference checks) and ``lessons``' sources, released."""
    shutil.copytree(ROOT / "autograder", root / "autograder",
                    ignore=shutil.ignore_patterns("__pycache__", "*.db", "*.csv", "bngrader"))
    for a in lessons:
        shutil.copytree(ROOT / "solutions" / a, root / "solutions" / a, ignore=shutil.ignore_patterns("*.ipynb"))
    if written and L1 in lessons:
        source = root / "solutions" / L1 / f"{L1}.py"
        source.write_text(source.read_text() + WRITTEN)
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
