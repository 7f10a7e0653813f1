"""Batch-statistics accuracy that does not restore the moving statistics the training-mode calls moved."""
import numpy as np

TARGET = "accuracy_with_batch_statistics"
EXPECT = "changed the model"


def accuracy_with_batch_statistics(model, x, y, batch_size=128):
    correct = 0
    for start in range(0, len(x), batch_size):
        probs = np.asarray(model(x[start:start + batch_size], training=True))
        correct += int((probs.argmax(axis=1) == y[start:start + batch_size]).sum())
    return correct / len(x)
