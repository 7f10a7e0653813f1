"""Inference that just calls the layer instead of computing it in NumPy."""
import numpy as np

TARGET = "bn_inference_from_layer"
EXPECT = "called the layer"


def bn_inference_from_layer(layer, x):
    return np.asarray(layer(x, training=False))
