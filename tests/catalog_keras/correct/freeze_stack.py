"""An explicit stack instead of recursion; nested models found with isinstance(keras.Model)."""
import keras

TARGET = "freeze_batchnorm"


def freeze_batchnorm(model):
    stack = [model]
    while stack:
        current = stack.pop()
        for layer in current.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False
            elif isinstance(layer, keras.Model):
                stack.append(layer)
    return model
