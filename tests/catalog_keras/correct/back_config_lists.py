"""Momentum and epsilon read from get_config(), the weights from the layer's variables (.numpy()), values returned as lists."""

TARGET = "keras_bn_to_torch"


def keras_bn_to_torch(layer):
    config = layer.get_config()
    mean = layer.moving_mean.numpy()
    var = layer.moving_variance.numpy()
    weight = layer.gamma.numpy() if config["scale"] else [1.0] * len(mean)
    bias = layer.beta.numpy() if config["center"] else [0.0] * len(mean)
    to_list = lambda a: [float(v) for v in a]  # noqa: E731
    return {"weight": to_list(weight), "bias": to_list(bias), "running_mean": to_list(mean),
            "running_var": to_list(var), "momentum": 1 - config["momentum"], "eps": config["epsilon"]}
