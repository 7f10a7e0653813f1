"""PyTorch's argument name eps used as a Keras keyword (BatchNormalization(eps=...) is a TypeError)."""
TARGET = "torch_bn_to_keras"
EXPECT = "Keras's argument is epsilon"


def torch_bn_to_keras(state):
    return ({"momentum": 1 - state["momentum"], "eps": state["eps"]},
            [state["weight"], state["bias"], state["running_mean"], state["running_var"]])
