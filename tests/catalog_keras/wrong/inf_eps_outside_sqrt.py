"""Inference from the layer's weights with epsilon added outside the square root."""
import numpy as np

TARGET = "bn_inference_from_layer"
EXPECT = "outside the square root"


def bn_inference_from_layer(layer, x):
    gamma, beta, moving_mean, moving_var = layer.get_weights()
    return gamma * (x - moving_mean) / (np.sqrt(moving_var) + layer.epsilon) + beta
