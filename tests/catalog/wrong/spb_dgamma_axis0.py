"""Spatial backward that sums dgamma and dbeta over the batch axis only (shape (H, W, C))."""
import numpy as np

TARGET = "spatial_batchnorm_backward"
EXPECT = "one entry per channel"


def spatial_batchnorm_forward(x, gamma, beta, eps=1e-3):
    mean = x.mean(axis=(0, 1, 2))
    inv_std = 1.0 / np.sqrt(x.var(axis=(0, 1, 2)) + eps)
    x_hat = (x - mean) * inv_std
    return gamma * x_hat + beta, (x_hat, gamma, inv_std)


def spatial_batchnorm_backward(dout, cache):
    x_hat, gamma, inv_std = cache
    ax = (0, 1, 2)
    m = dout.shape[0] * dout.shape[1] * dout.shape[2]
    g = dout * gamma
    dx = inv_std / m * (m * g - g.sum(axis=ax) - x_hat * (g * x_hat).sum(axis=ax))
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)
