"""Forward pass as a callable instance, returning a namedtuple (out, cache) whose cache is a namedtuple too."""
import collections

import numpy as np

TARGET = "batchnorm_forward"

Result = collections.namedtuple("Result", "out cache")
Cache = collections.namedtuple("Cache", "x_hat gamma inv_std mean var eps")


class _Forward:
    def __call__(self, x, gamma, beta, eps=1e-3):
        mean = x.mean(axis=0)
        var = ((x - mean) ** 2).mean(axis=0)
        inv_std = 1.0 / np.sqrt(var + eps)
        x_hat = (x - mean) * inv_std
        return Result(gamma * x_hat + beta, Cache(x_hat, gamma, inv_std, mean, var, eps))


batchnorm_forward = _Forward()
