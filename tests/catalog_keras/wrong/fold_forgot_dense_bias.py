"""Folding that leaves the Dense bias out of the folded bias."""
import numpy as np

TARGET = "fold_bn_into_dense"
EXPECT = "Dense bias is missing"


def fold_bn_into_dense(dense_kernel, dense_bias, gamma, beta, moving_mean, moving_var, epsilon):
    scale = gamma / np.sqrt(moving_var + epsilon)
    return dense_kernel * scale, beta - moving_mean * scale
