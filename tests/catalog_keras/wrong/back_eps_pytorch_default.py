"""eps hard-coded as PyTorch's default 1e-5 instead of the layer's epsilon."""
import numpy as np

TARGET = "keras_bn_to_torch"
EXPECT = "hard-codes eps 1e-5"


def keras_bn_to_torch(layer):
    w = list(layer.get_weights())
    c = w[-1].shape[0]
    weight = w.pop(0) if layer.scale else np.ones(c)
    bias = w.pop(0) if layer.center else np.zeros(c)
    return {"weight": weight, "bias": bias, "running_mean": w[0], "running_var": w[1],
            "momentum": 1 - layer.momentum, "eps": 1e-5}
