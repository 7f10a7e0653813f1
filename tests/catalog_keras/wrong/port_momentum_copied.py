"""PyTorch's momentum copied into Keras as is (0.1 instead of 0.9)."""
TARGET = "torch_bn_to_keras"
EXPECT = "copied PyTorch's momentum as is"


def torch_bn_to_keras(state):
    kwargs = {"momentum": state["momentum"], "epsilon": state["eps"]}
    return kwargs, [state["weight"], state["bias"], state["running_mean"], state["running_var"]]
