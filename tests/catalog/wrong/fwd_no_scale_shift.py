"""Forward that returns x_hat: no scale and shift."""
import numpy as np

TARGET = "batchnorm_forward"
EXPECT = "without the scale and shift"


def batchnorm_forward(x, gamma, beta, eps=1e-3):
    x_hat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps)
    return x_hat, x_hat
