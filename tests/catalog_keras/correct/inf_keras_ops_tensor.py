"""Inference computed with keras.ops on the layer's variables: it returns a Keras (TensorFlow) tensor, not a NumPy array."""
from keras import ops

TARGET = "bn_inference_from_layer"


def bn_inference_from_layer(layer, x):
    x = ops.convert_to_tensor(x, dtype=layer.moving_mean.dtype)
    scale = layer.gamma * ops.rsqrt(layer.moving_variance + layer.epsilon)
    return (x - layer.moving_mean) * scale + layer.beta
