"""Inference that normalizes with the batch statistics instead of the moving ones."""
import numpy as np

TARGET = "batchnorm_inference"
EXPECT = "batch statistics at inference"


def batchnorm_inference(x, gamma, beta, moving_mean, moving_var, eps=1e-3):
    return gamma * (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps) + beta
