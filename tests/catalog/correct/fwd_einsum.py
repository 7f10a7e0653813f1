"""Forward with np.einsum for the sums and a ones-vector mean."""
import numpy as np

TARGET = "batchnorm_forward"


def batchnorm_forward(x, gamma, beta, eps=1e-3):
    n = x.shape[0]
    ones = np.ones(n, dtype=x.dtype) / n
    mean = np.einsum("n,nd->d", ones, x)
    xc = x - mean
    var = np.einsum("n,nd,nd->d", ones, xc, xc)
    x_hat = xc / np.sqrt(var + eps)
    return np.einsum("d,nd->nd", gamma, x_hat) + beta, {"xc": xc, "var": var, "eps": eps, "gamma": gamma}
