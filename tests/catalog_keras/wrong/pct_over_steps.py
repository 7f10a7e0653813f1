"""Percentiles taken over the steps (axis 0) instead of over each step's samples."""
import numpy as np

TARGET = "percentiles_over_training"
EXPECT = "over the steps"


def percentiles_over_training(activations, q=(15, 50, 85)):
    return np.percentile(activations, q, axis=0).T
