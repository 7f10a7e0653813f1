"""Forward with statistics over axis=1 (per sample) instead of axis=0, keepdims so shapes broadcast."""
import numpy as np

TARGET = "batchnorm_forward"
EXPECT = "wrong axis"


def batchnorm_forward(x, gamma, beta, eps=1e-3):
    mean = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    x_hat = (x - mean) / np.sqrt(var + eps)
    return gamma * x_hat + beta, x_hat
