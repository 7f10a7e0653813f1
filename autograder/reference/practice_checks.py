"""Checks that lesson 8's hidden tests call (``08_bn_in_practice``). Instructor-only.

:func:`check_torch_bn_to_keras`, :func:`check_keras_bn_to_torch`, :func:`check_freeze_batchnorm` and
:func:`check_fold_bn_into_conv` run the learner's function on the visible check's designed cases,
then on a few random ones, through the same machinery as the visible checks
(:mod:`bncourse.practicecheck`): so both name the same mistake in the same words. The ``*_table``
functions build the visible checks' literal tables (``bngrader expected`` writes them to
``bncourse/expected/08_bn_in_practice.json``). Each case holds the reference answer and the
outputs of known-wrong variants with their hints; a hint never shows a reference value.
"""

from __future__ import annotations

import itertools

import numpy as np

from bncourse.casecheck import variant_values
from bncourse.practicecheck import (
    FOLD_TOL,
    KERAS_ORDER,
    NUMBER_TOL,
    PORT_TOL,
    TORCH_ARRAYS,
    _layer_label,
    freeze_case_model,
    layer_flags,
    run_fold_bn_into_conv,
    run_freeze_batchnorm,
    run_keras_bn_to_torch,
    run_torch_bn_to_keras,
)

ORDER_HINT = ("The weights are in the wrong order: Keras's get_weights()/set_weights() order is [gamma, beta, "
              "moving_mean, moving_variance], which is PyTorch's [weight, bias, running_mean, running_var].")
STD_HINT = ("running_var is treated as a standard deviation (a square root or a square taken): PyTorch's running_var "
            "and Keras's moving_variance are both variances; copy it as it is.")
GUESS_HINT = ("It guessed which weight is missing from the number of weights: a layer built with scale=False and one "
              "built with center=False both have three. Read layer.scale and layer.center.")


def _literal(variants, want, tol):
    """``[hint, value]`` of the variants that apply and differ from ``want``."""
    from bncourse.practicecheck import _close

    out = []
    for hint, value in variant_values(variants):
        if isinstance(value, dict):
            if all(_close(value[k], want[k], tol) for k in want):
                continue
        elif isinstance(value, list):
            if all(_close(v, w, tol) for v, w in zip(value, want)):
                continue
        elif _close(value, want, tol):
            continue
        out.append([hint, value])
    return out


# --------------------------------------------------------------------------- porting: PyTorch -> Keras

def torch_to_keras_reference(state):
    """``(kwargs, weights)``: Keras's momentum weights the old value (1 - PyTorch's), the same epsilon,
    and the four vectors in get_weights() order."""
    return ({"momentum": 1.0 - state["momentum"], "epsilon": state["eps"]},
            [np.asarray(state[k], np.float64) for k in TORCH_ARRAYS])


def _to_keras_case(label, state):
    kwargs, weights = torch_to_keras_reference(state)
    m, eps = state["momentum"], state["eps"]
    momentum = [
        (m, "It copied PyTorch's momentum as is. PyTorch's momentum weights the new batch statistic, Keras's the "
            "old moving value: Keras's momentum is 1 - PyTorch's (0.1 becomes 0.9)."),
        (0.9, "It hard-codes momentum 0.9, right only for PyTorch's default 0.1: compute it from state['momentum']."),
        (0.99, "It uses Keras's default momentum 0.99: compute it from state['momentum']."),
    ]
    epsilon = [
        (1e-5, "It hard-codes epsilon 1e-5, PyTorch's default: use the state's eps."),
        (1e-3, "It uses epsilon 1e-3, Keras's default (eps left at Keras's default): use the state's eps."),
        (np.sqrt(eps), "It passes the square root of eps: Keras adds epsilon to the variance, as PyTorch adds eps."),
    ]
    perms = [(lambda p=p: [weights[i] for i in p], ORDER_HINT) for p in itertools.permutations(range(4)) if p != (0, 1, 2, 3)]
    std = [(lambda f=f: [*weights[:3], f(weights[3])], STD_HINT) for f in (np.sqrt, np.square)]
    return {"label": label, "state": state,
            "expected": {"momentum": kwargs["momentum"], "epsilon": kwargs["epsilon"], "weights": weights},
            "wrong": {"momentum": _literal([(v, h) for v, h in momentum], kwargs["momentum"], NUMBER_TOL),
                      "epsilon": _literal([(v, h) for v, h in epsilon], kwargs["epsilon"], NUMBER_TOL),
                      "weights": _literal(std + perms, weights, PORT_TOL)}}


def _state(weight, bias, mean, var, momentum, eps, dtype, steps):
    return {"weight": np.array(weight, dtype), "bias": np.array(bias, dtype), "running_mean": np.array(mean, dtype),
            "running_var": np.array(var, dtype), "num_batches_tracked": np.int64(steps), "momentum": momentum,
            "eps": eps}


