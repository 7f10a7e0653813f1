"""MLP built as a keras.Sequential list, ReLU written as Activation("relu")."""
import keras

TARGET = "build_bn_mlp"


def build_bn_mlp(hidden_units=(128, 64), momentum=0.99, epsilon=1e-3):
    layers = [keras.Input(shape=(784,))]
    for units in hidden_units:
        layers += [
            keras.layers.Dense(units, use_bias=False),
            keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon),
            keras.layers.Activation("relu"),
        ]
    layers.append(keras.layers.Dense(10, activation="softmax"))
    return keras.Sequential(layers)
