"""Lesson 8's checks, shared by the visible checks (``bncourse.checks``) and the hidden ones.

Each ``run_*`` function calls a learner function on one case of a literal table (the inputs, the
right answer and the outputs of known-wrong variants, each with its hint) and raises
``AssertionError`` naming the mistake. The visible checks read their tables from
``bncourse/expected/08_bn_in_practice.json``; the instructor's hidden checks build the same cases
and a few more with the reference, and call the same functions, so both give the same verdict in
the same words. This module holds no solution: it calls, compares and names mistakes. The small
Keras layers and models it builds (:func:`make_bn_layer`, :func:`freeze_case_model`) are inputs.
"""

from __future__ import annotations

import numbers as _numbers

import numpy as np

from bncourse.casecheck import invoke, numbers

#: Keras's get_weights() order and PyTorch's names for the same four vectors.
KERAS_ORDER = ("gamma", "beta", "moving_mean", "moving_variance")
TORCH_ARRAYS = ("weight", "bias", "running_mean", "running_var")
TORCH_KEYS = (*TORCH_ARRAYS, "momentum", "eps")

PORT_TOL = dict(rtol=1e-6, atol=1e-7)      # copied values: a float32 copy of a float64 value passes
NUMBER_TOL = dict(rtol=1e-6, atol=1e-12)   # momentum and epsilon
FOLD_TOL = {"float64": dict(rtol=1e-7, atol=1e-9), "float32": dict(rtol=2e-6, atol=1e-6)}


def _close(got, want, tol):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        return False
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    with np.errstate(all="ignore"):
        return bool(np.allclose(got, want, rtol=tol["rtol"], atol=tol["atol"] * scale, equal_nan=True))


def _hint(got, wrong, tol):
    """The hint of the first ``[hint, value]`` of ``wrong`` that ``got`` matches, else None."""
    return next((hint for hint, value in wrong if _close(got, value, tol)), None)


def _call(fn, name, args, label, crash_hint=""):
    """The learner's result; a crash or an in-place change of an array (nested in a dict too)
    becomes a failure that names it."""
    nested = [(i, k, v.copy()) for i, a in enumerate(args) if isinstance(a, dict)
              for k, v in a.items() if isinstance(v, np.ndarray)]
    try:
        result = invoke(fn, name, args, {}, (), label, crashes=False)
    except AssertionError:
        raise
    except Exception as e:  # noqa: BLE001 - any crash becomes feedback
        text = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        hint = crash_hint
        if not hint and ("broadcast" in text or "shape" in text):
            hint = (" The shapes do not line up: the scale has one entry per output channel, the last axis of"
                    " an HWIO kernel.")
        raise AssertionError(f"{name} raised {type(e).__name__} on {label}: {text}.{hint}") from None
    for i, k, old in nested:
        new = args[i].get(k)
        if isinstance(new, np.ndarray) and not np.array_equal(new, old, equal_nan=True):
            raise AssertionError(f"{name} changed state[{k!r}] in place on {label} (in-place mutation): the"
                                 " caller's arrays must stay as they were; build new arrays instead.")
    return result


def _pair(result, name, what):
    if result is None:
        raise AssertionError(f"{name} returned None: return {what}.")
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise AssertionError(f"{name} should return a pair {what}, got {type(result).__name__}.")
    return result


def _number(name, value):
    if isinstance(value, bool) or not isinstance(value, (_numbers.Number, np.number, np.ndarray)):
        raise AssertionError(f"{name} should be a number, got {type(value).__name__}.")
    arr = np.asarray(value, dtype=np.float64)
    if arr.size != 1:
        raise AssertionError(f"{name} should be one number, got an array of shape {arr.shape}.")
    return float(arr.reshape(()))


def _vector(name, value, channels, label):
    arr = numbers(name, value)
    if arr.shape != (channels,):
        raise AssertionError(f"{name} has shape {arr.shape} on {label}; it should have one entry per channel, "
                             f"shape ({channels},).")
    return arr


# --------------------------------------------------------------------------- porting: PyTorch -> Keras

