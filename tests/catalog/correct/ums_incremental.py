"""Moving statistics in incremental form: moving + (1 - momentum) * (batch - moving), without mutation."""
TARGET = "update_moving_stats"


def update_moving_stats(moving_mean, moving_var, batch_mean, batch_var, momentum=0.99):
    step = 1.0 - momentum
    return moving_mean + step * (batch_mean - moving_mean), moving_var + step * (batch_var - moving_var)
