"""Staged backward that rebuilds 1/sqrt(var + eps) from the cached variance with Keras's default
epsilon written in, instead of the eps the forward used (stored in the cache)."""
import numpy as np

TARGET = "batchnorm_backward"
EXPECT = "eps"


def batchnorm_backward(dout, cache):
    x_hat, gamma, var = cache["x_hat"], cache["gamma"], cache["var"]
    inv_std = 1.0 / np.sqrt(var + 1e-3)
    n = dout.shape[0]
    dx_hat = dout * gamma
    xmu = x_hat / inv_std
    dvar = np.sum(dx_hat * xmu, axis=0) * -0.5 * inv_std ** 3
    dmu = -np.sum(dx_hat * inv_std, axis=0) + dvar * np.mean(-2 * xmu, axis=0)
    dx = dx_hat * inv_std + dvar * 2 * xmu / n + dmu / n
    return dx, np.sum(dout * x_hat, axis=0), np.sum(dout, axis=0)
