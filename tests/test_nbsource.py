"""solutions/<A>/<A>.py, the lessons' committed text, is the source of the solution notebooks.

The text must build exactly the committed solution notebook (cell ids included); cell ids do
not depend on position; and one edited line in the text changes exactly one cell of the
solution notebook and one of the released learner notebook (``make release`` in a copy).
"""

import json
import os
import shutil
import subprocess
import sys

import nbformat
import pytest

from bngrader.nbsource import CELL_ID, notebook_text, notebook_to_py, py_to_notebook, sources
from conftest import ROOT, SOLUTION_NOTEBOOKS, nb_id

SOURCES = sources(ROOT / "solutions")


def _cells(nb):
    return [json.loads(json.dumps(c)) for c in nb["cells"]]


def test_every_solution_notebook_has_its_source():
    assert [p.with_suffix(".ipynb") for p in SOURCES] == SOLUTION_NOTEBOOKS, (
        "each solutions/<A>/<A>.ipynb is generated from solutions/<A>/<A>.py: add the .py "
        "(bngrader source to-py solutions/<A>/<A>.ipynb) or remove the notebook"
    )


@pytest.mark.parametrize("source", SOURCES, ids=nb_id)
def test_source_builds_the_committed_solution_notebook(source):
    built = json.loads(notebook_text(py_to_notebook(source.read_text())))
    committed = json.loads(source.with_suffix(".ipynb").read_text())
    where = ""
    if built["cells"] != committed["cells"]:
        pairs = list(zip(built["cells"], committed["cells"]))
        diff = [i for i, (a, b) in enumerate(pairs) if a != b]
        where = (f": {len(built['cells'])} cells in the text, {len(committed['cells'])} in the notebook"
                 if len(built["cells"]) != len(committed["cells"]) else
                 f": cells {diff[:5]} differ (first: id {committed['cells'][diff[0]].get('id')!r} in the notebook, "
                 f"{built['cells'][diff[0]]['id']!r} from the text)")
    assert built == committed, (
        f"{source.relative_to(ROOT)} and its notebook disagree{where}: edit the .py and run `make release` "
        "(or, after editing the notebook in JupyterLab, `bngrader source to-py` it first)"
    )


@pytest.mark.parametrize("solution", SOLUTION_NOTEBOOKS, ids=nb_id)
def test_round_trip_is_lossless(solution):
    nb = nbformat.read(solution, as_version=4)
    assert _cells(py_to_notebook(notebook_to_py(nb))) == _cells(nb)


@pytest.mark.parametrize("solution", SOLUTION_NOTEBOOKS, ids=nb_id)
def test_nbgrader_cells_are_named_by_their_grade_id(solution):
    cells = nbformat.read(solution, as_version=4).cells
    ids = [c.id for c in cells]
    assert len(ids) == len(set(ids)) and all(CELL_ID.match(i) for i in ids)
    assert all(c.id == c.metadata["nbgrader"]["grade_id"] for c in cells if "nbgrader" in c.metadata)


