"""BatchNorm layer with in-place incremental moving averages (self.moving_mean += ...), which is fine inside a layer."""
import numpy as np

TARGET = "BatchNorm"


class BatchNorm:
    def __init__(self, num_features, momentum=0.99, epsilon=1e-3):
        self.momentum = momentum
        self.epsilon = epsilon
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.moving_mean = np.zeros(num_features)
        self.moving_variance = np.ones(num_features)

    def __call__(self, x, training=False):
        if training:
            mean = x.mean(axis=0)
            var = ((x - mean) ** 2).mean(axis=0)
            self.moving_mean += (1 - self.momentum) * (mean - self.moving_mean)
            self.moving_variance += (1 - self.momentum) * (var - self.moving_variance)
        else:
            mean, var = self.moving_mean, self.moving_variance
        scale = self.gamma / np.sqrt(var + self.epsilon)
        return x * scale + (self.beta - mean * scale)
