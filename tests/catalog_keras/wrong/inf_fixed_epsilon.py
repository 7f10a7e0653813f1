"""Inference with a hard-coded epsilon 1e-3 instead of layer.epsilon."""
import numpy as np

TARGET = "bn_inference_from_layer"
EXPECT = "instead of the layer's own layer.epsilon"


def bn_inference_from_layer(layer, x):
    gamma, beta, moving_mean, moving_var = layer.get_weights()
    return gamma * (x - moving_mean) / np.sqrt(moving_var + 1e-3) + beta
