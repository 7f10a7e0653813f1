"""Forward as tf.nn.batch_normalization computes it: two-pass moments, folded affine, in the input dtype."""
import numpy as np

TARGET = "batchnorm_forward"


def batchnorm_forward(x, gamma, beta, eps=1e-3):
    mean = x.mean(axis=0)
    var = np.square(x - mean).mean(axis=0)
    inv = gamma / np.sqrt(var + np.asarray(eps, dtype=x.dtype))
    out = x * inv + (beta - mean * inv)
    return out, (x, mean, var, inv)
