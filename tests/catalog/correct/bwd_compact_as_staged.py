"""The compact closed-form backward used as batchnorm_backward, with its own tuple cache (x, gamma, eps)."""
import numpy as np

TARGET = "batchnorm_backward"


def batchnorm_forward(x, gamma, beta, eps=1e-3):
    mean = x.mean(axis=0)
    var = ((x - mean) ** 2).mean(axis=0)
    out = gamma * (x - mean) / np.sqrt(var + eps) + beta
    return out, (x, gamma, eps)


def batchnorm_backward(dout, cache):
    x, gamma, eps = cache
    mean = x.mean(axis=0)
    inv_std = 1.0 / np.sqrt(((x - mean) ** 2).mean(axis=0) + eps)
    x_hat = (x - mean) * inv_std
    g = dout * gamma
    dx = inv_std * (g - g.mean(axis=0) - x_hat * (g * x_hat).mean(axis=0))
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)
