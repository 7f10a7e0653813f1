"""Checks that the hidden tests of the Keras lessons call. Instructor-only.

Lesson 05 (``05_keras_dense``): :func:`check_build_bn_mlp`,
:func:`check_bn_inference_from_layer`, :func:`check_fold_bn_into_dense`.
Lesson 06 (``06_keras_cnn``): :func:`check_accuracy_with_batch_statistics`,
:func:`check_reestimate_bn_statistics`.

Same contract as :mod:`bn_checks`: each check exercises the learner's function on
small inputs (a fraction of a second, no training), compares it with the
reference, and raises ``AssertionError`` with a message naming the likely
mistake, never printing reference code or reference values. Keras is imported
lazily, inside the checks.
"""

from __future__ import annotations

import itertools

import numpy as np

import bn_reference as ref
from bn_checks import call_pure
from bncourse.casecheck import matching_hint, numbers, variant_values

WEIGHT_NAMES = ("gamma", "beta", "moving_mean", "moving_variance")
INFERENCE_TOL = dict(rtol=1e-5, atol=1e-5)  # bn_inference_from_layer: right, and "matches a known mistake"


def _arr(name, value):
    return numbers(name, value)


def _match(got, variants, rtol=1e-5, atol=1e-6):
    """The hint of the first ``(value, hint)`` variant that ``got`` matches, else None."""
    return matching_hint(got, variants, rtol, atol)


# --------------------------------------------------------------------------- lesson 05 (a)

def _layer_kind(layer):
    import keras

    L = keras.layers
    if isinstance(layer, L.Dense):
        return "Dense"
    if isinstance(layer, L.BatchNormalization):
        return "BatchNormalization"
    if isinstance(layer, L.ReLU):
        cfg = layer.get_config()
        plain = not cfg.get("max_value") and not cfg.get("negative_slope") and not cfg.get("threshold")
        return "ReLU" if plain else "ReLU(with options)"
    if isinstance(layer, L.Activation):
        name = getattr(layer.activation, "__name__", str(layer.activation))
        return "ReLU" if name == "relu" else f"Activation({name})"
    return type(layer).__name__


def _activation_name(dense):
    return getattr(dense.activation, "__name__", str(dense.activation))


def mlp_parameter_counts(units):
    """(all parameters, non-trainable parameters) of the lesson's MLP: per hidden layer a Dense kernel
    without bias and BN's four weights per unit (two of them, the moving statistics, non-trainable),
    then Dense(10) with its bias."""
    sizes = (784, *units)
    return sum(a * b + 4 * b for a, b in zip(sizes, units)) + units[-1] * 10 + 10, 2 * sum(units)


def build_bn_mlp_table():
    """Lesson 05, Exercise 2: the visible check's cases, their arguments and parameter counts."""
    table = []
    for units, momentum, epsilon, kwargs in (((128, 64), 0.99, 1e-3, {}),
                                             ((32,), 0.9, 1e-2, {"hidden_units": (32,), "momentum": 0.9,
                                                                 "epsilon": 1e-2})):
        total, moving = mlp_parameter_counts(units)
        table.append({"kwargs": kwargs, "hidden_units": units, "momentum": momentum, "epsilon": epsilon,
                      "count_params": total, "non_trainable": moving})
    return table


def check_build_bn_mlp(build_bn_mlp):
    """Lesson 05: ``build_bn_mlp(hidden_units=(128, 64), momentum=0.99, epsilon=1e-3)``."""
    cases = [
        ((128, 64), 0.99, 1e-3, {}, "the default arguments"),
        ((32,), 0.9, 1e-2, {"hidden_units": (32,), "momentum": 0.9, "epsilon": 1e-2},
         "hidden_units=(32,), momentum=0.9, epsilon=1e-2"),
        ((16, 8, 4), 0.5, 1e-5, {"hidden_units": (16, 8, 4), "momentum": 0.5, "epsilon": 1e-5},
         "hidden_units=(16, 8, 4), momentum=0.5, epsilon=1e-5"),
    ]
    for units, momentum, epsilon, kwargs, label in cases:
        where = f" (with {label})"
        model = _built_model(build_bn_mlp, kwargs, where)
        layers = _mlp_layers(model, units, where)
        for i, u in enumerate(units):
            _check_hidden_block(i, layers[3 * i], layers[3 * i + 1], u, momentum, epsilon, where)
        _check_mlp_output_and_weights(model, layers[-1], units, where)


