"""Feedback a student reads in ten seconds: each exercise named, its score and the hint that fired.

:class:`LabelFeedback` runs in nbgrader's ``GenerateFeedback`` (see :mod:`hardening`), after the
hidden tests are cleared, the grades read and the notebook sanitised. It names every test cell
by its exercise (its grade id without ``test_``: ``test_batchnorm_forward`` -> ``batchnorm_forward``,
plus the nearest Markdown heading above it, since the previous test cell, as a title), with its
score and the first line of the error it raised (the hint), and hands them to the course's
template (``share/nbconvert/templates/bn_feedback/``) as ``resources["bn_feedback"]``: a summary table at the
top, a heading per test cell, the check code folded in ``<details>``, the student's own cells
as they are. A test cell that passed its visible checks and failed a hidden test says so
(``LabelFeedback.hidden_failed``, which ``grade.py`` fills from :func:`hidden_failures`; the stock
``generate_feedback`` has no such record and shows the hint alone). Everything it hands on is
plain text the template escapes; the page is then rebuilt and cleaned again by
:class:`sanitize.SafeHTMLExporter`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Dict

MAX_TITLE_CHARS = 120
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})[\s\S]*?(^ {0,3}\1[ \t]*$|\Z)", re.M)
CSS = """
table.bn-summary { width: 100%; margin: 0.5em 0 0.2em; }
table.bn-summary td, table.bn-summary th { padding: 0.3em 0.6em; vertical-align: top; }
table.bn-summary td.bn-score, table.bn-summary th.bn-score { white-space: nowrap; text-align: right; }
tr.bn-failed td.bn-hint { color: #a94442; }
tr.bn-passed td.bn-hint { color: #3c763d; }
div.nbgrader_cell .panel-heading.bn-heading { height: auto; }
.bn-heading .bn-name { font-size: 1.15em; font-weight: bold; }
.bn-heading .bn-title { color: #555; margin-left: 0.5em; }
.bn-heading .bn-hint { margin-top: 0.3em; font-weight: bold; white-space: pre-wrap; }
.bn-heading .bn-score { float: right; font-weight: bold; }
details.bn-checks > summary { display: list-item; cursor: pointer; color: #555; }
"""


def exercise_name(grade_id: str) -> str:
    """``test_batchnorm_forward`` -> ``batchnorm_forward``: a test cell's exercise, readable."""
    return grade_id[len("test_"):] if grade_id.startswith("test_") and len(grade_id) > 5 else grade_id


def heading(source: str) -> str | None:
    """The last Markdown heading of ``source`` (outside fenced code), as plain text."""
    found = _HEADING.findall(_FENCE.sub("", source))
    if not found:
        return None
    text = re.sub(r"\*\*|__|[*`]", "", found[-1]).strip()
    return text[:MAX_TITLE_CHARS] or None


def error_hint(cell) -> str | None:
    """The first line of the error a cell raised ("CheckFailed: batchnorm_forward is wrong ..."), or None."""
    from bngrader.grade import MAX_HINT_CHARS, shown

    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            ename, evalue = str(out.get("ename", "")), str(out.get("evalue", ""))
            first = next((ln.strip() for ln in evalue.splitlines() if ln.strip()), "")
            return shown(f"{ename}: {first}" if first else ename)[:MAX_HINT_CHARS]
    return None


def _nbgrader(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def is_test_cell(cell) -> bool:
    nbg = _nbgrader(cell)
    return cell.get("cell_type") == "code" and bool(nbg.get("grade")) and not nbg.get("solution")


def _points(value) -> str:
    return f"{float(value):g}" if isinstance(value, (int, float)) else "?"


def exercises(nb) -> list[dict]:
    """One entry per test cell, in notebook order: grade_id, name, title, score, points, hint, passed
    (and ``hidden``, set by :class:`LabelFeedback`)."""
    found, title = [], None
    for cell in nb.cells:
        if cell.get("cell_type") == "markdown":
            title = heading(cell.get("source", "")) or title
            continue
        if not is_test_cell(cell):
            continue
        nbg = _nbgrader(cell)
        hint = error_hint(cell)
        score, points = nbg.get("score"), nbg.get("points")
        passed = hint is None and isinstance(score, (int, float)) and isinstance(points, (int, float)) \
            and score >= points
        found.append({"grade_id": str(nbg.get("grade_id", "")), "name": exercise_name(str(nbg.get("grade_id", ""))),
                      "title": title, "score": _points(score), "points": _points(points), "hint": hint,
                      "passed": passed, "hidden": False})
        title = None  # a title belongs to one exercise: the next needs a heading of its own
    return found


class LabelFeedback(Preprocessor):
    """nbgrader/nbconvert preprocessor: ``resources["bn_feedback"]`` for the course's feedback
    template (:func:`exercises`, by grade id too), and the template's CSS in the page's head."""

    enabled = Bool(True).tag(config=True)  # nbgrader registers preprocessors without enabling them
    hidden_failed = Dict(help="notebook -> grade ids of the test cells that passed their visible checks and "
                              "failed a hidden test (grade.py sets it from HardenedExecute's events)").tag(config=True)

    def preprocess(self, nb, resources):
        found = exercises(nb)
        hidden = set(self.hidden_failed.get(resources.get("unique_key"), ()))
        for entry in found:
            entry["hidden"] = entry["grade_id"] in hidden and not entry["passed"]
        resources["bn_feedback"] = {"exercises": found, "by_id": {e["grade_id"]: e for e in found}}
        inlining = resources.setdefault("inlining", {})
        inlining["css"] = [*inlining.get("css", []), CSS]
        return nb, resources


def hidden_failures(run: Path, notebooks: list[str]) -> dict[str, set[str]]:
    """notebook -> the test cells whose hidden tests failed (after their visible checks passed), from
    the ``hidden_test_failed`` events :class:`hardened.HardenedExecute` wrote to ``run``."""
    found = {}
    for name in notebooks:
        events_file = run / f"events-{name}.json"
        events = json.loads(events_file.read_text()) if events_file.is_file() else []
        found[name] = {str(ev.get("detail")) for ev in events if ev.get("kind") == "hidden_test_failed"}
    return found
