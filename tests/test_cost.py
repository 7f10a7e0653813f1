"""The lessons' cost report (``bngrader/cost.py``, ``make benchmark``): budgets judged on figures of
one run, the lessons that import TensorFlow told apart, and the floor measured for real."""

import nbformat
import pytest

from bngrader import cost
from conftest import SOLUTION_NOTEBOOKS, nb_id


def _row(lines, lesson):
    return next(ln for ln in lines if ln.startswith(lesson)).split()


def test_budgets_are_judged_against_the_floor_of_the_same_run():
    costs = [cost.LessonCost("01_numpy_ok", False, 2.4, 10.0), cost.LessonCost("02_numpy_slow", False, 2.6, 10.0),
             cost.LessonCost("05_keras_ok", True, 10.0, 59.9), cost.LessonCost("06_keras_slow", True, 10.1, 60.1)]
    lines = cost.table(4.0, costs, ("0.50", "0.70"))
    assert "floor: a fresh kernel importing TensorFlow and Keras, 4.0 s" in lines
    assert "load average (1 min) 0.50 at the start, 0.70 at the end" in lines[0]
    assert _row(lines, "01_numpy_ok")[2:5] == ["2.4", "s", "ok"]
    assert _row(lines, "02_numpy_slow")[2:5] == ["2.6", "s", "OVER"]
    assert _row(lines, "05_keras_ok")[2:7] == ["2.5x", "floor", "ok", "59.9s", "ok"]  # 10.0 / 4.0 = 2.5: within
    assert _row(lines, "06_keras_slow")[2:7] == ["2.5x", "floor", "OVER", "60.1s", "OVER"]  # 2.525x, shown rounded
    assert lines[-1] == "4 lessons: 3 budget(s) exceeded"
    errored = cost.table(4.0, [cost.LessonCost("07_x", True, 1.0, 1.0, error="NameError: x")], ("?", "?"))
    assert errored[-2].endswith("error: NameError: x")


@pytest.mark.parametrize("path", SOLUTION_NOTEBOOKS, ids=nb_id)
def test_lessons_that_grade_with_tensorflow_are_the_keras_lessons(path):
    """Lessons 1-4 import Keras only in %%demo cells (skipped while grading); 5-8 need it."""
    assert cost.uses_tensorflow(nbformat.read(path, as_version=4)) == (nb_id(path) >= "05")


def test_the_floor_is_a_kernel_importing_tensorflow():
    seconds = cost.floor_seconds()
    assert 0.5 < seconds < 120
