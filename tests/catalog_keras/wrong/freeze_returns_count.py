"""Freezes the BN layers but returns how many it froze instead of the model."""
import keras

TARGET = "freeze_batchnorm"
EXPECT = "return the model itself"


def freeze_batchnorm(model):
    count = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
            count += 1
        elif hasattr(layer, "layers"):
            count += freeze_batchnorm(layer)
    return count
