"""Epsilon added outside the square root."""
import numpy as np

TARGET = "fold_bn_into_conv"
EXPECT = "outside the square root"


def fold_bn_into_conv(conv_kernel, conv_bias, gamma, beta, moving_mean, moving_var, epsilon):
    scale = gamma / (np.sqrt(moving_var) + epsilon)
    if conv_bias is None:
        conv_bias = np.zeros_like(moving_mean)
    return conv_kernel * scale, (conv_bias - moving_mean) * scale + beta
