"""Forward with the literal 1e-3 instead of the eps argument (right only for the default eps)."""
import numpy as np

TARGET = "batchnorm_forward"
EXPECT = "hard-coded"


def batchnorm_forward(x, gamma, beta, eps=1e-3):
    mean = x.mean(axis=0)
    x_hat = (x - mean) / np.sqrt(((x - mean) ** 2).mean(axis=0) + 1e-3)
    return gamma * x_hat + beta, x_hat
