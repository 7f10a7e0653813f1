"""Checks that hidden tests call. Instructor-only: never released to learners.

Each ``check_*`` function exercises a learner function on inputs chosen to expose
real mistakes and compares it with :mod:`bn_reference`. A failure raises
``AssertionError`` with a message that names the likely mistake, without
printing reference code or reference values.
"""

from __future__ import annotations

import numpy as np

import bn_reference as ref

EXACT = dict(rtol=1e-10, atol=1e-12)


def _arr(name, value):
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise AssertionError(f"{name} should be numbers, got {type(value).__name__}") from None


def assert_exact(name, value, expected, *, rtol=EXACT["rtol"], atol=EXACT["atol"]):
    """``value`` equals ``expected`` to ~1e-10 relative; the message never shows ``expected``."""
    got, want = _arr(name, value), np.asarray(expected, dtype=np.float64)
    if got.shape != want.shape:
        raise AssertionError(f"{name} has shape {got.shape}; the expected shape is {want.shape}.")
    if not np.allclose(got, want, rtol=rtol, atol=atol):
        near = np.allclose(got, want, rtol=1e-3, atol=1e-6)
        raise AssertionError(
            f"{name} is not exact (tolerance {rtol:g} relative)."
            + (" It is close: was it rounded?" if near else "")
        )


def call_pure(fn, name, *args, **kwargs):
    """Call a learner function on copies of its array arguments; fail if it mutates them."""
    copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    try:
        result = fn(*args, **kwargs)
    except NotImplementedError:
        raise AssertionError(f"{name} is not implemented yet.") from None
    for i, (a, c) in enumerate(zip(args, copies)):
        if isinstance(a, np.ndarray) and not np.array_equal(a, c, equal_nan=True):
            raise AssertionError(f"{name} modified its argument #{i + 1} in place; work on a copy.")
    return result


def check_normalize_1d(normalize):
    """Lesson 1: ``normalize(x, gamma, beta, eps=1e-3)`` for a 1-D batch."""
    rng = np.random.default_rng(101)
    cases = [
        (np.array([1.0, 5.0]), 1.0, 0.0, {}, "a batch of two"),
        (rng.normal(3, 2, 7), 1.7, -0.4, {}, "a random batch"),
        (np.full(6, -2.5), 2.0, 0.3, {}, "a constant batch"),
        (rng.normal(0, 0.01, 9), 1.0, 0.0, {}, "a low-variance batch"),
        (rng.normal(0, 1, 5), 0.5, 2.0, {"eps": 0.25}, "eps=0.25"),
        (rng.normal(1e4, 1.0, 8), 1.0, 0.0, {"eps": 1e-5}, "a large mean offset"),
    ]
    for x, g, b, kw, label in cases:
        got = _arr("normalize", call_pure(normalize, "normalize", x, g, b, **kw))
        want, _ = ref.batchnorm_forward(x[:, None], np.array([g]), np.array([b]), **kw)
        if got.shape != x.shape:
            raise AssertionError(f"normalize returned shape {got.shape} for a batch of shape {x.shape} ({label}).")
        if not np.allclose(got, want[:, 0], rtol=1e-6, atol=1e-6):
            raise AssertionError(f"normalize is wrong on {label}. " + _diagnose_1d(normalize, x, g, b, kw, got))


def _diagnose_1d(normalize, x, g, b, kw, got):
    eps = kw.get("eps", 1e-3)
    mean, n = x.mean(), len(x)
    var = ((x - mean) ** 2).mean()
    variants = [
        (g * (x - mean) / np.sqrt(var * n / (n - 1) + eps) + b, "It divides the variance by N-1; use N."),
        (g * (x - mean) / (np.sqrt(var) + eps) + b, "Epsilon is added outside the square root."),
        (g * (x - mean) / np.sqrt(var + 1e-3) + b, "It ignores the eps argument."),
        (b * (x - mean) / np.sqrt(var + eps) + g, "gamma and beta are swapped."),
    ]
    for want, hint in variants:
        if got.shape == want.shape and np.allclose(got, want, rtol=1e-6, atol=1e-6):
            return hint
    return "Compare each step with the formulas."