def run_torch_bn_to_keras(fn, case):
    """``torch_bn_to_keras(state) -> (kwargs, weights)`` on one case: ``case["state"]`` (a PyTorch-style
    state dict), ``case["expected"]`` (``momentum``, ``epsilon``, ``weights``) and ``case["wrong"]``
    (``[hint, value]`` lists per part)."""
    name, label = "torch_bn_to_keras", case["label"]
    state = case["state"]
    kwargs, weights = _pair(_call(fn, name, (state,), label), name, "(kwargs, weights)")
    want, wrong = case["expected"], case["wrong"]
    _check_kwargs(name, kwargs, label)
    for key in ("momentum", "epsilon"):
        got = _number(f"kwargs[{key!r}]", kwargs[key])
        if not _close(got, want[key], NUMBER_TOL):
            hint = _hint(got, wrong[key], NUMBER_TOL) or (
                "Keras's momentum is the weight of the old moving value, PyTorch's the weight of the new batch "
                "statistic: compare the two update rules." if key == "momentum" else
                "epsilon should be PyTorch's eps, as the state gives it.")
            raise AssertionError(f"{name}: kwargs[{key!r}] is wrong on {label}. {hint}")
    if isinstance(weights, dict):
        raise AssertionError(f"{name}: weights should be a list in the order of layer.get_weights(), not a dict.")
    if not isinstance(weights, (tuple, list)) or len(weights) != 4:
        got = f"a {type(weights).__name__}" + (f" of length {len(weights)}" if isinstance(weights, (tuple, list)) else "")
        raise AssertionError(f"{name}: weights should be a list of four arrays (the order of layer.get_weights()), "
                             f"got {got}.")
    channels = len(want["weights"][0])
    got = [_vector(f"weights[{i}]", w, channels, label) for i, w in enumerate(weights)]
    if all(_close(g, w, PORT_TOL) for g, w in zip(got, want["weights"])):
        return
    hint = next((h for h, values in wrong["weights"] if all(_close(g, v, PORT_TOL) for g, v in zip(got, values))),
                None)
    if hint is None:
        bad = [f"weights[{i}] ({KERAS_ORDER[i]})" for i, (g, w) in enumerate(zip(got, want["weights"]))
               if not _close(g, w, PORT_TOL)]
        hint = f"{', '.join(bad)} {'is' if len(bad) == 1 else 'are'} not the state's values."
    raise AssertionError(f"{name}: the weights are wrong on {label}. {hint}")


def _check_kwargs(name, kwargs, label):
    if not isinstance(kwargs, dict):
        raise AssertionError(f"{name}: kwargs should be a dict for keras.layers.BatchNormalization(**kwargs), "
                             f"got {type(kwargs).__name__}.")
    keys = set(kwargs)
    if "eps" in keys:
        raise AssertionError(f"{name}: kwargs has the key 'eps'; Keras's argument is epsilon "
                             "(BatchNormalization(eps=...) raises a TypeError).")
    if "epsilon" not in keys:
        raise AssertionError(f"{name}: kwargs has no epsilon, so the layer keeps Keras's default 1e-3 (eps left at "
                             "Keras's default): pass PyTorch's eps as epsilon.")
    if "momentum" not in keys:
        raise AssertionError(f"{name}: kwargs has no momentum, so the layer keeps Keras's default 0.99: pass the "
                             "momentum that matches PyTorch's update.")
    if keys != {"momentum", "epsilon"}:
        raise AssertionError(f"{name}: kwargs should hold exactly momentum and epsilon; it also has "
                             f"{sorted(map(str, keys - {'momentum', 'epsilon'}))} ({label}).")


# --------------------------------------------------------------------------- porting: Keras -> PyTorch

def make_bn_layer(spec):
    """A built ``keras.layers.BatchNormalization`` from a case's ``layer`` spec (channels, momentum,
    epsilon, scale, center and the weights in get_weights() order)."""
    import keras

    layer = keras.layers.BatchNormalization(momentum=spec["momentum"], epsilon=spec["epsilon"],
                                            scale=spec["scale"], center=spec["center"])
    layer.build((None, spec["channels"]))
    layer.set_weights([np.asarray(w, np.float32) for w in spec["weights"]])
    return layer


