"""Shared helpers for the Batch Normalization course notebooks.

Everything here is safe to hand to learners: data loading, seeding, gradient
checking, plotting, widgets, the Keras comparison (``keras_compare``) and lesson
7's experiment machinery (``experiments``). No reference solution lives in this package;
the instructor reference is in ``autograder/``.
"""

from bncourse.data import DataError, load_mnist
from bncourse.gradcheck import numeric_gradient, rel_error
from bncourse.results import budget, elapsed, epoch_lines, grading_mode, progress, record, stopwatch
from bncourse.setup import setup_notebook

__all__ = [
    "DataError",
    "budget",
    "elapsed",
    "epoch_lines",
    "grading_mode",
    "record",
    "load_mnist",
    "numeric_gradient",
    "progress",
    "rel_error",
    "setup_notebook",
    "stopwatch",
]
