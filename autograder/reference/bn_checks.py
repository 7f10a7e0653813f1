"""Checks that hidden tests call. Instructor-only: never released to learners.

Each ``check_*`` function exercises a learner function on inputs chosen to expose
real mistakes and compares it with :mod:`bn_reference`. A failure raises
``AssertionError`` with a message that names the likely mistake, without
printing reference code or reference values.
"""

from __future__ import annotations

import numpy as np

import bn_reference as ref

# The machinery (calling, comparing, generic hints) is shared with the visible checks.
from bncourse.casecheck import (  # noqa: F401
    F32,
    F32_OFFSET,
    F64,
    GENERIC,
    LOOSE,
    ONE_PASS,
    TOLERANCES,
    carried_forward_value,
    check_layer,
    matching_hint,
    numbers,
    run_backward,
    run_outputs,
    variant_values,
)
from bncourse.casecheck import as_float as _float
from bncourse.casecheck import close as _close
from bncourse.casecheck import invoke as _invoke
from bncourse.casecheck import unpack as _unpack

EXACT = dict(rtol=1e-9, atol=1e-12)  # as tight as the visible checks (bncourse.checks.expect_close)


def _arr(name, value):
    return numbers(name, value)


def assert_exact(name, value, expected, *, rtol=EXACT["rtol"], atol=EXACT["atol"]):
    """``value`` equals ``expected`` to ~1e-9 relative; the message never shows ``expected``."""
    got, want = _arr(name, value), np.asarray(expected, dtype=np.float64)
    if got.shape != want.shape:
        raise AssertionError(f"{name} has shape {got.shape}; the expected shape is {want.shape}.")
    if not np.allclose(got, want, rtol=rtol, atol=atol):
        near = np.allclose(got, want, rtol=1e-3, atol=1e-6)
        if near and np.asarray(value).dtype == np.float32:
            why = " It is close: it was computed in float32; use float64."
        else:
            why = " It is close: was it rounded?" if near else ""
        raise AssertionError(f"{name} is not exact (tolerance {rtol:g} relative).{why}")


def call_pure(fn, name, *args, **kwargs):
    """Call a learner function; fail if it mutates an array argument. Its own exceptions propagate
    (the Keras checks name them, e.g. a crash on ``dense_bias=None``)."""
    return _invoke(fn, name, args, kwargs, crashes=False)


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
            raise AssertionError(f"normalize is wrong on {label}. " + _diagnose_1d(x, g, b, kw, got))


def _normalize_variants(x, g, b, eps):
    """Known-wrong versions of lesson 1's ``normalize`` (lazy makers, hints), shared by the hidden
    check and the visible check's literal table."""
    x = np.asarray(x, dtype=np.float64)
    mean, n = x.mean(), len(x)
    var = ((x - mean) ** 2).mean()
    v = [
        (lambda: g * (x - mean) / np.sqrt(var * n / (n - 1) + eps) + b, "It divides the variance by N-1; use N."),
        (lambda: g * (x - mean) / (np.sqrt(var) + eps) + b,
         "Epsilon is added outside the square root; it belongs inside: sqrt(var + eps)."),
        (lambda: b * (x - mean) / np.sqrt(var + eps) + g, "gamma and beta are swapped."),
    ]
    if eps != 1e-3:
        v.insert(2, (lambda: g * (x - mean) / np.sqrt(var + 1e-3) + b,
                     "It ignores the eps argument (a hard-coded 1e-3): use the eps passed in."))
    return v


def _diagnose_1d(x, g, b, kw, got):
    variants = [(value, hint) for hint, value in variant_values(_normalize_variants(x, g, b, kw.get("eps", 1e-3)))]
    return matching_hint(got, variants, rtol=1e-6, atol=1e-6) or "Compare each step with the formulas."


def normalize_table():
    """Lesson 1, Exercise 7: literal cases of ``normalize`` for the visible check."""
    x0 = np.array([1.0, 2.0, 3.0, 6.0])   # the lesson's X[:, 0]
    rng = np.random.default_rng(107)
    cases = [
        (x0, 2.0, 1.0, {}, "X[:, 0] with gamma=2, beta=1"),
        (np.full(5, 7.0), 1.5, 0.25, {}, "a constant batch"),
        (x0, 1.0, 0.0, {"eps": 0.5}, "X[:, 0] with eps=0.5"),
        (rng.normal(3.0, 0.05, 6), -0.5, 2.0, {}, "a low-variance batch"),
        (rng.normal(-2.0, 4.0, 9), 1.2, -0.3, {"eps": 1e-5}, "a random batch with eps=1e-5"),
    ]
    return [{"label": label, "args": [x, g, b], "kwargs": kw, "tol": "F64",
             "expected": ref.batchnorm_forward(x[:, None], np.array([g]), np.array([b]), **kw)[0][:, 0],
             "wrong": _eager(_normalize_variants(x, g, b, kw.get("eps", 1e-3))),
             "fallback": "gamma * (x - mean) / sqrt(var + eps) + beta, with the biased variance."}
            for x, g, b, kw, label in cases]


# ---------------------------------------------------------------------------
# Shared machinery for the lesson 2-5 checks.
# ---------------------------------------------------------------------------

# --- known-wrong normalizations -------------------------------------------

