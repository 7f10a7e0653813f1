"""Case-table checks: run a learner function on fixed inputs, compare with literal answers.

The visible checks of lessons 2-4 and the hidden checks (``autograder/reference/bn_checks.py``)
share this machinery, so both give the same verdict and the same hint. The visible checks
read their cases from ``bncourse/expected/*.json``: fixed inputs, the literal expected output,
and the literal outputs of known-wrong variants, each with its hint. A maintainer command
(``python autograder/make_expected.py``) generates those files from the instructor reference;
``tests/test_expected.py`` proves they match it. This module holds no solution: it only
calls, compares and names mistakes.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

EXPECTED_DIR = Path(__file__).resolve().parent / "expected"

#: Marker of the fallback message used when no known mistake matches.
GENERIC = "Compare each step with the formulas"

F64 = dict(rtol=1e-7, atol=1e-9)     # float64 inputs: float64 answers
F32 = dict(rtol=1e-4, atol=1e-4)     # float32 inputs, ordinary data
F32_OFFSET = dict(rtol=1e-3, atol=1e-2)  # float32 inputs with a mean of ~1e4 (Keras itself is ~1e-3 off)
F32_GRAD = dict(rtol=1e-3, atol=1e-4)    # float32 gradients
LOOSE = dict(rtol=1e-5, atol=1e-7)   # "matches a known wrong variant"
TOLERANCES = {"F64": F64, "F32": F32, "F32_OFFSET": F32_OFFSET, "F32_GRAD": F32_GRAD}

ONE_PASS = ("It works on ordinary inputs but not on float32 inputs with a large mean: a one-pass variance"
            " E[x^2] - E[x]^2 loses all precision there (catastrophic cancellation / one-pass variance"
            " instability). Compute it in two passes, mean((x - mean)**2), as Keras does.")


def invoke(fn, name, args, kwargs=None, argnames=(), label=""):
    """Call a learner function; turn crashes and in-place mutation into named failures."""
    kwargs = kwargs or {}
    copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    where = f" on {label}" if label else ""
    try:
        with np.errstate(all="ignore"):
            result = fn(*args, **kwargs)
    except NotImplementedError:
        raise AssertionError(f"{name} is not implemented yet.") from None
    except AssertionError:
        raise
    except Exception as e:  # noqa: BLE001 - any crash becomes feedback
        hint = ""
        if "broadcast" in str(e) or "shape" in str(e):
            hint = (" The shapes do not line up: check the axis the statistics are taken over"
                    " and that they keep one entry per feature/channel.")
        raise AssertionError(f"{name} raised {type(e).__name__}{where}: {e}.{hint}") from None
    for i, (a, c) in enumerate(zip(args, copies)):
        if isinstance(a, np.ndarray) and not np.array_equal(a, c, equal_nan=True):
            arg = argnames[i] if i < len(argnames) else f"argument #{i + 1}"
            raise AssertionError(
                f"{name} modified its input {arg} in place{where} (in-place mutation, e.g. `{arg} -= ...`"
                f" or `{arg} *= ...`). The caller's arrays must stay unchanged: build new arrays instead."
            )
    return result


def unpack(result, name, n, what):
    """``result`` as a tuple of ``n`` values, or a failure that says what was returned."""
    if isinstance(result, dict):
        raise AssertionError(f"{name} should return a tuple {what}; it returned a dict. Return the values"
                             f" themselves, `return {what.strip('()')}`, not a dict of them.")
    if not isinstance(result, (tuple, list)) or len(result) != n:
        got = f"a {type(result).__name__}" + (f" of length {len(result)}" if isinstance(result, (tuple, list)) else "")
        raise AssertionError(f"{name} should return a tuple {what}; it returned {got}.")
    return tuple(result)


def as_float(name, value, in_dtype, label):
    """Learner output as a float64 array; float64 inputs must give float64 answers."""
    if callable(value):
        raise AssertionError(f"{name} is a function, not numbers: did you forget to call something?")
    try:
        arr = np.asarray(value)
        out = arr.astype(np.float64)
    except (TypeError, ValueError):
        raise AssertionError(f"{name} should be numbers, got {type(value).__name__}.") from None
    if np.dtype(in_dtype) == np.float64 and arr.dtype.kind == "f" and arr.dtype.itemsize < 8:
        raise AssertionError(
            f"{name} is {arr.dtype} for float64 inputs ({label}): keep float64, do not cast to a lower precision."
        )
    return out


def _scale(want):
    want = np.asarray(want, dtype=np.float64)
    return max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0


def close(got, want, tol):
    """``got`` matches ``want`` within ``tol`` (atol scaled by the size of ``want``)."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return False
    with np.errstate(all="ignore"):
        return bool(np.allclose(got, want, rtol=tol["rtol"], atol=tol["atol"] * _scale(want), equal_nan=True))


