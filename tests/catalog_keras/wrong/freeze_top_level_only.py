"""Freezes the BN layers in model.layers only: those inside nested models stay trainable."""
import keras

TARGET = "freeze_batchnorm"
EXPECT = "inside nested models"


def freeze_batchnorm(model):
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    return model
