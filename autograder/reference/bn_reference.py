"""Instructor reference implementation of batch normalization in NumPy.

Hidden tests compare learner functions against these. Never copied into
``notebooks/`` or ``bncourse``. Conventions follow Keras 3:
``epsilon=1e-3`` inside the square root, biased batch variance, and
``moving = momentum * moving + (1 - momentum) * batch``.

All functions are pure: they never modify their inputs.
"""

from __future__ import annotations

import numpy as np


def batch_moments(x):
    """Per-feature mean and biased variance of ``x`` (N, D), two-pass as Keras does."""
    mean = x.mean(axis=0)
    var = ((x - mean) ** 2).mean(axis=0)
    return mean, var


def batchnorm_forward(x, gamma, beta, eps=1e-3):
    """Training-mode batch norm.

    Args:
        x: (N, D) inputs.
        gamma, beta: (D,) scale and shift.
        eps: added to the variance inside the square root.

    Returns:
        out: (N, D) ``gamma * x_hat + beta``.
        cache: dict with ``x_hat``, ``gamma``, ``inv_std``, ``mean``, ``var``, ``eps``.
    """
    mean, var = batch_moments(x)
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (x - mean) * inv_std
    out = gamma * x_hat + beta
    cache = {"x_hat": x_hat, "gamma": gamma, "inv_std": inv_std, "mean": mean, "var": var, "eps": eps}
    return out, cache


def update_moving_stats(moving_mean, moving_var, batch_mean, batch_var, momentum=0.99):
    """One Keras-style moving-average step; returns new arrays."""
    new_mean = momentum * moving_mean + (1.0 - momentum) * batch_mean
    new_var = momentum * moving_var + (1.0 - momentum) * batch_var
    return new_mean, new_var


def batchnorm_inference(x, gamma, beta, moving_mean, moving_var, eps=1e-3):
    """Inference-mode batch norm with the moving statistics."""
    return gamma * (x - moving_mean) / np.sqrt(moving_var + eps) + beta


def batchnorm_backward(dout, cache):
    """Backward pass, staged through the computational graph.

    Returns ``(dx, dgamma, dbeta)`` shaped like ``x``, ``gamma`` and ``beta``.
    """
    x_hat, gamma, inv_std = cache["x_hat"], cache["gamma"], cache["inv_std"]
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx_hat = dout * gamma
    xmu = x_hat / inv_std                              # x - mean
    divar = (dx_hat * xmu).sum(axis=0)                 # d out / d inv_std
    dsqrtvar = -divar * inv_std**2                     # inv_std = 1 / sqrtvar
    dvar = 0.5 * inv_std * dsqrtvar                    # sqrtvar = sqrt(var + eps)
    dsq = np.ones_like(dout) * dvar / n                # var = mean(sq)
    dxmu = dx_hat * inv_std + 2 * xmu * dsq            # sq = xmu ** 2
    dmu = -dxmu.sum(axis=0)                            # xmu = x - mu
    dx = dxmu + dmu / n                                # mu = mean(x)
    return dx, dgamma, dbeta


def batchnorm_backward_alt(dout, cache):
    """Backward pass in closed form: ``dx = inv_std / N * (N*g - sum g - x_hat * sum(g * x_hat))``."""
    x_hat, gamma, inv_std = cache["x_hat"], cache["gamma"], cache["inv_std"]
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    g = dout * gamma
    dx = inv_std / n * (n * g - g.sum(axis=0) - x_hat * (g * x_hat).sum(axis=0))
    return dx, dgamma, dbeta


def spatial_batchnorm_forward(x, gamma, beta, eps=1e-3):
    """Batch norm for (N, H, W, C) inputs: each channel normalized over N, H and W."""
    n, h, w, c = x.shape
    out, cache = batchnorm_forward(x.reshape(-1, c), gamma, beta, eps)
    return out.reshape(n, h, w, c), cache


def spatial_batchnorm_backward(dout, cache):
    """Backward pass of :func:`spatial_batchnorm_forward`."""
    n, h, w, c = dout.shape
    dx, dgamma, dbeta = batchnorm_backward_alt(dout.reshape(-1, c), cache)
    return dx.reshape(n, h, w, c), dgamma, dbeta