def _bn(x, gamma, beta, eps, axes=(0,), ddof=0, mode="inside", center=True):
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=axes, keepdims=True)
    n = int(np.prod([x.shape[a] for a in axes]))
    var = ((x - mean) ** 2).sum(axis=axes, keepdims=True) / (n - ddof)
    denom = {"inside": lambda: np.sqrt(var + eps), "outside": lambda: np.sqrt(var) + eps,
             "none": lambda: np.sqrt(var), "nosqrt": lambda: var + eps,
             "std": lambda: np.sqrt(np.sqrt(var) + eps)}[mode]()
    x_hat = ((x - mean) if center else x) / denom
    return gamma * x_hat + beta


def _one_pass(x, gamma, beta, eps, axes):
    """The one-pass variance E[x^2] - E[x]^2, computed in the input's own dtype."""
    x = np.asarray(x)
    mean = x.mean(axis=axes, keepdims=True)
    var = (x ** 2).mean(axis=axes, keepdims=True) - mean ** 2
    return gamma * ((x - mean) / np.sqrt(var + x.dtype.type(eps))).astype(np.float64) + beta


def _forward_variants(x, gamma, beta, eps, axes=(0,)):
    g, b = np.asarray(gamma, dtype=np.float64), np.asarray(beta, dtype=np.float64)
    v = [
        (lambda: _bn(x, g, b, eps, axes, ddof=1),
         "It divides the variance by N-1 (ddof=1, the unbiased variance). Batch norm uses the biased"
         " variance, dividing by N, as Keras does."),
        (lambda: _bn(x, g, b, eps, axes, mode="outside"),
         "Epsilon is added outside the square root; it belongs inside: sqrt(var + eps)."),
        (lambda: _bn(x, g, b, eps, axes, mode="none"),
         "It adds no epsilon: divide by sqrt(var + eps), not sqrt(var)."),
        (lambda: _bn(x, g, b, eps, axes, mode="nosqrt"),
         "It divides by var + eps; divide by its square root sqrt(var + eps)."),
        (lambda: _bn(x, g, b, eps, axes, mode="std"),
         "It uses the standard deviation where the variance belongs: divide by sqrt(var + eps), with var the"
         " biased variance (not its square root, np.std)."),
        (lambda: _one_pass(x, g, b, eps, axes), ONE_PASS),
    ]
    for fixed in (1e-3, 1e-5, 1e-8, 0.0):
        if fixed != eps:
            v.append((lambda fixed=fixed: _bn(x, g, b, fixed, axes),
                      "It ignores the eps argument (a hard-coded epsilon): use the eps passed in."))
            v.append((lambda fixed=fixed: _bn(x, g, b, fixed, axes, mode="outside"),
                      "It ignores the eps argument (a hard-coded epsilon) and adds it outside the square root."))
    v += [
        (lambda: _bn(x, b, g, eps, axes),
         "gamma and beta are swapped: out = gamma * x_hat + beta (gamma scales, beta shifts)."),
        (lambda: _bn(x, 1.0, 0.0, eps, axes),
         "It returns x_hat without the scale and shift: out = gamma * x_hat + beta."),
        (lambda: _bn(x, 1.0, b, eps, axes), "It forgets gamma: out = gamma * x_hat + beta."),
        (lambda: _bn(x, g, 0.0, eps, axes), "It forgets beta: out = gamma * x_hat + beta."),
        (lambda: g * (_bn(x, 1.0, 0.0, eps, axes) + b), "It adds beta before scaling by gamma: out = gamma * x_hat + beta."),
        (lambda: _bn(x, g, b, eps, axes, center=False),
         "It does not subtract the mean: x_hat = (x - mean) / sqrt(var + eps)."),
    ]
    return v


def _forward_cases(rng):
    """(x, gamma, beta, kwargs, label, tol): inputs that expose the usual forward mistakes."""
    def feats(n, locs, scales):
        return rng.normal(locs, scales, size=(n, len(locs)))
    return [
        (np.array([[1.0, -2.0, 0.5], [3.0, 4.0, 2.5]]), np.array([1.5, 0.5, -1.0]), np.array([0.2, -0.3, 1.0]),
         {}, "a batch of N=2 samples", F64),
        (feats(3, [0.0, 5.0, -3.0, 10.0, 1.0], [1.0, 2.0, 0.5, 4.0, 1.0]), rng.uniform(0.5, 2.0, 5),
         rng.normal(0, 1, 5), {}, "a batch of N=3 samples, 5 features", F64),
        (feats(7, [3.0, -1.0, 100.0, 0.0], [2.0, 0.01, 50.0, 1.0]), np.array([0.7, 2.0, -1.3, 1.1]),
         np.array([0.5, -0.2, 2.0, 0.0]), {}, "features of very different scales (N=7, D=4)", F64),
        (np.column_stack([np.full(6, 2.5), rng.normal(1.0, 0.01, 6), rng.normal(0.0, 0.02, 6), rng.normal(0, 1, 6)]),
         np.array([1.2, 0.8, 1.5, 1.0]), np.array([0.3, -0.1, 0.0, 0.4]), {},
         "a constant feature and low-variance features (eps matters)", F64),
        (feats(5, [0.0, 2.0, -1.0], [0.3, 0.05, 1.0]), np.array([1.0, 2.0, 0.5]), np.array([0.0, 1.0, -1.0]),
         {"eps": 0.25}, "eps=0.25 with low-variance features", F64),
        (feats(9, [1.0, 0.0], [0.001, 0.002]), np.array([2.0, 0.5]), np.array([1.0, 0.0]),
         {"eps": 1e-6}, "eps=1e-6 with tiny variances", F64),
        (feats(16, [3.0, -2.0, 0.0], [2.0, 0.5, 1.0]).astype(np.float32), np.array([1.5, 0.7, 1.0], np.float32),
         np.array([0.1, 0.0, -0.5], np.float32), {}, "float32 inputs", F32),
    ]


