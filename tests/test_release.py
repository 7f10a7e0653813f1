"""The nbgrader pipeline: solutions/ is the source, notebooks/ its exact release."""

import ast
import json
import re

import nbformat
import pytest

from bngrader import course
from conftest import LEARNER_NOTEBOOKS, ROOT, SOLUTION_NOTEBOOKS, nb_id

LEAK_MARKERS = ["BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS",
                "bn_reference", "bn_checks", "keras_checks", "experiment_checks", "concept_checks",
                "practice_checks"]


def test_every_assignment_is_released():
    assert course.assignments(), "no assignments found in solutions/"
    assert [p.relative_to(ROOT / "solutions") for p in SOLUTION_NOTEBOOKS] == [
        p.relative_to(ROOT / "notebooks") for p in LEARNER_NOTEBOOKS
    ], "solutions/ and notebooks/ hold different notebooks: run `make release`"


def _canonical(path):
    return json.loads(path.read_text())


@pytest.mark.parametrize("learner", LEARNER_NOTEBOOKS, ids=nb_id)
def test_release_reproduces_committed_notebooks(learner, fresh_release):
    regenerated = fresh_release / learner.relative_to(ROOT / "notebooks")
    assert regenerated.is_file(), f"{learner} has no solution source"
    assert _canonical(regenerated) == _canonical(learner), (
        f"{learner.relative_to(ROOT)} differs from a fresh release of solutions/: run `make release` "
        "(learner notebooks are generated, never edited by hand)"
    )


def _solution_lines(nb):
    """Non-trivial lines inside solution and hidden-test regions of a solution notebook."""
    lines = set()
    for cell in nb.cells:
        inside = False
        for line in cell.source.splitlines():
            if re.search(r"### BEGIN (SOLUTION|HIDDEN TESTS)", line):
                inside = True
            elif re.search(r"### END (SOLUTION|HIDDEN TESTS)", line):
                inside = False
            elif inside and len(line.strip()) > 12 and not line.strip().startswith(("#", '"""')):
                lines.add(line.strip())
    return lines


@pytest.mark.parametrize("solution", SOLUTION_NOTEBOOKS, ids=nb_id)
def test_learner_notebook_has_no_solution_or_hidden_tests(solution):
    learner = ROOT / "notebooks" / solution.relative_to(ROOT / "solutions")
    text = learner.read_text()
    for marker in LEAK_MARKERS:
        assert marker not in text, f"{learner.name} contains {marker!r}"
    learner_lines = {ln.strip() for c in nbformat.read(learner, as_version=4).cells for ln in c.source.splitlines()}
    leaked = sorted(_solution_lines(nbformat.read(solution, as_version=4)) & learner_lines)
    assert not leaked, f"solution lines found in {learner.name}: {leaked[:3]}"


@pytest.mark.parametrize("solution", SOLUTION_NOTEBOOKS, ids=nb_id)
def test_helper_package_holds_no_solution_lines(solution):
    """bncourse is handed to learners: given code moved there (lesson 7's experiments, the Keras
    comparison) must not carry a line of a solution or hidden-test region."""
    helper = "\n".join(p.read_text() for p in sorted((ROOT / "bncourse").rglob("*.py")))
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in helper, f"bncourse contains {marker!r}"
    helper_lines = {ln.strip() for ln in helper.splitlines()}
    leaked = sorted(_solution_lines(nbformat.read(solution, as_version=4)) & helper_lines)
    assert not leaked, f"solution lines of {solution.parent.name} found in bncourse: {leaked[:3]}"


@pytest.mark.parametrize(
    "path", SOLUTION_NOTEBOOKS + LEARNER_NOTEBOOKS, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}"
)
def test_committed_notebooks_carry_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.relative_to(ROOT)} has outputs in cells {dirty}: commit notebooks stripped"