def _layer_label(spec):
    options = [f"momentum={spec['momentum']:g}", f"epsilon={spec['epsilon']:g}"]
    options += [f"{k}=False" for k in ("scale", "center") if not spec[k]]
    return "a layer with " + ", ".join(options)


def run_keras_bn_to_torch(fn, case):
    """``keras_bn_to_torch(layer) -> dict`` with PyTorch's names, on one case: the layer built from
    ``case["layer"]``, ``case["expected"]`` and ``case["wrong"]`` (``momentum``, ``eps``, ``arrays``)."""
    name, spec = "keras_bn_to_torch", case["layer"]
    label = case.get("label") or _layer_label(spec)
    layer = make_bn_layer(spec)
    before = [w.copy() for w in layer.get_weights()]
    missing = [k for k in ("scale", "center") if not spec[k]]
    crash = ""
    if missing:
        which = {"scale": "gamma", "center": "beta"}[missing[0]]
        crash = (f" The layer was built with {missing[0]}=False: it has no {which}, and get_weights() returns "
                 f"{4 - len(missing)} arrays. Read layer.scale and layer.center; PyTorch's weight is then ones "
                 "(bias zeros).")
    result = _call(fn, name, (layer,), label, crash)
    if any(not np.array_equal(a, b) for a, b in zip(before, layer.get_weights())):
        raise AssertionError(f"{name} changed the layer's weights; it should only read them.")
    if not isinstance(result, dict):
        raise AssertionError(f"{name} should return a dict with PyTorch's names {list(TORCH_KEYS)}, got "
                             f"{type(result).__name__}.")
    _check_torch_keys(name, result)
    want, wrong = case["expected"], case["wrong"]
    for key in ("momentum", "eps"):
        got = _number(f"state[{key!r}]", result[key])
        if not _close(got, want[key], NUMBER_TOL):
            hint = _hint(got, wrong[key], NUMBER_TOL) or (
                "PyTorch's momentum is the weight of the new batch statistic, Keras's the weight of the old moving "
                "value: compare the two update rules." if key == "momentum" else "eps should be the layer's epsilon.")
            raise AssertionError(f"{name}: state[{key!r}] is wrong for {label}. {hint}")
    got = {}
    for key in TORCH_ARRAYS:
        if result[key] is None:
            raise AssertionError(f"{name}: state[{key!r}] is None for {label}. A layer built with scale=False has no "
                                 "gamma (center=False: no beta); PyTorch's weight is then ones (bias zeros).")
        got[key] = _vector(f"state[{key!r}]", result[key], spec["channels"], label)
    if all(_close(got[k], want[k], PORT_TOL) for k in TORCH_ARRAYS):
        return
    hint = next((h for h, values in wrong["arrays"]
                 if all(_close(got[k], values[k], PORT_TOL) for k in TORCH_ARRAYS)), None)
    if hint is None:
        bad = [k for k in TORCH_ARRAYS if not _close(got[k], want[k], PORT_TOL)]
        hint = f"{', '.join(bad)} {'is' if len(bad) == 1 else 'are'} not the layer's values."
        if (not spec["scale"] and "weight" in bad) or (not spec["center"] and "bias" in bad):
            hint += " Without gamma Keras scales by nothing (PyTorch's weight is ones); without beta it shifts by nothing."
    raise AssertionError(f"{name}: the arrays are wrong for {label}. {hint}")


def _check_torch_keys(name, result):
    keys = set(result)
    if "epsilon" in keys and "eps" not in keys:
        raise AssertionError(f"{name}: PyTorch calls it eps, not epsilon.")
    if keys & set(KERAS_ORDER):
        raise AssertionError(f"{name}: use PyTorch's names weight, bias, running_mean, running_var, not Keras's "
                             f"({', '.join(sorted(keys & set(KERAS_ORDER)))}).")
    lacking = [k for k in TORCH_KEYS if k not in keys]
    if lacking:
        raise AssertionError(f"{name}: the dict has no {', '.join(lacking)}; it needs {list(TORCH_KEYS)}.")


# --------------------------------------------------------------------------- fine-tuning: freezing BN

