"""Reads layer.gamma and layer.beta directly: None on a layer built with scale=False."""
import numpy as np

TARGET = "keras_bn_to_torch"
EXPECT = "scale=False"


def keras_bn_to_torch(layer):
    def value(v):
        return None if v is None else np.asarray(v)
    return {"weight": value(layer.gamma), "bias": value(layer.beta), "running_mean": value(layer.moving_mean),
            "running_var": value(layer.moving_variance), "momentum": 1 - layer.momentum, "eps": layer.epsilon}
