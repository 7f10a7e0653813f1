"""Spatial backward that divides by the batch size N, with a forward that returns no cache: the
backward is graded on its own (given cache) and its mistake is still named."""
TARGET = "spatial_batchnorm_backward"
EXPECT = "batch size N"


def spatial_batchnorm_forward(x, gamma, beta, eps=1e-3):
    c = x.shape[-1]
    flat = x.reshape(-1, c)
    mean = flat.mean(axis=0)
    out = gamma * (flat - mean) / (((flat - mean) ** 2).mean(axis=0) + eps) ** 0.5 + beta
    return out.reshape(x.shape)


def spatial_batchnorm_backward(dout, cache):
    x_hat, ivar, gamma = cache["x_hat"], cache["ivar"], cache["gamma"]
    n = dout.shape[0]
    g = dout.reshape(-1, dout.shape[-1]) * gamma
    dx = ivar / n * (n * g - g.sum(axis=0) - x_hat * (g * x_hat).sum(axis=0))
    d = dout.reshape(-1, dout.shape[-1])
    return dx.reshape(dout.shape), (d * x_hat).sum(axis=0), d.sum(axis=0)
