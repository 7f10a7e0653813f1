"""Folding with the scale gamma / (sqrt(moving_var) + epsilon)."""
import numpy as np

TARGET = "fold_bn_into_dense"
EXPECT = "outside the square root"


def fold_bn_into_dense(dense_kernel, dense_bias, gamma, beta, moving_mean, moving_var, epsilon):
    scale = gamma / (np.sqrt(moving_var) + epsilon)
    if dense_bias is None:
        dense_bias = np.zeros_like(moving_mean)
    return dense_kernel * scale, (dense_bias - moving_mean) * scale + beta