def _offset_case(rng, shape):
    x = (1e4 + rng.normal(0.0, 1.0, size=shape)).astype(np.float32)
    c = shape[-1]
    return (x, np.linspace(0.5, 1.5, c).astype(np.float32), np.linspace(-0.5, 0.5, c).astype(np.float32),
            {"eps": 1e-3}, "float32 inputs with a large mean (about 1e4, std 1)", F32_OFFSET)


def _eager(variants):
    """``[hint, value]`` pairs of the variants that apply (literal values for the case tables)."""
    return [[hint, value] for hint, value in variant_values(variants)]


FORWARD_FALLBACK = "mean and biased variance per feature, eps inside the square root, then gamma * x_hat + beta."


def _forward_table(cases, want_fn, variants_fn):
    """Case table (see :func:`bncourse.casecheck.run_outputs`) of a forward-like check."""
    table = []
    for x, gamma, beta, kw, label, tol in cases:
        tol_name = next(k for k, v in TOLERANCES.items() if v is tol)
        table.append({"label": label, "args": [x, gamma, beta], "kwargs": kw, "tol": tol_name,
                      "expected": want_fn(x, gamma, beta, kw),
                      "wrong": _eager(variants_fn(x, gamma, beta, kw.get("eps", 1e-3))),
                      "fallback": FORWARD_FALLBACK})
    return table


# ---------------------------------------------------------------------------
# Lesson checks
# ---------------------------------------------------------------------------

def batchnorm_forward_table():
    """The cases of :func:`check_batchnorm_forward` with literal answers and known-wrong outputs."""
    rng = np.random.default_rng(202)
    cases = _forward_cases(rng) + [_offset_case(rng, (64, 3))]

    def want(x, g, b, kw):
        return ref.batchnorm_forward(x.astype(np.float64), g.astype(np.float64), b.astype(np.float64), **kw)[0]

    def variants(x, g, b, eps):
        return _forward_variants(x, g, b, eps) + [
            (lambda: _bn(x, g, b, eps, axes=(1,)),
             "The statistics are taken over the wrong axis: each feature's mean and variance are over the"
             " batch, axis=0."),
        ]
    return _forward_table(cases, want, variants)


def check_batchnorm_forward(batchnorm_forward):
    """Training-mode ``batchnorm_forward(x, gamma, beta, eps=1e-3) -> (out, cache)`` on (N, D) inputs."""
    run_outputs(batchnorm_forward, "batchnorm_forward", batchnorm_forward_table(), ("x", "gamma", "beta"),
                returns=("out", "cache"))


MOVING_ARGS = ("moving_mean", "moving_var", "batch_mean", "batch_var")
MOVING_RETURNS = ("moving_mean", "moving_var")


def update_moving_stats_table():
    """The cases of :func:`check_update_moving_stats` with literal answers and known-wrong outputs."""
    mm, mv = np.array([0.5, -1.0, 2.0, 0.0]), np.array([1.0, 0.5, 2.0, 1.0])
    bm, bv = np.array([1.5, 1.0, -2.0, 3.0]), np.array([4.0, 0.1, 3.0, 0.25])
    cases = [
        (mm, mv, bm, bv, {}, "one update from a known moving state (default momentum)", "F64"),
        (mm, mv, bm, bv, {"momentum": 0.9}, "momentum=0.9", "F64"),
        (mv, mm * 0 + 2.0, bv, bm ** 2, {"momentum": 0.7}, "momentum=0.7", "F64"),
        (mm.astype(np.float32), mv.astype(np.float32), bm.astype(np.float32), bv.astype(np.float32),
         {"momentum": 0.9}, "float32 inputs", "F32"),
    ]

    def variants(a, b, c, d, m):
        return [
            (lambda: (m * c + (1 - m) * a, m * d + (1 - m) * b),
             "It uses the PyTorch momentum direction (momentum weights the new batch). In Keras"
             " moving = momentum * moving + (1 - momentum) * batch, so momentum weights the OLD value."),
            (lambda: (c, d), "It returns the batch statistics: blend them into the moving statistics."),
            (lambda: (a, b), "It returns the moving statistics unchanged: blend in the batch statistics."),
            (lambda: (m * a + c, m * b + d), "It forgets the (1 - momentum) factor on the batch statistics."),
            (lambda: (m * a + (1 - m) * c, b), "It updates moving_mean but not moving_var."),
            (lambda: (a, m * b + (1 - m) * d), "It updates moving_var but not moving_mean."),
            (lambda: (m * b + (1 - m) * d, m * a + (1 - m) * c),
             "It returns (moving_var, moving_mean): the order is (moving_mean, moving_var)."),
            (lambda: (m * a + (1 - m) * d, m * b + (1 - m) * c),
             "It mixes the mean and the variance: moving_mean blends in batch_mean, moving_var blends in batch_var."),
        ] + [
            (lambda f=f: (f * a + (1 - f) * c, f * b + (1 - f) * d),
             "It ignores the momentum argument (a hard-coded momentum): use the momentum passed in.")
            for f in (0.99, 0.9, 0.1, 0.01) if f != m
        ] + [
            (lambda f=f: (f * c + (1 - f) * a, f * d + (1 - f) * b),
             "It ignores the momentum argument and uses the PyTorch direction.")
            for f in (0.1, 0.01)
        ]

    table = []
    for a, b, c, d, kw, label, tol in cases:
        f64 = [np.asarray(t, dtype=np.float64) for t in (a, b, c, d)]
        table.append({"label": label, "args": [a, b, c, d], "kwargs": kw, "tol": tol,
                      "expected": list(ref.update_moving_stats(*f64, **kw)),
                      "wrong": [[h, list(np.broadcast_arrays(*v))] for h, v in
                                _eager(variants(*f64, kw.get("momentum", 0.99)))],
                      "fallback": "moving = momentum * moving + (1 - momentum) * batch, for the mean and the variance."})
    return table


