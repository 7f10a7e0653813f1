"""Case-table checks: run a learner function on fixed inputs, compare with literal answers.

The visible checks of lessons 2-4 and the hidden checks (the instructor reference, in ``autograder/``)
share this machinery, so both give the same verdict and the same hint. The visible checks
read their cases from ``bncourse/expected/*.json``: fixed inputs, the literal expected output,
and the literal outputs of known-wrong variants, each with its hint. A maintainer command
(``bngrader expected``) generates those files from the instructor reference;
``tests/test_expected.py`` proves they match it. This module holds no solution: it only
calls, compares and names mistakes.
"""

# ruff: noqa: B023 - the hint lambdas in loops are evaluated at once, in the iteration that made them

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


def invoke(fn, name, args, kwargs=None, argnames=(), label="", crashes=True):
    """Call a learner function; turn crashes and in-place mutation into named failures.
    ``crashes=False``: other exceptions propagate, for a caller that names them itself."""
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
        if not crashes:
            raise
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
    if isinstance(result, np.ndarray) or result is None:
        got = "None (no return statement?)" if result is None else "only an array"
        raise AssertionError(f"{name} should return a tuple {what}; it returned {got}. Return all of them:"
                             f" `return {what.strip('()')}`.")
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


def numbers(name, value, error=AssertionError):
    """``value`` as float64 numbers, or ``error`` naming what it is instead (None, a function, text).
    Shared by the visible checks (``error=CheckFailed``) and the hidden ones."""
    if value is None:
        raise error(f"{name} is None: return (or store) the result.")
    if callable(value):
        raise error(f"{name} is a function; expected numbers. Did you forget to call it?")
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise error(f"{name} should be numbers (a float or an array), got {type(value).__name__}.") from None


def matching_hint(got, variants, rtol, atol):
    """Hint of the first ``(value, hint)`` whose value has ``got``'s shape and matches it within
    ``rtol``/``atol`` (NaN matches NaN), else None."""
    for value, hint in variants:
        value = np.asarray(value, dtype=np.float64)
        if value.shape == got.shape and np.allclose(got, value, rtol=rtol, atol=atol, equal_nan=True):
            return hint
    return None


def variant_values(variants):
    """``(hint, value)`` for each known-wrong variant that applies (a variant is a value or a
    maker; a maker that raises or returns None does not apply). Lazy: makers run as asked."""
    for make, hint in variants:
        try:
            with np.errstate(all="ignore"):
                value = make() if callable(make) else make
        except Exception:  # noqa: BLE001, S112 - a variant that does not apply to this input
            continue
        if value is not None:
            yield hint, value


def first_match(got, variants, tol=LOOSE):
    """Hint of the first known-wrong variant that ``got`` matches."""
    return next((hint for hint, wrong in variant_values(variants) if close(got, wrong, tol)), None)


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


def _gradients(bwd, name, dout, cache, x, label):
    """The learner's ``(dx, dgamma, dbeta)`` for ``dout`` and ``cache``, as float64 arrays."""
    got = unpack(invoke(bwd, name, (dout, cache), {}, ("dout",), label), name, 3, "(dx, dgamma, dbeta)")
    return [as_float(f"{name} {k}", v, x.dtype, label) for k, v in zip(("dx", "dgamma", "dbeta"), got)]


