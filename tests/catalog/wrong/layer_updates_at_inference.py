"""BatchNorm layer that also updates the moving statistics when training=False."""
import numpy as np

TARGET = "BatchNorm"
EXPECT = "only training calls update"


class BatchNorm:
    def __init__(self, num_features, momentum=0.99, epsilon=1e-3):
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.moving_mean = np.zeros(num_features)
        self.moving_variance = np.ones(num_features)
        self.momentum = momentum
        self.epsilon = epsilon

    def __call__(self, x, training=False):
        mean, var = x.mean(axis=0), x.var(axis=0)
        if not training:
            mean, var = self.moving_mean, self.moving_variance
        out = self.gamma * (x - mean) / np.sqrt(var + self.epsilon) + self.beta
        m = self.momentum
        self.moving_mean = m * self.moving_mean + (1 - m) * x.mean(axis=0)
        self.moving_variance = m * self.moving_variance + (1 - m) * x.var(axis=0)
        return out
