"""The implementation catalogs through a real ``nbgrader autograde``.

Each catalog file becomes one student's submission: the lesson's solution notebook
with the answer cell of the file's TARGET replaced by the file. Stock nbgrader then
restores the locked cells and hidden tests from the gradebook and grades.
Every wrong implementation must lose points on its target's test cell, with a
failure message in the feedback; every correct one must get that cell's full
marks; both must leave the other cells' points as the solution has them (where the
entry does not swap the forward pass, see below); and no feedback may show hidden
test code.
"""

import inspect
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

import bn_reference
from conftest import REPORTS, ROOT, load_catalog_file
from nbgrader_harness import TempCourse, combined_submissions

CATALOG = ROOT / "tests" / "catalog"
ENTRIES = sorted((CATALOG / "wrong").glob("*.py")) + sorted((CATALOG / "correct").glob("*.py"))

# TARGET -> (assignment, answer cell grade id); the test cell is "test_" + answer id
WHERE = {
    "normalize": ("01_formulas_by_hand", "normalize"),
    "batchnorm_forward": ("02_numpy_forward", "batchnorm_forward"),
    "update_moving_stats": ("02_numpy_forward", "update_moving_stats"),
    "batchnorm_inference": ("02_numpy_forward", "batchnorm_inference"),
    "BatchNorm": ("02_numpy_forward", "batchnorm_layer"),
    "batchnorm_backward": ("03_numpy_backward", "batchnorm_backward"),
    "batchnorm_backward_alt": ("03_numpy_backward", "batchnorm_backward_alt"),
    "spatial_batchnorm_forward": ("04_conv_batchnorm", "spatial_batchnorm_forward"),
    "spatial_batchnorm_backward": ("04_conv_batchnorm", "spatial_batchnorm_backward"),
}
# A backward written for the reference's cache layout comes with that forward pasted in,
# as a learner who pastes their own earlier forward would do.
OWN_FORWARD = {
    "batchnorm_backward": [bn_reference.batch_moments, bn_reference.batchnorm_forward],
    "batchnorm_backward_alt": [bn_reference.batch_moments, bn_reference.batchnorm_forward],
    "spatial_batchnorm_backward": [bn_reference.batch_moments, bn_reference.batchnorm_forward,
                                   bn_reference.batchnorm_backward_alt, bn_reference.spatial_batchnorm_forward],
}
FORWARDS = {"batchnorm_forward", "spatial_batchnorm_forward"}
# The layer is graded against the learner's own three functions (error carried forward), so a wrong
# helper costs points in its own test cell only: no other cell is affected.
ALSO_AFFECTED: dict[str, set[str]] = {}
HIDDEN_CODE = re.compile(r"bn_checks|bn_reference|check_[a-z_]+\(|### (BEGIN|END) HIDDEN")


def _meta(path: Path) -> dict:
    ns = load_catalog_file(path)
    return {"target": ns["TARGET"], "src": path.read_text(), "defines": set(ns)}


def _student(path: Path) -> str:
    return f"{path.parent.name}_{path.stem}"


def _answer_source(meta: dict) -> str:
    extra = [fn for fn in OWN_FORWARD.get(meta["target"], []) if fn.__name__ not in meta["defines"]]
    pasted = "\n\n".join(inspect.getsource(fn) for fn in extra)
    return "import numpy as np\n\n" + (pasted + "\n\n" if pasted else "") + meta["src"]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """assignment -> TempCourse; one course (and gradebook) per assignment, graded concurrently."""
    courses = {a: TempCourse(tmp_path_factory.mktemp(a), [a]) for a in sorted({a for a, _ in WHERE.values()})}
    for tc in courses.values():
        tc.generate()
    for path in ENTRIES:
        meta = _meta(path)
        assignment, answer_id = WHERE[meta["target"]]
        tc = courses[assignment]
        sol = next((tc.root / "solutions" / assignment).glob("*.ipynb"))
        nb = nbformat.read(sol, as_version=4)
        cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == answer_id]
        assert len(cells) == 1, f"{assignment} has no answer cell {answer_id}"
        cells[0].source = _answer_source(meta)
        tc.submit(_student(path), assignment, {sol.stem: nb})
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        list(pool.map(lambda item: item[1].autograde(item[0]), courses.items()))
    return courses


