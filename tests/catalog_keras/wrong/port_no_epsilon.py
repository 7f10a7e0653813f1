"""Only the momentum is passed: the Keras layer keeps its default epsilon 1e-3."""
TARGET = "torch_bn_to_keras"
EXPECT = "eps left at Keras's default"


def torch_bn_to_keras(state):
    return {"momentum": 1 - state["momentum"]}, [state["weight"], state["bias"], state["running_mean"],
                                                  state["running_var"]]
