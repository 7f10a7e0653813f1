"""Forward that casts everything to float32 (loses precision on float64 inputs)."""
import numpy as np

TARGET = "batchnorm_forward"
EXPECT = "keep float64"


def batchnorm_forward(x, gamma, beta, eps=1e-3):
    x = x.astype(np.float32)
    mean = x.mean(axis=0)
    x_hat = (x - mean) / np.sqrt(x.var(axis=0) + np.float32(eps))
    return (gamma.astype(np.float32) * x_hat + beta.astype(np.float32)), x_hat
