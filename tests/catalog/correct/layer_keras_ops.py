"""BatchNorm layer computed with keras.ops: outputs and moving statistics are Keras (TensorFlow) tensors, not NumPy arrays."""
import numpy as np
from keras import ops

TARGET = "BatchNorm"


class BatchNorm:
    def __init__(self, num_features, momentum=0.99, epsilon=1e-3):
        self.momentum = momentum
        self.epsilon = epsilon
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.moving_mean = ops.zeros(num_features, dtype="float64")
        self.moving_variance = ops.ones(num_features, dtype="float64")

    def __call__(self, x, training=False):
        x = ops.convert_to_tensor(x)
        if training:
            mean = ops.mean(x, axis=0)
            var = ops.mean(ops.square(x - mean), axis=0)
            m = self.momentum
            self.moving_mean = m * ops.cast(self.moving_mean, "float64") + (1 - m) * ops.cast(mean, "float64")
            self.moving_variance = m * ops.cast(self.moving_variance, "float64") + (1 - m) * ops.cast(var, "float64")
        else:
            mean = ops.cast(self.moving_mean, x.dtype)
            var = ops.cast(self.moving_variance, x.dtype)
        gamma = ops.cast(self.gamma, x.dtype)
        beta = ops.cast(self.beta, x.dtype)
        return gamma * (x - mean) / ops.sqrt(var + self.epsilon) + beta
