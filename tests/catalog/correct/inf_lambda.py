"""Inference written as a lambda assigned to the public name."""
import numpy as np

TARGET = "batchnorm_inference"

batchnorm_inference = lambda x, gamma, beta, moving_mean, moving_var, eps=1e-3: (  # noqa: E731
    gamma * (x - moving_mean) / np.sqrt(moving_var + eps) + beta)
