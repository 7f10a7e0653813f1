"""Computes in float64, then casts back to the kernel's dtype; returns a list [kernel, bias]."""
import numpy as np

TARGET = "fold_bn_into_conv"


def fold_bn_into_conv(conv_kernel, conv_bias, gamma, beta, moving_mean, moving_var, epsilon):
    f = lambda a: np.asarray(a, dtype=np.float64)  # noqa: E731
    scale = f(gamma) / np.sqrt(f(moving_var) + epsilon)
    shift = f(beta) - f(moving_mean) * scale
    if conv_bias is not None:
        shift = shift + f(conv_bias) * scale
    return [(f(conv_kernel) * scale).astype(conv_kernel.dtype), shift.astype(conv_kernel.dtype)]
