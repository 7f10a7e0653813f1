"""Run modes and key results.

``grading_mode()`` is True while nbgrader validates or autogrades a notebook
(nbgrader sets ``NBGRADER_EXECUTION``), or when ``BNCOURSE_FAST=1``. Notebooks
use :func:`budget` to shrink long experiments then, so grading costs seconds;
the graded cells themselves never depend on the budget.

``record(name, value)`` prints a key result and, when ``BNCOURSE_RESULTS``
names a file, appends it there as a JSON line (the benchmark collects these).
"""

from __future__ import annotations

import json
import os


def grading_mode() -> bool:
    """True under nbgrader validate/autograde, or with BNCOURSE_FAST=1."""
    return bool(os.environ.get("NBGRADER_EXECUTION")) or os.environ.get("BNCOURSE_FAST") == "1"


def budget(full, fast):
    """``full`` normally; ``fast`` in grading mode (see :func:`grading_mode`)."""
    return fast if grading_mode() else full


def record(name: str, value, fmt: str = "{}") -> None:
    """Print ``name: value`` and append it to ``$BNCOURSE_RESULTS`` if set."""
    print(f"{name}: {fmt.format(value)}")
    path = os.environ.get("BNCOURSE_RESULTS")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"name": name, "value": value, "fast": grading_mode()}) + "\n")