@pytest.mark.parametrize("source", SOURCES, ids=nb_id)
def test_inserting_or_deleting_a_cell_keeps_every_other_id(source):
    text = source.read_text()
    ids = [c.id for c in py_to_notebook(text).cells]
    at = text.index("\n# %% [", len(text) // 2) + 1  # a cell header in the middle
    inserted = text[:at] + "# %% [markdown]\n# A new paragraph.\n\n# %% [code]\nprint(1)\n\n" + text[at:]
    new = [c.id for c in py_to_notebook(inserted).cells]
    assert len(new) == len(ids) + 2 and [i for i in new if i in ids] == ids
    following = text.index("\n# %% [", at) + 1
    deleted = [c.id for c in py_to_notebook(text[:at] + text[following:]).cells]
    assert deleted == [i for i in ids if i != ids[text[:at].count("\n# %% [") + 1]]


def test_explicit_ids_and_repeated_sources():
    nb = py_to_notebook("# %% [markdown id=intro]\n# Hi\n\n# %% [code]\nx = 1\n\n# %% [code]\nx = 1\n\n"
                        "# %% [answer id=ans]\nx = 2\n")
    ids = [c.id for c in nb.cells]
    assert ids[0] == "intro" and ids[3] == "ans" and ids[2] == ids[1] + "-2" and ids[1].startswith("code-")
    nb.cells[1]["id"] = "kept-across-edits"  # an id the text would not reproduce: to-py names it
    text = notebook_to_py(nb)
    assert "# %% [code id=kept-across-edits]" in text
    assert [c.id for c in py_to_notebook(text).cells] == ["intro", "kept-across-edits", ids[2], "ans"]
    fresh = notebook_to_py(nb, keep_ids=False)
    assert "id=intro" not in fresh and "id=kept" not in fresh and "# %% [answer id=ans]" in fresh


@pytest.mark.parametrize("text, message", [
    ("# %% [locked]\nx = 1\n", "needs id="),
    ("# %% [markdown id=a.b]\n# x\n", "not a valid nbformat id"),
    ("# %% [markdown id=" + "a" * 65 + "]\n# x\n", "not a valid nbformat id"),
    ("# %% [answer id=a]\nx = 1\n\n# %% [tests id=a points=1]\nassert x\n", "two cells have the id 'a'"),
    ("# %% [code points=2]\nx = 1\n", "take no ['points']"),
])
def test_bad_headers_are_refused(text, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        py_to_notebook(text)


# --- make release in a copy: one edited line, one changed cell ---------------------------------

A = "01_formulas_by_hand"
EDITS = {  # header of the edited cell -> (first line of its body, the line after editing)
    "markdown": ("# %% [markdown]\n# ## The formulas\n", "# %% [markdown]\n# ## The formulas, edited\n"),
    "locked": ("# %% [locked id=batch]\nX = np.array([\n", "# %% [locked id=batch]\nX = np.array([  # edited\n"),
}


@pytest.fixture(scope="module")
def course_copy(tmp_path_factory):
    """autograder/ and one lesson's solutions/ in a temporary folder: a course of its own."""
    root = tmp_path_factory.mktemp("course")
    scratch = ("submitted", "autograded", "feedback", "generated_solutions", "work", "ledger", "gradescope")
    shutil.copytree(ROOT / "autograder", root / "autograder",
                    ignore=shutil.ignore_patterns("__pycache__", "*.db", "*.csv", *scratch))
    shutil.copytree(ROOT / "solutions" / A, root / "solutions" / A)
    before = _release(root)
    assert before[0] == _cells(nbformat.read(ROOT / "solutions" / A / f"{A}.ipynb", as_version=4))
    return root, before


def _release(root):
    proc = subprocess.run([sys.executable, "-m", "bngrader", "release"], cwd=root,
                          env={**os.environ, "BNCOURSE_ROOT": str(root)}, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    name = f"{A}/{A}.ipynb"
    return [_cells(nbformat.read(root / folder / name, as_version=4)) for folder in ("solutions", "notebooks")]


@pytest.mark.parametrize("kind", EDITS)
def test_one_edited_line_changes_one_cell(course_copy, kind):
    root, before = course_copy
    source = root / "solutions" / A / f"{A}.py"
    original = source.read_text()
    old, new = EDITS[kind]
    assert original.count(old) == 1
    try:
        source.write_text(original.replace(old, new))
        after = _release(root)
    finally:
        source.write_text(original)
    for what, b, a in zip(("solution", "released"), before, after):
        assert len(a) == len(b), f"{what}: the number of cells changed"
        changed = [i for i, (x, y) in enumerate(zip(b, a)) if x != y]
        assert len(changed) == 1, f"{what}: cells {changed} changed, expected one"
        ids_kept = [x["id"] == y["id"] for x, y in zip(b, a)]
        assert ids_kept.count(False) == (1 if kind == "markdown" else 0), f"{what}: ids changed: {ids_kept}"