def _compare_gradients(name, label, got, case, tol, x, what):
    """None when ``got`` matches the case's literal gradients, else the failure message (the first
    known-wrong variant each wrong gradient matches). Wrong shapes raise at once."""
    sums = "N, H and W" if what == "channel" else "the batch (axis=0)"
    shape_check(f"{name} dx", got[0], x.shape, label)
    for k, v in zip(("dgamma", "dbeta"), got[1:]):
        shape_check(f"{name} {k}", v, (x.shape[-1],), label,
                    f" One entry per {what}: sum over {sums}, without keepdims.")
    ok = [close(g, w, tol) for g, w in zip(got, case["expected"])]
    if all(ok):
        return None
    tl = LOOSE if tol is F64 else tol
    hints = []
    for k, okk, g, w, wrong in zip(("dx", "dgamma", "dbeta"), ok, got, case["expected"], case["wrong"]):
        if not okk:
            hints.append(first_match(g, [(np.asarray(v, np.float64), h) for h, v in wrong], tl)
                         or nonfinite_hint(g, w) or rounded_hint(g, w) or f"{k} is wrong ({GENERIC}).")
    right = [k for k, okk in zip(("dx", "dgamma", "dbeta"), ok) if okk]
    tail = f" ({', '.join(right)} {'is' if len(right) == 1 else 'are'} right.)" if right else ""
    return f"{name} is wrong on {label}. " + " ".join(dict.fromkeys(hints)) + tail


def _same_twice(bwd, name, dout, cache, got, label):
    again = unpack(invoke(bwd, name, (dout, cache), {}, ("dout",), label), name, 3, "(dx, dgamma, dbeta)")
    if not all(np.array_equal(np.asarray(a, np.float64), g, equal_nan=True) for a, g in zip(again, got)):
        raise AssertionError(
            f"{name} gives a different result when called twice with the same cache ({label}): it modifies"
            " the cache in place (in-place mutation). Work on new arrays, not on the cached ones.")


def _own_cache(fwd, fwd_name, case, label, tol):
    """``(cache, None)`` from the learner's forward when its output is right on ``case``,
    else ``(None, why)``."""
    x = case["args"][0]
    try:
        res = invoke(fwd, fwd_name, case["args"], case["kwargs"], ("x", "gamma", "beta"), label)
        out, cache = unpack(res, fwd_name, 2, "(out, cache)")
        out = as_float(f"{fwd_name} output", out, x.dtype, label)
    except AssertionError as e:
        return None, str(e)
    if not close(out, case["expected_out"], tol):
        return None, f"{fwd_name} is wrong on {label}"
    return cache, None


def own_forward_gradients(bwd, fwd, name, fwd_name, what="feature", seed=2024):
    """``[(gradient name, learner's gradient, numeric gradient), ...]`` for a small float64 case:
    the learner's backward on the cache of the learner's own forward, against centred differences
    of that same forward. Raises AssertionError when either cannot be called as specified."""
    from bncourse.gradcheck import numeric_gradient

    rng = np.random.default_rng(seed)
    shape = (2, 2, 3, 3) if what == "channel" else (5, 3)
    x = rng.normal(0.5, 1.5, size=shape)
    gamma, beta = np.array([1.3, -0.7, 2.0]), np.array([0.1, 0.0, -0.4])
    dout = rng.normal(size=shape)
    label = f"a small random x of shape {shape}"

    def forward(*args):
        res = invoke(fwd, fwd_name, args, {}, ("x", "gamma", "beta"), label)
        return unpack(res, fwd_name, 2, "(out, cache)")

    got = _gradients(bwd, name, dout, forward(x, gamma, beta)[1], x, label)
    result = []
    for k, g, arg in zip(("dx", "dgamma", "dbeta"), got, range(3)):
        args = [x, gamma, beta]

        def f(v, arg=arg, args=args):
            return as_float(f"{fwd_name} output", forward(*[v if i == arg else a for i, a in enumerate(args)])[0],
                            np.float64, label)
        result.append((k, g, numeric_gradient(f, args[arg].copy(), dout)))
    return result


def _matches_own_forward(bwd, fwd, name, fwd_name, what):
    """None when the learner's backward is the gradient of the learner's own forward (and that
    forward normalizes: shifting a whole feature/channel changes nothing, so dx sums to zero
    over it), else the reason it is not."""
    try:
        grads = own_forward_gradients(bwd, fwd, name, fwd_name, what)
    except AssertionError as e:
        return str(e)
    for k, g, num in grads:
        if g.shape != num.shape or not np.allclose(g, num, rtol=1e-5, atol=1e-7):
            return f"its {k} disagrees with a centred-difference numeric gradient of your {fwd_name}"
    dx = grads[0][1]
    axes = tuple(range(dx.ndim - 1))
    if not np.allclose(dx.sum(axis=axes), 0.0, atol=1e-6 * max(1.0, float(np.abs(dx).max()))):
        return f"your {fwd_name} does not subtract the batch mean, so it is not a batch norm to differentiate"
    return None


