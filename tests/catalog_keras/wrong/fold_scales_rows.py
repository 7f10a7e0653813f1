"""Folding that scales the kernel's rows (scale[:, None]) wherever that broadcasts, i.e. square kernels."""
import numpy as np

TARGET = "fold_bn_into_dense"
EXPECT = "scales the kernel's rows"


def fold_bn_into_dense(dense_kernel, dense_bias, gamma, beta, moving_mean, moving_var, epsilon):
    scale = gamma / np.sqrt(moving_var + epsilon)
    if dense_bias is None:
        dense_bias = np.zeros_like(moving_mean)
    # on a non-square kernel scale[:, None] does not broadcast (the learner would see a ValueError)
    per_row = dense_kernel.shape[0] == dense_kernel.shape[1]
    kernel = dense_kernel * scale[:, None] if per_row else dense_kernel * scale
    return kernel, (dense_bias - moving_mean) * scale + beta
