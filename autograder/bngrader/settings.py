"""The course's settings and places, written once.

``autograder/nbgrader_config.py`` (Formgrader, the stock nbgrader commands) and the grading
package apply the nbgrader settings; every module finds the course's folders here.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
# The course root: the checkout the package is installed from (pip install -e .), or another copy
# of the course named by BNCOURSE_ROOT (the maintainers' tests release a scratch copy that way).
ROOT = Path(os.environ.get("BNCOURSE_ROOT") or PACKAGE.parent.parent).resolve()
SOLUTIONS = ROOT / "solutions"  # nbgrader's source: the instructor notebooks and their text sources
NOTEBOOKS = ROOT / "notebooks"  # nbgrader's release: the learner notebooks
AUTOGRADER = ROOT / "autograder"
CONFIG = AUTOGRADER / "nbgrader_config.py"
REFERENCE = AUTOGRADER / "reference"  # instructor-only: never installed, never in a sandbox
INSTRUCTOR = ROOT / "instructor"  # git-ignored: submissions, gradebook, grades, feedback, ledger



def reference_files(folder: Path = REFERENCE) -> dict[str, Path]:
    """The reference checks' files by name relative to ``folder``: its modules and the concept
    questions' answer keys (``concepts/*.toml``)."""
    files = [*folder.glob("*.py"), *folder.glob("concepts/*.toml")]
    return {p.relative_to(folder).as_posix(): p for p in sorted(files)}


COURSE_ID = "batchnorm"
SOURCE = "solutions"
RELEASE = "notebooks"
IGNORE = [".ipynb_checkpoints", "*.pyc", "__pycache__", "*.py"]  # never copied along with a notebook


def apply(c) -> None:
    """Set the course's id, folders and ignore list on the traitlets config ``c``."""
    c.CourseDirectory.course_id = COURSE_ID
    c.CourseDirectory.source_directory = SOURCE
    c.CourseDirectory.release_directory = RELEASE
    c.CourseDirectory.ignore = list(IGNORE)


OLD_DATA = ["gradebook.db", "submitted", "autograded", "feedback", "generated_solutions", "ledger", "gradescope",
            "grades.csv"]


def migrate_instructor_data(old: Path = AUTOGRADER, new: Path = INSTRUCTOR) -> list[str]:
    """Move a term's data from ``autograder/`` (where earlier versions of the course kept it) to
    ``instructor/``, once: only when ``instructor/`` has no gradebook yet. Nothing is overwritten;
    returns what was moved (and says so on stderr)."""
    import shutil
    import sys

    if not (old / "gradebook.db").is_file() or (new / "gradebook.db").exists():
        return []
    new.mkdir(parents=True, exist_ok=True)
    moved = []
    for name in OLD_DATA:
        if (old / name).exists() and not (new / name).exists():
            shutil.move(str(old / name), str(new / name))
            moved.append(name)
    print(f"bngrader: moved the instructor data {', '.join(moved)} from {old} to {new}", file=sys.stderr)
    return moved
