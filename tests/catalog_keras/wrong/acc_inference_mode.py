"""Batch-statistics accuracy computed in inference mode (moving statistics)."""
import numpy as np

TARGET = "accuracy_with_batch_statistics"
EXPECT = "inference-mode accuracy"


def accuracy_with_batch_statistics(model, x, y, batch_size=128):
    correct = 0
    for start in range(0, len(x), batch_size):
        probs = np.asarray(model(x[start:start + batch_size], training=False))
        correct += int((probs.argmax(axis=1) == y[start:start + batch_size]).sum())
    return correct / len(x)