def check_update_moving_stats(update_moving_stats):
    """``update_moving_stats(moving_mean, moving_var, batch_mean, batch_var, momentum=0.99)``, Keras convention."""
    name = "update_moving_stats"
    run_outputs(update_moving_stats, name, update_moving_stats_table(), MOVING_ARGS, returns=MOVING_RETURNS)
    # k successive updates feed the returned state back in.
    rng = np.random.default_rng(303)
    state = (np.zeros(3), np.ones(3))
    want = state
    for k in range(5):
        x = rng.normal(k, 1.0 + k, size=(8, 3))
        bmk, bvk = ref.batch_moments(x)
        label = f"update {k + 1} of 5 chained updates"
        res = _invoke(update_moving_stats, name, (state[0], state[1], bmk, bvk), {"momentum": 0.9}, MOVING_ARGS, label)
        state = tuple(_float(f"{name} {k_}", g, np.float64, label)
                      for k_, g in zip(MOVING_RETURNS, _unpack(res, name, 2, "(moving_mean, moving_var)")))
        want = ref.update_moving_stats(want[0], want[1], bmk, bvk, 0.9)
    if not all(_close(g, w, F64) for g, w in zip(state, want)):
        raise AssertionError(f"{name} drifts over 5 chained updates: each call must start from the state it is given.")


INFERENCE_ARGS = ("x", "gamma", "beta", "moving_mean", "moving_var")


def batchnorm_inference_table():
    """The cases of :func:`check_batchnorm_inference` with literal answers and known-wrong outputs."""
    rng = np.random.default_rng(404)
    g, b = np.array([1.5, 0.5, -1.0, 2.0]), np.array([0.2, -0.3, 1.0, 0.0])
    mm, mv = np.array([10.0, -3.0, 0.5, 0.0]), np.array([4.0, 0.0004, 0.01, 25.0])
    x = rng.normal([0.0, 1.0, 2.0, -1.0], [1.0, 0.5, 3.0, 2.0], size=(6, 4))
    cases = [
        (x, g, b, mm, mv, {}, "a batch of 6 whose statistics differ from the moving ones", "F64"),
        (x[:2], g, b, mm, mv, {}, "a batch of N=2", "F64"),
        (x[:1], g, b, mm, mv, {}, "a single sample (N=1)", "F64"),
        (x, g, b, mm, mv, {"eps": 0.05}, "eps=0.05", "F64"),
        (x.astype(np.float32), g.astype(np.float32), b.astype(np.float32), mm.astype(np.float32),
         mv.astype(np.float32), {}, "float32 inputs", "F32"),
    ]
    table = []
    for *args, kw, label, tol in cases:
        f = [np.asarray(t, dtype=np.float64) for t in args]
        table.append({"label": label, "args": args, "kwargs": kw, "tol": tol,
                      "expected": ref.batchnorm_inference(*f, **kw),
                      "wrong": _eager(_inference_variants(*f, kw.get("eps", 1e-3))),
                      "fallback": "gamma * (x - moving_mean) / sqrt(moving_var + eps) + beta."})
    return table


def check_batchnorm_inference(batchnorm_inference):
    """``batchnorm_inference(x, gamma, beta, moving_mean, moving_var, eps=1e-3)`` uses the moving statistics."""
    run_outputs(batchnorm_inference, "batchnorm_inference", batchnorm_inference_table(), INFERENCE_ARGS)


def _inference_variants(X, G, B, M, V, eps):
    def inf(gam=G, bet=B, mean=M, var=V, e=eps, mode="inside"):
        d = {"inside": np.sqrt(var + e), "outside": np.sqrt(var) + e, "none": np.sqrt(var),
             "nosqrt": var + e}[mode]
        return gam * (X - mean) / d + bet

    return [
        (lambda: _bn(X, G, B, eps), "It uses the batch's own mean and variance (batch statistics at"
         " inference). At inference use moving_mean and moving_var."),
        (lambda: _bn(X, G, B, eps, ddof=1), "It uses the batch's own statistics; at inference use the moving ones."),
        (lambda: inf(mode="outside"), "Epsilon is added outside the square root; it belongs inside: sqrt(var + eps)."),
        (lambda: inf(mode="none"), "It adds no epsilon: divide by sqrt(moving_var + eps)."),
        (lambda: inf(mode="nosqrt"), "It divides by moving_var + eps; divide by its square root."),
        (lambda: inf(gam=B, bet=G), "gamma and beta are swapped: gamma scales, beta shifts."),
        (lambda: inf(gam=1.0, bet=0.0), "It forgets the scale and shift: out = gamma * x_hat + beta."),
        (lambda: inf(mean=V, var=M), "moving_mean and moving_var are swapped."),
        (lambda: inf(mean=0.0), "It does not subtract moving_mean."),
    ] + [(lambda fe=fe: inf(e=fe), "It ignores the eps argument (a hard-coded epsilon): use the eps passed in.")
         for fe in (1e-3, 1e-5, 0.0) if fe != eps]


# --- backward ---------------------------------------------------------------

