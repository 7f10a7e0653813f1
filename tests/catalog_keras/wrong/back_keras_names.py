"""The state keeps Keras's names (gamma, beta, moving_mean, moving_variance)."""
TARGET = "keras_bn_to_torch"
EXPECT = "use PyTorch's names"


def keras_bn_to_torch(layer):
    state = {v.path.split("/")[-1]: v.numpy() for v in layer.weights}
    state.update(momentum=1 - layer.momentum, eps=layer.epsilon)
    return state
