"""Backward whose forward cache refers to itself (cache["self"] = cache) and to the forward's arguments."""
import numpy as np

TARGET = "batchnorm_backward_alt"


def batchnorm_forward(x, gamma, beta, eps=1e-3):
    mean = x.mean(axis=0)
    inv_std = 1.0 / np.sqrt(((x - mean) ** 2).mean(axis=0) + eps)
    x_hat = (x - mean) * inv_std
    cache = {"x_hat": x_hat, "gamma": gamma, "inv_std": inv_std}
    cache["self"] = cache
    return gamma * x_hat + beta, cache


def batchnorm_backward_alt(dout, cache):
    c = cache["self"]["self"]
    x_hat, gamma, inv_std = c["x_hat"], c["gamma"], c["inv_std"]
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx = (gamma * inv_std / n) * (n * dout - dbeta - x_hat * dgamma)
    return dx, dgamma, dbeta
