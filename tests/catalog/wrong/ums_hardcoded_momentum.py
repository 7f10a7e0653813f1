"""Moving statistics with a hard-coded momentum 0.99 (ignores the argument)."""
TARGET = "update_moving_stats"
EXPECT = "hard-coded momentum"


def update_moving_stats(moving_mean, moving_var, batch_mean, batch_var, momentum=0.99):
    m = 0.99
    return m * moving_mean + (1 - m) * batch_mean, m * moving_var + (1 - m) * batch_var