def _built_model(build_bn_mlp, kwargs, where):
    """The learner's model for ``kwargs``: a keras.Model, uncompiled, with input shape (None, 784)."""
    import keras

    try:
        model = build_bn_mlp(**kwargs)
    except NotImplementedError:
        raise AssertionError("build_bn_mlp is not implemented yet.") from None
    if model is None:
        raise AssertionError("build_bn_mlp returned None: return the model.")
    if not isinstance(model, keras.Model):
        raise AssertionError(f"build_bn_mlp should return a keras.Model, got {type(model).__name__}{where}.")
    if getattr(model, "compiled", False):
        raise AssertionError("build_bn_mlp should return the model uncompiled: the notebook compiles it.")
    try:
        input_shape = tuple(model.inputs[0].shape)
    except (AttributeError, IndexError, TypeError, ValueError):
        input_shape = None
    if input_shape != (None, 784):
        raise AssertionError(
            "The model should start with keras.Input(shape=(784,))"
            + (f"; its input shape is {input_shape}" if input_shape else "")
            + f"{where}."
        )
    return model


def _mlp_layers(model, units, where):
    """The layers after the Input, checked to be (Dense, BatchNormalization, ReLU) per hidden layer, then Dense."""
    import keras

    layers = [lay for lay in model.layers if not isinstance(lay, keras.layers.InputLayer)]
    kinds = [_layer_kind(lay) for lay in layers]
    expected = ["Dense", "BatchNormalization", "ReLU"] * len(units) + ["Dense"]
    if kinds != expected:
        hint = ""
        if any(a == "ReLU" and b == "BatchNormalization" for a, b in zip(kinds, kinds[1:])):
            hint = " BatchNormalization goes before the ReLU: Dense -> BatchNormalization -> ReLU."
        elif kinds.count("ReLU") == 0 and kinds.count("Dense") == len(units) + 1:
            hint = (" The ReLU must be its own layer after BatchNormalization"
                    " (keras.layers.ReLU()), not the Dense layer's activation.")
        elif kinds.count("Dense") != len(units) + 1:
            hint = " There should be one Dense layer per entry of hidden_units, plus the output layer."
        raise AssertionError(f"The layers after the Input are {kinds}{where}.{hint}")
    return layers


def _check_hidden_block(i, dense, bn, units, momentum, epsilon, where):
    """Hidden block ``i``: Dense(units, no bias, linear), then BatchNormalization with the arguments."""
    if dense.units != units:
        raise AssertionError(f"Hidden Dense layer {i + 1} has {dense.units} units; hidden_units asks for {units}{where}.")
    if dense.use_bias:
        raise AssertionError(
            f"Hidden Dense layer {i + 1} has a bias: use use_bias=False before BatchNormalization "
            "(BN subtracts the mean, so the bias has no effect; beta takes its role)."
        )
    if _activation_name(dense) != "linear":
        raise AssertionError(
            f"Hidden Dense layer {i + 1} has activation {_activation_name(dense)!r}: it must be linear; "
            "the ReLU comes after BatchNormalization."
        )
    if not np.isclose(bn.momentum, momentum):
        raise AssertionError(f"BatchNormalization {i + 1} has momentum {bn.momentum}: pass the momentum argument through{where}.")
    if not np.isclose(bn.epsilon, epsilon):
        raise AssertionError(f"BatchNormalization {i + 1} has epsilon {bn.epsilon}: pass the epsilon argument through{where}.")
    if bn.axis not in (-1, 1) or not bn.center or not bn.scale:
        raise AssertionError(f"BatchNormalization {i + 1} should use the defaults axis=-1, center=True, scale=True.")


def _check_mlp_output_and_weights(model, out, units, where):
    """Dense(10, softmax) output; the parameter counts of the architecture; softmax probabilities."""
    if out.units != 10 or _activation_name(out) != "softmax":
        raise AssertionError(
            f"The output layer is Dense({out.units}, activation={_activation_name(out)!r}); it should be "
            "Dense(10, activation='softmax')."
        )
    n_params, n_moving = mlp_parameter_counts(units)
    if model.count_params() != n_params:
        raise AssertionError(
            f"The model has {model.count_params()} parameters, which does not fit the architecture{where}: "
            "check use_bias (False before each BN, default on the output layer)."
        )
    n_frozen = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    if n_frozen != n_moving:
        raise AssertionError(
            "The non-trainable weights should be exactly the BN moving statistics (2 per hidden unit); "
            "did you freeze a layer?"
        )
    probe = np.random.default_rng(0).random((3, 784)).astype("float32")
    probs = np.asarray(model(probe, training=False))
    if probs.shape != (3, 10) or not np.allclose(probs.sum(axis=1), 1.0, atol=1e-4):
        raise AssertionError("The model's output should be 10 softmax probabilities per example.")


# --------------------------------------------------------------------------- lesson 05 (b)

