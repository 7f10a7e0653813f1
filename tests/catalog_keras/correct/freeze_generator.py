"""A generator that walks all layers depth-first, then one loop that freezes the BN ones."""
import keras

TARGET = "freeze_batchnorm"


def all_layers(container):
    for layer in getattr(container, "layers", []):
        yield layer
        yield from all_layers(layer)


def freeze_batchnorm(model):
    frozen = [layer for layer in all_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in frozen:
        layer.trainable = False
    return model
