"""MLP that passes epsilon to BatchNormalization but leaves momentum at its default."""
import keras

TARGET = "build_bn_mlp"
EXPECT = "pass the momentum argument through"


def build_bn_mlp(hidden_units=(128, 64), momentum=0.99, epsilon=1e-3):
    inputs = keras.Input(shape=(784,))
    h = inputs
    for units in hidden_units:
        h = keras.layers.Dense(units, use_bias=False)(h)
        h = keras.layers.BatchNormalization(epsilon=epsilon)(h)
        h = keras.layers.ReLU()(h)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(h))
