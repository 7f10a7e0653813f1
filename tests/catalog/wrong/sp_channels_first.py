"""Spatial forward written for (N, C, H, W): transposes as if channels were axis 1, then flattens."""
import numpy as np

TARGET = "spatial_batchnorm_forward"
EXPECT = "channels first"


def spatial_batchnorm_forward(x, gamma, beta, eps=1e-3):
    n, h, w, c = x.shape
    flat = x.transpose(0, 3, 1, 2).reshape(-1, c)
    x_hat = (flat - flat.mean(axis=0)) / np.sqrt(flat.var(axis=0) + eps)
    out = (gamma * x_hat + beta).reshape(n, c, h, w).transpose(0, 2, 3, 1)
    return out, x_hat
