"""Keras's momentum hard-coded as 0.9: right for PyTorch's default 0.1 only."""
TARGET = "torch_bn_to_keras"
EXPECT = "hard-codes momentum 0.9"


def torch_bn_to_keras(state):
    kwargs = {"momentum": 0.9, "epsilon": state["eps"]}
    return kwargs, [state["weight"], state["bias"], state["running_mean"], state["running_var"]]
