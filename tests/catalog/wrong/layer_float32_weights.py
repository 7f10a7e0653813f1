"""BatchNorm layer that keeps its weights in float32 ("Keras works in float32")."""
import numpy as np

TARGET = "BatchNorm"
EXPECT = "keep the layer's weights float64"


class BatchNorm:
    def __init__(self, num_features, momentum=0.99, epsilon=1e-3):
        self.momentum = momentum
        self.epsilon = epsilon
        self.gamma = np.ones(num_features, dtype=np.float32)
        self.beta = np.zeros(num_features, dtype=np.float32)
        self.moving_mean = np.zeros(num_features, dtype=np.float32)
        self.moving_variance = np.ones(num_features, dtype=np.float32)

    def __call__(self, x, training=False):
        if training:
            out, cache = batchnorm_forward(x, self.gamma, self.beta, self.epsilon)  # noqa: F821 - the notebook's
            self.moving_mean, self.moving_variance = update_moving_stats(  # noqa: F821
                self.moving_mean, self.moving_variance, cache["mean"], cache["var"], self.momentum)
            return out
        return batchnorm_inference(x, self.gamma, self.beta, self.moving_mean,  # noqa: F821
                                   self.moving_variance, self.epsilon)
