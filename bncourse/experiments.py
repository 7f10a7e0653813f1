"""Lesson 7's experiment machinery: small MNIST nets, trained with SGD, swept over one setting.

What it does, in the order lesson 7 uses it:

- :func:`mlp` builds every net of the lesson: ``depth`` hidden ``Dense(width)`` layers, each
  followed by an optional normalization layer (:func:`norm_layer`: ``"bn"``, ``"ln"``, ``"gn"``)
  and the activation (or the activation first, ``where="after"``), then ``Dense(10)`` logits.
  A ``Dense`` layer right before a BN layer has no bias (BN's ``beta`` replaces it).
- :func:`reinitialize` draws fresh weights with NumPy for each run, so a net is built and its
  SGD loop traced only once per architecture (:meth:`Trainer.compiled`, :func:`sgd_loop`).
- :meth:`Trainer.train` trains one fresh net and evaluates it on the test subset;
  :meth:`Trainer.sweep` does that for every variant, value and seed; :func:`plot_sweep` draws it.

Everything is seeded: the seed of a run fixes its initial weights and its mini-batches, so a
rerun gives the same numbers. TensorFlow and Keras are imported when this module is, so only
the Keras lesson imports it.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from bncourse.results import progress, stopwatch


def norm_layer(norm, bn_momentum):
    """A fresh normalization layer: ``"bn"`` BatchNormalization (momentum ``bn_momentum``),
    ``"ln"`` LayerNormalization, ``"gn"`` GroupNormalization with 10 groups."""
    if norm == "bn":
        return keras.layers.BatchNormalization(momentum=bn_momentum)
    if norm == "ln":
        return keras.layers.LayerNormalization()
    if norm == "gn":
        return keras.layers.GroupNormalization(groups=10)  # 10 groups of 10 units
    raise ValueError(norm)


def mlp(norm=None, activation="sigmoid", where="before", bn_momentum=0.9, width=100, depth=3):
    """A fully-connected net on flattened MNIST images.

    Inputs:
    - norm: None, ``"bn"``, ``"ln"`` or ``"gn"`` (see :func:`norm_layer`), after every hidden Dense
    - activation: a Keras activation name
    - where: ``"before"`` (Dense, norm, activation) or ``"after"`` (Dense, activation, norm)
    - bn_momentum: BN's momentum for its moving statistics
    - width, depth: units per hidden layer, number of hidden layers

    Returns a ``keras.Model`` from an input of shape (N, 784) to two outputs: the logits, shape
    (N, 10), and the input of the last hidden activation (its pre-activation), shape (N, width).
    """
    x = inputs = keras.Input((784,))
    for _ in range(depth):
        x = keras.layers.Dense(width, use_bias=not (norm == "bn" and where == "before"))(x)  # only BN cancels it
        if norm and where == "before":
            x = norm_layer(norm, bn_momentum)(x)
        pre_activation = x
        x = keras.layers.Activation(activation)(x)
        if norm and where == "after":
            x = norm_layer(norm, bn_momentum)(x)
    return keras.Model(inputs, [keras.layers.Dense(10)(x), pre_activation])


def reinitialize(model, std, seed):
    """Draw fresh weights for a new run of an already built model, in place.

    Hidden kernels of shape (fan_in, units) from N(0, std^2), or He's std = sqrt(2 / fan_in)
    with ``std="he"``; the output kernel (the last layer's) from Keras's default Glorot-uniform;
    biases, ``beta`` and BN's moving mean 0, ``gamma`` and the moving variance 1 (Keras's initial
    values). ``seed`` seeds the NumPy generator, so it fixes every value.
    """
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for v in layer.variables:
            shape = tuple(v.shape)
            if v.name == "kernel" and layer is model.layers[-1]:
                limit = np.sqrt(6 / sum(shape))
                value = rng.uniform(-limit, limit, shape)
            elif v.name == "kernel":
                value = rng.normal(0.0, np.sqrt(2 / shape[0]) if std == "he" else std, shape)
            elif v.name in ("gamma", "moving_variance"):
                value = np.ones(shape)
            else:  # bias, beta, moving_mean
                value = np.zeros(shape)
            v.assign(value.astype("float32"))


def sgd_loop(model, x_train, y_train, loss):
    """A traced SGD loop for ``model`` and its momentum buffers.

    Inputs:
    - model: a model from :func:`mlp`
    - x_train, y_train: tensors of shape (N, 784) and (N,): the whole training set
    - loss: ``loss(y, logits)``, e.g. ``SparseCategoricalCrossentropy(from_logits=True)``

    Returns ``(velocity, sgd_steps, predict)``: ``velocity``, one ``tf.Variable`` of zeros per
    trainable variable; ``sgd_steps(batches, lr, momentum)``, one SGD step (``v <- momentum * v -
    lr * g``, ``w <- w + v``) per row of ``batches``, an int64 array (steps, batch_size) of
    training-set indices; ``predict(x)``, the model's two outputs in inference mode.
    """
    velocity = [tf.Variable(tf.zeros_like(w)) for w in model.trainable_variables]

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int64),
                                  tf.TensorSpec([], tf.float32), tf.TensorSpec([], tf.float32)])
    def sgd_steps(batches, lr, momentum):
        """One SGD step per row of `batches` (training-set indices)."""
        for i in tf.range(tf.shape(batches)[0]):
            x, y = tf.gather(x_train, batches[i]), tf.gather(y_train, batches[i])
            with tf.GradientTape() as tape:
                value = loss(y, model(x, training=True)[0])
            grads = tape.gradient(value, model.trainable_variables)
            for w, v, g in zip(model.trainable_variables, velocity, grads):
                v.assign(momentum * v - lr * g)
                w.assign_add(v)

    predict = tf.function(lambda x: model(x, training=False))
    return velocity, sgd_steps, predict


class Trainer:
    """Trains :func:`mlp` nets on one data set, evaluating them on a fixed test subset.

    Inputs:
    - x_train, y_train: arrays of shape (N, 784), float32 in [0, 1], and (N,), int labels
    - x_test, y_test: arrays of shape (M, 784) and (M,): every evaluation uses all M
    - seeds: the seeds :meth:`sweep` runs every setting with
    - loss: the training loss, ``loss(y, logits)``; softmax cross-entropy on logits by default
    """

    def __init__(self, x_train, y_train, x_test, y_test, seeds, loss=None):
        self.x_train, self.y_train, self.x_test, self.y_test = x_train, y_train, x_test, y_test
        self.seeds = seeds
        self.loss = loss or keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        self._x, self._y = tf.constant(x_train), tf.constant(y_train)
        self._compiled = {}

    def compiled(self, norm, activation, where, bn_momentum):
        """``(model, velocity, sgd_steps, predict)``: one model and one traced SGD loop per
        architecture, built at the first call and reused after (see :func:`sgd_loop`)."""
        key = (norm, activation, where, bn_momentum)
        if key not in self._compiled:
            model = mlp(norm, activation, where, bn_momentum)
            self._compiled[key] = (model, *sgd_loop(model, self._x, self._y, self.loss))
        return self._compiled[key]

    def train(self, norm=None, activation="sigmoid", std=0.05, seed=0, lr=0.5, momentum=0.0, steps=500,
              batch_size=60, eval_every=None, where="before", bn_momentum=0.9, probe_unit=None,
              keep_weights=False):
        """Train a fresh net; evaluate it (inference mode) on the test subset every `eval_every` steps.

        ``norm``, ``activation``, ``where``, ``bn_momentum`` choose the net (:func:`mlp`), ``std``
        and ``seed`` its initial weights (:func:`reinitialize`); ``seed`` also draws the
        ``steps`` mini-batches of ``batch_size`` training examples (with replacement). ``lr``
        and ``momentum`` are SGD's. ``eval_every`` defaults to ``steps`` (one evaluation, at
        the end).

        Returns a dict: arrays "step" and "acc", shape (E,) for E evaluations (the step and the
        test accuracy there) and, if asked, "probe", shape (E, M) (unit `probe_unit`'s
        pre-activation on every test image, one row per evaluation), and "weights" (a list:
        all weights at every evaluation, as model.get_weights()).
        """
        model, velocity, sgd_steps, predict = self.compiled(norm, activation, where, bn_momentum)
        reinitialize(model, std, seed)
        for v in velocity:
            v.assign(tf.zeros_like(v))
        batches = np.random.default_rng([seed, 1]).integers(0, len(self.x_train), size=(steps, batch_size))
        eval_every = eval_every or steps
        history = {"step": [], "acc": [], "probe": [], "weights": []}
        for start in range(0, steps, eval_every):
            sgd_steps(batches[start:start + eval_every], lr, momentum)
            logits, pre_activation = predict(self.x_test)
            history["step"].append(min(start + eval_every, steps))
            history["acc"].append(np.mean(np.argmax(logits, axis=1) == self.y_test))
            if probe_unit is not None:
                history["probe"].append(np.asarray(pre_activation)[:, probe_unit])
            if keep_weights:
                history["weights"].append(model.get_weights())
        return {k: (v if k == "weights" else np.array(v)) for k, v in history.items()}

    def sweep(self, param, values, variants, **common):
        """Final test accuracy of every (variant, value, seed).

        Inputs:
        - param: the name of the :meth:`train` argument to vary, e.g. ``"lr"``
        - values: its V values
        - variants: ``{label: dict of train arguments}``, e.g. ``{"with BN": dict(norm="bn")}``
        - common: train arguments shared by all runs

        Returns ``{label: array (V, S)}``, S = len(seeds): accuracy per value (row) and seed
        (column). Prints one progress line per sweep point (variant and value, all seeds).
        """
        stopwatch()
        results = {}
        for label, kwargs in variants.items():
            rows = []
            for value in values:
                rows.append([self.train(**common, **kwargs, **{param: value}, seed=seed)["acc"][-1]
                             for seed in self.seeds])
                progress(f"{label}, {param} {value:g}: mean accuracy {np.mean(rows[-1]):.3f} "
                         f"over {len(self.seeds)} seed(s)")
            results[label] = np.array(rows)
        return results


def plot_sweep(ax, values, results, xlabel, title, base=10):
    """Plot a :meth:`Trainer.sweep` on ``ax``: the mean over seeds as a line, every seed as a faint
    dot, chance level (0.1) dotted; ``values`` (V,) on a log axis of base ``base``."""
    for label, acc in results.items():
        (line,) = ax.plot(values, acc.mean(axis=1), marker="o", label=label)
        for column in acc.T:
            ax.scatter(values, column, color=line.get_color(), alpha=0.35, s=14)
    ax.axhline(0.1, color="gray", linestyle=":", linewidth=1)
    ax.set_xscale("log", base=base)
    ax.set_xticks(values, [f"{v:g}" for v in values])
    ax.minorticks_off()
    ax.set(xlabel=xlabel, ylabel="test accuracy", title=title, ylim=(0, 1))
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
