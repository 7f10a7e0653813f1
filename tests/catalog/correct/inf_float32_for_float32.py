"""Inference that keeps float32 for float32 inputs (np.result_type), float64 otherwise."""
import numpy as np

TARGET = "batchnorm_inference"


def batchnorm_inference(x, gamma, beta, moving_mean, moving_var, eps=1e-3):
    dtype = np.result_type(x, gamma, beta, moving_mean, moving_var)
    scale = (gamma / np.sqrt(moving_var + eps)).astype(dtype)
    return (x - moving_mean).astype(dtype) * scale + np.asarray(beta, dtype)