def run_backward(bwd, fwd, name, fwd_name, cases_, what="feature"):
    """Backward checks: caches come from the learner's ``fwd``; dx, dgamma, dbeta are compared
    with literal gradients, each with its own known-wrong variants; a second call must agree.

    Error carried forward: when ``fwd`` is wrong (or crashes, or returns no cache), the backward
    is graded for what it adds. It passes when, given the cache the notebook's given
    ``batchnorm_forward`` makes (``case["given_cache"]``, a literal), it returns the literal
    gradients, or when it is the gradient (numerically) of the learner's own forward.

    Returns True when ``fwd`` was right on every case, False when the backward was graded on its own.
    """
    own = []
    for case in cases_:
        cache, problem = _own_cache(fwd, fwd_name, case, case["label"], _tol(case))
        if problem is not None:
            _carried_forward(bwd, fwd, name, fwd_name, cases_, what)
            return False
        own.append(cache)
    for case, cache in zip(cases_, own):
        label, tol, x = case["label"], _tol(case), case["args"][0]
        got = _gradients(bwd, name, case["dout"], cache, x, label)
        msg = _compare_gradients(name, label, got, case, tol, x, what)
        if msg:
            raise AssertionError(msg)
        _same_twice(bwd, name, case["dout"], cache, got, label)
    return True


def _carried_forward(bwd, fwd, name, fwd_name, cases_, what):
    failure = None
    for case in cases_:
        label, tol, x = case["label"], _tol(case), case["args"][0]
        cache = case["given_cache"]
        try:
            got = _gradients(bwd, name, case["dout"], cache, x, label)
            failure = _compare_gradients(name, label, got, case, tol, x, what)
        except AssertionError as e:
            failure = str(e)
        if failure:
            break
        _same_twice(bwd, name, case["dout"], cache, got, label)
    if failure is None:
        return
    if "not implemented yet" in failure:
        raise AssertionError(failure)
    why = _matches_own_forward(bwd, fwd, name, fwd_name, what)
    if why is None:
        return
    named = GENERIC not in failure and " raised " not in failure and "should return" not in failure
    context = (f" (Graded on its own, as your {fwd_name} is wrong (see its check): with the cache the given"
               f" batchnorm_forward makes for x.reshape(-1, C), and against a numeric gradient of your {fwd_name}.)")
    if named:
        raise AssertionError(failure + context)
    raise AssertionError(f"{name} is wrong: {why}; and with the cache the given batchnorm_forward makes:"
                         f" {failure}{context}")


# --------------------------------------------------------------------------- lesson 1, carried forward

#: Lesson 1 variables computed from earlier ones: a mistake upstream is graded once, upstream.
BUILDS_ON = {"x_hat": ("batch_mean", "batch_var"), "y": ("x_hat",)}


def _exact(a, b):
    try:
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    except (TypeError, ValueError):
        return False
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-9, atol=1e-12))


def carried_forward_value(name, value, uses, right, given):
    """Error carried forward in lesson 1: when a variable that ``name`` builds on (``uses``, the
    learner's own values) is wrong, ``value`` passes if it is what the lesson's step makes of those
    wrong values. Checked by inverting the step (x_hat * sqrt(batch_var + eps) + batch_mean gives
    back X; (y - beta) / gamma gives back x_hat). Returns a line to print, or None (not carried)."""
    wrong = [k for k in BUILDS_ON.get(name, ()) if k in uses and not _exact(uses[k], right[k])]
    if not wrong or not all(k in uses for k in BUILDS_ON[name]):
        return None
    try:
        got = np.asarray(value, np.float64)
        with np.errstate(all="ignore"):
            if name == "x_hat":
                back = got * np.sqrt(np.asarray(uses["batch_var"], np.float64) + given["eps"]) \
                    + np.asarray(uses["batch_mean"], np.float64)
                ok = _exact(back, given["X"])
            else:
                ok = _exact((got - given["beta"]) / given["gamma"], uses["x_hat"])
    except (TypeError, ValueError):
        return None
    if not ok:
        return None
    return (f"✓ {name} is right for your {' and '.join(wrong)}, which {'is' if len(wrong) == 1 else 'are'} not"
            " (the check above names the mistake): it is graded for this step only.")


