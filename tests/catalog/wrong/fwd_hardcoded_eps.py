"""Forward with a hard-coded epsilon 1e-5 (PyTorch's default); ignores the eps argument."""
import numpy as np

TARGET = "batchnorm_forward"
EXPECT = "hard-coded"


def batchnorm_forward(x, gamma, beta, eps=1e-3):
    mean = x.mean(axis=0)
    var = x.var(axis=0)
    x_hat = (x - mean) / np.sqrt(var + 1e-5)
    return gamma * x_hat + beta, {"x_hat": x_hat, "mean": mean, "var": var}
