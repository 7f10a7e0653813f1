"""Forward that computes in the input's own dtype: float32 for float32 inputs, float64 for float64."""
import numpy as np

TARGET = "batchnorm_forward"


def batchnorm_forward(x, gamma, beta, eps=1e-3):
    x = np.asarray(x)
    mean = x.mean(axis=0)
    var = np.square(x - mean).mean(axis=0)
    x_hat = (x - mean) / np.sqrt(var + x.dtype.type(eps))
    return (gamma * x_hat + beta).astype(x.dtype), {"mean": mean, "var": var}
