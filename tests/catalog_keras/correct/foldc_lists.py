"""Returns plain nested lists (tolist), with the scale broadcast through reshape(1, 1, 1, -1)."""
import numpy as np

TARGET = "fold_bn_into_conv"


def fold_bn_into_conv(conv_kernel, conv_bias, gamma, beta, moving_mean, moving_var, epsilon):
    scale = (gamma / np.sqrt(moving_var + epsilon)).reshape(1, 1, 1, -1)
    b = np.zeros_like(beta) if conv_bias is None else conv_bias
    return (conv_kernel * scale).tolist(), ((b - moving_mean) * scale.ravel() + beta).tolist()
