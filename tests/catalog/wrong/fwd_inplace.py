"""Forward that centres x in place (x -= mean): mutates the caller's array."""
import numpy as np

TARGET = "batchnorm_forward"
EXPECT = "in place"


def batchnorm_forward(x, gamma, beta, eps=1e-3):
    x -= x.mean(axis=0)
    x_hat = x / np.sqrt((x ** 2).mean(axis=0) + eps)
    return gamma * x_hat + beta, x_hat
