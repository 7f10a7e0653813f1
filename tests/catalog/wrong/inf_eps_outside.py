"""Inference with epsilon outside the square root."""
import numpy as np

TARGET = "batchnorm_inference"
EXPECT = "outside the square root"


def batchnorm_inference(x, gamma, beta, moving_mean, moving_var, eps=1e-3):
    return gamma * (x - moving_mean) / (np.sqrt(moving_var) + eps) + beta
