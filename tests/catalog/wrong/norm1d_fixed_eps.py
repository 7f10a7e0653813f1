"""Lesson 1 normalize that ignores its eps argument."""
TARGET = "normalize"
EXPECT = "eps argument"

import numpy as np


def normalize(x, gamma, beta, eps=1e-3):
    return gamma * (x - x.mean()) / np.sqrt(x.var() + 1e-3) + beta
