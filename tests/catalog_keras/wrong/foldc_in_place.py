"""Scales the caller's kernel in place (conv_kernel *= scale) and returns it."""
import numpy as np

TARGET = "fold_bn_into_conv"
EXPECT = "in place"


def fold_bn_into_conv(conv_kernel, conv_bias, gamma, beta, moving_mean, moving_var, epsilon):
    scale = gamma / np.sqrt(moving_var + epsilon)
    if conv_bias is None:
        conv_bias = np.zeros_like(moving_mean)
    conv_kernel *= scale
    return conv_kernel, (conv_bias - moving_mean) * scale + beta
