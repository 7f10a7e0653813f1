"""Forward without epsilon: divides by sqrt(var)."""

TARGET = "batchnorm_forward"
EXPECT = "no epsilon"


def batchnorm_forward(x, gamma, beta, eps=1e-3):
    mean = x.mean(axis=0)
    x_hat = (x - mean) / x.std(axis=0)
    return gamma * x_hat + beta, {"x_hat": x_hat, "mean": mean, "var": x.var(axis=0)}
