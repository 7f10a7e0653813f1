"""Spatial backward that is the exact gradient of the learner's own (wrong: N-1 variance) forward,
with its own tuple cache: Exercise 2 is graded against a numeric gradient of that forward."""
import numpy as np

TARGET = "spatial_batchnorm_backward"


def spatial_batchnorm_forward(x, gamma, beta, eps=1e-3):
    ax = (0, 1, 2)
    m = x.shape[0] * x.shape[1] * x.shape[2]
    xmu = x - x.mean(axis=ax)
    inv_std = 1.0 / np.sqrt((xmu ** 2).sum(axis=ax) / (m - 1) + eps)
    x_hat = xmu * inv_std
    return gamma * x_hat + beta, (x_hat, gamma, inv_std, m)


def spatial_batchnorm_backward(dout, cache):
    x_hat, gamma, inv_std, m = cache
    ax = (0, 1, 2)
    g = dout * gamma
    dx = inv_std * (g - g.sum(axis=ax) / m - x_hat * (g * x_hat).sum(axis=ax) / (m - 1))
    return dx, (dout * x_hat).sum(axis=ax), dout.sum(axis=ax)
