"""Closed-form backward returning dgamma and dbeta with keepdims=True, shape (1, D)."""
TARGET = "batchnorm_backward_alt"
EXPECT = "shape"


def batchnorm_backward_alt(dout, cache):
    x_hat, gamma, inv_std = cache["x_hat"], cache["gamma"], cache["inv_std"]
    n = dout.shape[0]
    g = dout * gamma
    dx = inv_std / n * (n * g - g.sum(axis=0) - x_hat * (g * x_hat).sum(axis=0))
    return dx, (dout * x_hat).sum(axis=0, keepdims=True), dout.sum(axis=0, keepdims=True)
