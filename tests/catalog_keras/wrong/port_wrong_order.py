"""The weights in the order of the state's keys as the learner guessed them: mean and variance before the affine ones."""
TARGET = "torch_bn_to_keras"
EXPECT = "wrong order"


def torch_bn_to_keras(state):
    return ({"momentum": 1 - state["momentum"], "epsilon": state["eps"]},
            [state["running_mean"], state["running_var"], state["weight"], state["bias"]])
