"""The grading configuration that makes nbgrader safe, written once.

``grade.py`` (one scratch course per submission) and ``nbgrader_config.py`` (the stock
``nbgrader autograde`` / ``generate_feedback`` commands, and so Formgrader's Autograde and
Generate Feedback buttons) both call :func:`harden`:

* Autograde executes with :class:`hardened.HardenedExecute`: the kernel in the bubblewrap
  sandbox, hidden tests outside it, error outputs with the message only, time/memory/output
  limits; and the autograded notebook is written through :class:`sanitize.SanitizeNotebook`.
* GenerateFeedback clears hidden tests (``ClearHiddenTests``, without trusting cell
  metadata), cleans the notebook again and writes the page with
  :class:`sanitize.SafeHTMLExporter` (rebuilt page, CSP, local MathJax).
* Every other HTML export from this configuration (Formgrader's view of a submission) cleans
  the notebook first, and gets the course's MathJax from this server, not a CDN.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hardened import HardenedExecute
from sanitize import SafeHTMLExporter, SanitizeNotebook

HERE = Path(__file__).resolve().parent


class FreshHardenedExecute(HardenedExecute):
    """HardenedExecute with a new scratch folder per notebook (kernel home, sockets, events), removed
    afterwards: for the stock commands, where no caller makes one per submission."""

    def preprocess(self, nb, resources=None, km=None):
        self.work_dir = tempfile.mkdtemp(prefix="bn-autograde-")
        try:
            return super().preprocess(nb, resources, km)
        finally:
            shutil.rmtree(self.work_dir, ignore_errors=True)


def _nbgrader_templates() -> str:
    import nbgrader.server_extensions.formgrader as formgrader

    return str(Path(formgrader.__file__).parent / "templates")


def harden(c, *, cell_timeout: int, notebook_timeout: int, memory_mb: int, sandbox: str, work_dir: str | None):
    """Set the hardened Autograde, GenerateFeedback and HTMLExporter options on config ``c``.
    ``work_dir`` None: a fresh scratch folder per notebook (:class:`FreshHardenedExecute`)."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        ClearHiddenTests,
        GetGrades,
        IgnorePattern,
        LimitOutput,
        SaveAutoGrades,
    )

    c.OverwriteCells.add_missing_cells = True  # a deleted test cell comes back (and is graded)
    execute = HardenedExecute if work_dir else FreshHardenedExecute
    c.Autograde.autograde_preprocessors = [execute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                                           SaveAutoGrades, AssignLatePenalties, CheckCellMetadata, SanitizeNotebook]
    c.Execute.timeout = cell_timeout
    c.HardenedExecute.notebook_timeout = notebook_timeout
    c.HardenedExecute.memory_limit_mb = memory_mb
    c.HardenedExecute.sandbox = sandbox
    if work_dir:
        c.HardenedExecute.work_dir = work_dir
    c.GenerateFeedback.preprocessors = [ClearHiddenTests, GetGrades, SanitizeNotebook, CSSHTMLHeaderPreprocessor]
    c.GenerateFeedback.exporter_class = SafeHTMLExporter
    c.ClearHiddenTests.enforce_metadata = False
    c.HTMLExporter.preprocessors = [SanitizeNotebook]
    # searched before nbconvert's own: templates/base/mathjax.html.j2 (the local MathJax) wins;
    # then nbgrader's own templates (formgrade, feedback)
    c.HTMLExporter.extra_template_basedirs = [str(HERE / "templates"), _nbgrader_templates()]
    return c
