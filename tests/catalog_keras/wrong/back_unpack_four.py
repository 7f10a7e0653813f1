"""Unpacks get_weights() into four names: a layer built with scale=False has three."""
TARGET = "keras_bn_to_torch"
EXPECT = "scale=False"


def keras_bn_to_torch(layer):
    gamma, beta, moving_mean, moving_variance = layer.get_weights()
    return {"weight": gamma, "bias": beta, "running_mean": moving_mean, "running_var": moving_variance,
            "momentum": 1 - layer.momentum, "eps": layer.epsilon}
