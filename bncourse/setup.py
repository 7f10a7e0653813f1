"""The one call every notebook's locked setup cell makes."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent


def setup_notebook(seed: int = 0, *, keras: bool = False, onednn: bool = False) -> None:
    """Make a notebook run reproducible and its error messages short.

    - seeds Python's ``random`` and NumPy's global generator (and Keras/TF when
      ``keras=True``, which also imports TensorFlow: about 5 s);
    - switches IPython tracebacks to ``Minimal`` mode, so a failing test shows
      its message and not the code around it;
    - quiets TensorFlow's C++ start-up logging and prints NumPy arrays compactly;
    - registers the ``%%demo`` cell magic (see :func:`demo`);
    - turns off TensorFlow's oneDNN kernels (``TF_ENABLE_ONEDNN_OPTS=0``): their
      results vary with the order of floating-point operations, and they print a
      notice into the first cell that imports Keras.

    ``onednn=True`` (with ``keras=True``) keeps the oneDNN kernels on instead: about
    twice as fast for convolutions on a CPU, at the price of float32 round-off that may
    differ from run to run. Their start-up notice is kept out of the notebook.

    Call it before anything imports TensorFlow.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1" if onednn else os.environ.get("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    random.seed(seed)
    np.random.seed(seed)
    np.set_printoptions(precision=4, suppress=True)
    if keras:
        with _quiet_stderr_fd():  # TensorFlow's C++ start-up notices bypass Python's sys.stderr
            import keras as _keras

        _keras.utils.set_random_seed(seed)
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: nothing to configure
        return
    ip = get_ipython()
    if ip is not None:
        ip.InteractiveTB.set_mode("Minimal")  # same as %xmode Minimal, without the banner
        ip.register_magic_function(demo, magic_kind="cell", magic_name="demo")


def demo(line, cell):
    """``%%demo``: an ungraded demonstration cell (Keras comparisons, timings).

    It runs as usual, except while nbgrader validates or autogrades the notebook
    (see :func:`bncourse.grading_mode`), where it is skipped so grading stays fast
    and never needs TensorFlow for a NumPy lesson. Graded cells never depend on it.
    """
    from IPython import get_ipython

    from bncourse.results import grading_mode

    if grading_mode():
        print("(demonstration skipped while grading)")
        return
    exec(compile(cell, "<demo cell>", "exec"), get_ipython().user_ns)  # errors propagate to the cell


class _quiet_stderr_fd:
    """Send file descriptor 2 to /dev/null for the duration of a ``with`` block."""

    def __enter__(self):
        import sys

        sys.stderr.flush()
        self.saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)

    def __exit__(self, *exc):
        os.dup2(self.saved, 2)
        os.close(self.saved)
        return False
