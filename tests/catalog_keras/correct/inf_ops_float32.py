"""Inference in float32 with keras.ops, weights read by position, the output converted to NumPy."""
from keras import ops

TARGET = "bn_inference_from_layer"


def bn_inference_from_layer(layer, x):
    w = layer.get_weights()
    inv = ops.rsqrt(ops.convert_to_tensor(w[3]) + layer.epsilon)
    return ops.convert_to_numpy((ops.convert_to_tensor(x) - w[2]) * inv * w[0] + w[1])
