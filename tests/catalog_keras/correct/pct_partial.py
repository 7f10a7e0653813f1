"""percentiles_over_training as a functools.partial of a general helper, its axis bound (q still positional)."""
import functools

import numpy as np

TARGET = "percentiles_over_training"


def _percentiles_along(axis, samples, q=(15, 50, 85)):
    return np.moveaxis(np.percentile(np.asarray(samples, dtype=np.float64), q, axis=axis), 0, -1)


percentiles_over_training = functools.partial(_percentiles_along, 1)
