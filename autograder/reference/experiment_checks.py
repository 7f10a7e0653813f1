"""Checks that lesson 7's hidden tests call. Instructor-only: never released to learners.

Each ``check_*`` function compares a learner's answer with a simple reference
written here, raising ``AssertionError`` with a message that names the likely
mistake without printing reference values.
"""

from __future__ import annotations

import numpy as np

from bn_checks import call_pure
from bncourse.casecheck import variant_values


def _ref_percentiles(activations, q):
    return np.percentile(np.asarray(activations, dtype=float), q, axis=1).T


def _ref_steps_to_reach(acc_curve, steps, target):
    reached = np.flatnonzero(np.asarray(acc_curve, dtype=float) >= target)
    return int(steps[reached[0]]) if len(reached) else None


PERCENTILE_TOL = dict(rtol=1e-9, atol=1e-12)
DEFAULT_Q = (15, 50, 85)


def _percentile_variants(activations, q):
    """Known-wrong results of ``percentiles_over_training`` (lazy makers, hints), shared by the hidden
    check and the visible check's literal table (:func:`percentiles_table`)."""
    a, q = np.asarray(activations, dtype=float), tuple(q)
    return [
        (lambda: np.percentile(a, np.asarray(q) / 100, axis=1).T,
         "q is in percent (15, 50, 85): np.percentile takes percents, np.quantile fractions."),
        (lambda: np.percentile(a, q, axis=1, method="nearest").T,
         "you picked the nearest sorted value; interpolate linearly between neighbours (NumPy's default)."),
        (lambda: _ref_percentiles(a, DEFAULT_Q) if q != DEFAULT_Q else None,
         "use the q argument, not fixed percentiles."),
    ]


def percentiles_table():
    """Lesson 7, Exercise 1: the visible check's cases, on rows whose percentiles the lesson works out
    in its comments (sorted 0..4: percentile 15 lies 0.6 of the way from 0 to 1; a constant row; a
    decreasing row: sort before you pick; one outlier moves only the upper percentile)."""
    demo = np.array([[3.0, 1.0, 4.0, 0.0, 2.0], [2.5, 2.5, 2.5, 2.5, 2.5],
                     [40.0, 30.0, 20.0, 10.0, 0.0], [-1.0, -1.0, 9.0, -1.0, -1.0]])
    table = []
    for kwargs in ({}, {"q": (0, 100)}):
        q = kwargs.get("q", DEFAULT_Q)
        want = _ref_percentiles(demo, q)
        wrong = [[h, v] for h, v in variant_values(_percentile_variants(demo, q))
                 if not (v.shape == want.shape and np.allclose(v, want, **PERCENTILE_TOL))]
        table.append({"label": "demo" + "".join(f", {k}={v}" for k, v in kwargs.items()), "args": [demo],
                      "kwargs": kwargs, "expected": want, "wrong": wrong})
    return table


def check_percentiles_over_training(percentiles_over_training):
    """``percentiles_over_training(activations, q=(15, 50, 85)) -> (steps, len(q))``."""
    rng = np.random.default_rng(707)
    cases = [
        (rng.normal(size=(6, 50)), (15, 50, 85), "a random (6, 50) array"),
        (rng.exponential(size=(3, 8)), (15, 50, 85), "a skewed (3, 8) array"),
        (rng.normal(2.0, 3.0, size=(5, 11)), (10, 90), "q=(10, 90)"),
        (rng.normal(size=(2, 7)), (0, 50, 100), "q=(0, 50, 100)"),
        (rng.normal(size=(1, 4)), (25,), "one step and one percentile"),
        (rng.normal(size=(7, 2)), (15, 50, 85), "two samples per step"),
    ]
    for activations, q, label in cases:
        got = call_pure(percentiles_over_training, "percentiles_over_training", activations, q)
        want = _ref_percentiles(activations, q)
        got = np.asarray(got, dtype=float)
        if got.shape == want.T.shape and got.shape != want.shape:
            raise AssertionError(f"percentiles_over_training on {label}: the result is transposed; "
                                 "return one row per step and one column per percentile.")
        if got.shape in ((activations.shape[1], len(q)), (len(q), activations.shape[1])) and got.shape != want.shape:
            raise AssertionError(f"percentiles_over_training on {label}: you took percentiles over the steps "
                                 "(axis 0); take each row's percentiles over its samples (axis 1).")
        if got.shape != want.shape:
            raise AssertionError(f"percentiles_over_training on {label} returned shape {got.shape}; "
                                 f"expected (steps, len(q)) = {want.shape}.")
        if not np.allclose(got, want, **PERCENTILE_TOL):
            hint = next((h for h, value in variant_values(_percentile_variants(activations, q))
                         if value.shape == got.shape and np.allclose(got, value, **PERCENTILE_TOL)), None)
            raise AssertionError(f"percentiles_over_training is wrong on {label}: " + (
                hint or "take each row's percentiles over its samples, q in percent, with linear interpolation."))
    activations = rng.normal(size=(4, 9))
    got = np.asarray(percentiles_over_training(activations), dtype=float)
    if got.shape != (4, 3) or not np.allclose(got, _ref_percentiles(activations, (15, 50, 85)), rtol=1e-9):
        raise AssertionError("percentiles_over_training(activations) without q must use q=(15, 50, 85).")


