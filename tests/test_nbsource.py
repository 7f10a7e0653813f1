"""The text round trip maintainers use to edit solutions keeps every cell and its metadata."""

import nbformat
import pytest

from conftest import SOLUTION_NOTEBOOKS, nb_id
from nbsource import notebook_to_py, py_to_notebook


@pytest.mark.parametrize("solution", SOLUTION_NOTEBOOKS, ids=nb_id)
def test_round_trip_is_lossless(solution):
    nb = nbformat.read(solution, as_version=4)
    again = py_to_notebook(notebook_to_py(nb))
    assert [(c.cell_type, c.source, c.metadata) for c in again.cells] == [
        (c.cell_type, c.source, c.metadata) for c in nb.cells
    ]