def _random_bn_layer(rng, channels, epsilon, input_shape, *, gamma_sign=1.0):
    import keras

    layer = keras.layers.BatchNormalization(epsilon=epsilon)
    layer.build(input_shape)
    gamma = gamma_sign * rng.uniform(0.5, 2.0, channels)
    beta = rng.normal(0.0, 1.0, channels)
    mean = rng.normal(0.0, 2.0, channels)
    var = rng.uniform(0.05, 3.0, channels)
    var[0] = 1e-3  # a tiny variance makes epsilon matter
    layer.set_weights([w.astype("float32") for w in (gamma, beta, mean, var)])
    return layer


class _LayerCalled(RuntimeError):
    pass


def _forbid_call(*args, **kwargs):
    raise _LayerCalled("BN_CHECK_LAYER_CALLED")


def check_bn_inference_from_layer(bn_inference_from_layer):
    """Lesson 05: ``bn_inference_from_layer(layer, x)`` computes ``layer(x, training=False)`` in NumPy."""
    rng = np.random.default_rng(505)
    cases = [
        (5, 1e-3, (8, 5), 1.0, "default epsilon"),
        (4, 0.25, (6, 4), 1.0, "epsilon=0.25"),
        (3, 1e-5, (7, 3), -1.0, "epsilon=1e-5 and negative gamma"),
        (4, 0.05, (2, 3, 3, 4), 1.0, "a 4-D (N, H, W, C) input and epsilon=0.05"),
    ]
    for channels, epsilon, shape, sign, label in cases:
        layer = _random_bn_layer(rng, channels, epsilon, shape, gamma_sign=sign)
        x = rng.normal(0.5, 2.0, shape).astype("float32")
        want = np.asarray(layer(x, training=False), dtype=np.float64)
        weights = [w.astype(np.float64) for w in layer.get_weights()]
        moving_before = [w.copy() for w in weights]
        layer.call = _forbid_call  # the learner computes in NumPy from the weights
        try:
            got = call_pure(bn_inference_from_layer, "bn_inference_from_layer", layer, x)
        except _LayerCalled:
            raise AssertionError(
                "bn_inference_from_layer called the layer: compute the output in NumPy from the layer's weights."
            ) from None
        except Exception as e:  # noqa: BLE001 - report any learner error as a failed check
            if "BN_CHECK_LAYER_CALLED" in str(e):
                raise AssertionError(
                    "bn_inference_from_layer called the layer: compute the output in NumPy from the layer's weights."
                ) from None
            raise
        finally:
            del layer.call
        got = _arr("bn_inference_from_layer", got)
        if got.shape != want.shape:
            raise AssertionError(f"bn_inference_from_layer returned shape {got.shape} for an input of shape {shape} ({label}).")
        if any(not np.array_equal(a, b) for a, b in zip(moving_before, layer.get_weights())):
            raise AssertionError("bn_inference_from_layer changed the layer's weights; it should only read them.")
        if np.allclose(got, want, **INFERENCE_TOL):
            continue
        raise AssertionError(f"bn_inference_from_layer is wrong with {label}. " + _diagnose_inference(got, x, weights, epsilon))


def _inference_variants(x, weights, eps):
    """Known-wrong outputs of ``bn_inference_from_layer`` (lazy makers, hints), shared by the hidden
    check and the visible check's literal table (:func:`bn_inference_table`)."""
    g, b, m, v = (np.asarray(w, dtype=np.float64) for w in weights)
    x = np.asarray(x, dtype=np.float64)

    def batch_statistics():
        return ref.batchnorm_forward(x.reshape(-1, x.shape[-1]), g, b, eps)[0].reshape(x.shape)

    variants = [
        (lambda: g * (x - m) / (np.sqrt(v) + eps) + b, "Epsilon is added outside the square root."),
        *[(lambda e=e: g * (x - m) / np.sqrt(v + e) + b,
           f"It uses epsilon {text} instead of the layer's own layer.epsilon.")
          for e, text in ((1e-3, "1e-3"), (1e-5, "1e-5")) if e != eps],
        (lambda: g * (x - m) / np.sqrt(v) + b, "Epsilon is missing: use layer.epsilon inside the square root."),
        (lambda: g * (x - m) / (v + eps) + b, "It divides by (variance + epsilon); divide by its square root."),
        (batch_statistics, "It normalizes with the batch statistics of x (training mode); "
                           "inference uses the moving statistics."),
        (lambda: (x - m) / np.sqrt(v + eps) + b, "gamma (the scale) is missing."),
        (lambda: g * (x - m) / np.sqrt(v + eps), "beta (the shift) is missing."),
        (lambda: g * x / np.sqrt(v + eps) + b, "The moving mean is not subtracted."),
    ]
    ws = dict(zip(WEIGHT_NAMES, (g, b, m, v)))
    for perm in itertools.permutations(WEIGHT_NAMES):
        if perm != WEIGHT_NAMES:
            pg, pb, pm, pv = (ws[n] for n in perm)
            variants.append((lambda pg=pg, pb=pb, pm=pm, pv=pv: pg * (x - pm) / np.sqrt(pv + eps) + pb,
                             "The weights are unpacked in the wrong order: get_weights() returns "
                             "[gamma, beta, moving_mean, moving_variance]."))
    return variants


