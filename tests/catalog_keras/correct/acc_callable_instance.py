"""accuracy_with_batch_statistics as an instance of a class with __call__, saving and restoring all weights."""
import numpy as np

TARGET = "accuracy_with_batch_statistics"


class _BatchStatisticsAccuracy:
    def __call__(self, model, x, y, batch_size=128):
        saved = model.get_weights()
        hits = 0
        for i in range(0, len(x), batch_size):
            probs = np.asarray(model(x[i:i + batch_size], training=True))
            hits += int((probs.argmax(axis=1) == np.asarray(y[i:i + batch_size])).sum())
        model.set_weights(saved)
        return hits / len(x)


accuracy_with_batch_statistics = _BatchStatisticsAccuracy()
