"""Visible verdict = hidden verdict, over the NumPy catalog (lessons 1-4).

For every catalog entry, the entry's body replaces its answer cell in the lesson; the lesson's
other cells (solutions for the other answers, no ``%%demo`` cells) run in order, then the
*released* notebook's visible check for the entry's target. A wrong entry must fail there with
the mistake its EXPECT phrase names (the phrase the hidden check's message is proven to contain
in tests/test_checks_catalog.py) and never with the generic fallback, raised as CheckFailed (shown
as its message only, without the check helpers' frames); a correct entry must pass.
"""

from __future__ import annotations

import re
from functools import lru_cache

import nbformat
import pytest
from test_catalog_autograde import WHERE, _answer_source, _meta
from test_checks_catalog import CORRECT, WRONG

from bncourse.casecheck import GENERIC
from bncourse.checks import CheckFailed
from conftest import ROOT, judge_visible_verdict, load_catalog_file

FALLBACKS = (GENERIC, "is not right yet")


@lru_cache(maxsize=None)
def _cells(assignment):
    sol = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    rel = nbformat.read(ROOT / "notebooks" / assignment / f"{assignment}.ipynb", as_version=4)
    released = {c.metadata["nbgrader"]["grade_id"]: c.source for c in rel.cells
                if c.cell_type == "code" and "nbgrader" in c.metadata}
    return sol.cells, released


def _strip_solution_markers(src):
    return "\n".join(ln for ln in src.splitlines() if not re.search(r"### (BEGIN|END) SOLUTION", ln))


def visible_verdict(path):
    """The failure message of the released visible check for a catalog entry, or None if it passes."""
    body = _answer_source(_meta(path))  # with the reference forward pasted in where the entry needs its cache
    target = load_catalog_file(path)["TARGET"]
    assignment, answer_id = WHERE[target]
    cells, released = _cells(assignment)
    ns: dict = {"__name__": "__main__"}
    exec("import numpy as np\nimport bncourse", ns)  # the setup cell, without its IPython magics
    for cell in cells:
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id")
        if cell.cell_type != "code" or gid == "setup" or cell.source.lstrip().startswith("%%"):
            continue
        if gid == f"test_{answer_id}":
            try:
                exec(compile(released[gid], f"<visible {gid}>", "exec"), ns)
            except AssertionError as e:
                # A visible check fails with CheckFailed, which the notebook shows as its message only.
                assert isinstance(e, CheckFailed), f"{path.name}: visible check raised {type(e).__name__}: {e}"
                return str(e)
            return None
        if meta.get("grade"):
            continue  # other test cells: not part of this verdict
        src = body if gid == answer_id else _strip_solution_markers(cell.source)
        exec(compile(src, f"<{assignment} {gid}>", "exec"), ns)
    raise AssertionError(f"no visible check test_{answer_id} in {assignment}")


@pytest.mark.parametrize("path", WRONG, ids=[p.stem for p in WRONG])
def test_wrong_entry_fails_the_visible_check_with_the_hidden_checks_hint(path):
    judge_visible_verdict(path, visible_verdict(path), FALLBACKS)


@pytest.mark.parametrize("path", CORRECT, ids=[p.stem for p in CORRECT])
def test_correct_entry_passes_the_visible_check(path):
    judge_visible_verdict(path, visible_verdict(path), FALLBACKS)
