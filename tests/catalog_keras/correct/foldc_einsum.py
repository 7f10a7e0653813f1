"""np.einsum over the output channel; the bias written as beta - scale * (moving_mean - bias), bias 0 when None."""
import numpy as np

TARGET = "fold_bn_into_conv"


def fold_bn_into_conv(conv_kernel, conv_bias, gamma, beta, moving_mean, moving_var, epsilon):
    scale = np.divide(gamma, np.sqrt(np.add(moving_var, epsilon)))
    bias = 0 if conv_bias is None else conv_bias
    return np.einsum("hwio,o->hwio", conv_kernel, scale), beta - scale * (moving_mean - bias)
