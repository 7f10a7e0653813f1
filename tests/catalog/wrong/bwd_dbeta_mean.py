"""Backward with dbeta = mean(dout) instead of sum(dout)."""
TARGET = "batchnorm_backward"
EXPECT = "dbeta as a mean"


def batchnorm_backward(dout, cache):
    x_hat, gamma, inv_std = cache["x_hat"], cache["gamma"], cache["inv_std"]
    n = dout.shape[0]
    g = dout * gamma
    dx = inv_std / n * (n * g - g.sum(axis=0) - x_hat * (g * x_hat).sum(axis=0))
    return dx, (dout * x_hat).sum(axis=0), dout.mean(axis=0)
