"""Backward reading a cache that is an instance of the learner's own class (attributes, not keys)."""
import numpy as np

TARGET = "batchnorm_backward"


class BNCache:
    def __init__(self, x_hat, gamma, inv_std):
        self.x_hat, self.gamma, self.inv_std = x_hat, gamma, inv_std


def batchnorm_forward(x, gamma, beta, eps=1e-3):
    mean = x.mean(axis=0)
    inv_std = 1.0 / np.sqrt(((x - mean) ** 2).mean(axis=0) + eps)
    x_hat = (x - mean) * inv_std
    return gamma * x_hat + beta, BNCache(x_hat, gamma, inv_std)


def batchnorm_backward(dout, cache):
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * cache.x_hat).sum(axis=0)
    dx_hat = dout * cache.gamma
    dx = cache.inv_std / n * (n * dx_hat - dx_hat.sum(axis=0) - cache.x_hat * (dx_hat * cache.x_hat).sum(axis=0))
    return dx, dgamma, dbeta
