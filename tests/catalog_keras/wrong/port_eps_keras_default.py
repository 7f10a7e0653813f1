"""epsilon written out as Keras's default 1e-3 instead of the state's eps."""
TARGET = "torch_bn_to_keras"
EXPECT = "eps left at Keras's default"


def torch_bn_to_keras(state):
    return ({"momentum": 1 - state["momentum"], "epsilon": 1e-3},
            [state["weight"], state["bias"], state["running_mean"], state["running_var"]])
