"""Spatial backward with axis=(0, 1, 2) sums directly on 4-D arrays (no reshape), tuple cache."""
import numpy as np

TARGET = "spatial_batchnorm_backward"


def spatial_batchnorm_forward(x, gamma, beta, eps=1e-3):
    ax = (0, 1, 2)
    mean = x.mean(axis=ax)
    inv_std = 1.0 / np.sqrt(((x - mean) ** 2).mean(axis=ax) + eps)
    x_hat = (x - mean) * inv_std
    return gamma * x_hat + beta, (x_hat, gamma, inv_std)


def spatial_batchnorm_backward(dout, cache):
    x_hat, gamma, inv_std = cache
    ax = (0, 1, 2)
    dbeta = dout.sum(axis=ax)
    dgamma = (dout * x_hat).sum(axis=ax)
    g = dout * gamma
    dx = inv_std * (g - g.mean(axis=ax) - x_hat * (g * x_hat).mean(axis=ax))
    return dx, dgamma, dbeta
