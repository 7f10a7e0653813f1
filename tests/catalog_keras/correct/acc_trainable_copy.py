"""Batch-statistics accuracy on a clone of the model, so the original is never touched."""
import keras
import numpy as np

TARGET = "accuracy_with_batch_statistics"


def accuracy_with_batch_statistics(model, x, y, batch_size=128):
    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    preds = [np.argmax(np.asarray(twin(x[i:i + batch_size], training=True)), axis=-1)
             for i in range(0, len(x), batch_size)]
    return float(np.mean(np.concatenate(preds) == np.asarray(y)))
