"""Folding written as kernel @ diag(scale), with the bias expanded term by term."""
import numpy as np

TARGET = "fold_bn_into_dense"


def fold_bn_into_dense(dense_kernel, dense_bias, gamma, beta, moving_mean, moving_var, epsilon):
    inv_std = 1.0 / np.sqrt(moving_var + epsilon)
    scale = gamma * inv_std
    bias = np.zeros(dense_kernel.shape[1]) if dense_bias is None else np.asarray(dense_bias, dtype=float)
    return dense_kernel @ np.diag(scale), beta + scale * bias - scale * moving_mean
