"""The conv bias is added after the scale instead of going through BN with the convolution's output."""
import numpy as np

TARGET = "fold_bn_into_conv"
EXPECT = "conv bias must be scaled too"


def fold_bn_into_conv(conv_kernel, conv_bias, gamma, beta, moving_mean, moving_var, epsilon):
    scale = gamma / np.sqrt(moving_var + epsilon)
    b = 0.0 if conv_bias is None else conv_bias
    return conv_kernel * scale, b - moving_mean * scale + beta
