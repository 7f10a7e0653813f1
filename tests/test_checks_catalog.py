"""The hidden-test checks catch known mistakes and accept correct variations.

``tests/catalog/wrong/*.py`` and ``tests/catalog/correct/*.py`` are learner
implementations stored as data. Each file starts with a docstring naming the
mistake (or the variation), sets ``TARGET`` (the function or class it
implements) and, for wrong ones, ``EXPECT``: a phrase the check's message must
contain, which proves the check names that mistake rather than failing
generically. A backward file may define its own forward (its cache layout);
otherwise the reference forward builds the caches.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

import bn_checks  # noqa: E402
import bn_reference  # noqa: E402
from conftest import REPORTS, catalog_table, judge_catalog_entry, load_catalog_file  # noqa: E402

CATALOG = Path(__file__).resolve().parent / "catalog"
WRONG = sorted((CATALOG / "wrong").glob("*.py"))
CORRECT = sorted((CATALOG / "correct").glob("*.py"))

# target -> (check function, name of the forward it also needs, or None)
CHECKS = {
    "batchnorm_forward": (bn_checks.check_batchnorm_forward, None),
    "update_moving_stats": (bn_checks.check_update_moving_stats, None),
    "batchnorm_inference": (bn_checks.check_batchnorm_inference, None),
    "batchnorm_backward": (bn_checks.check_batchnorm_backward, "batchnorm_forward"),
    "batchnorm_backward_alt": (bn_checks.check_batchnorm_backward_alt, "batchnorm_forward"),
    "spatial_batchnorm_forward": (bn_checks.check_spatial_batchnorm_forward, None),
    "spatial_batchnorm_backward": (bn_checks.check_spatial_batchnorm_backward, "spatial_batchnorm_forward"),
    "BatchNorm": (bn_checks.check_batchnorm_layer, None),
    "normalize": (bn_checks.check_normalize_1d, None),
}

RESULTS: list[tuple[str, str, str, str]] = []


def run_check(path: Path):
    """Run the check that matches the file's TARGET; return (namespace, message or None)."""
    ns = load_catalog_file(path)
    target = ns["TARGET"]
    check, fwd = CHECKS[target]
    args = [ns[target]]
    if fwd is not None:
        args.append(ns.get(fwd, getattr(bn_reference, fwd)))
    try:
        check(*args)
    except AssertionError as e:
        return ns, str(e)
    return ns, None


LEAKED_NUMBER = r"\d\.\d{4,}|\d{5,}"  # 4+ significant digits (e.g. 0.73125) would be a leaked value


def test_catalog_is_large_enough():
    targets = {load_catalog_file(p)["TARGET"] for p in WRONG}
    assert len(WRONG) >= 20 and len(CORRECT) >= 8
    assert targets == set(CHECKS), f"wrong catalog misses {set(CHECKS) - targets}"
    assert {load_catalog_file(p)["TARGET"] for p in CORRECT} == set(CHECKS)


@pytest.mark.parametrize("path", WRONG, ids=[p.stem for p in WRONG])
def test_wrong_implementation_is_caught(path):
    judge_catalog_entry(RESULTS, path, *run_check(path), generic=[bn_checks.GENERIC], leaks=LEAKED_NUMBER)


@pytest.mark.parametrize("path", CORRECT, ids=[p.stem for p in CORRECT])
def test_correct_implementation_passes(path):
    judge_catalog_entry(RESULTS, path, *run_check(path))


@pytest.mark.parametrize("target", sorted(CHECKS))
def test_blank_stub_fails_with_not_implemented(target):
    """What nbgrader's blank learner version gives: ``raise NotImplementedError()``."""
    def stub(*args, **kwargs):
        raise NotImplementedError()
    check, fwd = CHECKS[target]
    args = [stub] + ([getattr(bn_reference, fwd)] if fwd else [])
    with pytest.raises(AssertionError, match="not implemented"):
        check(*args)


@pytest.fixture(scope="module", autouse=True)
def register_table():
    """Register the summary table; conftest prints it at the end of the run."""
    yield
    if not RESULTS:
        return
    REPORTS["Catalog of learner implementations vs bn_checks (in-process)"] = catalog_table(RESULTS)


HELPERS = ("batchnorm_forward", "update_moving_stats", "batchnorm_inference")


def _keeps_the_layer_interface(path) -> bool:
    """A wrong helper the layer can be built on: any update or inference, and a forward whose cache
    holds the batch "mean" and "var" the exercise asks for (the layer reads them)."""
    ns = load_catalog_file(path)
    if ns["TARGET"] != "batchnorm_forward":
        return ns["TARGET"] in HELPERS
    import numpy as np

    try:
        _, cache = ns["batchnorm_forward"](np.arange(6.0).reshape(3, 2), np.ones(2), np.zeros(2), 1e-3)
    except Exception:  # noqa: BLE001 - a crashing forward cannot carry a layer
        return False
    return isinstance(cache, dict) and {"mean", "var"} <= set(cache)


WRONG_HELPERS = [p for p in WRONG if _keeps_the_layer_interface(p)]


@pytest.mark.parametrize("path", WRONG_HELPERS, ids=[p.stem for p in WRONG_HELPERS])
def test_a_right_layer_keeps_its_points_on_a_wrong_helper(path):
    """Error carried forward in lesson 2: the solution's BatchNorm layer, built on one wrong helper
    of the catalog (the other two right), passes the layer's hidden and visible checks, which
    grade it against the helpers the notebook passes in."""
    import nbformat

    from bncourse.checks import check_batchnorm_layer

    assert len(WRONG_HELPERS) >= 10

    nb = nbformat.read(ROOT / "solutions" / "02_numpy_forward" / "02_numpy_forward.ipynb", 4)
    layer = next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "batchnorm_layer")
    wrong = load_catalog_file(path)
    ns = {"np": __import__("numpy"), **{h: getattr(bn_reference, h) for h in HELPERS}}
    ns[wrong["TARGET"]] = wrong[wrong["TARGET"]]
    exec(layer, ns)  # our own solution cell, calling the helpers in ns
    helpers = [ns[h] for h in HELPERS]
    bn_checks.check_batchnorm_layer(ns["BatchNorm"], *helpers)
    check_batchnorm_layer(ns["BatchNorm"], *helpers)
