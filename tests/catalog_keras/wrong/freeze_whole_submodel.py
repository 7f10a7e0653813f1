"""Sets trainable=False on a nested model that holds BN layers: that freezes its convolutions too."""
import keras

TARGET = "freeze_batchnorm"
EXPECT = "froze a whole nested model"


def freeze_batchnorm(model):
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
        elif hasattr(layer, "layers"):
            layer.trainable = False  # "freeze the backbone's BN": but this freezes all of it
    return model