def freeze_case_model(which):
    """The checks' tiny models. ``flat``: one Sequential, two BN layers (one named batch_normalization_...,
    one not). ``nested``: a functional model whose backbone is a Sequential holding BN and a functional
    model with two more BN layers, then LayerNormalization and an already frozen Dense. ``no_bn``: no BN."""
    import keras

    L = keras.layers
    if which == "flat":
        return keras.Sequential([
            keras.Input((6,)), L.Dense(8, use_bias=False, name="dense_1"), L.BatchNormalization(name="batch_normalization_a"),
            L.ReLU(name="relu_1"), L.Dense(8, use_bias=False, name="dense_2"), L.BatchNormalization(name="bn_head"),
            L.Dense(3, name="logits")], name="flat")
    if which == "no_bn":
        return keras.Sequential([keras.Input((4,)), L.Dense(4, name="dense"), L.LayerNormalization(name="ln"),
                                 L.Dense(2, name="logits")], name="no_bn")
    x = keras.Input((8, 8, 4), name="inner_in")
    h = L.ReLU(name="inner_relu")(L.BatchNormalization(name="inner_norm")(L.Conv2D(4, 3, use_bias=False, name="inner_conv")(x)))
    h = L.BatchNormalization(name="batch_normalization_inner")(L.Conv2D(4, 1, use_bias=False, name="inner_mix")(h))
    inner = keras.Model(x, h, name="inner")  # a functional model inside a Sequential
    backbone = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(4, 1, use_bias=False, name="stem_conv"),
                                 L.BatchNormalization(name="batch_normalization_stem"), L.ReLU(name="stem_relu"),
                                 inner], name="backbone")
    inputs = keras.Input((8, 8, 1), name="image")
    h = L.GlobalAveragePooling2D(name="pool")(backbone(inputs))
    h = L.LayerNormalization(name="ln")(h)
    h = L.Dense(5, trainable=False, name="frozen_dense")(h)
    return keras.Model(inputs, L.Dense(3, name="logits")(h), name="nested")


def layer_flags(model):
    """``[[path, class name, trainable], ...]`` of every layer of ``model``, nested ones as
    ``outer/inner``, read from the model's config (what a saved model would record)."""
    out = []

    def walk(config, prefix):
        for entry in config.get("layers", []):
            cfg = entry.get("config", {})
            if entry.get("class_name") == "InputLayer":
                continue
            path = prefix + str(cfg.get("name"))
            out.append([path, entry.get("class_name"), bool(cfg.get("trainable", True))])
            if isinstance(cfg.get("layers"), list):
                walk(cfg, path + "/")

    walk(model.get_config(), "")
    return out


def run_freeze_batchnorm(fn, case):
    """``freeze_batchnorm(model) -> model`` on one of the tiny models of :func:`freeze_case_model`:
    every layer's trainable flag after the call against ``case["expected"]`` (literal flags)."""
    name, label = "freeze_batchnorm", f"the {case['model']!r} model ({case['label']})"
    model = freeze_case_model(case["model"])
    result = _call(fn, name, (model,), label)
    if result is None:
        raise AssertionError(f"{name} returned None on {label}: return the model (model = freeze_batchnorm(model)).")
    if isinstance(result, (_numbers.Number, np.number)):
        raise AssertionError(f"{name} returned a number on {label}: return the model itself.")
    if not hasattr(result, "get_config") or not hasattr(result, "layers"):
        raise AssertionError(f"{name} should return the model, got {type(result).__name__}.")
    got = {path: (cls, flag) for path, cls, flag in layer_flags(result)}
    want = {path: (cls, flag) for path, cls, flag in case["expected"]}
    if {p: c for p, (c, _) in got.items()} != {p: c for p, (c, _) in want.items()}:
        raise AssertionError(f"{name}: the returned model does not have the layers of the model passed in ({label}): "
                             "set the flags on the model's own layers and return it.")
    diff = [(p, want[p][0], got[p][1]) for p in want if got[p][1] != want[p][1]]
    if diff:
        raise AssertionError(f"{name} is wrong on {label}. {_freeze_hint(diff, want)}")


