"""Lesson 1 normalize with np.var and a folded scale/shift."""

import numpy as np

TARGET = "normalize"


def normalize(x, gamma, beta, eps=1e-3):
    x = np.asarray(x, dtype=np.float64)
    scale = gamma / np.sqrt(np.var(x) + eps)
    return x * scale + (beta - np.mean(x) * scale)
