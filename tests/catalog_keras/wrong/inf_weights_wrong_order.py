"""Inference that unpacks get_weights() as (moving_mean, moving_var, gamma, beta)."""
import numpy as np

TARGET = "bn_inference_from_layer"
EXPECT = "wrong order"


def bn_inference_from_layer(layer, x):
    moving_mean, moving_var, gamma, beta = layer.get_weights()
    return gamma * (x - moving_mean) / np.sqrt(moving_var + layer.epsilon) + beta
