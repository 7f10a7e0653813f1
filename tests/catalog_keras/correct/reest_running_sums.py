"""Re-estimation with one probe per BN layer, last layer first, with running sums over the batches.

Last layer first: a probe in training mode also moves the moving statistics of the BN layers in front
of the probed one, so those are assigned after.
"""
import keras
import numpy as np

TARGET = "reestimate_bn_statistics"


def reestimate_bn_statistics(model, x, batch_size=128):
    for layer in reversed([lay for lay in model.layers if isinstance(lay, keras.layers.BatchNormalization)]):
        probe = keras.Model(model.inputs[0], layer.input)
        mean_sum = var_sum = 0.0
        count = 0
        for start in range(0, len(x), batch_size):
            z = np.asarray(probe(x[start:start + batch_size], training=True), dtype=np.float64)
            z = z.reshape(-1, z.shape[-1])
            mean_sum = mean_sum + z.mean(axis=0)
            var_sum = var_sum + z.var(axis=0)
            count += 1
        layer.moving_mean.assign(mean_sum / count)
        layer.moving_variance.assign(var_sum / count)
