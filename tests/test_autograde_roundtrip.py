"""A real ``nbgrader autograde`` round trip: the solution earns full marks on every autograded cell
(its written answers wait for a hand grade), the blank release zero."""

import nbformat
import pytest

from bngrader import course
from conftest import SOLUTION_NOTEBOOKS, nb_id
from nbgrader_harness import TempCourse


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tc = TempCourse(tmp_path_factory.mktemp("course"), course.assignments())
    release = tc.generate()
    for a in tc.assignments:
        for sol in sorted((tc.root / "solutions" / a).glob("*.ipynb")):
            perfect = nbformat.read(sol, as_version=4)
            # a student's own file, not the instructor's: grade.py does not grade a byte-identical
            # copy of the solution notebook (test_grade.py's files cases cover that)
            perfect.metadata["student"] = "perfect"
            tc.submit("perfect", a, {sol.stem: perfect})
            tc.submit("blank", a, {sol.stem: nbformat.read(release / a / sol.name, as_version=4)})
        tc.autograde(a)
    return tc


@pytest.mark.parametrize("solution", SOLUTION_NOTEBOOKS, ids=nb_id)
def test_solution_gets_full_marks(graded, solution):
    score, max_score, cells = graded.scores("perfect", solution.parent.name, solution.stem)
    assert max_score > 0
    auto = [c for c in cells if not c.written]  # written answers wait for a hand grade (0 until then)
    assert auto and all(c.score == c.max_score for c in auto), [c for c in auto if c.score < c.max_score]
    assert score == sum(c.max_score for c in auto) and all(c.score == 0 for c in cells if c.written)


@pytest.mark.parametrize("solution", SOLUTION_NOTEBOOKS, ids=nb_id)
def test_skipping_the_demonstrations_changes_no_graded_result(graded, full_run, solution):
    """nbgrader autograde skips the %%demo cells and shrinks ``bncourse.budget``; a learner's Run All
    does neither. Every autograded cell passes or fails alike both ways, so no graded cell depends
    on a demonstration (the full-mode run is test_execute's, shared)."""
    _, _, cells = graded.scores("perfect", solution.parent.name, solution.stem)
    autograded = {c.name: "passed" if c.score == c.max_score else "lost points" for c in cells if not c.written}
    run_all = {name: "passed" if outcome is None else outcome for name, outcome in full_run(solution)["graded"].items()}
    assert autograded and autograded == run_all


@pytest.mark.parametrize("solution", SOLUTION_NOTEBOOKS, ids=nb_id)
def test_blank_release_gets_zero(graded, solution):
    score, max_score, cells = graded.scores("blank", solution.parent.name, solution.stem)
    assert max_score > 0
    assert score == 0, [c for c in cells if c.score > 0]


@pytest.fixture(scope="module")
def graded_by_grade_py(graded, tmp_path_factory):
    """The same submissions, every lesson, through bngrader grade."""
    from bngrader import grade

    rows = grade.grade_class(graded.assignments, submitted=graded.root / "instructor" / "submitted",
                             out=tmp_path_factory.mktemp("grade_py"), quiet=True)
    return {(r.student, r.notebook): r for r in rows}


@pytest.mark.parametrize("student", ["perfect", "blank"])
@pytest.mark.parametrize("solution", SOLUTION_NOTEBOOKS, ids=nb_id)
def test_grade_py_scores_each_cell_as_stock_nbgrader(graded, graded_by_grade_py, solution, student):
    """Keras lessons included: models and layers cross the bridge as config plus weights."""
    row = graded_by_grade_py[student, solution.stem]
    _, _, cells = graded.scores(student, solution.parent.name, solution.stem)
    assert {c.name: c.score for c in cells} == {name: s for name, (s, _) in row.cells.items()}, row.reason
