"""Scales the kernel per input channel (scale[:, None] on HWIO) wherever that broadcasts: C_in == C_out."""
import numpy as np

TARGET = "fold_bn_into_conv"
EXPECT = "per input channel"


def fold_bn_into_conv(conv_kernel, conv_bias, gamma, beta, moving_mean, moving_var, epsilon):
    scale = gamma / np.sqrt(moving_var + epsilon)
    if conv_bias is None:
        conv_bias = np.zeros_like(moving_mean)
    # when C_in != C_out, scale[:, None] does not broadcast (the learner would see a ValueError)
    square = conv_kernel.shape[2] == conv_kernel.shape[3]
    kernel = conv_kernel * scale[:, None] if square else conv_kernel * scale
    return kernel, (conv_bias - moving_mean) * scale + beta
