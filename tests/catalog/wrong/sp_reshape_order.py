"""Spatial forward that reshapes with x.reshape(C, -1) (wrong order for channels last): mixes channels."""
import numpy as np

TARGET = "spatial_batchnorm_forward"
EXPECT = "reshape order"


def spatial_batchnorm_forward(x, gamma, beta, eps=1e-3):
    c = x.shape[-1]
    flat = x.reshape(c, -1).T
    x_hat = (flat - flat.mean(axis=0)) / np.sqrt(flat.var(axis=0) + eps)
    out = (gamma * x_hat + beta).T.reshape(x.shape)
    return out, x_hat
