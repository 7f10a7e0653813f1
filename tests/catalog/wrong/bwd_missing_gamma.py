"""Staged backward that forgets gamma: dx_hat = dout."""
import numpy as np

TARGET = "batchnorm_backward"
EXPECT = "missing gamma"


def batchnorm_backward(dout, cache):
    x_hat, inv_std = cache["x_hat"], cache["inv_std"]
    n = dout.shape[0]
    dx_hat = dout
    xmu = x_hat / inv_std
    dvar = np.sum(dx_hat * xmu, axis=0) * -0.5 * inv_std ** 3
    dmu = -np.sum(dx_hat * inv_std, axis=0) + dvar * np.mean(-2 * xmu, axis=0)
    dx = dx_hat * inv_std + dvar * 2 * xmu / n + dmu / n
    return dx, np.sum(dout * x_hat, axis=0), np.sum(dout, axis=0)
