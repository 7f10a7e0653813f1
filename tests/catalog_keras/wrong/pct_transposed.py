"""Percentiles per step returned as (len(q), steps): the transpose is missing."""
import numpy as np

TARGET = "percentiles_over_training"
EXPECT = "transposed"


def percentiles_over_training(activations, q=(15, 50, 85)):
    return np.percentile(activations, q, axis=1)
