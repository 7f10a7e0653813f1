"""Staged backward that forgets .sum(axis=0) on divar (the warning in the lesson's rule 2)."""
import numpy as np

TARGET = "batchnorm_backward"
EXPECT = "divar is missing its .sum(axis=0)"


def batchnorm_backward(dout, cache):
    x_hat, gamma, inv_std = cache["x_hat"], cache["gamma"], cache["inv_std"]
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx_hat = dout * gamma
    xmu = x_hat / inv_std
    divar = dx_hat * xmu
    dsqrtvar = -divar * inv_std ** 2
    dvar = 0.5 * inv_std * dsqrtvar
    dsq = np.ones_like(dout) * dvar / n
    dxmu = dx_hat * inv_std + 2 * xmu * dsq
    dmu = -dxmu.sum(axis=0)
    dx = dxmu + dmu / n
    return dx, dgamma, dbeta
