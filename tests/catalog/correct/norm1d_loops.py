"""Lesson 1 normalize with Python loops and math.sqrt, returning an array."""

import math

import numpy as np

TARGET = "normalize"


def normalize(x, gamma, beta, eps=1e-3):
    n = len(x)
    mean = sum(float(v) for v in x) / n
    var = sum((float(v) - mean) ** 2 for v in x) / n
    scale = gamma / math.sqrt(var + eps)
    return np.array([scale * (float(v) - mean) + beta for v in x])
