"""Forward with gamma and beta swapped: beta * x_hat + gamma."""
import numpy as np

TARGET = "batchnorm_forward"
EXPECT = "swapped"


def batchnorm_forward(x, gamma, beta, eps=1e-3):
    x_hat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps)
    return beta * x_hat + gamma, x_hat
