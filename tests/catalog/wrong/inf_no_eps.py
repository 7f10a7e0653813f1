"""Inference without epsilon: divides by sqrt(moving_var)."""
import numpy as np

TARGET = "batchnorm_inference"
EXPECT = "no epsilon"


def batchnorm_inference(x, gamma, beta, moving_mean, moving_var, eps=1e-3):
    return gamma * (x - moving_mean) / np.sqrt(moving_var) + beta
