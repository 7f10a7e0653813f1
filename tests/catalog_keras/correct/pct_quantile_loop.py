"""Percentiles row by row with np.quantile and q / 100."""
import numpy as np

TARGET = "percentiles_over_training"


def percentiles_over_training(activations, q=(15, 50, 85)):
    fractions = np.asarray(q, dtype=float) / 100
    return np.array([np.quantile(row, fractions) for row in np.asarray(activations, dtype=float)])
