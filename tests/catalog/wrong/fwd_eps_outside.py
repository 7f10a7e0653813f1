"""Forward with epsilon outside the square root: sqrt(var) + eps."""
import numpy as np

TARGET = "batchnorm_forward"
EXPECT = "outside the square root"


def batchnorm_forward(x, gamma, beta, eps=1e-3):
    mean = x.mean(axis=0)
    std = np.sqrt(((x - mean) ** 2).mean(axis=0)) + eps
    x_hat = (x - mean) / std
    return gamma * x_hat + beta, {"x_hat": x_hat, "std": std, "mean": mean, "var": ((x - mean) ** 2).mean(axis=0)}
