"""Backward that reuses the cached x_hat in place (x_hat /= inv_std): a second call is wrong."""
import numpy as np

TARGET = "batchnorm_backward"
EXPECT = "cache in place"


def batchnorm_forward(x, gamma, beta, eps=1e-3):
    mean = x.mean(axis=0)
    inv_std = 1.0 / np.sqrt(x.var(axis=0) + eps)
    x_hat = (x - mean) * inv_std
    return gamma * x_hat + beta, {"x_hat": x_hat, "gamma": gamma, "inv_std": inv_std}


def batchnorm_backward(dout, cache):
    x_hat, gamma, inv_std = cache["x_hat"], cache["gamma"], cache["inv_std"]
    n = dout.shape[0]
    dgamma = (dout * x_hat).sum(axis=0)
    xmu = x_hat
    xmu /= inv_std                      # "reuse the buffer": overwrites the cache
    dx_hat = dout * gamma
    dvar = np.sum(dx_hat * xmu, axis=0) * -0.5 * inv_std ** 3
    dmu = -np.sum(dx_hat * inv_std, axis=0) + dvar * np.mean(-2 * xmu, axis=0)
    dx = dx_hat * inv_std + dvar * 2 * xmu / n + dmu / n
    return dx, dgamma, dout.sum(axis=0)
