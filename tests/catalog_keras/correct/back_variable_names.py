"""Weights looked up by their variable names, with ones/zeros for a missing gamma/beta; float64 arrays."""
import numpy as np

TARGET = "keras_bn_to_torch"


def keras_bn_to_torch(layer):
    named = {v.path.split("/")[-1]: np.asarray(v, dtype=np.float64) for v in layer.weights}
    channels = named["moving_mean"].shape[0]
    return {
        "weight": named.get("gamma", np.ones(channels)),
        "bias": named.get("beta", np.zeros(channels)),
        "running_mean": named["moving_mean"],
        "running_var": named["moving_variance"],
        "momentum": 1.0 - float(layer.momentum),
        "eps": float(layer.epsilon),
        "num_batches_tracked": 0,
    }
