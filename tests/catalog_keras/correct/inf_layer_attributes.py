"""Inference reading the layer's variables by name (layer.gamma, layer.moving_variance, ...)."""
import numpy as np

TARGET = "bn_inference_from_layer"


def bn_inference_from_layer(layer, x):
    gamma, beta = np.asarray(layer.gamma), np.asarray(layer.beta)
    mean, var = np.asarray(layer.moving_mean), np.asarray(layer.moving_variance)
    return gamma * (x - mean) / np.sqrt(var + layer.epsilon) + beta
