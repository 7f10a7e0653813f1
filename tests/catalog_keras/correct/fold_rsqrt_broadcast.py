"""Folding with (var + eps) ** -0.5, an explicit [None, :] broadcast and 0 for a missing bias."""
TARGET = "fold_bn_into_dense"


def fold_bn_into_dense(dense_kernel, dense_bias, gamma, beta, moving_mean, moving_var, epsilon):
    scale = gamma * (moving_var + epsilon) ** -0.5
    bias = 0.0 if dense_bias is None else dense_bias
    kernel = dense_kernel * scale[None, :]
    return kernel, scale * (bias - moving_mean) + beta
