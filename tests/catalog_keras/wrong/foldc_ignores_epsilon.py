"""Keras's default epsilon hard-coded instead of the epsilon argument."""
import numpy as np

TARGET = "fold_bn_into_conv"
EXPECT = "instead of the epsilon argument"


def fold_bn_into_conv(conv_kernel, conv_bias, gamma, beta, moving_mean, moving_var, epsilon=1e-3):
    scale = gamma / np.sqrt(moving_var + 1e-3)
    if conv_bias is None:
        conv_bias = np.zeros_like(moving_mean)
    return conv_kernel * scale, (conv_bias - moving_mean) * scale + beta