def torch_to_keras_table():
    """Lesson 08, Exercise 1: PyTorch's defaults on float32 arrays (three channels, every vector different,
    the variances 4, 0.25, 9 so that a square root or a square shows), then momentum 0.01 and eps 1e-3 on
    float64 arrays."""
    return [
        _to_keras_case("PyTorch's defaults (momentum 0.1, eps 1e-5)",
                       _state([1.5, 0.5, 2.0], [0.25, -1.0, 0.5], [2.0, -3.0, 0.5], [4.0, 0.25, 9.0], 0.1, 1e-5,
                              np.float32, 1200)),
        _to_keras_case("momentum 0.01, eps 1e-3 and float64 arrays",
                       _state([0.8, 1.25], [0.0, 2.0], [-1.0, 0.75], [2.25, 16.0], 0.01, 1e-3, np.float64, 50)),
    ]


def check_torch_bn_to_keras(torch_bn_to_keras):
    """``torch_bn_to_keras(state) -> (kwargs, weights)``."""
    rng = np.random.default_rng(801)
    cases = torch_to_keras_table()
    cases.append(_to_keras_case("momentum 0.3, eps 0.05 and five channels",
                                _state(rng.uniform(0.5, 2, 5), rng.normal(0, 1, 5), rng.normal(0, 2, 5),
                                       rng.uniform(0.2, 3, 5), 0.3, 0.05, np.float32, 7)))
    for case in cases:
        run_torch_bn_to_keras(torch_bn_to_keras, case)


# --------------------------------------------------------------------------- porting: Keras -> PyTorch

def keras_to_torch_reference(spec):
    """PyTorch's names for a Keras layer's state: a missing gamma is a weight of ones, a missing beta a
    bias of zeros; PyTorch's momentum weights the new value (1 - Keras's)."""
    weights = [np.asarray(w, np.float64) for w in spec["weights"]]
    c = spec["channels"]
    gamma = weights.pop(0) if spec["scale"] else np.ones(c)
    beta = weights.pop(0) if spec["center"] else np.zeros(c)
    mean, var = weights
    return {"weight": gamma, "bias": beta, "running_mean": mean, "running_var": var,
            "momentum": 1.0 - spec["momentum"], "eps": spec["epsilon"]}


def _to_torch_case(spec):
    want = keras_to_torch_reference(spec)
    arrays = {k: want[k] for k in TORCH_ARRAYS}
    vectors = [arrays[k] for k in TORCH_ARRAYS]
    variants = [(lambda f=f: {**arrays, "running_var": f(arrays["running_var"])}, STD_HINT) for f in (np.sqrt, np.square)]
    variants += [(lambda p=p: dict(zip(TORCH_ARRAYS, (vectors[i] for i in p))), ORDER_HINT)
                 for p in itertools.permutations(range(4)) if p != (0, 1, 2, 3)]
    c = spec["channels"]
    if not spec["scale"]:  # [beta, mean, var] read as if center=False: weight = beta, bias = 0
        variants.insert(0, (lambda: {**arrays, "weight": arrays["bias"], "bias": np.zeros(c)}, GUESS_HINT))
    if not spec["center"]:  # [gamma, mean, var] read as if scale=False: weight = 1, bias = gamma
        variants.insert(0, (lambda: {**arrays, "weight": np.ones(c), "bias": arrays["weight"]}, GUESS_HINT))
    m = spec["momentum"]
    momentum = [
        (m, "It copied Keras's momentum as is. Keras's momentum weights the old moving value, PyTorch's the new "
            "batch statistic: PyTorch's momentum is 1 - Keras's (0.99 becomes 0.01)."),
        (0.1, "It hard-codes momentum 0.1, PyTorch's default: compute it from layer.momentum."),
    ]
    epsilon = [
        (1e-5, "It hard-codes eps 1e-5, PyTorch's default: use the layer's own layer.epsilon."),
        (1e-3, "It hard-codes eps 1e-3, Keras's default: use the layer's own layer.epsilon."),
    ]
    return {"label": _layer_label(spec), "layer": spec, "expected": want,
            "wrong": {"momentum": _literal([(v, h) for v, h in momentum], want["momentum"], NUMBER_TOL),
                      "eps": _literal([(v, h) for v, h in epsilon], want["eps"], NUMBER_TOL),
                      "arrays": _literal(variants, arrays, PORT_TOL)}}


def _spec(channels, momentum, epsilon, weights, scale=True, center=True):
    return {"channels": channels, "momentum": momentum, "epsilon": epsilon, "scale": scale, "center": center,
            "weights": [np.array(w, np.float32) for w in weights]}


