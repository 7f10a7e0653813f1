"""Right spatial backward (written for the given batchnorm_forward's cache) whose forward returns
only out: Exercise 2 is graded for what it adds (error carried forward), with the given cache."""
TARGET = "spatial_batchnorm_backward"


def spatial_batchnorm_forward(x, gamma, beta, eps=1e-3):
    c = x.shape[-1]
    flat = x.reshape(-1, c)
    mean = flat.mean(axis=0)
    out = gamma * (flat - mean) / (((flat - mean) ** 2).mean(axis=0) + eps) ** 0.5 + beta
    return out.reshape(x.shape)


def spatial_batchnorm_backward(dout, cache):
    x_hat, ivar, gamma = cache["x_hat"], cache["ivar"], cache["gamma"]
    d = dout.reshape(-1, dout.shape[-1])
    m = d.shape[0]
    g = d * gamma
    dx = ivar / m * (m * g - g.sum(axis=0) - x_hat * (g * x_hat).sum(axis=0))
    return dx.reshape(dout.shape), (d * x_hat).sum(axis=0), d.sum(axis=0)
