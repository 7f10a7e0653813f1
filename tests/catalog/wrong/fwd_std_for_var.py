"""Forward that puts the standard deviation where the variance belongs: sqrt(std + eps)."""
import numpy as np

TARGET = "batchnorm_forward"
EXPECT = "standard deviation where the variance belongs"


def batchnorm_forward(x, gamma, beta, eps=1e-3):
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    x_hat = (x - mean) / np.sqrt(std + eps)
    return gamma * x_hat + beta, {"mean": mean, "var": std ** 2}
