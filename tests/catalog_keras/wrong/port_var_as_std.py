"""running_var treated as a standard deviation: its square root given as Keras's moving_variance."""
import numpy as np

TARGET = "torch_bn_to_keras"
EXPECT = "treated as a standard deviation"


def torch_bn_to_keras(state):
    return ({"momentum": 1 - state["momentum"], "epsilon": state["eps"]},
            [state["weight"], state["bias"], state["running_mean"], np.sqrt(state["running_var"])])