# --------------------------------------------------------------------------- the BatchNorm layer

LAYER_ATTRS = ("gamma", "beta", "moving_mean", "moving_variance", "momentum", "epsilon")


def _layer_attr(layer, a, name="BatchNorm"):
    if not hasattr(layer, a):
        raise AssertionError(f"{name} has no attribute `{a}`. Use the Keras names: " + ", ".join(LAYER_ATTRS) + ".")
    return getattr(layer, a)


def _weights(layer, label, names=("moving_mean", "moving_variance"), d=4):
    got = []
    for a in names:
        v = np.asarray(_layer_attr(layer, a))
        if v.dtype.kind == "f" and v.dtype.itemsize < 8:
            raise AssertionError(f"BatchNorm.{a} is {v.dtype} ({label}): keep the layer's weights float64, as"
                                 " np.ones(D) and np.zeros(D) make them. (Keras works in float32; this NumPy"
                                 " layer works in float64, so its results keep float64 precision.)")
        v = as_float(f"BatchNorm.{a}", v, np.float64, label)
        shape_check(f"BatchNorm.{a}", v, (d,), label, " One entry per feature.")
        got.append(v)
    return got


def _batch_stats(cache, x):
    """The batch mean and variance the layer should blend in: the learner's cache, else x's moments."""
    if isinstance(cache, dict) and "mean" in cache and "var" in cache:
        return np.asarray(cache["mean"], np.float64), np.asarray(cache["var"], np.float64)
    return x.mean(axis=0), x.var(axis=0)