def keras_to_torch_table():
    """Lesson 08, Exercise 2: a layer with Keras's defaults, one with scale=False (no gamma), one with
    center=False (no beta); momentum and epsilon differ in each."""
    return [
        _to_torch_case(_spec(3, 0.99, 1e-3, [[1.5, 0.5, 2.0], [0.25, -1.0, 0.5], [2.0, -3.0, 0.5], [4.0, 0.25, 9.0]])),
        _to_torch_case(_spec(2, 0.9, 1e-5, [[0.5, -0.25], [1.0, -2.0], [0.25, 4.0]], scale=False)),
        _to_torch_case(_spec(2, 0.5, 0.01, [[2.0, 0.75], [-0.5, 3.0], [1.0, 0.0625]], center=False)),
    ]


def check_keras_bn_to_torch(keras_bn_to_torch):
    """``keras_bn_to_torch(layer) -> dict`` with PyTorch's names."""
    rng = np.random.default_rng(802)
    cases = keras_to_torch_table()
    cases.append(_to_torch_case(_spec(4, 0.97, 0.002, [rng.uniform(0.5, 2, 4), rng.normal(0, 1, 4),
                                                      rng.normal(0, 2, 4), rng.uniform(0.2, 3, 4)])))
    for case in cases:
        run_keras_bn_to_torch(keras_bn_to_torch, case)


# --------------------------------------------------------------------------- fine-tuning: freezing BN

def _freeze_reference(model):
    import keras

    def walk(layer):
        for sub in layer.layers:
            if isinstance(sub, keras.layers.BatchNormalization):
                sub.trainable = False
            elif hasattr(sub, "layers"):
                walk(sub)

    walk(model)
    return model


FREEZE_CASES = (("flat", "two BN layers, named batch_normalization_a and bn_head"),
                ("nested", "BN layers in a nested Sequential and in a functional model inside it"),
                ("no_bn", "no BN layer at all"))


def freeze_table():
    """Lesson 08, Exercise 3: each of ``bncourse.practicecheck.freeze_case_model``'s tiny models, with every
    layer's trainable flag after the reference has frozen its BN layers."""
    return [{"model": which, "label": label, "expected": layer_flags(_freeze_reference(freeze_case_model(which)))}
            for which, label in FREEZE_CASES]


def check_freeze_batchnorm(freeze_batchnorm):
    """``freeze_batchnorm(model) -> model``: every BN layer, nested ones too, trainable=False; nothing else changed."""
    for case in freeze_table():
        run_freeze_batchnorm(freeze_batchnorm, case)


# --------------------------------------------------------------------------- serving: folding into Conv2D

def fold_conv_reference(w, b, g, beta, m, v, eps):
    scale = np.asarray(g, np.float64) / np.sqrt(np.asarray(v, np.float64) + eps)
    b0 = np.zeros(w.shape[-1]) if b is None else np.asarray(b, np.float64)
    return np.asarray(w, np.float64) * scale, (b0 - np.asarray(m, np.float64)) * scale + np.asarray(beta, np.float64)


def _fold_variants(which, w, b, g, beta, m, v, eps):
    """Known-wrong folded kernels or biases (lazy makers, hints)."""
    w, g, beta, m, v = (np.asarray(a, np.float64) for a in (w, g, beta, m, v))
    b0 = np.zeros(w.shape[-1]) if b is None else np.asarray(b, np.float64)
    scales = [
        (lambda: g / (np.sqrt(v) + eps), "Epsilon is added outside the square root: sqrt(moving_var + epsilon)."),
        *[(lambda e=e: g / np.sqrt(v + e), f"It uses epsilon {e:g} instead of the epsilon argument.")
          for e in (1e-3, 1e-5) if e != eps],
        (lambda: g / np.sqrt(v), "Epsilon is missing from sqrt(moving_var + epsilon)."),
        (lambda: g / (v + eps), "It divides by (moving_var + epsilon), treating the variance as a standard "
                                "deviation: divide by its square root."),
        (lambda: np.sqrt(v + eps) / g, "The scale is inverted: it is gamma / sqrt(moving_var + epsilon)."),
        (lambda: 1 / np.sqrt(v + eps), "gamma is missing from the scale."),
        (lambda: g, "The scale should be gamma / sqrt(moving_var + epsilon), not gamma alone."),
    ]
    true_scale = g / np.sqrt(v + eps)
    if which == "kernel":
        out = [(lambda s=s: w * s(), hint) for s, hint in scales]
        if w.shape[2] == w.shape[3]:
            out.append((lambda: w * true_scale[None, None, :, None],
                        "It scales the kernel per input channel (axis 2 of HWIO); BN's scale belongs to the output "
                        "channels, the last axis."))
        out.append((lambda: w, "The kernel is unchanged: multiply each output channel by gamma / sqrt(moving_var + "
                               "epsilon)."))
        return out
    return [(lambda s=s: (b0 - m) * s() + beta, hint) for s, hint in scales] + [
        (lambda: -m * true_scale + beta, "The conv bias is missing from the folded bias."),
        (lambda: (b0 - m) * true_scale, "beta is missing from the folded bias."),
        (lambda: b0 - m * true_scale + beta, "The conv bias must be scaled too: BN normalizes (conv(x) + b - "
                                             "moving_mean)."),
        (lambda: b0 - m + beta, "The moving mean (and the conv bias) must be multiplied by the scale."),
        (lambda: (b0 + m) * true_scale + beta, "The moving mean is subtracted, not added."),
        (lambda: b0 + beta, "The bias ignores the moving mean and the scale."),
    ]


