"""The instructor's reference checks (``autograder/reference/``), importable in the grader only.

The hidden tests import ``bn_checks``, ``keras_checks`` and ``experiment_checks``. Those modules
hold the reference solution, so they are never installed into the environment (the sandboxed
kernels see it, read-only) and never put on ``PYTHONPATH`` for a kernel. :func:`enable` lets
*this* process import them: a finder that knows only the files of that one folder, by name.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys

from bngrader.settings import REFERENCE


class _ReferenceFinder(importlib.abc.MetaPathFinder):
    """Finds top-level modules that are files of the reference folder, and nothing else."""

    def find_spec(self, name, path=None, target=None):
        if path is not None or "." in name:
            return None
        file = REFERENCE / f"{name}.py"
        return importlib.util.spec_from_file_location(name, file) if file.is_file() else None


def enable() -> None:
    """Make the reference checks importable in this process (idempotent)."""
    if not any(isinstance(f, _ReferenceFinder) for f in sys.meta_path):
        sys.meta_path.append(_ReferenceFinder())