class _LayerProbe:
    """What check_layer runs the learner's ``BatchNorm`` through, with the learner's own three
    functions as the expected behaviour (error carried forward)."""

    name = "BatchNorm"

    def __init__(self, BatchNorm, batchnorm_forward, update_moving_stats, batchnorm_inference):
        self.cls, self.forward, self.update, self.inference = (BatchNorm, batchnorm_forward, update_moving_stats,
                                                              batchnorm_inference)

    def make(self, *args, **kw):
        call = f"BatchNorm({', '.join([repr(a) for a in args] + [f'{k}={v!r}' for k, v in kw.items()])})"
        try:
            return self.cls(*args, **kw)
        except NotImplementedError:
            raise AssertionError(f"{self.name} is not implemented yet.") from None
        except Exception as e:  # noqa: BLE001
            raise AssertionError(f"{call} raised {type(e).__name__}: {e}.") from None

    def helper(self, fn, fname, *args):
        try:
            with np.errstate(all="ignore"):
                return fn(*args)
        except Exception as e:  # noqa: BLE001
            raise AssertionError(f"{self.name} builds on your {fname}, which raised {type(e).__name__}: {e}."
                                 f" Fix {fname} first (its own check names the mistake).") from None

    def fwd(self, x, g, b, e):
        return unpack(self.helper(self.forward, "batchnorm_forward", x, g, b, e), "batchnorm_forward", 2,
                      "(out, cache)")

    def inf(self, x, g, b, mm, mv, e):
        return np.asarray(self.helper(self.inference, "batchnorm_inference", x, g, b, mm, mv, e), np.float64)

    def upd(self, mm, mv, bm, bv, mom):
        res = unpack(self.helper(self.update, "update_moving_stats", mm, mv, bm, bv, mom),
                     "update_moving_stats", 2, "(moving_mean, moving_var)")
        return tuple(np.asarray(r, np.float64) for r in res)

    def call(self, layer, x, label, **kw):
        return as_float(f"{self.name} output", invoke(layer, self.name, (x,), kw, ("x",), label), x.dtype, label)

    def defaults(self):
        """A new layer starts as Keras's does: gamma 1, beta 0, moving statistics 0 and 1, momentum
        0.99, epsilon 1e-3; the constructor's arguments are stored."""
        name, layer = self.name, self.make(3)
        inits = (("gamma", np.ones(3), "ones"), ("beta", np.zeros(3), "zeros"),
                 ("moving_mean", np.zeros(3), "zeros"), ("moving_variance", np.ones(3), "ones"))
        for (a, want, init), v in zip(inits, _weights(layer, "a new layer", [i[0] for i in inits], 3)):
            if not np.array_equal(v, want):
                raise AssertionError(f"{name}(3).{a} should start as {init}, as in Keras.")
        for a, want in (("momentum", 0.99), ("epsilon", 1e-3)):
            if _layer_attr(layer, a) != want:
                raise AssertionError(f"{name}'s default {a} should be {want}, as in keras.layers.BatchNormalization.")

    def fresh_inference(self, layer, x0, gamma, beta, mean, var, eps):
        """An inference call on a fresh layer gives batchnorm_inference's output and changes nothing."""
        name = self.name
        out = self.call(layer, x0, "an inference call before any training", training=False)
        shape_check(f"{name} output", out, x0.shape, "an inference call")
        if not close(out, self.inf(x0, gamma, beta, mean, var, eps), F64):
            hint = first_match(out, [
                (lambda: self.fwd(x0, gamma, beta, eps)[0],
                 "With training=False it uses the batch statistics (batch statistics at inference): use the moving ones."),
                (lambda: self.inf(x0, gamma, beta, mean, var, 1e-3), "It ignores self.epsilon (a hard-coded epsilon)."),
                (lambda: self.inf(x0, beta, gamma, mean, var, eps), "gamma and beta are swapped."),
            ]) or (f"{GENERIC}: with training=False, the output is your batchnorm_inference with self.gamma,"
                   " self.beta, self.moving_mean, self.moving_variance and self.epsilon.")
            raise AssertionError(f"{name} is wrong at inference (training=False) on a fresh layer. {hint}")
        if not all(np.array_equal(a, b) for a, b in zip(_weights(layer, "an inference call"), (mean, var))):
            raise AssertionError(f"{name} changed the moving statistics with training=False: only training calls "
                                 "update them.")

    def training_call(self, layer, x, label, gamma, beta, mean, var, m, eps):
        """A training call gives batchnorm_forward's output and blends the batch statistics into the
        moving ones with update_moving_stats; returns the new moving statistics."""
        name = self.name
        out = self.call(layer, x, label, training=True)
        want, cache = self.fwd(x, gamma, beta, eps)
        bm, bv = _batch_stats(cache, x)
        if not close(out, want, F64):
            hint = first_match(out, [
                (lambda: self.inf(x, gamma, beta, mean, var, eps),
                 "With training=True it uses the moving statistics: training normalizes with the batch statistics."),
                (lambda: self.inf(x, gamma, beta, *self.upd(mean, var, bm, bv, m), eps),
                 "With training=True it normalizes with the updated moving statistics: use the batch statistics."),
                (lambda: self.fwd(x, gamma, beta, 1e-3)[0], "It ignores self.epsilon (a hard-coded epsilon)."),
                (lambda: self.fwd(x, beta, gamma, eps)[0], "gamma and beta are swapped."),
                (lambda: self.fwd(x, np.ones(4), np.zeros(4), eps)[0], "It ignores self.gamma and self.beta."),
            ]) or f"{GENERIC}: a training call returns your batchnorm_forward's output."
            raise AssertionError(f"{name} output is wrong on {label}. {hint}")
        new = self.upd(mean, var, bm, bv, m)
        got = _weights(layer, label)
        if not (close(got[0], new[0], F64) and close(got[1], new[1], F64)):
            n = x.shape[0]
            cands = [
                (lambda: self.upd(mean, var, bm, bv, 1 - m),
                 "It uses the PyTorch momentum direction: in Keras moving = momentum * moving + (1 - momentum) * batch."),
                (lambda: (new[0], self.upd(mean, var, bm, bv * n / (n - 1), m)[1]),
                 "moving_variance uses the unbiased (N-1) batch variance as PyTorch does; Keras stores the biased one."),
                (lambda: (mean, var), "The moving statistics are not updated by a training call."),
                (lambda: (bm, bv), "The moving statistics are replaced by the batch statistics instead of blended."),
                (lambda: self.upd(mean, var, bm, bv, 0.99), "It ignores self.momentum (a hard-coded momentum of 0.99)."),
            ]
            hint = next((h for make_, h in cands if all(close(g, w, LOOSE) for g, w in zip(got, make_()))), None)
            raise AssertionError(f"{name}'s moving statistics are wrong after {label}. " + (
                hint or f"{GENERIC}: blend the batch mean and variance into the moving ones with your"
                " update_moving_stats and self.momentum."))
        return new

    def trained_inference(self, layer, x, gamma, beta, mean, var, eps):
        """After training, inference calls (training=False, or no argument) use the moving statistics."""
        name = self.name
        for kw, label in (({"training": False}, "training=False"), ({}, "a call without the training argument")):
            out = self.call(layer, x, label, **kw)
            if not close(out, self.inf(x, gamma, beta, mean, var, eps), F64):
                hint = first_match(out, [
                    (lambda: self.fwd(x, gamma, beta, eps)[0],
                     "It uses the batch statistics (batch statistics at inference): use moving_mean and moving_variance."),
                ]) or f"{GENERIC}: an inference call returns your batchnorm_inference with the layer's attributes."
                if not kw:
                    hint += " The training argument must default to False, as in Keras."
                raise AssertionError(f"{name} is wrong after training, on {label}. {hint}")
            got = _weights(layer, label)
            if not (close(got[0], mean, F64) and close(got[1], var, F64)):
                raise AssertionError(f"{name} updated the moving statistics on {label}: only training calls update them.")


