"""Folding that assumes a Dense bias exists: crashes when dense_bias is None."""
import numpy as np

TARGET = "fold_bn_into_dense"
EXPECT = "dense_bias=None"


def fold_bn_into_dense(dense_kernel, dense_bias, gamma, beta, moving_mean, moving_var, epsilon):
    scale = gamma / np.sqrt(moving_var + epsilon)
    return dense_kernel * scale, (dense_bias - moving_mean) * scale + beta
