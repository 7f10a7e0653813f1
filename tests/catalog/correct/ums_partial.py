"""update_moving_stats as a functools.partial of a general exponential-average helper (momentum still overridable)."""
import functools

TARGET = "update_moving_stats"


def _ema(moving_mean, moving_var, batch_mean, batch_var, momentum):
    return (momentum * moving_mean + (1 - momentum) * batch_mean,
            momentum * moving_var + (1 - momentum) * batch_var)


update_moving_stats = functools.partial(_ema, momentum=0.99)
