"""Inference that normalizes with the batch statistics of x (training mode) instead of the moving ones."""
import numpy as np

TARGET = "bn_inference_from_layer"
EXPECT = "batch statistics"


def bn_inference_from_layer(layer, x):
    gamma, beta, _, _ = layer.get_weights()
    axes = tuple(range(x.ndim - 1))
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    return gamma * (x - mean) / np.sqrt(var + layer.epsilon) + beta
