"""Batch-statistics accuracy that saves and restores only the BN moving statistics, mean of a boolean list."""
import keras
import numpy as np

TARGET = "accuracy_with_batch_statistics"


def accuracy_with_batch_statistics(model, x, y, batch_size=128):
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    saved = [(np.asarray(bn.moving_mean).copy(), np.asarray(bn.moving_variance).copy()) for bn in bns]
    hits = []
    for start in range(0, len(x), batch_size):
        pred = np.argmax(model(x[start:start + batch_size], training=True), axis=-1)
        hits.extend(pred == y[start:start + batch_size])
    for bn, (mean, var) in zip(bns, saved):
        bn.moving_mean.assign(mean)
        bn.moving_variance.assign(var)
    return float(np.mean(hits))
