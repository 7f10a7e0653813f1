"""Inference that fills an object-dtype array element by element (np.asarray(out, float) still gives the numbers)."""
import numpy as np

TARGET = "batchnorm_inference"


def batchnorm_inference(x, gamma, beta, moving_mean, moving_var, eps=1e-3):
    out = np.empty(x.shape, dtype=object)
    scale = gamma / np.sqrt(moving_var + eps)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[i, j] = float(scale[j] * (x[i, j] - moving_mean[j]) + beta[j])
    return out