def check_steps_to_reach(steps_to_reach):
    """``steps_to_reach(acc_curve, steps, target)``: first step with accuracy >= target, else None."""
    rng = np.random.default_rng(708)
    noisy = np.clip(np.linspace(0.2, 0.95, 40) + rng.normal(0, 0.03, 40), 0, 1)
    steps_noisy = np.arange(50, 2050, 50)
    cases = [
        # first (20), strict > (40), last (50) and index (1) all differ: each mistake gets its own hint
        ([0.5, 0.9, 0.7, 0.95, 0.9], [10, 20, 30, 40, 50], 0.9, "a curve that meets the target, passes it "
                                                                  "and meets it again"),
        ([0.3, 0.6, 0.6, 0.9], [10, 20, 30, 40], 0.6, "a target met exactly"),
        ([0.3, 0.6, 0.6, 0.9], [10, 20, 30, 40], 0.61, "a target between two values"),
        ([0.7, 0.2, 0.8], [5, 7, 9], 0.5, "a target met at the very first step"),
        ([0.1, 0.95, 0.5, 0.97], [1, 2, 3, 4], 0.96, "a curve that drops and rises again"),
        ([0.1, 0.2, 0.3], [100, 200, 300], 0.31, "a target never reached"),
        (noisy, steps_noisy, float(noisy.max()), "a noisy curve and its own maximum"),
        (noisy, steps_noisy, 0.8, "a noisy curve as a NumPy array"),
        ([0.5, 0.9], np.array([3, 1000]), 0.9, "unevenly spaced steps"),
    ]
    for acc, steps, target, label in cases:
        got = call_pure(steps_to_reach, "steps_to_reach", acc, steps, target)
        want = _ref_steps_to_reach(acc, steps, target)
        if want is None:
            if got is not None:
                raise AssertionError(f"steps_to_reach on {label} returned {got!r}; return None when the curve "
                                     "never reaches the target.")
            continue
        if got is None:
            raise AssertionError(f"steps_to_reach on {label} returned None, but the curve reaches the target "
                                 "(count accuracy equal to the target as reached: >=).")
        try:
            got_value = float(got)
        except (TypeError, ValueError):
            raise AssertionError(f"steps_to_reach should return a step number or None, got {type(got).__name__}.") from None
        if got_value != want:
            hint = next((h for h, value in variant_values(_steps_variants(acc, steps, target)) if got_value == value),
                        "return the FIRST step whose accuracy is >= target.")
            raise AssertionError(f"steps_to_reach on {label}: {hint}")


def _steps_variants(acc_curve, steps, target):
    """Known-wrong answers of ``steps_to_reach`` (lazy makers, hints) when the curve reaches the target,
    shared by the hidden check and the visible check's literal table (:func:`steps_table`)."""
    want = _ref_steps_to_reach(acc_curve, steps, target)
    reached = np.flatnonzero(np.asarray(acc_curve, dtype=float) >= target)
    return [
        (lambda: list(np.asarray(steps)).index(want), "returned an index; return the step, steps[index]."),
        (lambda: _ref_steps_to_reach(acc_curve, steps, np.nextafter(target, np.inf)),
         "an accuracy equal to the target counts as reached; use >=, not >."),
        (lambda: int(np.asarray(steps)[reached[-1]]),
         "returned the last step that reaches the target; return the first one, not the last."),
    ] if want is not None else []


def steps_table():
    """Lesson 7, Exercise 2: the visible check's curve and targets. The curve meets the target 0.9 at
    step 200, passes it at 400 and meets it again at 500: first (200), strict > (400), last (500) and
    the index (1) are four different answers. 0.99 is never reached (None)."""
    curve, at = [0.50, 0.90, 0.70, 0.95, 0.90], [100, 200, 300, 400, 500]
    cases = []
    for target in (0.9, 0.6, 0.1, 0.99):
        want = _ref_steps_to_reach(curve, at, target)
        wrong = [[h, int(v)] for h, v in variant_values(_steps_variants(curve, at, target)) if v != want]
        cases.append({"target": target, "expected": want, "wrong": wrong})
    return [{"curve": curve, "steps": at, "cases": cases}]


def check_fewer_steps(answer, acc_bn, acc_nobn, steps):
    """Exercise 3: which net reaches the no-BN net's best accuracy in fewer steps, in this run."""
    if answer not in ("bn", "no_bn"):
        raise AssertionError('fewer_steps must be "bn" or "no_bn".')
    target = float(np.max(acc_nobn))
    s_nobn = _ref_steps_to_reach(acc_nobn, steps, target)
    s_bn = _ref_steps_to_reach(acc_bn, steps, target)
    if s_bn is not None and s_bn == s_nobn:
        return  # a tie: both answers describe the plot
    expected = "bn" if s_bn is not None and s_bn < s_nobn else "no_bn"
    if answer != expected:
        raise AssertionError("fewer_steps does not match this run's curves: find where each curve first "
                             "reaches the best accuracy of the net without BN.")
