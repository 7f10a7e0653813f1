"""Backward that treats mean and variance as constants: dx = dout * gamma / sqrt(var + eps)."""
TARGET = "batchnorm_backward"
EXPECT = "without the mean/variance terms"


def batchnorm_backward(dout, cache):
    x_hat, gamma, inv_std = cache["x_hat"], cache["gamma"], cache["inv_std"]
    return dout * gamma * inv_std, (dout * x_hat).sum(axis=0), dout.sum(axis=0)