def _freeze_hint(diff, want):
    """Name the mistake from which layers got the wrong flag (path, class, flag now)."""
    models = {p for p in want if any(q.startswith(p + "/") for q in want)}
    bn_left = [p for p, cls, flag in diff if cls == "BatchNormalization" and flag]
    others = [(p, cls, flag) for p, cls, flag in diff if cls != "BatchNormalization"]
    if any(p in models and not flag for p, _, flag in others):
        return ("It froze a whole nested model: trainable=False on a model freezes every layer inside it (its "
                "Conv2D kernels too). Set it on each BatchNormalization layer only.")
    if any(cls == "LayerNormalization" and not flag for _, cls, flag in others):
        return ("It froze LayerNormalization too: only BatchNormalization layers keep moving statistics; leave "
                "other layers as they are.")
    if any(flag for _, _, flag in others):
        return ("It changed the trainable flag of layers that are not BatchNormalization (it set some to True): "
                "leave other layers' flags as they are.")
    if others:
        return ("It froze layers that are not BatchNormalization (" + ", ".join(p for p, _, _ in others)
                + "): freeze only the BN layers.")
    if not bn_left:
        return "Compare each layer's trainable flag with what the exercise asks."
    frozen = [p for p, (cls, _) in want.items() if cls == "BatchNormalization" and p not in bn_left]
    shallowest = min(p.count("/") for p in bn_left)
    if shallowest > 0 and not any(p.count("/") >= shallowest for p in frozen):
        return ("BatchNormalization layers inside nested models are still trainable: model.layers lists only a "
                "model's own layers; look inside the layers that are models themselves (they have .layers), at "
                "every depth.")
    if frozen:
        return ("It froze some BatchNormalization layers and left others trainable (" + ", ".join(bn_left)
                + "): did it find them by their name? A BN layer may have any name; test the type, "
                "isinstance(layer, keras.layers.BatchNormalization).")
    return "These BatchNormalization layers are still trainable: " + ", ".join(bn_left) + "."


# --------------------------------------------------------------------------- serving: folding into Conv2D

def run_fold_bn_into_conv(fn, case):
    """``fold_bn_into_conv(conv_kernel, conv_bias, gamma, beta, moving_mean, moving_var, epsilon)`` on one
    case: ``case["args"]``, ``case["expected"]`` (kernel, bias) and ``case["wrong"]`` (per part)."""
    name, label = "fold_bn_into_conv", case["label"]
    args = [a.copy() if isinstance(a, np.ndarray) else a for a in case["args"]]
    w, b = args[0], args[1]
    crash = (" None means the Conv2D layer has no bias (use_bias=False): treat it as zeros."
             if b is None else "")
    kernel, bias = _pair(_call(fn, name, tuple(args), label, crash), name, "(kernel, bias)")
    dtypes = sorted({str(np.asarray(v).dtype) for v in (kernel, bias) if hasattr(v, "dtype")})  # lists: values only
    want_kernel, want_bias = case["expected"]
    kernel, bias = numbers("the folded kernel", kernel), numbers("the folded bias", bias)
    if kernel.shape != w.shape:
        raise AssertionError(f"{name}: the folded kernel has shape {kernel.shape} on {label}; it keeps the conv "
                             f"kernel's shape {w.shape} (HWIO).")
    if bias.shape != want_bias.shape:
        raise AssertionError(f"{name}: the folded bias has shape {bias.shape} on {label}; it needs one value per "
                             f"output channel, shape {want_bias.shape}.")
    tol = FOLD_TOL[str(w.dtype)]
    for which, got, want in (("kernel", kernel, want_kernel), ("bias", bias, want_bias)):
        if not _close(got, want, tol):
            hint = _hint(got, case["wrong"][which], tol) or "Expand gamma * (conv(x) + b - mean) / sqrt(var + eps) + beta."
            raise AssertionError(f"{name} is wrong on {label}: the {which} is off. {hint}")
    if dtypes and dtypes != [str(w.dtype)]:
        raise AssertionError(f"{name} returns {'/'.join(dtypes)} for {w.dtype} inputs on {label}: keep the dtype of "
                             f"conv_kernel ({w.dtype}). np.zeros(n) is float64; np.zeros_like(...) or dtype=... keeps "
                             "the dtype.")
