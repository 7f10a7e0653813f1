"""nbgrader configuration for the course (Formgrader and the stock nbgrader commands).

Layout: the repository root is the nbgrader course root. ``solutions/`` is the nbgrader
*source* (instructor versions) and ``notebooks/`` the *release* (learner versions). What an
instructor's term produces (submissions, the gradebook, grades, feedback) lives in
``instructor/``, git-ignored; code folders hold only code. The grading package
``bngrader`` (autograder/bngrader/) is installed in the course environment.
"""

import os

from bngrader import settings
from bngrader.course import grading_env
from bngrader.hardening import harden
from bngrader.late import LatePenalty

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

settings.apply(c)
settings.migrate_instructor_data()  # from autograder/, where earlier versions of the course kept it
settings.INSTRUCTOR.mkdir(exist_ok=True)  # a fresh clone has none, and sqlite creates no folders
c.CourseDirectory.root = str(settings.ROOT)
c.CourseDirectory.submitted_directory = "instructor/submitted"
c.CourseDirectory.autograded_directory = "instructor/autograded"
c.CourseDirectory.feedback_directory = "instructor/feedback"
c.CourseDirectory.solution_directory = "instructor/generated_solutions"
c.CourseDirectory.db_url = f"sqlite:///{settings.INSTRUCTOR / 'gradebook.db'}"

# Hidden tests import their checks from autograder/reference; nbgrader calls `alembic` by
# name. grading_env() sets both (and quiet TensorFlow); kernels inherit it.
os.environ.update(grading_env())

# Stock `nbgrader autograde` / `generate_feedback`, and so Formgrader's Autograde and Generate
# Feedback buttons, grade as `bngrader grade` does (hardening.harden): the kernel in the bubblewrap
# sandbox (no fallback: without bubblewrap no cell runs), hidden tests outside it, limits,
# hidden tests cleared, every page sanitised, no student link followed. Per-cell time limit
# while validating and autograding: 300 s (Keras cells train for up to ~1 min).
harden(c, cell_timeout=300, notebook_timeout=1800, memory_mb=3000, sandbox="bwrap", work_dir=None)

# The course's late policy (bngrader/late.py), for stock autograde and `bngrader grade` alike:
# 10 % of the score per started day past the due date (the gradebook's, plus any extension).
# Change it here: penalty_method "none" (flag only), "zero", or "per_day" with percent_per_day.
c.AssignLatePenalties.plugin_class = LatePenalty
c.LatePenalty.penalty_method = "per_day"
c.LatePenalty.percent_per_day = 10.0