@pytest.mark.parametrize("solution", SOLUTION_NOTEBOOKS, ids=nb_id)
def test_solution_structure(solution):
    nb = nbformat.read(solution, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    first = code[0]
    assert first.metadata.get("nbgrader", {}).get("locked") and "setup_notebook(" in first.source, (
        "the first code cell must be the locked setup cell calling bncourse.setup_notebook"
    )
    ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
    assert len(ids) == len(set(ids)), "duplicate nbgrader grade ids"
    tests = [c for c in code if c.metadata.get("nbgrader", {}).get("grade")]
    answers = [c for c in code if c.metadata.get("nbgrader", {}).get("solution")]
    assert tests and answers, "a lesson needs graded answers and tests"
    for c in answers:
        gid = c.metadata["nbgrader"]["grade_id"]
        assert "### BEGIN SOLUTION" in c.source, f"answer cell {gid} has no solution region"
    for c in tests:
        gid = c.metadata["nbgrader"]["grade_id"]
        assert c.metadata["nbgrader"]["points"] > 0, f"{gid} is worth no points"
        assert "### BEGIN HIDDEN TESTS" in c.source, f"{gid} has no hidden tests"
        visible = c.source.split("### BEGIN HIDDEN TESTS")[0]
        assert visible.strip(), f"{gid} has no visible check for learners"


@pytest.mark.parametrize("solution", SOLUTION_NOTEBOOKS, ids=nb_id)
def test_test_cells_stand_alone(solution):
    """A test cell uses only names that the notebook's own (non-test) cells or the cell itself
    define: a failed earlier test cell cannot fail a later one, and bngrader grade, which
    runs test cells outside the kernel, sees every name it needs in the kernel."""
    import builtins

    from bngrader.hardened import _names, is_test_cell

    nb = nbformat.read(solution, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    notebook_names = set()
    for cell in code:
        if not is_test_cell(cell):
            notebook_names |= _names(ast.parse(_strip_magics(cell.source)))[1]
    for cell in filter(is_test_cell, code):
        loaded, bound = _names(ast.parse(cell.source))
        orphans = sorted(n for n in loaded - bound - notebook_names if not hasattr(builtins, n))
        assert not orphans, f"{cell.metadata['nbgrader']['grade_id']} uses {orphans}, defined only in other test cells"


def _strip_magics(source):
    return "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in source.splitlines())


def test_licence_and_citation_name_both_licences_and_the_mnist_authors():
    """LICENSE: CC BY 4.0 for the lesson text and figures, MIT for the code, MNIST's own licence;
    CITATION.cff: the same licences and the MNIST reference with its three authors."""
    import yaml

    licence = (ROOT / "LICENSE").read_text()
    for phrase in ("Creative Commons Attribution 4.0 International (CC BY 4.0)", "MIT License",
                   "Yann LeCun, Corinna", "Cortes and Christopher J. C. Burges", "CC BY-SA 3.0"):
        assert phrase in licence, f"LICENSE does not say {phrase!r}"
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["title"] and cff["authors"]
    assert sorted(cff["license"]) == ["CC-BY-4.0", "MIT"]
    mnist = [r for r in cff.get("references", []) if "MNIST" in r["title"]]
    assert len(mnist) == 1 and mnist[0]["license"] == "CC-BY-SA-3.0"
    assert [a["family-names"] for a in mnist[0]["authors"]] == ["LeCun", "Cortes", "Burges"]


@pytest.mark.parametrize("solution", SOLUTION_NOTEBOOKS, ids=nb_id)
def test_every_plot_prints_a_one_line_description(solution):
    """A cell that shows a figure also prints its text description (screen readers): a call of
    bncourse.plotting.caption(...) or a print("Figure: ...") in the same cell. (bn_explorer
    prints its own: test_bncourse checks it.)"""
    shows = re.compile(r"plt\.show\(\)|display\(explore_figure")
    described = re.compile(r"\bcaption\(|print\(\s*f?\"Figure: ")
    missing = [c.source.splitlines()[0] for c in nbformat.read(solution, as_version=4).cells
               if c.cell_type == "code" and shows.search(c.source) and not described.search(c.source)]
    assert not missing, f"{solution.parent.name}: figures without a description in cells starting {missing}"