def _diagnose_inference(got, x, weights, eps):
    variants = [(value, hint) for hint, value in variant_values(_inference_variants(x, weights, eps))]
    return _match(got, variants, **INFERENCE_TOL) or "Compare each step with the inference formula."


def _literal_wrong(variants, want, rtol, atol, digits=None):
    """``[hint, value]`` of the known-wrong variants that apply and differ from the right answer
    ``want`` (the literal wrong outputs of a visible check's table); ``digits`` rounds the values to
    that many significant digits."""
    out = []
    for hint, value in variant_values(variants):
        value = np.asarray(value, dtype=np.float64)
        if value.shape == np.shape(want) and np.allclose(value, want, rtol=rtol, atol=atol, equal_nan=True):
            continue  # cannot be told apart from the right answer on this input
        out.append([hint, value if digits is None else _significant(value, digits)])
    return out


def _significant(value, digits):
    """``value`` rounded to ``digits`` significant digits (floats computed by Keras: the literal then
    does not depend on the machine's summation order)."""
    value = np.asarray(value, dtype=np.float64)
    return np.vectorize(lambda v: float(f"{v:.{digits}g}"), otypes=[np.float64])(value) if value.size else value


def bn_inference_table():
    """Lesson 05, Exercise 1: the visible check's case. epsilon = 0.25 and moving_variance = 0, 0.75,
    3.75, 8.75 make sqrt(moving_variance + epsilon) = 0.5, 1, 2, 3; beta is positive so every wrong
    order of the weights stays finite. The right output is the reference's inference formula, which
    is (checked here) what the Keras layer itself returns."""
    import keras

    eps = 0.25
    weights = [np.array(w, dtype=np.float32) for w in ([1.0, 2.0, 0.5, 3.0], [0.5, 1.0, 2.0, 0.25],
                                                       [1.0, -2.0, 4.0, 0.5], [0.0, 0.75, 3.75, 8.75])]
    x = np.array([[2.0, 0.0, 5.0, 1.5], [0.0, -1.0, 2.0, -2.5], [3.0, -4.0, 8.0, 0.5]], dtype=np.float32)
    want = ref.batchnorm_inference(x.astype(np.float64), *(w.astype(np.float64) for w in weights), eps)
    layer = keras.layers.BatchNormalization(epsilon=eps)
    layer.build(x.shape)
    layer.set_weights(weights)
    if not np.allclose(np.asarray(layer(x, training=False)), want, **INFERENCE_TOL):
        raise AssertionError("bn_inference_table: the reference and keras.layers.BatchNormalization disagree.")
    return [{"label": f"a layer with epsilon={eps:g}", "epsilon": eps, "weights": weights, "x": x,
             "expected": want, "wrong": _literal_wrong(_inference_variants(x, weights, eps), want, **INFERENCE_TOL)}]


# --------------------------------------------------------------------------- lesson 05 (c)

FOLD_TOL = dict(rtol=1e-7, atol=1e-9)  # fold_bn_into_dense: right, and "matches a known mistake"
FOLD_FALLBACK = "Expand gamma * (x @ W + b - mean) / sqrt(var + eps) + beta."


def _fold_reference(w, b, g, beta, m, v, eps):
    scale = g / np.sqrt(v + eps)
    b = np.zeros_like(m) if b is None else b
    return w * scale, (b - m) * scale + beta


