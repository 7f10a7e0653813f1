"""Inference with a hard-coded epsilon 1e-3 (ignores the eps argument)."""
import numpy as np

TARGET = "batchnorm_inference"
EXPECT = "hard-coded"


def batchnorm_inference(x, gamma, beta, moving_mean, moving_var, eps=1e-3):
    return gamma * (x - moving_mean) / np.sqrt(moving_var + 1e-3) + beta
