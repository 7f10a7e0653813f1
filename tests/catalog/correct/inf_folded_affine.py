"""Inference with the affine folded: scale = gamma / sqrt(var + eps); x * scale + (beta - mean * scale)."""
import numpy as np

TARGET = "batchnorm_inference"


def batchnorm_inference(x, gamma, beta, moving_mean, moving_var, eps=1e-3):
    scale = gamma / np.sqrt(moving_var + eps)
    shift = beta - moving_mean * scale
    return x * scale + shift
