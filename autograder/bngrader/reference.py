"""The instructor's reference checks (``autograder/reference/``), importable in the grader only.

The hidden tests import ``bn_checks``, ``keras_checks``, ``experiment_checks``, ``practice_checks``
and ``concept_checks``. Those modules
hold the reference solution, so they are never installed into the environment (the sandboxed
kernels see it, read-only) and never put on ``PYTHONPATH`` for a kernel. :func:`enable` lets
*this* process import them: a finder that knows only the files of that one folder, by name.
A Dask worker on another machine has no course folder: it gets the modules' bytes with its
task and calls ``enable(folder)`` with the copy it wrote (``bngrader/remote.py``).
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from pathlib import Path

from bngrader.settings import REFERENCE


class _ReferenceFinder(importlib.abc.MetaPathFinder):
    """Finds top-level modules that are files of the reference folder, and nothing else."""

    def __init__(self, folder: Path = REFERENCE):
        self.folder = Path(folder)

    def find_spec(self, name, path=None, target=None):
        if path is not None or "." in name:
            return None
        file = self.folder / f"{name}.py"
        return importlib.util.spec_from_file_location(name, file) if file.is_file() else None


def enable(folder: Path | None = None) -> None:
    """Make the reference checks importable in this process (idempotent). ``folder``: another
    copy of them (a remote worker's); modules imported from the previous folder are forgotten,
    so the next import reads the new copy. Without ``folder`` an enabled finder is kept as is."""
    finder = next((f for f in sys.meta_path if isinstance(f, _ReferenceFinder)), None)
    if finder is None:
        sys.meta_path.append(_ReferenceFinder(folder or REFERENCE))
    elif folder is not None and Path(folder) != finder.folder:
        old, finder.folder = finder.folder, Path(folder)
        for name, module in list(sys.modules.items()):
            if Path(getattr(module, "__file__", None) or "/").parent == old:
                del sys.modules[name]