def _grad_variants(dout, x_hat, gamma, inv_std, axes, count, x=None):
    """Known-wrong variants of dx, dgamma and dbeta: three lists of (lazy maker, hint).

    ``x`` (the input, optional) adds the "dgamma uses x instead of x_hat" variant.
    """
    def s(a):
        return a.sum(axis=axes)

    g = dout * gamma

    def dx(gg, a=1.0, b=1.0, n=count, sum_axes=axes):
        sg = gg.sum(axis=sum_axes, keepdims=True)
        sgx = (gg * x_hat).sum(axis=sum_axes, keepdims=True)
        return inv_std * (gg - a * sg / n - b * x_hat * sgx / n)
    dxv = [
        (lambda: g * inv_std, "dx ignores how x changes the batch mean and variance (a backward without the"
         " mean/variance terms): the mean and variance branches of the graph are missing, as if mu and var"
         " were constants."),
        (lambda: dx(g, b=0.0), "dx misses the path through the variance (the x_hat * sum(dx_hat * x_hat) term)."),
        (lambda: dx(g, a=0.0), "dx misses the path through the mean (the sum(dx_hat) term)."),
        (lambda: dx(dout), "dx forgets gamma (missing gamma in dx): dx_hat = dout * gamma."),
        (lambda: dx(g, b=-1.0), "dx has the wrong sign on the variance term."),
        (lambda: dx(g, b=0.5), "dx has half the variance term: check the factor 2 from d(x - mu)^2 and the -1/2 power."),
        (lambda: dx(g, b=2.0), "dx has twice the variance term: check the factors 2 and -1/2 in dvar."),
        (lambda: dx(g, b=float(count)), "dx has N times the variance term: var = mean(sq), so each row of dsq"
         " gets dvar / N; the /N is missing."),
        (lambda: dx(g, a=float(count)), "dx has N times the mean term: mu = mean(x), so each row of dx gets"
         " dmu / N from the mean branch; the /N is missing."),
        (lambda: g, "dx is dout * gamma only: it misses 1/sqrt(var + eps) and the mean/variance terms."),
        (lambda: dx(g, n=count - 1), "dx divides by N-1: the batch statistics average over N values."),
        (lambda: (lambda a: a - a.mean(axis=axes))(inv_std * (g - x_hat ** 2 * g / count)),
         "divar is missing its .sum(axis=0): ivar is one value per feature used in every row, so its gradient"
         " sums over the batch (rule 2, broadcast forward, sum backward)."),
    ]
    dgv = [
        (lambda: (dout * x_hat).mean(axis=axes), "dgamma averages over the batch; it must sum: sum(dout * x_hat)."),
        (lambda: s(dout), "dgamma is sum(dout): that is dbeta (dgamma = sum(dout * x_hat); are they swapped?)."),
        (lambda: s(dout * x_hat * gamma), "dgamma has an extra factor gamma: dgamma = sum(dout * x_hat)."),
        (lambda: s(dout * x_hat / inv_std), "dgamma uses x - mean instead of x_hat: dgamma = sum(dout * x_hat)."),
    ] + ([(lambda: s(dout * x), "dgamma uses the input x instead of the normalized x_hat:"
           " gamma multiplies x_hat in the forward pass.")] if x is not None else [])
    dbv = [
        (lambda: dout.mean(axis=axes), "dbeta averages over the batch (dbeta as a mean); it must sum: dbeta = sum(dout)."),
        (lambda: s(dout * x_hat), "dbeta is sum(dout * x_hat): that is dgamma (are dgamma and dbeta swapped?)."),
        (lambda: s(dout * gamma), "dbeta has an extra factor gamma: dbeta = sum(dout)."),
    ]
    return dxv, dgv, dbv


def _backward_cases(rng, spatial):
    if spatial:
        shapes = [(2, 3, 5, 4), (3, 2, 2, 3), (2, 1, 1, 2)]
    else:
        shapes = [(5, 3), (3, 5), (8, 4), (6, 4)]   # N=2 first would make some mistakes coincide
    cases = []
    for k, shape in enumerate(shapes):
        c = shape[-1]
        locs = rng.normal(0, 3, c)
        scales = np.geomspace(0.01, 20.0, c)
        x = rng.normal(locs, scales, size=shape)
        gamma = rng.uniform(0.5, 2.0, c) * rng.choice([-1.0, 1.0], c)
        beta = rng.normal(0, 1, c)
        eps = 0.25 if k == len(shapes) - 1 else 1e-3
        label = f"x of shape {shape}" + (f", eps={eps}" if eps != 1e-3 else "")
        cases.append((x, gamma, beta, eps, label, F64))
    xc = rng.normal(0, 1, size=shapes[0])
    xc[..., 0] = 1.5   # a constant feature/channel
    xc[..., 1] = 0.2 + 0.005 * rng.normal(size=xc[..., 1].shape)
    c = shapes[0][-1]
    cases.append((xc, rng.uniform(0.5, 2, c), rng.normal(0, 1, c), 1e-3,
                  "a constant and a low-variance " + ("channel" if spatial else "feature"), F64))
    x32 = rng.normal(1.0, 2.0, size=(4, 3, 2, 3) if spatial else (10, 3)).astype(np.float32)
    cases.append((x32, np.array([1.5, -0.5, 1.0], np.float32), np.array([0.1, 0.2, 0.3], np.float32), 1e-3,
                  "float32 inputs", dict(rtol=1e-3, atol=1e-4)))
    return cases


