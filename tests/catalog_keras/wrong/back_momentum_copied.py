"""Keras's momentum copied into PyTorch's state as is (0.99 instead of 0.01)."""
import numpy as np

TARGET = "keras_bn_to_torch"
EXPECT = "copied Keras's momentum as is"


def keras_bn_to_torch(layer):
    w = list(layer.get_weights())
    c = w[-1].shape[0]
    weight = w.pop(0) if layer.scale else np.ones(c)
    bias = w.pop(0) if layer.center else np.zeros(c)
    return {"weight": weight, "bias": bias, "running_mean": w[0], "running_var": w[1],
            "momentum": layer.momentum, "eps": layer.epsilon}
