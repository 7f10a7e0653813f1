"""A loop over the output channels, filling arrays made with np.empty_like (the dtype is kept)."""
import math

import numpy as np

TARGET = "fold_bn_into_conv"


def fold_bn_into_conv(conv_kernel, conv_bias, gamma, beta, moving_mean, moving_var, epsilon):
    kernel = np.empty_like(conv_kernel)
    bias = np.empty_like(moving_mean)
    for o in range(conv_kernel.shape[-1]):
        s = gamma[o] / math.sqrt(moving_var[o] + epsilon)
        kernel[..., o] = conv_kernel[..., o] * s
        b = 0.0 if conv_bias is None else conv_bias[o]
        bias[o] = (b - moving_mean[o]) * s + beta[o]
    return kernel, bias