def check_layer(BatchNorm, batchnorm_forward, update_moving_stats, batchnorm_inference):
    """The NumPy ``BatchNorm`` layer, graded for what it adds to the three functions it builds on
    (error carried forward): a training call must give ``batchnorm_forward``'s output and blend the
    batch statistics into the moving ones with ``update_moving_stats``; an inference call (the
    default) must give ``batchnorm_inference``'s output and change nothing. The three functions
    passed in are the learner's own, so a mistake in one of them is graded once, in its own check."""
    probe = _LayerProbe(BatchNorm, batchnorm_forward, update_moving_stats, batchnorm_inference)
    probe.defaults()
    m, eps = 0.9, 0.01
    layer = probe.make(4, momentum=m, epsilon=eps)
    for a, want in (("momentum", m), ("epsilon", eps)):
        if _layer_attr(layer, a) != want:
            raise AssertionError(f"BatchNorm(4, momentum={m}, epsilon={eps}).{a} should be {want}: store the argument.")
    rng = np.random.default_rng(808)
    gamma, beta = np.array([1.5, 0.5, -1.0, 2.0]), np.array([0.2, -0.3, 1.0, 0.0])
    layer.gamma, layer.beta = gamma.copy(), beta.copy()
    mean, var = np.zeros(4), np.ones(4)
    probe.fresh_inference(layer, rng.normal(2.0, 3.0, size=(5, 4)), gamma, beta, mean, var, eps)
    for k in range(3):
        x = rng.normal(rng.normal(0, 3, 4), np.geomspace(0.1, 5.0, 4), size=(6 + k, 4))
        mean, var = probe.training_call(layer, x, f"training call {k + 1} of 3", gamma, beta, mean, var, m, eps)
    probe.trained_inference(layer, rng.normal(-1.0, 2.0, size=(3, 4)), gamma, beta, mean, var, eps)
