"""Spatial backward that divides by the batch size N instead of N*H*W."""
import numpy as np

TARGET = "spatial_batchnorm_backward"
EXPECT = "batch size N"


def spatial_batchnorm_forward(x, gamma, beta, eps=1e-3):
    mean = x.mean(axis=(0, 1, 2))
    inv_std = 1.0 / np.sqrt(x.var(axis=(0, 1, 2)) + eps)
    x_hat = (x - mean) * inv_std
    return gamma * x_hat + beta, (x_hat, gamma, inv_std)


def spatial_batchnorm_backward(dout, cache):
    x_hat, gamma, inv_std = cache
    n = dout.shape[0]
    g = dout * gamma
    ax = (0, 1, 2)
    dx = inv_std / n * (n * g - g.sum(axis=ax) - x_hat * (g * x_hat).sum(axis=ax))
    return dx, (dout * x_hat).sum(axis=ax), dout.sum(axis=ax)
