"""Finds BN layers by their default name, batch_normalization...: a BN layer named otherwise stays trainable."""
TARGET = "freeze_batchnorm"
EXPECT = "by their name"


def freeze_batchnorm(model):
    for layer in model.layers:
        if "batch_normalization" in layer.name:
            layer.trainable = False
        elif hasattr(layer, "layers"):
            freeze_batchnorm(layer)
    return model
