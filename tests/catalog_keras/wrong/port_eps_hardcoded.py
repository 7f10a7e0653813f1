"""epsilon hard-coded as PyTorch's default 1e-5 instead of read from the state."""
TARGET = "torch_bn_to_keras"
EXPECT = "hard-codes epsilon 1e-5"


def torch_bn_to_keras(state):
    return ({"momentum": 1 - state["momentum"], "epsilon": 1e-5},
            [state["weight"], state["bias"], state["running_mean"], state["running_var"]])
