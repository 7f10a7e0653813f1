"""Lesson 1 normalize with the unbiased (N-1) variance."""

import numpy as np

TARGET = "normalize"
EXPECT = "N-1"


def normalize(x, gamma, beta, eps=1e-3):
    return gamma * (x - x.mean()) / np.sqrt(x.var(ddof=1) + eps) + beta
