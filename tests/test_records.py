"""The pieces of the class record, one at a time: the late policy, flags, an untouched notebook,
a written cell in a lesson source. The whole term runs in test_term.py."""

from __future__ import annotations

import nbformat
import pytest

from bngrader import grade, late, nbsource, records
from bngrader.grade import Row

DAY = 86400


@pytest.mark.parametrize("method, seconds, score, penalty", [
    ("per_day", 60, 8, 0.8),  # one minute late: one started day
    ("per_day", DAY, 8, 0.8),  # exactly one day
    ("per_day", DAY + 1, 8, 1.6),
    ("per_day", 20 * DAY, 8, 8),  # never more than the score
    ("zero", 60, 8, 8),
    ("none", 5 * DAY, 8, None),
    ("per_day", 0, 8, None),  # on time
])
def test_late_policy(method, seconds, score, penalty):
    plugin = late.LatePenalty(penalty_method=method)
    assert plugin.late_submission_penalty("s", score, seconds) == (pytest.approx(penalty) if penalty else None)


def test_late_policy_text():
    assert late.parse_policy("per_day:25") == {"penalty_method": "per_day", "percent_per_day": 25.0}
    assert late.parse_policy("zero") == {"penalty_method": "zero"}
    for bad in ("zero:5", "per_day:x", "per_day:150", "half"):
        with pytest.raises(ValueError):
            late.parse_policy(bad)


def test_the_course_config_sets_the_documented_policy():
    plugin = records.late_plugin()
    assert (plugin.penalty_method, plugin.percent_per_day) == ("per_day", 10.0)
    assert records.late_plugin("zero").penalty_method == "zero"


def test_a_flag_raises_the_status_only_when_more_serious():
    row = Row("s", "a", "n", "graded", 5, 10)
    late_row = records.with_flag(row, "late", "1 h late")
    assert (late_row.status, late_row.flags, late_row.reason) == ("late", ["late"], "1 h late")
    both = records.with_flag(records.with_flag(row, "suspicious", "copied"), "late", "1 h late")
    assert (both.status, both.reason) == ("suspicious", "copied; 1 h late")


def _released():
    nb = nbsource.py_to_notebook(
        "# %% [code]\nimport numpy as np\n\n# %% [answer id=a]\n# YOUR CODE HERE\nraise NotImplementedError()\n\n"
        "# %% [tests id=t points=1]\nassert a == 1\n")
    cells = {}
    code = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta:
            cells[meta["grade_id"]] = {"source": cell.source, "answer": bool(meta.get("solution")), "test": False,
                                       "readonly": False}
        else:
            code.append(grade._normal(cell.source))
    return nb, {"cells": cells, "code": sorted(code)}


def test_unattempted_is_the_release_with_no_answer_of_ones_own():
    nb, released = _released()
    assert grade.unattempted(nb, released)
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="ran")]  # running it changes nothing
    assert grade.unattempted(nb, released)
    answered = nbformat.from_dict(nb)
    answered.cells[1].source = "a = 1"
    assert not grade.unattempted(answered, released)
    extra = nbformat.from_dict(nb)
    extra.cells.append(nbformat.v4.new_code_cell("a = 1"))  # an answer in a cell of one's own
    assert not grade.unattempted(extra, released)


def test_a_written_cell_round_trips_through_the_text_source():
    text = "# %% [written id=why points=2]\n# Why?\n#\n# ### BEGIN SOLUTION\n# Because.\n# ### END SOLUTION\n"
    nb = nbsource.py_to_notebook(text)
    cell = nb.cells[0]
    assert cell.cell_type == "markdown" and cell.source.startswith("Why?")
    assert {k: cell.metadata.nbgrader[k] for k in ("grade", "solution", "locked", "points")} == {
        "grade": True, "solution": True, "locked": False, "points": 2}
    assert nbsource.notebook_to_py(nb) == text