def check_fold_bn_into_dense(fold_bn_into_dense):
    """Lesson 05: ``fold_bn_into_dense(kernel, bias, gamma, beta, moving_mean, moving_var, epsilon)``."""
    rng = np.random.default_rng(506)
    cases = [
        (6, 4, True, 1e-3, "a Dense layer with a bias"),
        (5, 3, False, 0.1, "dense_bias=None and epsilon=0.1"),
        (3, 7, True, 1e-5, "epsilon=1e-5"),
        (4, 4, True, 0.5, "a square kernel and epsilon=0.5"),
    ]
    for d_in, d_out, with_bias, eps, label in cases:
        w = rng.normal(0, 1, (d_in, d_out))
        b = rng.normal(0, 1, d_out) if with_bias else None
        g = rng.uniform(0.5, 2.0, d_out) * rng.choice([-1.0, 1.0], d_out)
        beta = rng.normal(0, 1, d_out)
        m = rng.normal(0, 2, d_out)
        v = rng.uniform(0.05, 3.0, d_out)
        v[0] = 2e-3
        try:
            result = call_pure(fold_bn_into_dense, "fold_bn_into_dense", w, b, g, beta, m, v, eps)
        except (TypeError, ValueError, AttributeError) as e:
            if b is None:
                raise AssertionError(
                    f"fold_bn_into_dense failed with dense_bias=None ({type(e).__name__}: {e}). None means the Dense "
                    "layer has no bias (use_bias=False): treat the bias as zeros."
                ) from None
            raise
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise AssertionError("fold_bn_into_dense should return a pair (kernel, bias).")
        kernel, bias = _arr("the folded kernel", result[0]), _arr("the folded bias", result[1])
        if kernel.shape != w.shape:
            raise AssertionError(f"The folded kernel has shape {kernel.shape}; it keeps the Dense kernel's shape {w.shape}.")
        if bias.shape != (d_out,):
            raise AssertionError(f"The folded bias has shape {bias.shape}; it needs one value per unit, shape {(d_out,)}.")
        want_k, want_b = _fold_reference(w, b, g, beta, m, v, eps)
        k_ok = np.allclose(kernel, want_k, **FOLD_TOL)
        b_ok = np.allclose(bias, want_b, **FOLD_TOL)
        if k_ok and b_ok:
            continue
        raise AssertionError(
            f"fold_bn_into_dense is wrong with {label}: the {'kernel' if not k_ok else 'bias'} is off. "
            + _diagnose_fold(kernel if not k_ok else bias, "kernel" if not k_ok else "bias", w, b, g, beta, m, v, eps)
        )


def _fold_variants(which, w, b, g, beta, m, v, eps):
    """Known-wrong folded kernels (``which="kernel"``) or biases (``"bias"``): lazy makers and hints,
    shared by the hidden check and the visible check's literal table (:func:`fold_table`)."""
    b0 = np.zeros_like(m) if b is None else b
    scales = [
        (lambda: g / (np.sqrt(v) + eps), "Epsilon is added outside the square root."),
        *[(lambda e=e: g / np.sqrt(v + e), f"It uses epsilon {text} instead of the epsilon argument.")
          for e, text in ((1e-3, "1e-3"), (1e-5, "1e-5")) if e != eps],
        (lambda: g / np.sqrt(v), "Epsilon is missing from sqrt(moving_var + epsilon)."),
        (lambda: g / (v + eps), "It divides by (moving_var + epsilon); divide by its square root."),
        (lambda: np.sqrt(v + eps) / g, "The scale is inverted: it is gamma / sqrt(moving_var + epsilon)."),
        (lambda: 1 / np.sqrt(v + eps), "gamma is missing from the scale."),
        (lambda: g, "The scale should be gamma / sqrt(moving_var + epsilon), not gamma alone."),
        (lambda: v / np.sqrt(g + eps), "gamma and moving_var are swapped."),
    ]
    true_scale = g / np.sqrt(v + eps)
    if which == "kernel":
        variants = [(lambda s=s: w * s(), hint) for s, hint in scales]
        if w.shape[0] == w.shape[1]:
            variants.append((lambda: w * true_scale[:, None], "It scales the kernel's rows; scale its columns "
                                                              "(one scale per output unit)."))
        variants.append((lambda: w, "The kernel is unchanged: multiply each column by gamma / sqrt(moving_var + epsilon)."))
        return variants
    return [(lambda s=s: (b0 - m) * s() + beta, hint) for s, hint in scales] + [
        (lambda: -m * true_scale + beta, "The Dense bias is missing from the folded bias."),
        (lambda: (b0 - m) * true_scale, "beta is missing from the folded bias."),
        (lambda: b0 - m * true_scale + beta, "The Dense bias must be scaled too: BN normalizes (x @ W + b - moving_mean)."),
        (lambda: b0 - m + beta, "The moving mean (and the Dense bias) must be multiplied by the scale."),
        (lambda: (b0 + m) * true_scale + beta, "The moving mean is subtracted, not added."),
        (lambda: b0 + beta, "The bias ignores the moving mean and the scale."),
    ]


def _diagnose_fold(got, which, w, b, g, beta, m, v, eps):
    variants = [(value, hint) for hint, value in variant_values(_fold_variants(which, w, b, g, beta, m, v, eps))]
    return _match(got, variants, **FOLD_TOL) or FOLD_FALLBACK


