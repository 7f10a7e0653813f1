"""Folding that divides by the variance instead of the standard deviation."""
import numpy as np

TARGET = "fold_bn_into_dense"
EXPECT = "divides by (moving_var + epsilon)"


def fold_bn_into_dense(dense_kernel, dense_bias, gamma, beta, moving_mean, moving_var, epsilon):
    scale = gamma / (moving_var + epsilon)
    if dense_bias is None:
        dense_bias = np.zeros_like(moving_mean)
    return dense_kernel * scale, (dense_bias - moving_mean) * scale + beta
