"""BatchNorm layer with PyTorch attribute names (running_mean, running_var, eps)."""
import numpy as np

TARGET = "BatchNorm"
EXPECT = "no attribute"


class BatchNorm:
    def __init__(self, num_features, momentum=0.99, epsilon=1e-3):
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.momentum = momentum
        self.eps = epsilon

    def __call__(self, x, training=False):
        if training:
            mean, var = x.mean(axis=0), x.var(axis=0)
            m = self.momentum
            self.running_mean = m * self.running_mean + (1 - m) * mean
            self.running_var = m * self.running_var + (1 - m) * var
        else:
            mean, var = self.running_mean, self.running_var
        return self.gamma * (x - mean) / np.sqrt(var + self.eps) + self.beta