def fold_table():
    """Lesson 05, Exercise 3: the visible check's cases (a 2x3 kernel with a bias, then without (None),
    then a square 3x3 kernel, which tells columns from rows). epsilon = 0.25 and moving_var = 0, 0.75,
    3.75 make sqrt(moving_var + epsilon) = 0.5, 1, 2, so with gamma = 1, -2, 3 each output unit's scale
    is 2, -2, 1.5."""
    g, beta = np.array([1.0, -2.0, 3.0]), np.array([0.5, 0.0, -1.0])
    m, v, eps = np.array([2.0, 1.0, -0.5]), np.array([0.0, 0.75, 3.75]), 0.25
    bias = np.array([1.0, -1.0, 0.5])
    w23 = np.array([[1.0, 2.0, -1.0], [0.5, -1.0, 3.0]])
    w33 = np.array([[1.0, -2.0, 0.5], [3.0, 1.0, -1.0], [-0.5, 2.0, 4.0]])
    table = []
    for label, w, b in (("a 2x3 kernel with a bias", w23, bias), ("dense_bias=None", w23, None),
                        ("a square 3x3 kernel", w33, bias)):
        args = [w, b, g, beta, m, v, eps]
        kernel, folded_bias = _fold_reference(*args)
        table.append({"label": label, "args": args, "expected": [kernel, folded_bias],
                      "wrong": {"kernel": _literal_wrong(_fold_variants("kernel", *args), kernel, **FOLD_TOL),
                                "bias": _literal_wrong(_fold_variants("bias", *args), folded_bias, **FOLD_TOL)}})
    return table


# --------------------------------------------------------------------------- lesson 06

def _small_bn_model(rng):
    """Conv -> BN -> ReLU -> Flatten -> Dense -> BN -> ReLU -> Dense, random weights, stale moving stats."""
    import keras

    L = keras.layers
    model = keras.Sequential([
        keras.Input((6, 6, 2)),
        L.Conv2D(3, 3, use_bias=False), L.BatchNormalization(), L.ReLU(),
        L.Flatten(), L.Dense(5, use_bias=False), L.BatchNormalization(momentum=0.9), L.ReLU(),
        L.Dense(4, activation="softmax"),
    ])
    weights = []
    for var in model.weights:
        name = var.path.split("/")[-1]
        shape = tuple(var.shape)
        if name == "moving_mean":
            value = np.full(shape, 3.0)
        elif name == "moving_variance":
            value = np.full(shape, 7.0)
        elif name == "gamma":
            value = rng.uniform(0.5, 1.5, shape)
        elif name == "beta":
            value = rng.normal(0.0, 0.5, shape)
        else:
            value = rng.normal(0.0, 0.5, shape)
        weights.append(value.astype("float32"))
    model.set_weights(weights)
    return model


def _bn_layers(model):
    import keras

    return [lay for lay in model.layers if isinstance(lay, keras.layers.BatchNormalization)]


def _bn_inputs(model, x, training):
    """Per BN layer, the list of its inputs for each batch in ``x`` (a list of batches)."""
    import keras

    bns = _bn_layers(model)
    probe = keras.Model(model.inputs[0], [bn.input for bn in bns])
    saved = model.get_weights()
    outs = [[np.asarray(o, dtype=np.float64) for o in probe(xb, training=training)] for xb in x]
    model.set_weights(saved)  # calling in training mode moved the moving statistics
    return [[o[i] for o in outs] for i in range(len(bns))]


def _moments(z, ddof=0):
    axes = tuple(range(z.ndim - 1))
    n = int(np.prod([z.shape[a] for a in axes]))
    mean = z.mean(axis=axes)
    var = ((z - mean) ** 2).sum(axis=axes) / (n - ddof)
    return mean, var


def _stats_variants(model, x, batch_size):
    """Reference (mean, var) per BN layer, plus known wrong variants with their hints."""
    batches = [x[i:i + batch_size] for i in range(0, len(x), batch_size)]
    train_in = _bn_inputs(model, batches, training=True)
    infer_in = _bn_inputs(model, batches, training=False)
    pooled_in = _bn_inputs(model, [x], training=True)

    def avg(inputs, ddof=0, std=False):
        out = []
        for per_batch in inputs:
            ms, vs = zip(*(_moments(z, ddof) for z in per_batch))
            var = np.mean(np.sqrt(vs), axis=0) ** 2 if std else np.mean(vs, axis=0)
            out.append((np.mean(ms, axis=0), var))
        return out

    reference = avg(train_in)
    variants = [
        (avg(train_in, ddof=1), "It uses the unbiased variance (dividing by n-1); Keras's moving_variance holds the "
                                "biased batch variance (dividing by n)."),
        (avg(train_in, std=True), "It averages standard deviations; average the batch variances."),
        (avg(pooled_in), "It computes the statistics over all of x at once; average the statistics of the "
                         "batches of batch_size examples, as fit sees them."),
        (avg(infer_in), "The BN inputs were computed in inference mode (training=False), so later layers saw "
                        "inputs normalized with the old moving statistics; run the model in training mode."),
        (avg([[z[-1]] for z in train_in]), "It keeps the statistics of the last batch only; average over all batches."),
    ]
    return reference, variants


