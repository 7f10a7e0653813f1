"""Forward with statistics over axis=1 without keepdims: the shapes do not broadcast and it crashes."""
import numpy as np

TARGET = "batchnorm_forward"
EXPECT = "axis"


def batchnorm_forward(x, gamma, beta, eps=1e-3):
    mean = x.mean(axis=1)
    x_hat = (x - mean) / np.sqrt(x.var(axis=1) + eps)
    return gamma * x_hat + beta, x_hat
