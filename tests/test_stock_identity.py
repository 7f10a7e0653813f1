"""Correct answers written in unusual ways score the same under grade.py as under *stock* nbgrader.

grade.py runs hidden tests outside the student's kernel and reaches the student's values through
a data-only bridge; stock nbgrader (its own Execute, no course hardening: the tests run inside the
kernel) needs no bridge at all. So every value an unusual answer returns (Keras tensors,
namedtuples, lambdas, ``functools.partial``, callable instances, custom and self-referencing
caches, object arrays) must reach the hidden tests as stock nbgrader would give it to them:
each such catalog entry gets full marks on its target cell under both, and every test cell of
its notebook scores the same under both.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from test_catalog_autograde import WHERE, _answer_source, _meta

from conftest import REPORTS, ROOT
from nbgrader_harness import TempCourse, combined_submissions

# The NumPy and Keras catalogs' correct answers whose values do not cross as plain arrays.
UNUSUAL = {
    "catalog": ["bwd_custom_cache_object", "bwd_namedtuple_cache", "bwd_recursive_cache", "fwd_callable_namedtuple",
                "inf_lambda", "inf_object_array", "layer_keras_ops", "ums_partial"],
    "catalog_keras": ["inf_keras_ops_tensor", "fold_namedtuple_ops", "acc_callable_instance", "pct_partial",
                      "steps_lambda", "port_float32_copies", "freeze_generator", "foldc_lists"],
}
ENTRIES = [ROOT / "tests" / folder / "correct" / f"{name}.py" for folder, names in UNUSUAL.items() for name in names]
KERAS_WHERE = {  # TARGET -> (assignment, answer cell grade id) for the Keras catalog
    "bn_inference_from_layer": ("05_keras_dense", "bn_inference_from_layer"),
    "fold_bn_into_dense": ("05_keras_dense", "fold_bn_into_dense"),
    "accuracy_with_batch_statistics": ("06_keras_cnn", "accuracy_with_batch_statistics"),
    "percentiles_over_training": ("07_bn_experiments", "percentiles"),
    "steps_to_reach": ("07_bn_experiments", "steps_to_reach"),
    "torch_bn_to_keras": ("08_bn_in_practice", "torch_bn_to_keras"),
    "freeze_batchnorm": ("08_bn_in_practice", "freeze_batchnorm"),
    "fold_bn_into_conv": ("08_bn_in_practice", "fold_bn_into_conv"),
}


def _where(path: Path) -> tuple[str, str, str]:
    meta = _meta(path)
    if path.parent.parent.name == "catalog":
        return (*WHERE[meta["target"]], _answer_source(meta))
    return (*KERAS_WHERE[meta["target"]], meta["src"])


def _student(path: Path) -> str:
    return path.stem


@pytest.fixture(scope="module")
def stock(tmp_path_factory):
    """assignment -> TempCourse graded by stock nbgrader (one course per assignment, concurrently)."""
    assignments = sorted({_where(p)[0] for p in ENTRIES})
    courses = {a: TempCourse(tmp_path_factory.mktemp(f"stock_{a}"), [a], stock=True) for a in assignments}
    for tc in courses.values():
        tc.generate()
    for path in ENTRIES:
        assignment, answer_id, source = _where(path)
        tc = courses[assignment]
        sol = tc.root / "solutions" / assignment / f"{assignment}.ipynb"
        nb = nbformat.read(sol, as_version=4)
        cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == answer_id]
        assert len(cells) == 1, f"{assignment} has no answer cell {answer_id}"
        cells[0].source = source
        tc.submit(_student(path), assignment, {assignment: nb})
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        list(pool.map(lambda item: item[1].autograde(item[0]), courses.items()))
    return courses


def test_the_comparison_uses_stock_execute(stock):
    """The stock courses really run nbgrader's own Execute (tests inside the kernel), not the course's."""
    text = (next(iter(stock.values())).root / "nbgrader_config.py").read_text()
    assert "autograde_preprocessors" in text and "default()" in text


def test_unusual_correct_answers_score_the_same_under_grade_py_and_stock_nbgrader(stock, tmp_path_factory):
    from bngrader import grade

    compared, mismatches, table = 0, [], []
    submitted = combined_submissions(stock, tmp_path_factory.mktemp("submitted"))
    rows = grade.grade_class(sorted(stock), submitted=submitted, out=tmp_path_factory.mktemp("grade_py"), quiet=True)
    for assignment, tc in stock.items():
        for row in (row for row in rows if row.assignment == assignment):
            path = next(p for p in ENTRIES if _student(p) == row.student)
            _, answer_id, _ = _where(path)
            score, max_score, cells = tc.scores(row.student, assignment, row.notebook)
            target = next(c for c in cells if c.name == f"test_{answer_id}")
            assert target.score == target.max_score, f"stock nbgrader: {path.name} lost points on {target.name}"
            for cell in cells:
                compared += 1
                if row.cells[cell.name][0] != cell.score:
                    mismatches.append((row.student, cell.name, cell.score, row.cells[cell.name][0]))
            table.append(f"{row.student:<28} {target.name:<36} stock {score:g}/{max_score:g}  "
                         f"bngrader grade {row.score:g}/{row.max_score:g}")
    assert len(table) == len(ENTRIES)
    assert not mismatches, f"(student, cell, stock, grade.py): {mismatches}"
    REPORTS["Unusual correct answers: grade.py vs stock nbgrader (its own Execute)"] = [
        *table, f"{compared} test cells compared, every one the same"]
