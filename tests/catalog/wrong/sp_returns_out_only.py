"""Spatial forward that returns only out, not the tuple (out, cache)."""
TARGET = "spatial_batchnorm_forward"
EXPECT = "it returned only an array"


def spatial_batchnorm_forward(x, gamma, beta, eps=1e-3):
    c = x.shape[-1]
    flat = x.reshape(-1, c)
    mean = flat.mean(axis=0)
    var = ((flat - mean) ** 2).mean(axis=0)
    out = gamma * (flat - mean) / (var + eps) ** 0.5 + beta
    return out.reshape(x.shape)
