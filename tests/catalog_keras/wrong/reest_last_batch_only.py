"""Re-estimation that overwrites the statistics at every batch, so only the last batch remains."""
import keras
import numpy as np

TARGET = "reestimate_bn_statistics"
EXPECT = "last batch only"


def reestimate_bn_statistics(model, x, batch_size=128):
    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    probe = keras.Model(model.inputs[0], [layer.input for layer in layers])
    for start in range(0, len(x), batch_size):
        for layer, z in zip(layers, probe(x[start:start + batch_size], training=True)):
            z = np.asarray(z, dtype=np.float64)
            axes = tuple(range(z.ndim - 1))
            layer.moving_mean.assign(z.mean(axis=axes))
            layer.moving_variance.assign(z.var(axis=axes))
