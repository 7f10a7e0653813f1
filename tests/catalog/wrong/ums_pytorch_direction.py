"""Moving statistics with the PyTorch momentum direction: momentum * batch + (1 - momentum) * moving."""
TARGET = "update_moving_stats"
EXPECT = "PyTorch"


def update_moving_stats(moving_mean, moving_var, batch_mean, batch_var, momentum=0.99):
    new_mean = (1 - momentum) * moving_mean + momentum * batch_mean
    new_var = (1 - momentum) * moving_var + momentum * batch_var
    return new_mean, new_var
