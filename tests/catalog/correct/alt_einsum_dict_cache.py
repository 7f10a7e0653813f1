"""Closed-form backward with np.einsum and its own dict cache keys."""
import numpy as np

TARGET = "batchnorm_backward_alt"


def batchnorm_forward(x, gamma, beta, eps=1e-3):
    mean = x.mean(axis=0)
    istd = (x.var(axis=0) + eps) ** -0.5
    xn = (x - mean) * istd
    return gamma * xn + beta, {"normalized": xn, "scale": gamma, "istd": istd}


def batchnorm_backward_alt(dout, cache):
    xn, gamma, istd = cache["normalized"], cache["scale"], cache["istd"]
    n = dout.shape[0]
    dbeta = np.einsum("nd->d", dout)
    dgamma = np.einsum("nd,nd->d", dout, xn)
    dx = (gamma * istd / n) * (n * dout - dbeta - xn * dgamma)
    return dx, dgamma, dbeta
