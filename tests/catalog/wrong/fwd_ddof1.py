"""Forward with the unbiased variance np.var(ddof=1) (divides by N-1)."""
import numpy as np

TARGET = "batchnorm_forward"
EXPECT = "N-1"


def batchnorm_forward(x, gamma, beta, eps=1e-3):
    mean = x.mean(axis=0)
    var = x.var(axis=0, ddof=1)
    x_hat = (x - mean) / np.sqrt(var + eps)
    return gamma * x_hat + beta, {"x_hat": x_hat, "mean": mean, "var": var}
