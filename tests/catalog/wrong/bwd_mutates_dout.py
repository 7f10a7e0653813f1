"""Staged backward that scales dout in place (dout *= gamma): the caller's dout changes."""
TARGET = "batchnorm_backward"
EXPECT = "modified its input dout in place"


def batchnorm_backward(dout, cache):
    x_hat, ivar = cache["x_hat"], cache["inv_std"]
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dout *= cache["gamma"]              # "save memory": overwrites the caller's array
    dx = ivar / n * (n * dout - dout.sum(axis=0) - x_hat * (dout * x_hat).sum(axis=0))
    return dx, dgamma, dbeta