def _feedback(tc: TempCourse, student: str, assignment: str, test_id: str) -> str:
    nb_path = next((tc.root / "instructor" / "autograded" / student / assignment).glob("*.ipynb"))
    nb = nbformat.read(nb_path, as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == test_id)
    return "\n".join(
        f"{o.ename}: {o.evalue}\n" + "\n".join(o.traceback) if o.output_type == "error" else o.get("text", "")
        for o in cell.get("outputs", [])
    )


_rows = []


@pytest.mark.parametrize("path", ENTRIES, ids=_student)
def test_catalog_entry_is_graded_as_expected(graded, path):
    meta = _meta(path)
    assignment, answer_id = WHERE[meta["target"]]
    tc = graded[assignment]
    notebook = next((tc.root / "solutions" / assignment).glob("*.ipynb")).stem
    score, max_score, cells = tc.scores(_student(path), assignment, notebook)
    target = next(c for c in cells if c.name == f"test_{answer_id}")
    feedback = re.sub(r"\x1b\[[0-9;]*m", "", _feedback(tc, _student(path), assignment, target.name))
    message = next((ln for ln in feedback.splitlines() if re.match(r"\w+(Error|Failed|Exception)\b", ln)), "")
    _rows.append((_student(path), meta["target"], f"{target.score:g}/{target.max_score:g}",
                  f"{score:g}/{max_score:g}", message[:90]))
    assert not HIDDEN_CODE.search(feedback), f"feedback shows hidden test code:\n{feedback[:500]}"
    # An entry that brings its own forward changes the cache every later cell sees, so only
    # its target cell is judged; every other entry must leave the other cells' points intact.
    others = [c for c in cells if c is not target and c.name not in ALSO_AFFECTED.get(meta["target"], ())
              and not c.written]  # written answers: 0 until graded by hand
    judge_others = meta["target"] not in OWN_FORWARD and not meta["defines"] & FORWARDS
    if path.parent.name == "wrong":
        assert target.score < target.max_score, f"{path.name} kept all points on {target.name}"
        assert message, f"{path.name}: no failure message in the feedback"
    else:
        assert target.score == target.max_score, f"{path.name} lost points on {target.name}: {message}"
    if judge_others:
        assert all(c.score == c.max_score for c in others), f"{path.name} lost points elsewhere: {others}"


@pytest.fixture(scope="module", autouse=True)
def table():
    yield
    REPORTS["Catalogs through nbgrader autograde (target cell score, notebook score, feedback)"] = [
        f"{s:<40} {t:<27} {ts:>6} {ns:>7}  {m}" for s, t, ts, ns, m in _rows
    ]


def test_grade_py_scores_every_catalog_entry_as_stock_nbgrader_does(graded, tmp_path_factory):
    """bngrader grade (sandboxed kernels, hidden tests run outside them, parallel) on the
    very same submissions: every test cell of every entry scores what stock nbgrader gave it."""
    from bngrader import grade

    compared, mismatches = 0, []
    submitted = combined_submissions(graded, tmp_path_factory.mktemp("submitted"))
    rows = grade.grade_class(sorted(graded), submitted=submitted, out=tmp_path_factory.mktemp("grade_py"), quiet=True)
    for assignment, tc in graded.items():
        mine = [row for row in rows if row.assignment == assignment]
        assert len(mine) == len(list((tc.root / "instructor" / "submitted").iterdir()))
        for row in mine:
            _, _, cells = tc.scores(row.student, assignment, row.notebook)
            for cell in cells:
                compared += 1
                if row.cells[cell.name][0] != cell.score:
                    mismatches.append((row.student, cell.name, cell.score, row.cells[cell.name][0]))
    assert not mismatches, f"(student, cell, stock, grade.py): {mismatches}"
    REPORTS["Catalogs through grade.py"] = [f"{compared} test cells, every one scored as stock nbgrader scored it"]
