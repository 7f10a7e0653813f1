"""A missing bias made with np.zeros(n): float64, so float32 inputs give a float64 bias."""
import numpy as np

TARGET = "fold_bn_into_conv"
EXPECT = "keep the dtype"


def fold_bn_into_conv(conv_kernel, conv_bias, gamma, beta, moving_mean, moving_var, epsilon):
    scale = gamma / np.sqrt(moving_var + epsilon)
    if conv_bias is None:
        conv_bias = np.zeros(conv_kernel.shape[-1])
    return conv_kernel * scale, (conv_bias - moving_mean) * scale + beta