def first_match(got, variants, tol=LOOSE):
    """Hint of the first known-wrong variant that ``got`` matches (a variant is a value or a maker)."""
    for make, hint in variants:
        try:
            with np.errstate(all="ignore"):
                wrong = make() if callable(make) else make
        except Exception:  # noqa: BLE001, S112 - a variant that does not apply to this input
            continue
        if wrong is not None and close(got, wrong, tol):
            return hint
    return None


def shape_check(name, got, shape, label, extra=""):
    """Fail with a layout hint when ``got`` does not have ``shape``."""
    if got.shape != tuple(shape):
        msg = f"{name} has shape {got.shape} on {label}; it should have shape {tuple(shape)}."
        if got.size == int(np.prod(shape)):
            msg += " It has the right number of entries: check the reshape order/layout."
        raise AssertionError(msg + extra)


def nonfinite_hint(got, want):
    """A hint for NaN/inf where the answer is finite, else None."""
    if not np.all(np.isfinite(got)) and np.all(np.isfinite(want)):
        return ("It produces NaN or inf: a feature with zero variance divides by zero. Add epsilon to the"
                " variance inside the square root: sqrt(var + eps).")
    return None


def rounded_hint(got, want):
    """A hint for an answer that is right to about float32 precision only, else None."""
    if close(got, want, dict(rtol=1e-4, atol=1e-5)):
        return ("It is close but not exact (about float32 precision): for float64 inputs compute in float64,"
                " without float32 casts or rounded constants.")
    return None


# --------------------------------------------------------------------------- literal case tables

