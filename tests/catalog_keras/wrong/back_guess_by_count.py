"""Three weights taken to mean scale=False: wrong for a layer built with center=False."""
import numpy as np

TARGET = "keras_bn_to_torch"
EXPECT = "guessed which weight is missing"


def keras_bn_to_torch(layer):
    w = layer.get_weights()
    if len(w) == 3:
        w = [np.ones_like(w[0])] + w
    return {"weight": w[0], "bias": w[1], "running_mean": w[2], "running_var": w[3],
            "momentum": 1 - layer.momentum, "eps": layer.epsilon}
