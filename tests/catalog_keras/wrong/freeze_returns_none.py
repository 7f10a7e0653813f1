"""Freezes the BN layers in place and forgets to return the model."""
import keras

TARGET = "freeze_batchnorm"
EXPECT = "return the model"


def freeze_batchnorm(model):
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
        elif hasattr(layer, "layers"):
            freeze_batchnorm(layer)
