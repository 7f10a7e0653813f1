"""Forward with a one-pass variance E[x^2] - E[x]^2 in the input dtype (unstable in float32 with a large mean)."""
import numpy as np

TARGET = "batchnorm_forward"
EXPECT = "one-pass"


def batchnorm_forward(x, gamma, beta, eps=1e-3):
    mean = x.mean(axis=0)
    var = (x * x).mean(axis=0) - mean * mean
    x_hat = (x - mean) / np.sqrt(var + eps)
    return gamma * x_hat + beta, {"x_hat": x_hat, "mean": mean, "var": var}
