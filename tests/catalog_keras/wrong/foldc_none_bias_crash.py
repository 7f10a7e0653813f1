"""Uses conv_bias without handling None (a Conv2D with use_bias=False)."""
import numpy as np

TARGET = "fold_bn_into_conv"
EXPECT = "treat it as zeros"


def fold_bn_into_conv(conv_kernel, conv_bias, gamma, beta, moving_mean, moving_var, epsilon):
    scale = gamma / np.sqrt(moving_var + epsilon)
    return conv_kernel * scale, (conv_bias - moving_mean) * scale + beta
