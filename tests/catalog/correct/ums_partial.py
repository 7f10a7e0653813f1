"""update_moving_stats as a functools.partial of a general helper with its averaging function bound (momentum still positional)."""
import functools

TARGET = "update_moving_stats"


def _lerp(old, new, weight_old):
    return weight_old * old + (1 - weight_old) * new


def _ema(average, moving_mean, moving_var, batch_mean, batch_var, momentum=0.99):
    return average(moving_mean, batch_mean, momentum), average(moving_var, batch_var, momentum)


update_moving_stats = functools.partial(_ema, _lerp)
