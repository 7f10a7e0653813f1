"""Spatial forward with a one-pass variance E[x^2] - E[x]^2 in the input dtype."""
import numpy as np

TARGET = "spatial_batchnorm_forward"
EXPECT = "one-pass"


def spatial_batchnorm_forward(x, gamma, beta, eps=1e-3):
    ax = (0, 1, 2)
    mean = x.mean(axis=ax)
    var = (x ** 2).mean(axis=ax) - mean ** 2
    return gamma * (x - mean) / np.sqrt(var + eps) + beta, None
