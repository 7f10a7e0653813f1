"""The course's grading package: release, validation, hardened class grading, reports.

One command, ``bngrader`` (:mod:`bngrader.cli`). One concern per module:

* ``settings``   the course's nbgrader settings and folders
* ``course``     release, validation, benchmark around stock nbgrader; ``nbsource`` text <-> notebook
* ``grade``      class grading: intake, statuses, ledger, grades.csv; ``runner`` the worker pool
* ``hardened``   nbgrader's Execute, hardened; ``sandbox`` the bubblewrap launcher; ``watcher``
  the resource limits; ``wire`` the data-only bridge to the kernel; ``reference`` the
  instructor checks, importable in the grader only
* ``hardening``  the one hardened nbgrader configuration (grade and Formgrader); ``sanitize``
  clean pages; ``fsguard`` no-follow file access; ``scan`` the static scan
* ``make_expected`` the visible checks' literals; ``bench_grading`` grade vs stock nbgrader

The reference checks (``autograder/reference/``) are not part of the package and never installed.
"""
