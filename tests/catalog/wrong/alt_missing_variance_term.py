"""Closed-form backward missing the x_hat * sum(dx_hat * x_hat) term."""
TARGET = "batchnorm_backward_alt"
EXPECT = "path through the variance"


def batchnorm_backward_alt(dout, cache):
    x_hat, gamma, inv_std = cache["x_hat"], cache["gamma"], cache["inv_std"]
    n = dout.shape[0]
    g = dout * gamma
    dx = inv_std / n * (n * g - g.sum(axis=0))
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)
