"""Lesson 1 normalize with the unbiased (N-1) variance."""
TARGET = "normalize"
EXPECT = "N-1"

import numpy as np


def normalize(x, gamma, beta, eps=1e-3):
    return gamma * (x - x.mean()) / np.sqrt(x.var(ddof=1) + eps) + beta