def _stats_after(model):
    return [(np.asarray(bn.moving_mean, dtype=np.float64), np.asarray(bn.moving_variance, dtype=np.float64))
            for bn in _bn_layers(model)]


def _close_stats(a, b):
    return all(np.allclose(m1, m2, rtol=1e-4, atol=1e-5) and np.allclose(v1, v2, rtol=1e-4, atol=1e-5)
               for (m1, v1), (m2, v2) in zip(a, b))


def check_reestimate_bn_statistics(reestimate_bn_statistics):
    """Lesson 06: ``reestimate_bn_statistics(model, x, batch_size)`` sets each BN layer's moving statistics
    to the average of its per-batch (biased) statistics, the model running in training mode."""
    rng = np.random.default_rng(606)
    for batch_size in (16, 8):
        model = _small_bn_model(rng)
        x = (rng.normal(0.0, 1.0, (48, 6, 6, 2)) + np.array([1.5, -0.5])).astype("float32")
        reference, variants = _stats_variants(model, x, batch_size)
        before = model.get_weights()
        stale = _stats_after(model)
        try:
            call_pure(reestimate_bn_statistics, "reestimate_bn_statistics", model, x, batch_size=batch_size)
        except AssertionError:
            raise
        except NotImplementedError:
            raise AssertionError("reestimate_bn_statistics is not implemented yet.") from None
        except Exception as e:  # noqa: BLE001
            raise AssertionError(
                f"reestimate_bn_statistics raised {type(e).__name__}: {str(e).splitlines()[0][:200]} "
                "(on a model Conv2D -> BN -> ReLU -> Flatten -> Dense -> BN -> ReLU -> Dense)."
            ) from None
        after = model.get_weights()
        moving = {id(v) for bn in _bn_layers(model) for v in (bn.moving_mean, bn.moving_variance)}
        for var, b, a in zip(model.weights, before, after):
            if id(var) not in moving and not np.array_equal(a, b):
                raise AssertionError(
                    "reestimate_bn_statistics changed weights other than the moving statistics "
                    f"({var.path.split('/')[-1]}); it should only set moving_mean and moving_variance."
                )
        got = _stats_after(model)
        for i, ((gm, gv), (sm, sv)) in enumerate(zip(got, stale)):
            if np.allclose(gm, sm) and np.allclose(gv, sv):
                raise AssertionError(
                    f"BatchNormalization layer {i + 1} of {len(got)} kept its old moving statistics: assign the new "
                    "values to every BN layer's moving_mean and moving_variance."
                )
        if _close_stats(got, reference):
            continue
        for value, hint in variants:
            if _close_stats(got, value):
                raise AssertionError(f"reestimate_bn_statistics is wrong with batch_size={batch_size}. {hint}")
        means_ok = all(np.allclose(g[0], r[0], rtol=1e-4, atol=1e-5) for g, r in zip(got, reference))
        raise AssertionError(
            f"reestimate_bn_statistics is wrong with batch_size={batch_size}: the moving "
            + ("variances are off (the means are right)." if means_ok else "means are off.")
            + " Did you set them directly (the moving averages of plain training-mode calls are not the averages)?"
        )


def reestimate_table():
    """Lesson 06, Exercise 2: the visible check's case, on the model ``bncourse.checks.designed_reestimate_model``
    builds (Conv2D(1x1, identity) -> BN -> ReLU -> Flatten -> Dense(2) -> BN -> Dense(1), stale moving
    statistics): 8 examples in batches of 3 (the last has 2), the reference statistics of both BN layers
    (mean, variance) and those of the known mistakes. Computed in float64 (the model built with floatx
    float64) and rounded to 10 significant digits, so the literals do not depend on the machine."""
    import keras

    from bncourse.checks import designed_reestimate_model

    x = (((np.arange(64) * 7) % 11 - 5).reshape(8, 2, 2, 2) / 2).astype(np.float32)
    batch_size = 3
    floatx = keras.config.floatx()
    keras.config.set_floatx("float64")
    try:
        reference, variants = _stats_variants(designed_reestimate_model(), x, batch_size)
    finally:
        keras.config.set_floatx(floatx)

    def literal(stats):
        return [[_significant(m, 10), _significant(v, 10)] for m, v in stats]

    want = literal(reference)
    return [{"label": f"batch_size={batch_size}", "x": x, "batch_size": batch_size, "expected": want,
             "wrong": [[hint, literal(stats)] for stats, hint in variants if not _close_stats(stats, reference)]}]