def _spatial_dx_variants(g, x_hat, inv_std, n):
    """Spatial-only dx mistakes; ``g = dout * gamma``, ``n`` the batch size."""
    return [
        (lambda: inv_std * (g - g.sum(axis=(0, 1, 2)) / n - x_hat * (g * x_hat).sum(axis=(0, 1, 2)) / n),
         "dx divides the sums by the batch size N: each channel's statistics pool N*H*W values."),
        (lambda: inv_std * (g - g.sum(axis=0) / n - x_hat * (g * x_hat).sum(axis=0) / n),
         "dx sums over the batch axis only (per-position statistics): sum over N, H and W."),
    ]


def _hardcoded_eps_dx(g, x_hat, var, axes, count):
    """dx with 1/sqrt(var + 1e-3) where the forward's eps belongs; ``g = dout * gamma``."""
    inv = 1.0 / np.sqrt(var + 1e-3)
    return (lambda: inv * (g - g.sum(axis=axes) / count - x_hat * (g * x_hat).sum(axis=axes) / count),
            "dx ignores the eps the forward used (a hard-coded epsilon 1e-3): take eps, or 1/sqrt(var + eps),"
            " from the cache.")


def backward_table(spatial):
    """Cases of the (spatial) backward checks: inputs, dout, the literal forward output and
    gradients, and per gradient the known-wrong variants."""
    rng = np.random.default_rng(505 if spatial else 606)
    ref_fwd = ref.spatial_batchnorm_forward if spatial else ref.batchnorm_forward
    ref_bwd = ref.spatial_batchnorm_backward if spatial else ref.batchnorm_backward
    table = []
    for x, gamma, beta, eps, label, tol in _backward_cases(rng, spatial):
        f = [np.asarray(t, dtype=np.float64) for t in (x, gamma, beta)]
        want_out, rcache = ref_fwd(*f, eps=eps)
        dout = rng.normal(0, 1, size=x.shape).astype(x.dtype)
        d64 = np.asarray(dout, np.float64)
        axes = (0, 1, 2) if spatial else (0,)
        x_hat = (f[0] - rcache["mean"]) * rcache["inv_std"]
        count = int(np.prod([x.shape[a] for a in axes]))
        dxv, dgv, dbv = _grad_variants(d64, x_hat, f[1], rcache["inv_std"], axes, count, x=f[0])
        if spatial:
            dxv += _spatial_dx_variants(d64 * f[1], x_hat, rcache["inv_std"], x.shape[0])
        if eps != 1e-3:
            dxv.append(_hardcoded_eps_dx(d64 * f[1], x_hat, rcache["var"], axes, count))
        table.append({"label": label, "args": [x, gamma, beta], "kwargs": {"eps": eps},
                      "tol": "F64" if tol is F64 else "F32_GRAD", "dout": dout, "expected_out": want_out,
                      "expected": list(ref_bwd(d64, rcache)), "wrong": [_eager(v) for v in (dxv, dgv, dbv)],
                      "given_cache": _given_cache(x, gamma, eps)})
    return table


def _given_cache(x, gamma, eps):
    """The cache the notebooks' given, staged ``batchnorm_forward`` (lessons 3 and 4) makes for
    ``x.reshape(-1, C)``, in ``x``'s dtype: a backward is graded on it when the learner's own
    forward is wrong (error carried forward)."""
    x = x.reshape(-1, x.shape[-1])
    mu = x.mean(axis=0)
    xmu = x - mu
    sq = xmu ** 2
    var = sq.mean(axis=0)
    sqrtvar = np.sqrt(var + eps)
    ivar = 1.0 / sqrtvar
    return {"x": x, "mu": mu, "xmu": xmu, "sq": sq, "var": var, "sqrtvar": sqrtvar, "ivar": ivar,
            "x_hat": xmu * ivar, "gamma": gamma, "eps": eps}


def _check_backward_like(bwd, fwd, name, fwd_name, spatial, numeric=False):
    fwd_ok = run_backward(bwd, fwd, name, fwd_name, backward_table(spatial), "channel" if spatial else "feature")
    if numeric and fwd_ok:
        _numeric_cross_check(bwd, fwd, name, fwd_name, np.random.default_rng(616))


def _numeric_cross_check(bwd, fwd, name, fwd_name, rng):
    """Independent check of dx, dgamma and dbeta against centred differences of the reference forward."""
    x = rng.normal(0.5, 1.5, size=(4, 3))
    gamma, beta = np.array([1.3, -0.7, 2.0]), np.array([0.1, 0.0, -0.4])
    dout = rng.normal(size=x.shape)
    label = "a small case checked against a numeric gradient"
    _, cache = _unpack(_invoke(fwd, fwd_name, (x, gamma, beta), {}, ("x", "gamma", "beta"), label),
                       fwd_name, 2, "(out, cache)")
    dx, dgamma, dbeta = (np.asarray(v, dtype=np.float64)
                         for v in _unpack(_invoke(bwd, name, (dout, cache), {}, ("dout",), label), name, 3,
                                          "(dx, dgamma, dbeta)"))
    for k, got, arg in (("dx", dx, 0), ("dgamma", dgamma, 1), ("dbeta", dbeta, 2)):
        args = [x.copy(), gamma.copy(), beta.copy()]

        def f(a, arg=arg, args=args):
            args[arg] = a
            return ref.batchnorm_forward(*args)[0]
        num = _numeric_gradient(f, args[arg].copy(), dout)
        if got.shape != num.shape or not np.allclose(got, num, rtol=1e-5, atol=1e-7):
            raise AssertionError(f"{name}: {k} disagrees with a centred-difference numeric gradient of the forward pass.")


