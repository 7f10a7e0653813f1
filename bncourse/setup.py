"""The one call every notebook's locked setup cell makes."""

from __future__ import annotations

import os
import random
import time

import numpy as np

STARTED = {"at": time.perf_counter()}  # reset by setup_notebook; read by bncourse.elapsed()


def setup_notebook(seed: int = 0, *, keras: bool = False, onednn: bool = False) -> None:
    """Make a notebook run reproducible and its error messages readable.

    - seeds Python's ``random`` and NumPy's global generator (and Keras/TF when
      ``keras=True``, which also imports TensorFlow: about 5 s);
    - tracebacks (see :func:`set_tracebacks`): while nbgrader validates or grades
      (``NBGRADER_EXECUTION`` is set), ``Minimal`` mode, so a failing test shows its
      message and not its code; in the learner's own kernel, ``Context`` mode, so an
      error in the learner's code shows the learner's lines and functions, while a
      failed visible check (``CheckFailed``) still shows only its message;
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
    STARTED["at"] = time.perf_counter()
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
        set_tracebacks(ip)
        ip.register_magic_function(demo, magic_kind="cell", magic_name="demo")


def set_tracebacks(ip) -> str:
    """Choose the traceback style for this kernel; returns the mode it set.

    Grading (``NBGRADER_EXECUTION`` set, see :func:`bncourse.grading_mode`): ``Minimal``,
    so no test code is printed. Otherwise ``Context``: an error raised in the learner's
    code shows each frame (cell, line, function), and a :class:`~bncourse.checks.CheckFailed`
    from a visible check shows its one-line message without the check helper's frames.
    The learner switches with ``%xmode Minimal`` / ``%xmode Context`` at any time.
    """
    from bncourse.checks import CheckFailed

    grading = bool(os.environ.get("NBGRADER_EXECUTION"))
    mode = "Minimal" if grading else "Context"
    ip.InteractiveTB.set_mode(mode)  # same as %xmode, without the banner
    ip.set_custom_exc((), None) if grading else ip.set_custom_exc((CheckFailed,), _check_message_only)
    return mode


def _check_message_only(shell, etype, value, tb, tb_offset=None):
    """Show a failed visible check as ``CheckFailed: message``: an error output, no frames."""
    stb = shell.InteractiveTB.get_exception_only(etype, value)
    shell._showtraceback(etype, value, stb)
    return stb


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
