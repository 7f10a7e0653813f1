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


def expect_close(name, value, expected, mistakes=(), *, rtol=1e-6, atol=1e-9, quiet=False):
    """Pass if ``value`` matches ``expected``; otherwise raise with a specific hint.

    Args:
        name: the variable's name, used in messages.
        value: the learner's value (scalar, list or array).
        expected: what the lesson's formula gives.
        mistakes: ``(wrong_value, hint)`` pairs; the first wrong value that
            ``value`` matches decides the message.
        rtol, atol: tolerance for "matches".
        quiet: do not print the success line.
    """
    got = _as_array(name, value)
    want = np.asarray(expected, dtype=np.float64)
    if got.shape != want.shape:
        hint = ""
        if got.size == want.size:
            hint = " It has the right number of entries: check its layout."
        raise CheckFailed(f"{name} has shape {got.shape}, expected {want.shape}.{hint}")
    if np.isnan(got).any() and not np.isnan(want).any():
        raise CheckFailed(f"{name} contains NaN. A 0/0 somewhere? (epsilon belongs inside the square root)")
    if np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True):
        if not quiet:
            print(f"✓ {name} is correct")
        return
    for wrong, hint in mistakes:
        wrong = np.asarray(wrong, dtype=np.float64)
        if wrong.shape == got.shape and np.allclose(got, wrong, rtol=rtol, atol=atol, equal_nan=True):
            raise CheckFailed(f"{name}: {hint}")
    if np.allclose(got, want, rtol=1e-2, atol=1e-4):
        raise CheckFailed(
            f"{name} is close but not exact: it looks rounded. Write exact Python "
            "expressions (for example 14 / 4 or np.sqrt(3.5 + 1e-3)) instead of rounded decimals."
        )
    raise CheckFailed(f"{name} is not right yet. Recompute it step by step from the formula above.")
