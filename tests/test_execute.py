"""Every solution notebook runs top to bottom in full mode, as a learner's "Run All".

Times and key results are printed as a table at the end of the run (a report, not a
timed assertion: wall time depends on the machine). Output size is asserted, so an
executed notebook stays small.
"""

import pytest

from bngrader import course
from conftest import REPORTS, SOLUTION_NOTEBOOKS, nb_id

MAX_OUTPUT_KB = 1500
_rows = []


@pytest.mark.parametrize("solution", SOLUTION_NOTEBOOKS, ids=nb_id)
def test_solution_runs_top_to_bottom(full_run, solution):
    run = full_run(solution)
    _rows.append((solution.parent.name, run))
    assert run["error"] is None, f"{solution.parent.name}: {run['error']}"
    assert run["output_kb"] < MAX_OUTPUT_KB, f"outputs take {run['output_kb']:.0f} kB; keep notebooks small"


@pytest.fixture(scope="module", autouse=True)
def execution_table():
    yield
    REPORTS["Notebook execution, full mode (seconds, output size, key results)"] = [
        f"{name:<22} {run['seconds']:6.1f} s {run['output_kb']:6.0f} kB  "
        + ", ".join(f"{r['name']}={course.format_value(r['value'])}" for r in run["results"])
        for name, run in _rows
    ]
