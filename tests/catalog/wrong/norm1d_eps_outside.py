"""Lesson 1 normalize with epsilon added to the standard deviation."""

TARGET = "normalize"
EXPECT = "outside the square root"


def normalize(x, gamma, beta, eps=1e-3):
    return gamma * (x - x.mean()) / (x.std() + eps) + beta
