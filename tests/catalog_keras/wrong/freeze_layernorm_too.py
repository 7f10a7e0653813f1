"""Freezes every normalization layer, LayerNormalization included."""
TARGET = "freeze_batchnorm"
EXPECT = "LayerNormalization"


def freeze_batchnorm(model):
    for layer in model.layers:
        if type(layer).__name__.endswith("Normalization"):
            layer.trainable = False
        elif hasattr(layer, "layers"):
            freeze_batchnorm(layer)
    return model
