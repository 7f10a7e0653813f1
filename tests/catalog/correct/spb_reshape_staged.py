"""Spatial backward by reshaping to (N*H*W, C) and running a staged 2-D backward (reference-style forward)."""
import numpy as np

TARGET = "spatial_batchnorm_backward"


def _bn2d(x, gamma, beta, eps):
    mu = x.mean(axis=0)
    xmu = x - mu
    var = (xmu ** 2).mean(axis=0)
    ivar = 1.0 / np.sqrt(var + eps)
    return gamma * xmu * ivar + beta, (xmu, ivar, gamma)


def spatial_batchnorm_forward(x, gamma, beta, eps=1e-3):
    c = x.shape[-1]
    out, cache = _bn2d(x.reshape(-1, c), gamma, beta, eps)
    return out.reshape(x.shape), cache


def spatial_batchnorm_backward(dout, cache):
    xmu, ivar, gamma = cache
    shape = dout.shape
    d = dout.reshape(-1, shape[-1])
    m = d.shape[0]
    xhat = xmu * ivar
    dxhat = d * gamma
    dvar = np.sum(dxhat * xmu, axis=0) * -0.5 * ivar ** 3
    dmu = -np.sum(dxhat * ivar, axis=0) + dvar * np.mean(-2.0 * xmu, axis=0)
    dx = dxhat * ivar + dvar * 2.0 * xmu / m + dmu / m
    return dx.reshape(shape), np.sum(d * xhat, axis=0), np.sum(d, axis=0)
