"""MLP whose hidden Dense layers keep their bias in front of BatchNormalization."""
import keras

TARGET = "build_bn_mlp"
EXPECT = "has a bias"


def build_bn_mlp(hidden_units=(128, 64), momentum=0.99, epsilon=1e-3):
    inputs = keras.Input(shape=(784,))
    h = inputs
    for units in hidden_units:
        h = keras.layers.Dense(units)(h)
        h = keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon)(h)
        h = keras.layers.ReLU()(h)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(h))
