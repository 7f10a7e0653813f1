"""Moving statistics updated in place (moving_mean *= momentum ...): mutates the caller's arrays."""
TARGET = "update_moving_stats"
EXPECT = "in place"


def update_moving_stats(moving_mean, moving_var, batch_mean, batch_var, momentum=0.99):
    moving_mean *= momentum
    moving_mean += (1 - momentum) * batch_mean
    moving_var *= momentum
    moving_var += (1 - momentum) * batch_var
    return moving_mean, moving_var
