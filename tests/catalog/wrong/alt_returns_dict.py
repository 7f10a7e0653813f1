"""Closed-form backward that returns a dict of gradients instead of the tuple (dx, dgamma, dbeta)."""
TARGET = "batchnorm_backward_alt"
EXPECT = "returned a dict"


def batchnorm_backward_alt(dout, cache):
    x_hat, gamma, inv_std = cache["x_hat"], cache["gamma"], cache["inv_std"]
    n = dout.shape[0]
    g = dout * gamma
    dx = inv_std / n * (n * g - g.sum(axis=0) - x_hat * (g * x_hat).sum(axis=0))
    return {"dx": dx, "dgamma": (dout * x_hat).sum(axis=0), "dbeta": dout.sum(axis=0)}
