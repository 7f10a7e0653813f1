"""nbgrader configuration for the course. Run nbgrader commands from this folder.

Layout: the repository root is the nbgrader course root. ``solutions/`` is the
nbgrader *source* (instructor versions) and ``notebooks/`` the *release*
(learner versions). Instructor scratch folders live here in ``autograder/`` and
are git-ignored.
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

sys.path.insert(0, str(HERE))
import settings  # noqa: E402 - the course id, folders and ignore list, shared with grade.py

settings.apply(c)
c.CourseDirectory.root = str(HERE.parent)
c.CourseDirectory.submitted_directory = "autograder/submitted"
c.CourseDirectory.autograded_directory = "autograder/autograded"
c.CourseDirectory.feedback_directory = "autograder/feedback"
c.CourseDirectory.solution_directory = "autograder/generated_solutions"
c.CourseDirectory.db_url = f"sqlite:///{HERE / 'gradebook.db'}"

# Hidden tests import their checks from autograder/reference; nbgrader calls `alembic` by
# name. course.grading_env() sets both (and quiet TensorFlow); kernels inherit it.
from course import grading_env  # noqa: E402

os.environ.update(grading_env())

# Stock `nbgrader autograde` / `generate_feedback`, and so Formgrader's Autograde and Generate
# Feedback buttons, grade as grade.py does (hardening.harden): the kernel in the bubblewrap
# sandbox (no fallback: without bubblewrap no cell runs), hidden tests outside it, limits,
# hidden tests cleared and every page sanitised. Per-cell time limit while validating and
# autograding: 300 s (Keras cells train for up to ~1 min).
from hardening import harden  # noqa: E402

harden(c, cell_timeout=300, notebook_timeout=1800, memory_mb=3000, sandbox="bwrap", work_dir=None)
