"""Forward computing in float64 internally (np.float64 casts), tuple cache, result cast back to the input dtype."""
import numpy as np

TARGET = "batchnorm_forward"


def batchnorm_forward(x, gamma, beta, eps=1e-3):
    x64 = np.asarray(x, dtype=np.float64)
    mu = np.mean(x64, axis=0)
    xc = x64 - mu
    var = np.mean(xc * xc, axis=0)
    std = np.sqrt(var + np.float64(eps))
    x_hat = xc / std
    out = np.float64(1.0) * gamma * x_hat + beta
    return out.astype(np.result_type(x, gamma, beta)), (x_hat, gamma, std)
