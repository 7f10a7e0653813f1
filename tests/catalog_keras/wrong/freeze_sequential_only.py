"""Recurses into nested Sequential models only, not into functional ones."""
import keras

TARGET = "freeze_batchnorm"
EXPECT = "inside nested models"


def freeze_batchnorm(model):
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
        elif isinstance(layer, keras.Sequential):
            freeze_batchnorm(layer)
    return model
