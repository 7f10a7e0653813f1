"""Visible-check helpers: compare a learner's value and name the likely mistake.

The notebooks compute what a value should be from the lesson's formulas, then
call :func:`expect_close` with a few *known wrong* variants, each paired with a
hint. This module holds no solution; it only compares.
"""

from __future__ import annotations

import functools

import numpy as np


class CheckFailed(AssertionError):
    """A visible check failed; the message says what to look at."""


def _as_array(name, value):
    if callable(value):
        raise CheckFailed(f"{name} is a function; expected numbers. Did you forget to call it?")
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise CheckFailed(f"{name} should be numbers (a float or an array), got {type(value).__name__}") from None


def _looks_rounded(values: np.ndarray) -> bool:
    """True when every value has at most 4 decimals, as a hand-rounded answer does."""
    finite = values[np.isfinite(values)]
    return finite.size > 0 and any(np.array_equal(finite, np.round(finite, k)) for k in range(5))


def expect_close(name, value, expected, mistakes=(), *, rtol=1e-9, atol=1e-12, quiet=False):
    """Pass if ``value`` matches ``expected``; otherwise raise with a specific hint.

    Args:
        name: the variable's name, used in messages.
        value: the learner's value (scalar, list or array).
        expected: what the lesson's formula gives (float64).
        mistakes: ``(wrong_value, hint)`` pairs; the first wrong value that
            ``value`` matches decides the message (a wrong value may have another
            shape than ``expected``, e.g. statistics over the wrong axis).
        rtol, atol: tolerance for "matches". The default is as tight as the hidden
            tests, so a visible pass is not followed by a hidden failure.
        quiet: do not print the success line.
    """
    got = _as_array(name, value)
    want = np.asarray(expected, dtype=np.float64)

    def matching_mistake():
        for wrong, hint in mistakes:
            wrong = np.asarray(wrong, dtype=np.float64)
            if wrong.shape == got.shape and np.allclose(got, wrong, rtol=max(rtol, 1e-7), atol=atol, equal_nan=True):
                return f"{name}: {hint}"
        return None

    if got.shape != want.shape:
        hint = matching_mistake() or ""
        if not hint and got.size == want.size:
            hint = "It has the right number of entries: check its layout."
        raise CheckFailed(hint if hint.startswith(name) else f"{name} has shape {got.shape}, expected {want.shape}. {hint}")
    if np.isnan(got).any() and not np.isnan(want).any():
        raise CheckFailed(f"{name} contains NaN. A 0/0 somewhere? (epsilon belongs inside the square root)")
    if np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True):
        if not quiet:
            print(f"✓ {name} is correct")
        return
    hint = matching_mistake()
    if hint:
        raise CheckFailed(hint)
    if np.asarray(value).dtype == np.float32 and np.allclose(got, want, rtol=1e-5, atol=1e-6):
        raise CheckFailed(f"{name} was computed in float32, which keeps only ~7 digits. Use float64 "
                          "(NumPy's default for Python floats).")
    if _looks_rounded(got) and np.allclose(got, want, rtol=1e-2, atol=1e-4):
        raise CheckFailed(
            f"{name} is close but not exact: it looks rounded. Write exact Python "
            "expressions (for example 14 / 4 or np.sqrt(3.5 + 1e-3)) instead of rounded decimals."
        )
    raise CheckFailed(f"{name} is not right yet. Recompute it step by step from the formula above.")


def expect_gradient(name, analytic, numeric, mistakes=(), *, threshold=1e-7):
    """Pass if an analytic gradient matches a numeric one; otherwise name the mistake.

    Args:
        name: the gradient's name, used in messages.
        analytic: the learner's gradient.
        numeric: the centred-difference gradient (``bncourse.gradcheck.numeric_gradient``).
        mistakes: ``(wrong_gradient, hint)`` pairs; the first one ``analytic``
            matches decides the message.
        threshold: largest relative error (``bncourse.gradcheck.rel_error``) that passes.
    """
    from bncourse.gradcheck import rel_error

    got = _as_array(name, analytic)
    numeric = np.asarray(numeric, dtype=np.float64)
    if got.shape != numeric.shape:
        raise CheckFailed(f"{name} has shape {got.shape}, expected {numeric.shape}: "
                          "a gradient has the shape of the value it belongs to.")
    err = rel_error(got, numeric)
    if err < threshold:
        print(f"✓ {name}: relative error {err:.1e}")
        return
    for wrong, hint in mistakes:
        wrong = np.asarray(wrong, dtype=np.float64)
        if wrong.shape == got.shape and np.allclose(got, wrong, rtol=1e-6, atol=1e-9):
            raise CheckFailed(f"{name}: {hint} (relative error {err:.1e})")
    if err < 1e-2:
        hint = "Close, but not rounding error: is eps used exactly as in the forward pass, sqrt(var + eps)?"
    else:
        hint = "Check each step against the forward pass it mirrors: local derivatives, sums, reshapes."
    raise CheckFailed(f"{name} disagrees with the numeric gradient: relative error {err:.1e} "
                      f"(right is below {threshold:g}). {hint}")