def _numeric_gradient(f, x, dout, h=1e-5):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        pos = f(x.copy())
        x[i] = old - h
        neg = f(x.copy())
        x[i] = old
        grad[i] = np.sum((pos - neg) * dout) / (2 * h)
    return grad


def check_batchnorm_backward(batchnorm_backward, batchnorm_forward):
    """Staged backward; caches come from the ``batchnorm_forward`` passed in (the notebook's)."""
    _check_backward_like(batchnorm_backward, batchnorm_forward, "batchnorm_backward", "batchnorm_forward",
                         spatial=False, numeric=True)


def check_batchnorm_backward_alt(batchnorm_backward_alt, batchnorm_forward):
    """Closed-form backward; same contract as :func:`check_batchnorm_backward`."""
    _check_backward_like(batchnorm_backward_alt, batchnorm_forward, "batchnorm_backward_alt", "batchnorm_forward",
                         spatial=False, numeric=True)


def spatial_batchnorm_forward_table():
    """The cases of :func:`check_spatial_batchnorm_forward` with literal answers and known-wrong outputs."""
    rng = np.random.default_rng(707)
    c = 4
    locs, scales = np.array([0.0, 5.0, -2.0, 100.0]), np.array([1.0, 0.01, 3.0, 30.0])
    x1 = rng.normal(locs, scales, size=(2, 3, 5, c))
    xc = rng.normal(0.0, 1.0, size=(3, 2, 4, 3))
    xc[..., 0] = -1.25
    xc[..., 1] = 0.3 + 0.01 * rng.normal(size=xc[..., 1].shape)
    g4, b4 = np.array([1.5, 0.5, -1.0, 2.0]), np.array([0.2, -0.3, 1.0, 0.0])
    g3, b3 = np.array([1.2, 0.8, 1.1]), np.array([0.1, 0.0, -0.2])
    x2 = rng.normal(locs[:3], scales[:3], size=(2, 2, 3, 3))
    cases = [
        (x1, g4, b4, {}, "x of shape (2, 3, 5, 4) with channels of different scales", F64),
        (x1[:, :2, :3], g4, b4, {"eps": 0.1}, "x of shape (2, 2, 3, 4), eps=0.1", F64),
        (xc, g3, b3, {}, "a constant and a low-variance channel", F64),
        (x2, g3, b3, {}, "x of shape (2, 2, 3, 3)", F64),
        (rng.normal(1.0, 2.0, size=(4, 3, 2, 3)).astype(np.float32), g3.astype(np.float32), b3.astype(np.float32),
         {}, "float32 inputs", F32),
        _offset_case(rng, (8, 4, 4, 3)),
    ]

    def want(x, g, b, kw):
        return ref.spatial_batchnorm_forward(x.astype(np.float64), g.astype(np.float64), b.astype(np.float64), **kw)[0]

    def variants(x, g, b, eps):
        n, h, w, cc = x.shape
        g64, b64 = np.asarray(g, np.float64), np.asarray(b, np.float64)

        def scrambled():
            xr = np.asarray(x, np.float64).reshape(cc, -1).T
            return _bn(xr, g64, b64, eps).T.reshape(x.shape)

        def nchw():
            xt = np.asarray(x, np.float64).transpose(0, 3, 1, 2).reshape(-1, cc)
            return _bn(xt, g64, b64, eps).reshape(n, cc, h, w).transpose(0, 2, 3, 1)
        axes_hints = [
            ((0,), "It normalizes each position (h, w) separately (per-position statistics, axis=0 only):"
                   " each channel's statistics pool N, H and W, axis=(0, 1, 2)."),
            ((1, 2), "It normalizes each sample separately (per-sample statistics over H and W, like instance"
                     " norm): pool the batch too, axis=(0, 1, 2)."),
            ((1, 2, 3), "It normalizes each sample over all its values (per-sample statistics, like layer norm):"
                        " use axis=(0, 1, 2), per channel."),
            ((0, 1, 2, 3), "It uses one mean and variance for all channels: keep one per channel, axis=(0, 1, 2)."),
            ((0, 1), "It pools N and H but not W: use axis=(0, 1, 2)."),
            ((0, 2), "It pools N and W but not H: use axis=(0, 1, 2)."),
        ]
        v = [(lambda a=a: _bn(x, g64, b64, eps, axes=a), h_) for a, h_ in axes_hints]
        v += [
            (scrambled, "It mixes channels: reshape(C, -1) does not gather a channel's values for channels-last"
                        " input (wrong reshape order). Use x.reshape(-1, C) and reshape back to (N, H, W, C)."),
            (nchw, "It treats the input as channels first (N, C, H, W) when reshaping (wrong reshape order); Keras"
                   " and this course use channels last (N, H, W, C): x.reshape(-1, C)."),
        ]
        return v + _forward_variants(x, g, b, eps, axes=(0, 1, 2))
    return _forward_table(cases, want, variants)


def check_spatial_batchnorm_forward(spatial_batchnorm_forward):
    """``spatial_batchnorm_forward(x, gamma, beta, eps=1e-3)`` on (N, H, W, C): per channel over N, H, W."""
    run_outputs(spatial_batchnorm_forward, "spatial_batchnorm_forward", spatial_batchnorm_forward_table(),
                ("x", "gamma", "beta"), returns=("out", "cache"))


def check_spatial_batchnorm_backward(spatial_batchnorm_backward, spatial_batchnorm_forward):
    """Backward of spatial batch norm; caches come from the ``spatial_batchnorm_forward`` passed in."""
    _check_backward_like(spatial_batchnorm_backward, spatial_batchnorm_forward, "spatial_batchnorm_backward",
                         "spatial_batchnorm_forward", spatial=True)


