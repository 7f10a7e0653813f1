"""Folding that returns a namedtuple (kernel, bias) of Keras tensors."""
import collections

from keras import ops

TARGET = "fold_bn_into_dense"

Folded = collections.namedtuple("Folded", "kernel bias")


def fold_bn_into_dense(dense_kernel, dense_bias, gamma, beta, moving_mean, moving_var, epsilon):
    scale = ops.convert_to_tensor(gamma) / ops.sqrt(ops.convert_to_tensor(moving_var) + epsilon)
    bias = 0.0 if dense_bias is None else ops.convert_to_tensor(dense_bias)
    return Folded(ops.convert_to_tensor(dense_kernel) * scale, scale * (bias - moving_mean) + beta)
