"""An instructor's term, scripted, through the real commands, in a scratch copy of the course.

The copy (``BNCOURSE_ROOT``) has lessons 1 and 4; lesson 1's written questions are graded by
hand. The expected scores are counted from the released lessons (``scratch_course.points``). The
term, in order:

1. release both assignments (``bngrader release``);
2. grade lesson 1 with a deadline: ada right and on time, bob with two mistakes and a day and
   two hours late, cy the untouched release;
3. grade lesson 4, later: lesson 1's grades must stay;
4. bob hands lesson 1 in again, fixed; regrading him replaces his row and only his;
5. grade ada's written answers by hand (nbgrader's gradebook API, as Formgrader's grade box
   does), give bob an extension, and ``bngrader export``;
6. hand the feedback back (``bngrader handback``) and export with stock ``nbgrader export``.

At each step every grade must be in the CSVs and the gradebook, with the course's late policy
(10 % of the score per started day late) applied as documented.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from scratch_course import L1, bngrader, hand_in, make_course, points

L4 = "04_conv_batchnorm"
DEADLINE = "2026-11-01 12:00 UTC"
WRONG_L1 = {"batch_mean": "batch_mean = X.sum(axis=0) / 3", "batch_var": "batch_var = X.var(axis=0, ddof=1)"}
GRADE_ARGS = ["--workers", "2", "--cell-timeout", "60"]
AUTO, WRITTEN = points(L1)  # lesson 1: autograded points, written questions' points by id
MANUAL = dict(zip(WRITTEN, (1.5, 2.0)))  # the hand grades ada gets
PENDING = f"needs a manual grade: {', '.join(WRITTEN)}"


def _g(x: float) -> str:
    return f"{x:g}"


def _csv(path: Path) -> dict[tuple[str, str], dict]:
    with open(path, newline="") as f:
        return {(r["assignment"], r["student"]): r for r in csv.DictReader(f)}


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    return make_course(tmp_path_factory.mktemp("term") / "course", [L1, L4])  # step 1: release


def test_step1_release_has_both_assignments_and_the_written_questions(term):
    nb = nbformat.read(term / "notebooks" / L1 / f"{L1}.ipynb", as_version=4)
    written = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") in WRITTEN]
    assert len(written) == len(WRITTEN) >= 1 and len(MANUAL) == len(WRITTEN)
    assert all(c.cell_type == "markdown" and "BEGIN SOLUTION" not in c.source for c in written)
    assert (term / "notebooks" / L4 / f"{L4}.ipynb").is_file()


@pytest.fixture(scope="module")
def graded(term):
    sub, out = term / "hand-ins", term / "instructor"
    hand_in(term, sub / "ada", L1, {w: "Epsilon avoids a division by zero." for w in WRITTEN}, True,
            "2026-11-01 09:00:00 UTC")
    hand_in(term, sub / "bob", L1, WRONG_L1, True, "2026-11-02 14:00:00 UTC")  # 1 d 2 h late: 2 days
    hand_in(term, sub / "cy", L1, {}, False)
    step2 = bngrader(term, "grade", L1, "--submitted", str(sub), "--deadline", DEADLINE, *GRADE_ARGS)
    after_l1 = _csv(out / "grades.csv")
    hand_in(term, sub / "ada", L4, {}, True)
    hand_in(term, sub / "bob", L4, {}, False)
    bngrader(term, "grade", L4, "--submitted", str(sub), *GRADE_ARGS)  # step 3
    after_l4 = _csv(out / "grades.csv")
    again = term / "hand-ins-again"
    hand_in(term, again / "bob", L1, {}, True, "2026-11-02 16:00:00 UTC")
    bngrader(term, "grade", L1, "--submitted", str(again), *GRADE_ARGS)  # step 4
    after_regrade = _csv(out / "grades.csv")
    return {"out": out, "step2": step2, "after_l1": after_l1, "after_l4": after_l4, "after_regrade": after_regrade}


def test_step2_late_blank_and_written_answers_are_told_apart(graded):
    rows = graded["after_l1"]
    ada, bob, cy = (rows[L1, s] for s in ("ada", "bob", "cy"))
    # written answers not graded yet: the score is the autograded part, of the whole lesson's points
    assert (ada["status"], ada["score"], ada["max_score"]) == ("graded", _g(AUTO), _g(AUTO + sum(WRITTEN.values())))
    assert ada["flags"] == "needs_manual_grade" and PENDING in ada["reason"]
    raw = AUTO - 2  # batch_mean and batch_var wrong: 1 point each
    assert (bob["status"], bob["raw_score"]) == ("late", _g(raw))
    assert (bob["late_penalty"], bob["score"]) == (_g(0.2 * raw), _g(raw - 0.2 * raw))  # 2 started days: 20 %
    assert f"1 d 2 h 0 min after the deadline: -{_g(0.2 * raw)} points" in bob["reason"]
    assert (cy["status"], cy["score"]) == ("unattempted", "0")
    assert sorted(rows) == [(L1, "ada"), (L1, "bob"), (L1, "cy")]


def test_step3_grading_a_later_assignment_keeps_the_earlier_grades(graded):
    before, after = graded["after_l1"], graded["after_l4"]
    assert {k: v for k, v in after.items() if k[0] == L1} == {k: {**v, **{c: "" for c in after[L4, "ada"]
                                                                           if c not in v}} for k, v in before.items()}
    assert (after[L4, "ada"]["score"], after[L4, "bob"]["status"]) == (_g(points(L4)[0]), "unattempted")
    assert (graded["out"] / "grades" / f"{L1}.csv").is_file() and (graded["out"] / "grades" / f"{L4}.csv").is_file()


def test_step4_regrading_one_student_replaces_only_that_row(graded):
    before, after = graded["after_l4"], graded["after_regrade"]
    bob = after[L1, "bob"]
    assert (bob["raw_score"], bob["late_penalty"], bob["score"]) == (  # fixed, still 2 days late
        _g(AUTO), _g(0.2 * AUTO), _g(AUTO - 0.2 * AUTO))
    assert {k: v for k, v in after.items() if k != (L1, "bob")} == {k: v for k, v in before.items() if k != (L1, "bob")}


@pytest.fixture(scope="module")
def finished(term, graded):
    from nbgrader.api import Gradebook

    out = graded["out"]
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:  # what Formgrader's grade box stores (its
        for written, score in MANUAL.items():                   # api/grade handler: the score, then the flag)
            grade = gb.find_grade(written, L1, L1, "ada")
            assert grade.needs_manual_grade
            grade.manual_score, grade.needs_manual_grade = score, False
        gb.db.commit()
    bngrader(term, "export")
    after_manual = _csv(out / "grades.csv")
    bngrader(term, "extend", L1, "bob", "--days", "2")
    after_extension = _csv(out / "grades.csv")
    handback = bngrader(term, "handback", L1)
    stock = subprocess.run([str(Path(sys.executable).with_name("nbgrader")), "export", "--to", str(term / "stock.csv")],
                           cwd=term / "autograder", capture_output=True, text=True, timeout=300,
                           env={**os.environ, "BNCOURSE_ROOT": str(term)})
    assert stock.returncode == 0, stock.stderr
    return {"after_manual": after_manual, "after_extension": after_extension, "handback": handback}


def test_step5_a_manual_grade_counts_everywhere(term, graded, finished):
    ada = finished["after_manual"][L1, "ada"]
    total = _g(AUTO + sum(MANUAL.values()))
    assert (ada["score"], ada["flags"]) == (total, "")
    assert all(ada[written] == _g(score) for written, score in MANUAL.items())
    assert _csv(graded["out"] / "grades" / f"{L1}.csv")[L1, "ada"]["score"] == total


def test_step5_an_extension_lifts_the_penalty(finished):
    bob = finished["after_extension"][L1, "bob"]
    assert (bob["status"], bob["late_penalty"], bob["score"]) == ("graded", "0", _g(AUTO))
    assert bob["reason"] == PENDING  # his written answers are still to be read


def test_step6_feedback_zips_hold_the_pages_and_offline_math_only(graded, finished):
    folder = graded["out"] / "handback" / L1
    assert sorted(p.name for p in folder.iterdir()) == ["ada.zip", "bob.zip", "cy.zip"]
    with zipfile.ZipFile(folder / "bob.zip") as zf:
        names = zf.namelist()
        page = zf.read(f"{L1}/{L1}.html").decode()
    assert f"{L1}/{L1}.html" in names and f"{L1}/mathjax/MathJax.js" in names
    assert all(n == f"{L1}/{L1}.html" or n.startswith(f"{L1}/mathjax/") for n in names)
    assert "mathjax/MathJax.js" in page and "cdn" not in page.lower()
    first = (folder / "bob.zip").read_bytes()
    bngrader(graded["out"].parent, "handback", L1)
    assert (folder / "bob.zip").read_bytes() == first  # deterministic


def test_every_grade_agrees_between_our_csv_the_gradebook_and_nbgrader_export(term, graded, finished):
    from nbgrader.api import Gradebook

    ours = finished["after_extension"]
    with open(term / "stock.csv", newline="") as f:
        stock = {(r["assignment"], r["student_id"]): r for r in csv.DictReader(f)}
    with Gradebook(f"sqlite:///{graded['out'] / 'gradebook.db'}") as gb:
        for (assignment, student), row in ours.items():
            sub = gb.find_submission(assignment, student)
            assert float(row["raw_score"]) == pytest.approx(sub.score), (assignment, student)
            assert float(row["late_penalty"]) == pytest.approx(sub.late_submission_penalty), (assignment, student)
            assert float(row["score"]) == pytest.approx(float(stock[assignment, student]["score"])), (assignment, student)
        assert gb.find_assignment(L1).duedate is not None  # Formgrader shows it
    # nbgrader export lists every student for every assignment: cy handed in no lesson 4 (0 points)
    assert sorted(stock) == sorted([*ours, (L4, "cy")]) and float(stock[L4, "cy"]["score"]) == 0
