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


def load_catalog_file(path) -> dict:
    """Execute a catalog implementation into a fresh namespace, as an answer cell would be."""
    ns: dict = {"__name__": f"catalog_{path.parent.parent.name}_{path.stem}"}
    exec(compile(path.read_text(), str(path), "exec"), ns)  # catalog files are our own test data
    return ns


def catalog_table(results) -> list[str]:
    """Lines of a (implementation, target, verdict, message) table for REPORTS."""
    w = max(len(r[0]) for r in results)
    t = max(len(r[1]) for r in results)
    lines = [f"{'implementation':<{w}}  {'target':<{t}}  verdict   message", "-" * (w + t + 60)]
    for impl, target, verdict, msg in results:
        excerpt = msg if len(msg) <= 110 else msg[:107] + "..."
        lines.append(f"{impl:<{w}}  {target:<{t}}  {verdict:<8}  {excerpt}")
    return lines


def pytest_terminal_summary(terminalreporter):
    for title, lines in REPORTS.items():
        terminalreporter.write_sep("=", title)
        for line in lines:
            terminalreporter.write_line(line)