def _predictions(model, x, batch_size):
    """Class predictions of ``model`` on ``x`` with batch statistics (batches of ``batch_size``), with the
    moving statistics, and with all of ``x`` as one batch; the model is left as it was."""
    initial = model.get_weights()
    batch = np.concatenate([np.asarray(model(x[i:i + batch_size], training=True)).argmax(axis=1)
                            for i in range(0, len(x), batch_size)])
    model.set_weights(initial)
    inference = np.asarray(model(x, training=False)).argmax(axis=1)
    pooled = np.asarray(model(x, training=True)).argmax(axis=1)
    model.set_weights(initial)
    return batch, inference, pooled


def _accuracy_variants(inference, pooled, want):
    """Known-wrong accuracies (values, hints), shared by the hidden check and the visible check's
    literal table (:func:`accuracy_table`)."""
    return [
        (lambda: inference, "That is the inference-mode accuracy (moving statistics); call the model with "
                            "training=True (a BN layer with trainable=False also runs in inference mode)."),
        (lambda: pooled, "It normalizes all of x as one batch; use batches of batch_size examples."),
        (lambda: 100 * want, "Return a fraction between 0 and 1, not a percentage."),
    ]


ACCURACY_TOL = dict(rtol=0.0, atol=1e-9)


def check_accuracy_with_batch_statistics(accuracy_with_batch_statistics):
    """Lesson 06: ``accuracy_with_batch_statistics(model, x, y, batch_size)``: accuracy with each batch
    normalized by its own statistics, leaving the model (its moving statistics) unchanged."""
    rng = np.random.default_rng(607)
    model = _small_bn_model(rng)
    x = (rng.normal(0.0, 1.0, (60, 6, 6, 2)) + np.array([1.5, -0.5])).astype("float32")
    initial = model.get_weights()
    for batch_size in (20, 12):
        batch_pred, infer_pred, pooled_pred = _predictions(model, x, batch_size)
        # labels the batch-statistics predictions get right about half the time, chosen so that the
        # inference-mode and whole-x accuracies differ from the right answer
        for _ in range(100):
            y = np.where(rng.random(len(x)) < 0.5, batch_pred, rng.integers(0, 4, len(x))).astype("int64")
            want, infer, pooled = ((p == y).mean() for p in (batch_pred, infer_pred, pooled_pred))
            if min(abs(want - infer), abs(want - pooled), abs(infer - pooled)) > 1e-9:
                break
        got = call_pure(accuracy_with_batch_statistics, "accuracy_with_batch_statistics", model, x, y,
                        batch_size=batch_size)
        after = model.get_weights()
        if any(not np.array_equal(a, b) for a, b in zip(initial, after)):
            raise AssertionError(
                "accuracy_with_batch_statistics changed the model: calling it with training=True updates the "
                "moving statistics. Save the weights before and restore them after."
            )
        got = float(_arr("accuracy_with_batch_statistics", got))
        if np.isclose(got, want, **ACCURACY_TOL):
            continue
        hint = next((h for h, value in variant_values(_accuracy_variants(infer, pooled, want))
                     if np.isclose(got, value, **ACCURACY_TOL)), None)
        raise AssertionError(hint or f"accuracy_with_batch_statistics is wrong with batch_size={batch_size}.")


def accuracy_table():
    """Lesson 06, Exercise 1: the visible check's case, on the model ``bncourse.checks.designed_accuracy_model``
    builds (Input(1) -> BN -> Dense(2, softmax), class 1 exactly where the BN output is positive). The
    batches [0..3], [10..13], [20..23] (batch_size=4) and labels 0, 0, 1, 0 in each make the right
    accuracy 3/4; the moving statistics (mean 0) give 4/12 and all of x as one batch 7/12."""
    from bncourse.checks import designed_accuracy_model

    x = np.array([0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23], dtype=np.float32)[:, None]
    y = np.array([0, 0, 1, 0] * 3)
    batch_size = 4
    batch_pred, infer_pred, pooled_pred = _predictions(designed_accuracy_model(), x, batch_size)
    want, infer, pooled = (float((p == y).mean()) for p in (batch_pred, infer_pred, pooled_pred))
    return [{"label": f"a model built for the check (batch_size={batch_size})", "x": x, "y": y,
             "batch_size": batch_size, "expected": want,
             "wrong": _literal_wrong(_accuracy_variants(infer, pooled, want), want, **ACCURACY_TOL)}]
