"""Lesson 1 normalize that ignores its eps argument."""

import numpy as np

TARGET = "normalize"
EXPECT = "eps argument"


def normalize(x, gamma, beta, eps=1e-3):
    return gamma * (x - x.mean()) / np.sqrt(x.var() + 1e-3) + beta
