"""Forward with explicit Python loops over features and samples, list cache."""
import math

import numpy as np

TARGET = "batchnorm_forward"


def batchnorm_forward(x, gamma, beta, eps=1e-3):
    n, d = x.shape
    out = np.empty(x.shape, dtype=np.result_type(x, gamma, beta))
    cache = []
    for j in range(d):
        col = [float(v) for v in x[:, j]]
        mean = math.fsum(col) / n
        var = math.fsum((v - mean) ** 2 for v in col) / n
        inv = 1.0 / math.sqrt(var + eps)
        for i in range(n):
            out[i, j] = gamma[j] * (col[i] - mean) * inv + beta[j]
        cache.append((mean, inv))
    return out, cache
