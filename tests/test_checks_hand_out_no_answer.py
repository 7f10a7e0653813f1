"""No visible check evaluates the answer: a visible test cell must not contain an expression that
is the same, up to renaming, as an expression in the solution region of the answer it checks.

Two expressions are "the same up to renaming" when their syntax trees agree after every variable
name and every number is replaced by a placeholder numbered in order of first use (module names
such as ``np`` and attribute names such as ``.sqrt`` are kept). Only expressions with at least two
operations (arithmetic, calls, subscripts) count, so ``x.mean(axis=0)`` alone is not a formula.
"""

from __future__ import annotations

import ast
import re

import nbformat
import pytest

from conftest import SOLUTION_NOTEBOOKS, nb_id

MODULES = {"np", "numpy", "math", "keras", "tf"}
OPERATIONS = (ast.BinOp, ast.Call, ast.UnaryOp, ast.Subscript, ast.Compare)
MIN_OPERATIONS = 2


def _canonical(expr: ast.expr) -> str:
    """``expr`` with variables and numbers renamed v0, v1, ... in order of first use."""
    names: dict[object, str] = {}

    class Rename(ast.NodeTransformer):
        def leaf(self, key):
            return ast.Name(id=names.setdefault(key, f"v{len(names)}"), ctx=ast.Load())

        def visit_Name(self, node):
            return node if node.id in MODULES else self.leaf(("name", node.id))

        def visit_Constant(self, node):
            if isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
                return self.leaf(("num", node.value))
            return node

    import copy

    return ast.dump(Rename().visit(copy.deepcopy(expr)), annotate_fields=False)


def formulas(source: str) -> dict[str, str]:
    """Canonical form -> source text of every expression in ``source`` with enough operations."""
    out = {}
    for node in ast.walk(ast.parse(_strip_magics(source))):
        if isinstance(node, ast.expr) and sum(isinstance(n, OPERATIONS) for n in ast.walk(node)) >= MIN_OPERATIONS:
            out.setdefault(_canonical(node), ast.unparse(node))
    return out


def shared_formulas(check_source: str, solution_source: str) -> list[str]:
    """Expressions of ``check_source`` that equal, up to renaming, one of ``solution_source``."""
    answer = formulas(solution_source)
    return sorted(text for key, text in formulas(check_source).items() if key in answer)


def _strip_magics(source):
    return "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in source.splitlines())


def _solution_region(source: str) -> str:
    """The lines between ### BEGIN SOLUTION and ### END SOLUTION, dedented as one block."""
    import textwrap

    parts = re.findall(r"### BEGIN SOLUTION\n(.*?)\n\s*### END SOLUTION", source, flags=re.S)
    return "\n".join(textwrap.dedent(p) for p in parts)


def _pairs(path):
    """(test id, visible source, solution region) for each test cell and the answer it checks."""
    nb = nbformat.read(path, as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
               if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            gid = meta["grade_id"]
            visible = cell.source.split("### BEGIN HIDDEN TESTS")[0]
            answer = answers.get(gid.removeprefix("test_"))
            if answer is not None:
                yield gid, visible, _solution_region(answer)


def test_every_test_cell_is_paired_with_its_answer():
    paired = sum(1 for path in SOLUTION_NOTEBOOKS for _ in _pairs(path))
    assert paired >= 20, f"only {paired} test cells matched an answer cell by id"


@pytest.mark.parametrize("solution", SOLUTION_NOTEBOOKS, ids=nb_id)
def test_visible_checks_do_not_evaluate_the_answer(solution):
    found = {gid: shared for gid, visible, answer in _pairs(solution)
             if (shared := shared_formulas(visible, answer))}
    assert not found, f"visible checks that compute the answer with the solution's formula: {found}"


# Lesson 2's inference check before this test existed (git history): it computed the expected
# output with the solution's own formula, directly under the answer cell.
OLD_INFERENCE_CHECK = '''
mm, mv = np.array([1.0, 9.0, 0.0]), np.array([4.0, 1.0, 0.01])
expected = gamma * (X - mm) / np.sqrt(mv + 1e-3) + beta
'''


def test_catches_lesson_2_old_inference_check():
    lesson2 = next(p for p in SOLUTION_NOTEBOOKS if p.parent.name == "02_numpy_forward")
    answer = next(a for gid, _, a in _pairs(lesson2) if gid == "test_batchnorm_inference")
    assert "gamma * (X - mm) / np.sqrt(mv + 0.001) + beta" in shared_formulas(OLD_INFERENCE_CHECK, answer)


def test_renaming_is_not_enough_to_hide_a_formula_but_other_formulas_pass():
    assert shared_formulas("out = g * z + b", "y = gamma * x_hat + beta") == ["g * z + b"]
    assert shared_formulas("out = g * z - b", "y = gamma * x_hat + beta") == []
    assert shared_formulas("m = x.mean(axis=0)", "mean = x.mean(axis=0)") == []  # one operation only
