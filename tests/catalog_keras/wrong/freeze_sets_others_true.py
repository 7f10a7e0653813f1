"""Writes every layer's flag (trainable = not BN), which unfreezes layers that were frozen before."""
import keras

TARGET = "freeze_batchnorm"
EXPECT = "set some to True"


def freeze_batchnorm(model):
    for layer in model.layers:
        if hasattr(layer, "layers"):
            freeze_batchnorm(layer)
        else:
            layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)
    return model