# --------------------------------------------------------------------------- lessons 1-4
# Each function runs the learner's code on the fixed cases of bncourse/expected/<lesson>.json
# (literal answers generated from the instructor reference) with the same machinery, and so the
# same verdict and hint, as the hidden tests; then it checks a few properties. The shared
# machinery (bncourse.casecheck) fails with a plain AssertionError, as the hidden tests expect;
# here every failure becomes a CheckFailed (an AssertionError too), which the notebook shows as
# its message only, without the frames of the check helpers.

def visible_check(fn):
    """Decorator: a failure of the wrapped visible check is raised as :class:`CheckFailed`."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except CheckFailed:
            raise
        except AssertionError as e:
            raise CheckFailed(str(e)) from None
    return wrapper


def _passed(name, table):
    print(f"✓ {name} is correct on {len(table)} cases: " + "; ".join(c["label"] for c in table))


def _forward_properties(fn, name, x, gamma, beta, axes):
    """Per-feature mean of the output equals beta; its std equals |gamma| * sqrt(var / (var + eps))."""
    from bncourse.casecheck import as_float, invoke, unpack

    out, _ = unpack(invoke(fn, name, (x, gamma, beta), {}, ("x", "gamma", "beta"), "a random batch"), name, 2,
                    "(out, cache)")
    out = as_float(f"{name} output", out, x.dtype, "a random batch")
    v = x.var(axis=axes)
    if not np.allclose(out.mean(axis=axes), beta, atol=1e-9):
        raise CheckFailed(f"{name}: the per-feature mean of the output should equal beta.")
    if not np.allclose(out.std(axis=axes), np.abs(gamma) * np.sqrt(v / (v + 1e-3)), rtol=1e-7):
        raise CheckFailed(f"{name}: the per-feature std of the output should be |gamma| * sqrt(var / (var + eps)).")


@visible_check
def check_batchnorm_forward(batchnorm_forward):
    """Lesson 2, Exercise 1."""
    from bncourse.casecheck import cases, run_outputs

    table = cases("02_numpy_forward", "batchnorm_forward")
    run_outputs(batchnorm_forward, "batchnorm_forward", table, ("x", "gamma", "beta"), returns=("out", "cache"))
    rng = np.random.default_rng(1)
    _forward_properties(batchnorm_forward, "batchnorm_forward", rng.normal(5.0, 3.0, size=(64, 4)),
                        np.array([1.5, -2.0, 0.5, 1.0]), np.array([0.0, 1.0, -1.0, 2.0]), 0)
    _passed("batchnorm_forward", table)


@visible_check
def check_update_moving_stats(update_moving_stats):
    """Lesson 2, Exercise 2."""
    from bncourse.casecheck import cases, run_outputs

    table = cases("02_numpy_forward", "update_moving_stats")
    run_outputs(update_moving_stats, "update_moving_stats", table,
                ("moving_mean", "moving_var", "batch_mean", "batch_var"), returns=("moving_mean", "moving_var"))
    _passed("update_moving_stats", table)


@visible_check
def check_batchnorm_inference(batchnorm_inference):
    """Lesson 2, Exercise 3."""
    from bncourse.casecheck import cases, run_outputs

    table = cases("02_numpy_forward", "batchnorm_inference")
    run_outputs(batchnorm_inference, "batchnorm_inference", table,
                ("x", "gamma", "beta", "moving_mean", "moving_var"))
    _passed("batchnorm_inference", table)


@visible_check
def check_batchnorm_layer(BatchNorm, batchnorm_forward, update_moving_stats, batchnorm_inference):
    """Lesson 2, Exercise 4: the layer, graded against your own three functions."""
    from bncourse.casecheck import check_layer

    check_layer(BatchNorm, batchnorm_forward, update_moving_stats, batchnorm_inference)
    print("✓ BatchNorm starts like Keras's layer and uses your three functions in both modes")


def _backward(bwd, fwd, name, fwd_name, table_name, what):
    """Literal gradients on the lesson's cases; True when the learner's forward was right on them.
    When it is not, the backward is graded on its own (error carried forward, see run_backward)."""
    from bncourse.casecheck import cases, run_backward

    table = cases(table_name, name if what == "channel" else "batchnorm_backward")
    if run_backward(bwd, fwd, name, fwd_name, table, what):
        _passed(name, table)
        return True
    print(f"✓ {name} is correct on its own. Your {fwd_name} is not (its own check names the mistake), so {name}"
          " was graded with the caches the given batchnorm_forward makes, or against the numeric gradient of"
          f" your {fwd_name}.")
    return False


@visible_check
def check_batchnorm_backward(batchnorm_backward, batchnorm_forward, name="batchnorm_backward"):
    """Lesson 3, Exercises 1 and 2 (``name="batchnorm_backward_alt"``)."""
    _backward(batchnorm_backward, batchnorm_forward, name, "batchnorm_forward", "03_numpy_backward", "feature")


@visible_check
def check_spatial_batchnorm_forward(spatial_batchnorm_forward):
    """Lesson 4, Exercise 1."""
    from bncourse.casecheck import cases, run_outputs

    table = cases("04_conv_batchnorm", "spatial_batchnorm_forward")
    run_outputs(spatial_batchnorm_forward, "spatial_batchnorm_forward", table, ("x", "gamma", "beta"),
                returns=("out", "cache"))
    rng = np.random.default_rng(11)
    _forward_properties(spatial_batchnorm_forward, "spatial_batchnorm_forward",
                        rng.normal(size=(4, 3, 5, 2)) * np.array([5.0, 0.05]) + np.array([10.0, -3.0]),
                        np.array([2.0, 0.5]), np.array([1.0, -1.0]), (0, 1, 2))
    _passed("spatial_batchnorm_forward", table)


@visible_check
def check_spatial_batchnorm_backward(spatial_batchnorm_backward, spatial_batchnorm_forward):
    """Lesson 4, Exercise 2."""
    from bncourse.casecheck import own_forward_gradients

    name, fwd_name = "spatial_batchnorm_backward", "spatial_batchnorm_forward"
    if _backward(spatial_batchnorm_backward, spatial_batchnorm_forward, name, fwd_name, "04_conv_batchnorm", "channel"):
        print(f"Against centred-difference numeric gradients of your {fwd_name} on a small random input:")
        for k, got, num in own_forward_gradients(spatial_batchnorm_backward, spatial_batchnorm_forward, name,
                                                 fwd_name, "channel"):
            expect_gradient(k, got, num)


@visible_check
def check_value(name, value, **uses):
    """Lesson 1: compare a hand-computed variable with its literal answer in bncourse/expected/.

    ``uses``: the learner's own earlier variables this one builds on (``x_hat`` uses ``batch_mean``
    and ``batch_var``; ``y`` uses ``x_hat``). When one of those is wrong, ``value`` passes if it is
    right for them (error carried forward: a mistake is graded once, where it is made)."""
    from bncourse.casecheck import carried_forward_value, cases

    table = cases("01_formulas_by_hand", "values")
    expected, mistakes = table[name]
    try:
        expect_close(name, value, expected, mistakes=[(w, h) for w, h in mistakes])
    except CheckFailed:
        line = carried_forward_value(name, value, uses, {k: v[0] for k, v in table.items()},
                                     cases("01_formulas_by_hand", "inputs"))
        if line is None:
            raise
        print(line)


@visible_check
def check_normalize(normalize):
    """Lesson 1, Exercise 7: ``normalize(x, gamma, beta, eps=1e-3)`` on the literal cases of
    bncourse/expected/01_formulas_by_hand.json, then the mean and std of its output."""
    from bncourse.casecheck import as_float, cases, invoke, run_outputs

    table = cases("01_formulas_by_hand", "normalize")
    run_outputs(normalize, "normalize", table, ("x", "gamma", "beta"))
    x = np.random.default_rng(7).normal(4.0, 2.5, size=50)
    label = "a random batch of 50"
    out = as_float("normalize output", invoke(normalize, "normalize", (x, -1.5, 0.75), {}, ("x",), label), x.dtype, label)
    v = x.var()
    if not np.isclose(out.mean(), 0.75, atol=1e-9):
        raise CheckFailed("normalize: the mean of the output should equal beta.")
    if not np.isclose(out.std(), 1.5 * np.sqrt(v / (v + 1e-3)), rtol=1e-7):
        raise CheckFailed("normalize: the std of the output should be |gamma| * sqrt(var / (var + eps)).")
    _passed("normalize", table)