def _fold_case(label, w, b, g, beta, m, v, eps):
    args = [w, b, g, beta, m, v, eps]
    kernel, bias = fold_conv_reference(*args)
    tol = FOLD_TOL[str(w.dtype)]
    return {"label": label, "args": args, "expected": [kernel, bias],
            "wrong": {"kernel": _literal(_fold_variants("kernel", *args), kernel, tol),
                      "bias": _literal(_fold_variants("bias", *args), bias, tol)}}


def fold_conv_table():
    """Lesson 08, Exercise 4: epsilon = 0.25 and moving_var = 0, 0.75, 3.75 make sqrt(moving_var + epsilon)
    = 0.5, 1, 2, so with gamma = 1, -2, 3 the three output channels' scales are 2, -2, 1.5. A 2x2 kernel
    from 2 to 3 channels with a bias, then without (None); a kernel from 3 to 3 channels (which tells input
    from output channels); float32 arrays without a bias and epsilon 1e-5 (the dtype is kept)."""
    g, beta = np.array([1.0, -2.0, 3.0]), np.array([0.5, 0.0, -1.0])
    m, v, eps = np.array([2.0, 1.0, -0.5]), np.array([0.0, 0.75, 3.75]), 0.25
    bias = np.array([1.0, -1.0, 0.5])
    w223 = (np.arange(12.0).reshape(2, 2, 1, 3) - 5.0).repeat(2, axis=2) / 2 * np.array([1.0, -1.0])[:, None]
    w33 = ((np.arange(18.0) * 7) % 11 - 5).reshape(2, 1, 3, 3) / 2
    r = np.random.default_rng(8)
    f32 = [a.astype(np.float32) for a in (r.normal(0, 0.5, (3, 3, 1, 2)), np.array([0.9, 1.6]), np.array([0.1, -0.3]),
                                          np.array([0.02, -0.05]), np.array([4e-4, 2.5e-3]))]
    return [
        _fold_case("a 2x2 kernel from 2 to 3 channels with a bias", w223, bias, g, beta, m, v, eps),
        _fold_case("conv_bias=None", w223, None, g, beta, m, v, eps),
        _fold_case("a kernel from 3 to 3 channels", w33, bias, g, beta, m, v, eps),
        _fold_case("float32 arrays, conv_bias=None, epsilon=1e-5", f32[0], None, *f32[1:], 1e-5),
    ]


def check_fold_bn_into_conv(fold_bn_into_conv):
    """``fold_bn_into_conv(conv_kernel, conv_bias, gamma, beta, moving_mean, moving_var, epsilon) -> (kernel, bias)``."""
    rng = np.random.default_rng(803)
    cases = fold_conv_table()
    for (kh, kw, cin, cout), with_bias, eps, dtype in (((3, 3, 4, 5), True, 1e-3, np.float64),
                                                       ((3, 3, 4, 4), False, 0.1, np.float64),
                                                       ((1, 1, 8, 6), True, 1e-3, np.float32)):
        w = rng.normal(0, 1, (kh, kw, cin, cout)).astype(dtype)
        vectors = [rng.normal(0, 1, cout), rng.uniform(0.5, 2, cout) * rng.choice([-1, 1], cout),
                   rng.normal(0, 1, cout), rng.normal(0, 2, cout), rng.uniform(0.01, 3, cout)]
        b, g, beta, m, v = (a.astype(dtype) for a in vectors)
        v[0] = 2e-3  # a small variance makes epsilon matter
        label = f"a {kh}x{kw} kernel from {cin} to {cout} channels, {'a bias' if with_bias else 'conv_bias=None'}, " \
                f"epsilon={eps:g}{', float32' if dtype == np.float32 else ''}"
        cases.append(_fold_case(label, w, b if with_bias else None, g, beta, m, v, eps))
    for case in cases:
        run_fold_bn_into_conv(fold_bn_into_conv, case)


__all__ = ["KERAS_ORDER", "check_fold_bn_into_conv", "check_freeze_batchnorm", "check_keras_bn_to_torch",
           "check_torch_bn_to_keras", "fold_conv_table", "freeze_table", "keras_to_torch_table", "torch_to_keras_table"]
