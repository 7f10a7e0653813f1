"""Folding with a hard-coded epsilon 1e-3 (the Keras default) instead of the epsilon argument."""
import numpy as np

TARGET = "fold_bn_into_dense"
EXPECT = "instead of the epsilon argument"


def fold_bn_into_dense(dense_kernel, dense_bias, gamma, beta, moving_mean, moving_var, epsilon):
    scale = gamma / np.sqrt(moving_var + 1e-3)
    if dense_bias is None:
        dense_bias = np.zeros_like(moving_mean)
    return dense_kernel * scale, (dense_bias - moving_mean) * scale + beta
