"""The course's own nbgrader settings, written once.

``nbgrader_config.py`` (Formgrader, the stock commands) and ``grade.py`` (its template
gradebook and the scratch course of each submission) all apply these.
"""

COURSE_ID = "batchnorm"
SOURCE = "solutions"  # nbgrader's source folder: the instructor notebooks
RELEASE = "notebooks"  # nbgrader's release folder: the learner notebooks
IGNORE = [".ipynb_checkpoints", "*.pyc", "__pycache__", "*.py"]  # never copied along with a notebook


def apply(c) -> None:
    """Set the course's id, folders and ignore list on the traitlets config ``c``."""
    c.CourseDirectory.course_id = COURSE_ID
    c.CourseDirectory.source_directory = SOURCE
    c.CourseDirectory.release_directory = RELEASE
    c.CourseDirectory.ignore = list(IGNORE)
