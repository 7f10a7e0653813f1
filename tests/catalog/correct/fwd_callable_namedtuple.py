"""Forward pass as a callable instance, returning a namedtuple (out, cache); the cache is the dict the lesson asks for."""
import collections

import numpy as np

TARGET = "batchnorm_forward"

Result = collections.namedtuple("Result", "out cache")


class _Forward:
    def __call__(self, x, gamma, beta, eps=1e-3):
        mean = x.mean(axis=0)
        var = ((x - mean) ** 2).mean(axis=0)
        inv_std = 1.0 / np.sqrt(var + eps)
        x_hat = (x - mean) * inv_std
        cache = {"x_hat": x_hat, "gamma": gamma, "inv_std": inv_std, "mean": mean, "var": var, "eps": eps}
        return Result(gamma * x_hat + beta, cache)


batchnorm_forward = _Forward()
