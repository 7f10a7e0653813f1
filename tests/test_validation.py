"""nbgrader validation, checked in code (``nbgrader validate`` itself exits 0 on failure)."""

import pytest

from bngrader import course
from conftest import LEARNER_NOTEBOOKS, SOLUTION_NOTEBOOKS, nb_id


@pytest.mark.parametrize("solution", SOLUTION_NOTEBOOKS, ids=nb_id)
def test_solution_passes_validation(solution):
    results = course.validate(solution)
    assert results == {}, course._describe(results)


@pytest.mark.parametrize("learner", LEARNER_NOTEBOOKS, ids=nb_id)
def test_blank_learner_notebook_fails_every_test_cell(learner):
    results = course.validate(learner, invert=True)
    assert results == {}, "graded test cells pass on the blank release:\n" + course._describe(results)


def test_validate_command_exits_nonzero_on_failure(tmp_path):
    import nbformat

    nb = nbformat.read(LEARNER_NOTEBOOKS[0], as_version=4)
    path = tmp_path / "blank.ipynb"
    nbformat.write(nb, path)
    assert course.main(["validate", str(path)]) == 1
    assert course.main(["validate", str(tmp_path / "missing.ipynb")]) == 1


def test_validate_command_prints_no_kernel_transport_warning(tmp_path):
    """`bngrader validate` output is only the verdict: no ipykernel "running over TCP without
    encryption" line, and the kernel's IPC sockets leave no file next to the notebook or here."""
    import subprocess
    import sys

    import nbformat

    path = tmp_path / "solution.ipynb"
    nbformat.write(nbformat.read(SOLUTION_NOTEBOOKS[0], as_version=4), path)
    proc = subprocess.run([sys.executable, "-m", "bngrader", "validate", str(path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "without encryption" not in proc.stdout + proc.stderr
    assert proc.stdout.strip() == f"ok   {path}", proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["solution.ipynb"]
