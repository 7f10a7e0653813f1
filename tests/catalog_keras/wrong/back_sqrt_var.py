"""moving_variance turned into a standard deviation for PyTorch's running_var."""
import numpy as np

TARGET = "keras_bn_to_torch"
EXPECT = "treated as a standard deviation"


def keras_bn_to_torch(layer):
    w = list(layer.get_weights())
    c = w[-1].shape[0]
    weight = w.pop(0) if layer.scale else np.ones(c)
    bias = w.pop(0) if layer.center else np.zeros(c)
    return {"weight": weight, "bias": bias, "running_mean": w[0], "running_var": np.sqrt(w[1]),
            "momentum": 1 - layer.momentum, "eps": layer.epsilon}
