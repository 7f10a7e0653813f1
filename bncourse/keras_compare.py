"""Keras's BatchNormalization, forward and backward, as NumPy arrays: the comparison lessons 3 and 4 show.

Lessons 3 and 4 compare the learner's NumPy batch norm with ``keras.layers.BatchNormalization``
in training mode; ``tests/test_reference.py`` compares the instructor reference with it the same
way. The gradients are those of ``sum(out * dout)``, computed by ``tf.GradientTape``: the same
upstream-gradient convention as the lessons' ``backward(dout, cache)``.

TensorFlow is imported inside :func:`keras_batchnorm`, so importing this module (or ``bncourse``)
does not import it: the NumPy lessons call it only from ``%%demo`` cells, which are skipped while
grading.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np


class KerasBatchNorm(NamedTuple):
    """What :func:`keras_batchnorm` returns; arrays in the layer's dtype."""

    out: np.ndarray      # (same shape as x) the layer's training-mode output
    dx: np.ndarray       # (same shape as x) d sum(out * dout) / dx
    dgamma: np.ndarray   # (C,) gradient with respect to gamma
    dbeta: np.ndarray    # (C,) gradient with respect to beta
    layer: Any           # the keras.layers.BatchNormalization after its one training call


def keras_batchnorm(x, gamma, beta, dout, *, epsilon=1e-3, momentum=0.99, axis=-1, dtype="float32"):
    """One training-mode call of a fresh ``keras.layers.BatchNormalization``, and its gradients.

    Inputs:
    - x: array of shape (N, D), or (N, H, W, C) with the features on ``axis`` (NHWC: ``axis=-1``)
    - gamma, beta: arrays of shape (C,), C = x.shape[axis]: the layer's scale and shift
    - dout: upstream gradient, same shape as x
    - epsilon, momentum, axis: the layer's arguments (Keras's defaults: 1e-3, 0.99, -1)
    - dtype: the layer's dtype and the one x and dout are converted to; ``"float64"`` for a
      comparison to ~1e-10, Keras's default ``"float32"`` otherwise

    Returns a :class:`KerasBatchNorm` ``(out, dx, dgamma, dbeta, layer)``: the output, the
    gradients of ``sum(out * dout)`` with respect to x, gamma and beta, and the layer itself (its
    moving statistics have taken one step).
    """
    import keras
    import tensorflow as tf

    layer = keras.layers.BatchNormalization(axis=axis, momentum=momentum, epsilon=epsilon, dtype=dtype)
    layer.build(np.shape(x))
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    x_t = tf.constant(x, dtype=dtype)
    with tf.GradientTape() as tape:
        tape.watch(x_t)
        out = layer(x_t, training=True)
        loss = tf.reduce_sum(out * tf.constant(dout, dtype=dtype))
    dx, dgamma, dbeta = tape.gradient(loss, [x_t, layer.gamma, layer.beta])
    return KerasBatchNorm(np.asarray(out), np.asarray(dx), np.asarray(dgamma), np.asarray(dbeta), layer)
