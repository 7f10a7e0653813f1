"""Divides by (moving_var + epsilon), as if the variance were a standard deviation."""
import numpy as np

TARGET = "fold_bn_into_conv"
EXPECT = "treating the variance as a standard deviation"


def fold_bn_into_conv(conv_kernel, conv_bias, gamma, beta, moving_mean, moving_var, epsilon):
    scale = gamma / (moving_var + epsilon)
    if conv_bias is None:
        conv_bias = np.zeros_like(moving_mean)
    return conv_kernel * scale, (conv_bias - moving_mean) * scale + beta
