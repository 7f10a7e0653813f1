"""Run modes, key results and progress lines.

``grading_mode()`` is True while nbgrader validates or autogrades a notebook
(nbgrader sets ``NBGRADER_EXECUTION``), or when ``BNCOURSE_FAST=1``. Notebooks
use :func:`budget` to shrink long experiments then, so grading costs seconds;
the graded cells themselves never depend on the budget.

``record(name, value)`` appends a key result to the file ``BNCOURSE_RESULTS``
names, as a JSON line (the benchmark collects these). It prints nothing: the
notebook prints what the learner should read in its own words.

``progress(text)`` prints one compact line with the seconds since the cell's
stopwatch started (:func:`stopwatch`), for cells that run 20 s or more;
``epoch_lines()`` is a Keras callback that prints one such line per epoch.
``elapsed()`` is the time since the notebook's setup cell ran.
"""

from __future__ import annotations

import json
import os
import time


def grading_mode() -> bool:
    """True under nbgrader validate/autograde, or with BNCOURSE_FAST=1."""
    return bool(os.environ.get("NBGRADER_EXECUTION")) or os.environ.get("BNCOURSE_FAST") == "1"


def budget(full, fast):
    """``full`` normally; ``fast`` in grading mode (see :func:`grading_mode`)."""
    return fast if grading_mode() else full


def record(name: str, value, fmt: str = "{}") -> None:
    """Append ``{"name", "value", "fast"}`` to ``$BNCOURSE_RESULTS`` if set; print nothing.

    ``fmt`` is kept for callers that format the value; the file holds the raw value.
    """
    del fmt  # the value is stored unformatted; the notebook prints its own sentence
    path = os.environ.get("BNCOURSE_RESULTS")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"name": name, "value": value, "fast": grading_mode()}) + "\n")


def elapsed() -> float:
    """Seconds since the notebook's setup cell called :func:`bncourse.setup_notebook`."""
    from bncourse.setup import STARTED

    return time.perf_counter() - STARTED["at"]


_WATCH = {"at": time.perf_counter()}


def stopwatch() -> None:
    """Start (or restart) the clock that :func:`progress` reports."""
    _WATCH["at"] = time.perf_counter()


def progress(text: str) -> None:
    """Print ``text [N s]`` on one line, N the seconds since :func:`stopwatch`, at once."""
    print(f"  {text}  [{time.perf_counter() - _WATCH['at']:.0f} s]", flush=True)


def epoch_lines(label: str = ""):
    """A Keras callback that prints one :func:`progress` line per epoch (loss, accuracies).

    Use it with ``fit(..., verbose=0, callbacks=[bncourse.epoch_lines("with BN")])``.
    """
    import keras

    class _EpochLines(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.epochs = self.params.get("epochs")

        def on_epoch_end(self, epoch, logs=None):
            shown = ", ".join(f"{k} {v:.4f}" for k, v in (logs or {}).items()
                              if k in ("loss", "accuracy", "val_accuracy"))
            prefix = f"{label}: " if label else ""
            progress(f"{prefix}epoch {epoch + 1}/{self.epochs}: {shown}")

    return _EpochLines()
