"""The grading configuration that makes nbgrader safe, written once.

``grade.py`` (one scratch course per submission) and ``nbgrader_config.py`` (the stock
``nbgrader autograde`` / ``generate_feedback`` commands, and so Formgrader's Autograde and
Generate Feedback buttons) both call :func:`harden`:

* Autograde executes with :class:`hardened.HardenedExecute`: the kernel in the bubblewrap
  sandbox, hidden tests outside it, error outputs with the message only, time/memory/output
  limits; and the autograded notebook is written through :class:`sanitize.SanitizeNotebook`.
* GenerateFeedback clears hidden tests (``ClearHiddenTests``, without trusting cell
  metadata), cleans the notebook again, names each exercise with its score and hint
  (:class:`feedback.LabelFeedback`, template ``share/nbconvert/templates/bn_feedback/``) and writes the page with
  :class:`sanitize.SafeHTMLExporter` (rebuilt page, CSP, local MathJax).
* Every other HTML export from this configuration (Formgrader's view of a submission) cleans
  the notebook first, and gets the course's MathJax from this server, not a CDN.
* nbgrader's converters follow no link from the student's side (:func:`no_follow_converters`):
  a linked notebook is not graded, and of the other files next to it only regular files are
  copied (submitted -> autograded -> feedback), through :mod:`fsguard`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from bngrader import fsguard
from bngrader.feedback import LabelFeedback
from bngrader.hardened import HardenedExecute
from bngrader.sanitize import SafeHTMLExporter, SanitizeNotebook
from bngrader.settings import PACKAGE


class FreshHardenedExecute(HardenedExecute):
    """HardenedExecute with a new scratch folder per notebook (kernel home, sockets, events), removed
    afterwards: for the stock commands, where no caller makes one per submission."""

    def preprocess(self, nb, resources=None, km=None):
        self.work_dir = tempfile.mkdtemp(prefix="bn-autograde-")
        try:
            return super().preprocess(nb, resources, km)
        finally:
            shutil.rmtree(self.work_dir, ignore_errors=True)


SHARE = PACKAGE / "share"  # laid out as a Jupyter data folder: share/nbconvert/templates/<name>/
TEMPLATES = SHARE / "nbconvert" / "templates"  # base/mathjax.html.j2, bn_feedback/


def _nbgrader_templates() -> str:
    import nbgrader.server_extensions.formgrader as formgrader

    return str(Path(formgrader.__file__).parent / "templates")


def _init_notebooks_no_links(self) -> None:
    """nbgrader's ``init_notebooks``, then a notebook that is a symbolic link is dropped (logged):
    its content is someone else's file (a classmate's, the solution), not the student's work."""
    _stock["init_notebooks"](self)
    for assignment, found in list(self.assignments.items()):
        kept = [f for f in found if not os.path.islink(f)]
        for f in sorted(set(found) - set(kept)):
            self.log.warning("Not graded: %s is a symbolic link", f)
        self.assignments[assignment] = kept


def _init_assignment_no_links(self, assignment_id: str, student_id: str) -> None:
    """nbgrader's ``BaseConverter.init_assignment`` (copy the files next to the notebooks from
    the source folder to the destination) with regular files only: a link or special file is
    skipped and logged, never followed, and a copy never writes through a link."""
    from nbgrader.utils import find_all_files

    source = self._format_source(assignment_id, student_id)
    dest = self._format_dest(assignment_id, student_id)
    for filename in find_all_files(source, self.coursedir.ignore + ["*.ipynb"]):
        path = os.path.join(dest, os.path.relpath(filename, source))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            fsguard.copy_regular(Path(filename), Path(path))
        except (fsguard.UnsafeFile, OSError) as exc:
            self.log.warning("Not copied: %s (%s)", filename, exc)


_stock: dict = {}


def no_follow_converters() -> None:
    """Make nbgrader's converters (Autograde, GenerateFeedback, ...) follow no student link.
    nbgrader has no configurable hook for this: the two methods are replaced on its base class,
    once, in the grader's own process (the course's config is the only code loaded there)."""
    from nbgrader.converters.base import BaseConverter

    if not _stock:
        _stock["init_notebooks"] = BaseConverter.init_notebooks
        BaseConverter.init_notebooks = _init_notebooks_no_links
        BaseConverter.init_assignment = _init_assignment_no_links


def harden(c, *, cell_timeout: int, notebook_timeout: int, memory_mb: int, sandbox: str, work_dir: str | None):
    """Set the hardened Autograde, GenerateFeedback and HTMLExporter options on config ``c``.
    ``work_dir`` None: a fresh scratch folder per notebook (:class:`FreshHardenedExecute`)."""
    from nbconvert.preprocessors import (
        ClearMetadataPreprocessor,
        CoalesceStreamsPreprocessor,
        CSSHTMLHeaderPreprocessor,
    )
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        ClearHiddenTests,
        GetGrades,
        IgnorePattern,
        LimitOutput,
        SaveAutoGrades,
    )

    no_follow_converters()
    c.OverwriteCells.add_missing_cells = True  # a deleted test cell comes back (and is graded)
    execute = HardenedExecute if work_dir else FreshHardenedExecute
    # CoalesceStreams: a cell's printed text as one output per stream, wherever the kernel's messages
    # happened to be cut, so two gradings of one notebook give the same graded notebook and page
    c.Autograde.autograde_preprocessors = [execute, CoalesceStreamsPreprocessor, IgnorePattern,
                                           ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
                                           AssignLatePenalties, CheckCellMetadata, SanitizeNotebook]
    c.CoalesceStreamsPreprocessor.enabled = True  # nbconvert's preprocessors are off unless enabled
    c.Execute.timeout = cell_timeout
    c.HardenedExecute.notebook_timeout = notebook_timeout
    c.HardenedExecute.memory_limit_mb = memory_mb
    c.HardenedExecute.sandbox = sandbox
    if work_dir:
        c.HardenedExecute.work_dir = work_dir
    c.GenerateFeedback.preprocessors = [ClearHiddenTests, GetGrades, SanitizeNotebook, CSSHTMLHeaderPreprocessor,
                                        LabelFeedback]
    c.GenerateFeedback.exporter_class = SafeHTMLExporter
    # the course's feedback page (share/nbconvert/templates/bn_feedback/, on top of nbgrader's feedback template):
    # each exercise named with its score and hint, the check code folded away
    c.SafeHTMLExporter.template_name = "bn_feedback"
    c.SafeHTMLExporter.template_file = "bn_feedback.html.j2"
    c.ClearHiddenTests.enforce_metadata = False
    c.HTMLExporter.preprocessors = [SanitizeNotebook]
    # searched before nbconvert's own: base/mathjax.html.j2 (the local MathJax) wins; then
    # nbgrader's own templates (formgrade, feedback)
    c.HTMLExporter.extra_template_basedirs = [str(TEMPLATES), _nbgrader_templates()]
    # Formgrader's server extension replaces extra_template_basedirs with its own folder
    # (FormgradeExtension.build_extra_config), which would give its submission view nbconvert's
    # CDN MathJax. nbconvert also looks for templates in Jupyter's data path, read at render time:
    # the course's share/ first on JUPYTER_PATH keeps the local MathJax there.
    data = os.environ.get("JUPYTER_PATH", "").split(os.pathsep)
    if str(SHARE) not in data:
        os.environ["JUPYTER_PATH"] = os.pathsep.join([str(SHARE), *filter(None, data)])
    return c
