"""Backward using a namedtuple cache (fields by name) from its own forward."""
import collections

import numpy as np

TARGET = "batchnorm_backward"

Cache = collections.namedtuple("Cache", ["x_hat", "gamma", "inv_std"])


def batchnorm_forward(x, gamma, beta, eps=1e-3):
    mean = x.mean(axis=0)
    inv_std = 1.0 / np.sqrt(((x - mean) ** 2).mean(axis=0) + eps)
    x_hat = (x - mean) * inv_std
    return gamma * x_hat + beta, Cache(x_hat, gamma, inv_std)


def batchnorm_backward(dout, cache):
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * cache.x_hat).sum(axis=0)
    dxh = dout * cache.gamma
    dx = cache.inv_std / n * (n * dxh - dxh.sum(axis=0) - cache.x_hat * (dxh * cache.x_hat).sum(axis=0))
    return dx, dgamma, dbeta
