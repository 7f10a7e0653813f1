"""Visible-check helpers: compare a learner's value and name the likely mistake.

The notebooks compute what a value should be from the lesson's formulas, then
call :func:`expect_close` with a few *known wrong* variants, each paired with a
hint. This module holds no solution; it only compares.
"""

from __future__ import annotations

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