def encode(value):
    """JSON-ready form of a value: arrays keep their dtype, tuples stay lists of values."""
    if isinstance(value, np.ndarray):
        return {"dtype": str(value.dtype), "data": value.tolist()}
    if isinstance(value, (tuple, list)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


def decode(value):
    """Inverse of :func:`encode`."""
    if isinstance(value, dict) and set(value) == {"dtype", "data"}:
        return np.array(value["data"], dtype=value["dtype"])
    if isinstance(value, list):
        return [decode(v) for v in value]
    if isinstance(value, dict):
        return {k: decode(v) for k, v in value.items()}
    return value


@lru_cache(maxsize=None)
def _load(table):
    return json.loads((EXPECTED_DIR / f"{table}.json").read_text())


def cases(table, check):
    """The decoded cases of ``check`` in ``bncourse/expected/<table>.json`` (a fresh copy each call)."""
    return decode(_load(table)[check])


def diagnose(name, label, got, want, wrong, tol, fallback):
    """Failure message for ``got`` != ``want``: the first matching known-wrong literal, else a fallback."""
    hint = first_match(got, [(np.asarray(w, np.float64), h) for h, w in wrong],
                       LOOSE if tol is F64 else F32)
    if hint is None and tol is F32_OFFSET:
        hint = ONE_PASS
    return f"{name} is wrong on {label}. " + (
        hint or nonfinite_hint(got, want) or rounded_hint(got, want) or f"{GENERIC}: {fallback}")


def _tol(case):
    return TOLERANCES[case["tol"]]


def run_outputs(fn, name, cases_, argnames, *, returns=None, shape_extra=""):
    """Run ``fn`` on every case; compare its output(s) with the literal expected value(s).

    ``returns`` names the values of a returned tuple: ``("out", "cache")`` compares ``out``
    only; ``("moving_mean", "moving_var")`` compares both, and a known-wrong variant then
    has to match both. ``None``: ``fn`` returns the output itself. Each case is a dict with
    ``label``, ``args``, ``kwargs``, ``tol`` (a key of :data:`TOLERANCES`), ``expected``,
    ``wrong`` (``[hint, value]`` pairs) and ``fallback`` (the generic hint's tail).
    """
    compared = returns[:1] if returns and returns[1] == "cache" else (returns or ("output",))
    for case in cases_:
        label, tol, args = case["label"], _tol(case), case["args"]
        res = invoke(fn, name, args, case["kwargs"], argnames, label)
        if returns:
            res = unpack(res, name, len(returns), f"({', '.join(returns)})")[:len(compared)]
        else:
            res = (res,)
        want = case["expected"] if len(compared) > 1 else [case["expected"]]
        in_dtype = np.asarray(args[0]).dtype
        got = [as_float(f"{name} {k}", g, in_dtype, label) for k, g in zip(compared, res)]
        for k, g, w in zip(compared, got, want):
            shape_check(f"{name} {k}", g, np.shape(w), label, shape_extra)
        if all(close(g, w, tol) for g, w in zip(got, want)):
            continue
        if len(compared) == 1:
            raise AssertionError(diagnose(name if returns is None else f"{name}", label, got[0], want[0],
                                          case["wrong"], tol, case["fallback"]))
        hint = next((h for h, wv in case["wrong"]
                     if all(close(g, np.broadcast_to(np.asarray(w, np.float64), g.shape), LOOSE)
                            for g, w in zip(got, wv))), None)
        raise AssertionError(f"{name} is wrong on {label}. " + (hint or f"{GENERIC}: {case['fallback']}"))


def run_backward(bwd, fwd, name, fwd_name, cases_, what="feature"):
    """Backward checks: caches come from the learner's ``fwd``; dx, dgamma, dbeta are compared
    with literal gradients, each with its own known-wrong variants; a second call must agree."""
    sums = "N, H and W" if what == "channel" else "the batch (axis=0)"
    for case in cases_:
        label, tol = case["label"], _tol(case)
        x = case["args"][0]
        res = invoke(fwd, fwd_name, case["args"], case["kwargs"], ("x", "gamma", "beta"), label)
        out, cache = unpack(res, fwd_name, 2, "(out, cache)")
        if not close(as_float(f"{fwd_name} output", out, x.dtype, label), case["expected_out"], tol):
            raise AssertionError(
                f"The {fwd_name} used to build the caches is wrong on {label}, so {name} cannot be checked."
                f" Fix {fwd_name} first (its own check names the mistake).")
        dout = case["dout"]
        got = unpack(invoke(bwd, name, (dout, cache), {}, ("dout",), label), name, 3, "(dx, dgamma, dbeta)")
        got = [as_float(f"{name} {k}", v, x.dtype, label) for k, v in zip(("dx", "dgamma", "dbeta"), got)]
        shape_check(f"{name} dx", got[0], x.shape, label)
        for k, v in zip(("dgamma", "dbeta"), got[1:]):
            shape_check(f"{name} {k}", v, (x.shape[-1],), label,
                        f" One entry per {what}: sum over {sums}, without keepdims.")
        ok = [close(g, w, tol) for g, w in zip(got, case["expected"])]
        if not all(ok):
            tl = LOOSE if tol is F64 else tol
            hints = []
            for k, okk, g, w, wrong in zip(("dx", "dgamma", "dbeta"), ok, got, case["expected"], case["wrong"]):
                if not okk:
                    hints.append(first_match(g, [(np.asarray(v, np.float64), h) for h, v in wrong], tl)
                                 or nonfinite_hint(g, w) or rounded_hint(g, w) or f"{k} is wrong ({GENERIC}).")
            right = [k for k, okk in zip(("dx", "dgamma", "dbeta"), ok) if okk]
            tail = f" ({', '.join(right)} {'is' if len(right) == 1 else 'are'} right.)" if right else ""
            raise AssertionError(f"{name} is wrong on {label}. " + " ".join(dict.fromkeys(hints)) + tail)
        again = unpack(invoke(bwd, name, (dout, cache), {}, ("dout",), label), name, 3, "(dx, dgamma, dbeta)")
        if not all(np.array_equal(np.asarray(a, np.float64), g, equal_nan=True) for a, g in zip(again, got)):
            raise AssertionError(
                f"{name} gives a different result when called twice with the same cache ({label}): it modifies"
                " the cache in place (in-place mutation). Work on new arrays, not on the cached ones.")
