"""The folded bias leaves out the convolution's own bias."""
import numpy as np

TARGET = "fold_bn_into_conv"
EXPECT = "conv bias is missing"


def fold_bn_into_conv(conv_kernel, conv_bias, gamma, beta, moving_mean, moving_var, epsilon):
    scale = gamma / np.sqrt(moving_var + epsilon)
    return conv_kernel * scale, beta - moving_mean * scale
