"""A name table and a loop; float32 copies of the arrays and a float32 momentum, returned as a tuple."""
import numpy as np

TARGET = "torch_bn_to_keras"

KERAS_NAME = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}
ORDER = ["gamma", "beta", "moving_mean", "moving_variance"]


def torch_bn_to_keras(state):
    by_keras_name = {}
    for torch_name, keras_name in KERAS_NAME.items():
        by_keras_name[keras_name] = np.array(state[torch_name], dtype=np.float32, copy=True)
    weights = tuple(by_keras_name[n] for n in ORDER)
    kwargs = {"epsilon": state["eps"], "momentum": np.float32(1.0) - np.float32(state["momentum"])}
    return kwargs, weights
