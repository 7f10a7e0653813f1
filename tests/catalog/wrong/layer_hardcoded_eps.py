"""BatchNorm layer that ignores self.epsilon and divides by sqrt(var + 1e-3)."""
import numpy as np

TARGET = "BatchNorm"
EXPECT = "hard-coded epsilon"


class BatchNorm:
    def __init__(self, num_features, momentum=0.99, epsilon=1e-3):
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.moving_mean = np.zeros(num_features)
        self.moving_variance = np.ones(num_features)
        self.momentum = momentum
        self.epsilon = epsilon

    def __call__(self, x, training=False):
        if training:
            mean, var = x.mean(axis=0), x.var(axis=0)
            m = self.momentum
            self.moving_mean = m * self.moving_mean + (1 - m) * mean
            self.moving_variance = m * self.moving_variance + (1 - m) * var
        else:
            mean, var = self.moving_mean, self.moving_variance
        return self.gamma * (x - mean) / np.sqrt(var + 1e-3) + self.beta
