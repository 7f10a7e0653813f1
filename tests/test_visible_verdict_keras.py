"""Visible verdict = hidden verdict, over the Keras catalog (lessons 5-8).

The sibling of tests/test_visible_verdict.py for ``tests/catalog_keras``. For every catalog entry,
the entry's code replaces its answer cell; of the lesson's other cells (no ``%%demo`` cells, no
other test cells) only the definitions run (imports, ``def``, ``class``, plain aliases such as
``L = keras.layers``): the Keras lessons load MNIST and train networks at top level, and the
visible checks need none of it. Then the *released* notebook's visible check for the entry's
target runs. A wrong entry must fail there with the mistake its EXPECT phrase names (the phrase
the hidden check's message is proven to contain in tests/test_keras_checks_catalog.py) and never
with a fallback; a correct entry must pass.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import ast  # noqa: E402
import re  # noqa: E402
from functools import lru_cache  # noqa: E402

import nbformat  # noqa: E402
import pytest  # noqa: E402
from test_keras_checks_catalog import CORRECT, WRONG  # noqa: E402

from bncourse.casecheck import GENERIC  # noqa: E402
from conftest import ROOT, judge_visible_verdict, load_catalog_file  # noqa: E402

#: catalog TARGET -> (lesson, answer cell id)
WHERE = {
    "bn_inference_from_layer": ("05_keras_dense", "bn_inference_from_layer"),
    "build_bn_mlp": ("05_keras_dense", "build_bn_mlp"),
    "fold_bn_into_dense": ("05_keras_dense", "fold_bn_into_dense"),
    "accuracy_with_batch_statistics": ("06_keras_cnn", "accuracy_with_batch_statistics"),
    "reestimate_bn_statistics": ("06_keras_cnn", "reestimate_bn_statistics"),
    "percentiles_over_training": ("07_bn_experiments", "percentiles"),
    "steps_to_reach": ("07_bn_experiments", "steps_to_reach"),
    "torch_bn_to_keras": ("08_bn_in_practice", "torch_bn_to_keras"),
    "keras_bn_to_torch": ("08_bn_in_practice", "keras_bn_to_torch"),
    "freeze_batchnorm": ("08_bn_in_practice", "freeze_batchnorm"),
    "fold_bn_into_conv": ("08_bn_in_practice", "fold_bn_into_conv"),
}

# the visible checks' last-resort messages (bncourse/checks.py): a wrong entry must name its mistake
FALLBACKS = (
    GENERIC,
    "is not right yet",
    "Compare each step with the inference formula",
    "Expand gamma * (x @ W + b - mean)",
    "Average the per-batch means and biased variances",
    "With batch statistics each batch is normalized",
    "compare the two update rules",
    "epsilon should be PyTorch's eps",
    "eps should be the layer's epsilon",
    "not the state's values",
    "not the layer's values",
    "Compare each layer's trainable flag",
    "These BatchNormalization layers are still trainable",
    "Expand gamma * (conv(x) + b - mean)",
)

DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)


@lru_cache(maxsize=None)
def _cells(assignment):
    sol = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    rel = nbformat.read(ROOT / "notebooks" / assignment / f"{assignment}.ipynb", as_version=4)
    released = {c.metadata["nbgrader"]["grade_id"]: c.source for c in rel.cells
                if c.cell_type == "code" and "nbgrader" in c.metadata}
    return sol.cells, released


def definitions_only(source: str) -> str:
    """The top-level imports, defs, classes and plain aliases (``name = a.b``) of a cell."""
    source = "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in source.splitlines())
    keep = [node for node in ast.parse(source).body
            if isinstance(node, DEFINITIONS)
            or (isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets)
                and isinstance(node.value, (ast.Name, ast.Attribute, ast.Constant)))]
    return ast.unparse(ast.Module(body=keep, type_ignores=[]))


def _strip_solution_markers(src):
    return "\n".join(ln for ln in src.splitlines() if not re.search(r"### (BEGIN|END) SOLUTION", ln))


def visible_verdict(path):
    """The failure message of the released visible check for a catalog entry, or None if it passes."""
    target = load_catalog_file(path)["TARGET"]
    assignment, answer_id = WHERE[target]
    cells, released = _cells(assignment)
    ns: dict = {"__name__": "__main__"}
    for cell in cells:
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id")
        if cell.cell_type != "code" or cell.source.lstrip().startswith("%%"):
            continue
        if gid == f"test_{answer_id}":
            try:
                exec(compile(released[gid], f"<visible {gid}>", "exec"), ns)
            except AssertionError as e:
                return str(e)
            return None
        if meta.get("grade"):
            continue  # other test cells: not part of this verdict
        if gid == answer_id:
            exec(compile(path.read_text(), str(path), "exec"), ns)  # the learner's answer cell
        else:
            exec(compile(definitions_only(_strip_solution_markers(cell.source)), f"<{assignment} {gid}>", "exec"), ns)
    raise AssertionError(f"no visible check test_{answer_id} in {assignment}")


def test_every_target_has_a_visible_check():
    assert {load_catalog_file(p)["TARGET"] for p in WRONG + CORRECT} == set(WHERE)
    for assignment, answer_id in WHERE.values():
        assert f"test_{answer_id}" in _cells(assignment)[1]


def test_definitions_only_keeps_definitions_and_drops_training():
    src = "import keras\nL = keras.layers\nbn.trainable = False\nmodel = build()\nmodel.fit(x, y)\ndef f():\n    return 1\n%time f()"
    assert definitions_only(src) == "import keras\nL = keras.layers\n\ndef f():\n    return 1"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("path", WRONG, ids=[p.stem for p in WRONG])
def test_wrong_entry_fails_the_visible_check_with_the_hidden_checks_hint(path):
    judge_visible_verdict(path, visible_verdict(path), FALLBACKS)


@pytest.mark.parametrize("path", CORRECT, ids=[p.stem for p in CORRECT])
def test_correct_entry_passes_the_visible_check(path):
    judge_visible_verdict(path, visible_verdict(path), FALLBACKS)
