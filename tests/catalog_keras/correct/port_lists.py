"""Weights as plain Python lists of floats, kwargs built with dict()."""
TARGET = "torch_bn_to_keras"


def torch_bn_to_keras(state):
    names = ("weight", "bias", "running_mean", "running_var")
    return dict(momentum=1 - state["momentum"], epsilon=float(state["eps"])), [list(map(float, state[n])) for n in names]
