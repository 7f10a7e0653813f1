import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "autograder"))  # course.py, the maintainer tool
sys.path.insert(0, str(ROOT / "autograder" / "reference"))  # bn_reference, bn_checks
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import course  # noqa: E402


def _notebooks(folder):
    return sorted((ROOT / folder).glob("*/*.ipynb"))


SOLUTION_NOTEBOOKS = _notebooks("solutions")
REPORTS: dict[str, list[str]] = {}  # title -> lines, printed after the test summary
LEARNER_NOTEBOOKS = _notebooks("notebooks")


def nb_id(path):
    return path.parent.name


@pytest.fixture(scope="session")
def fresh_release(tmp_path_factory):
    """notebooks/ regenerated from solutions/ into a temporary folder."""
    return course.release(tmp_path_factory.mktemp("release"))


def pytest_terminal_summary(terminalreporter):
    for title, lines in REPORTS.items():
        terminalreporter.write_sep("=", title)
        for line in lines:
            terminalreporter.write_line(line)