def check_batchnorm_layer(BatchNorm, batchnorm_forward=ref.batchnorm_forward,
                          update_moving_stats=ref.update_moving_stats, batchnorm_inference=ref.batchnorm_inference):
    """The NumPy layer mirroring ``keras.layers.BatchNormalization``, graded against the three
    functions it builds on; the notebook passes the learner's own (error carried forward)."""
    check_layer(BatchNorm, batchnorm_forward, update_moving_stats, batchnorm_inference)


def lesson1_inputs():
    """Lesson 1's given batch (its locked ``batch`` cell): X, gamma, beta and eps."""
    return {"X": np.array([[1.0, 10.0, 0.0], [2.0, 10.0, 0.0], [3.0, 10.0, 0.0], [6.0, 10.0, 0.04]]),
            "gamma": np.array([2.0, 0.5, 1.0]), "beta": np.array([1.0, -1.0, 0.0]), "eps": 1e-3}


def check_lesson1_value(name, value, **uses):
    """Lesson 1's hidden check of a hand-computed variable: exact, or (error carried forward) consistent
    with the learner's own earlier variables it builds on when those are wrong (``x_hat`` with
    ``batch_mean`` and ``batch_var``, ``y`` with ``x_hat``)."""
    table = lesson1_table()
    try:
        assert_exact(name, value, table[name][0])
    except AssertionError:
        if carried_forward_value(name, value, uses, {k: v[0] for k, v in table.items()}, lesson1_inputs()) is None:
            raise


def lesson1_table():
    """Lesson 1's hand computations: the literal answer and known-wrong values (with hints) per variable."""
    given = lesson1_inputs()
    X, gamma, beta, n = given["X"], given["gamma"], given["beta"], 4
    mean, var = ref.batch_moments(X)
    y, cache = ref.batchnorm_forward(X, gamma, beta)
    x_hat, sq = cache["x_hat"], var * n
    v2 = var[2]

    def trace(m, start=0.0, flip=False):
        out, v = [], start
        for _ in range(3):
            v = ref.update_moving_stats(v, 0.0, 3.0, 0.0, 1 - m if flip else m)[0]
            out.append(v)
        return out
    momentum_hints = lambda m: [  # noqa: E731
        [trace(m, flip=True), "momentum weights the *old* moving value in Keras: moving = momentum * moving +"
                              " (1 - momentum) * batch. (PyTorch's momentum means the opposite.)"],
        [trace(m, start=3.0), "the moving mean starts at 0, not at the first batch's mean."]]
    return {
        "batch_mean": [mean, [[sq * 0 + X.sum(axis=0) / (n - 1), "you divided by N-1; the mean divides by N."],
                              [X.sum(axis=0), "that is the sum; divide it by N."],
                              [X.mean(axis=1), "that is one value per example (a row mean). BN averages each feature"
                                               " over the batch: one value per column, axis=0."]]],
        "batch_var": [var, [[sq / (n - 1), "your variance divides by N-1: batch norm uses the biased variance (divide by N)."],
                            [np.sqrt(var), "that is the standard deviation; batch_var is its square."],
                            [(X ** 2).mean(axis=0), "subtract the batch mean before squaring."],
                            [sq, "that is the sum of squared deviations; divide it by N."],
                            [X.var(axis=1), "that is one value per example. Each feature's variance is over the batch: axis=0."]]],
        "x_hat": [x_hat, [[_bn(X, 1.0, 0.0, 1e-3, mode="outside"), "epsilon is added to the standard deviation: it belongs inside the square root."],
                          [_bn(X, 1.0, 0.0, 1e-3, ddof=1), "the variance divides by N-1; use the biased variance."],
                          [_bn(X, 1.0, 0.0, 1e-3, mode="nosqrt"), "divide by the square root of (variance + eps), not by the variance."],
                          [_bn(X, 1.0, 0.0, 1e-3, mode="std"), "that divides by sqrt(std + eps): the variance belongs under the square root, not the standard deviation."],
                          [_bn(X, 1.0, 0.0, 1e-5), "that epsilon is 1e-5 (PyTorch's default); this lesson uses Keras's 1e-3."],
                          [_bn(X, 1.0, 0.0, 1e-3, center=False), "subtract the batch mean first."],
                          [_bn(X, 1.0, 0.0, 1e-3, axes=(1,)), "that normalizes each example (row) over its features; BN normalizes each feature over the batch (axis=0)."]]],
        "y": [y, [[_bn(X, beta, gamma, 1e-3), "gamma and beta are swapped: gamma scales, beta shifts."],
                  [x_hat, "that is x_hat; now scale by gamma and add beta."],
                  [gamma * (_bn(X, 1.0, 0.0, 1e-3) + beta), "add beta after scaling, not before."]]],
        "std_eps_keras": [np.sqrt(v2 / (v2 + 1e-3)), [[v2 / (v2 + 1e-3), "that is the variance of x_hat; take its square root."],
                                                      [np.sqrt(v2 / (v2 + 1e-5)), "that one uses epsilon 1e-5; Keras's default is 1e-3."]]],
        "std_eps_torch": [np.sqrt(v2 / (v2 + 1e-5)), [[v2 / (v2 + 1e-5), "that is the variance of x_hat; take its square root."],
                                                      [np.sqrt(v2 / (v2 + 1e-3)), "that one uses Keras's epsilon 1e-3; PyTorch's is 1e-5."]]],
        "moving_099": [trace(0.99), momentum_hints(0.99)],
        "moving_09": [trace(0.9), momentum_hints(0.9)],
    }
