"""Inference in float64 through x_hat, with a dict built from get_weights()."""
import numpy as np

TARGET = "bn_inference_from_layer"


def bn_inference_from_layer(layer, x):
    names = ("gamma", "beta", "mean", "var")
    w = {n: np.asarray(v, dtype=np.float64) for n, v in zip(names, layer.get_weights())}
    x_hat = (np.asarray(x, dtype=np.float64) - w["mean"]) / np.sqrt(w["var"] + layer.epsilon)
    return w["gamma"] * x_hat + w["beta"]
