"""Feedback a student reads in ten seconds (bngrader/feedback.py, share/nbconvert/templates/bn_feedback/) and the
Gradescope results.json that carries the same messages (grade.py's ``_gradescope``).

A small lesson-02 class goes through ``bngrader grade --gradescope``: an honest submission, one
that fails visible checks (its own code raises an error whose message is HTML), one whose
``update_moving_stats`` passes the visible check and fails the hidden test (it goes wrong after
the visible check's four calls). Each page must name every exercise with its score and hint, fold
the check code into ``<details>``, show the student's code, hide no hidden test and stay inert;
results.json names the same exercises with the same hints, the hidden failure "after_published".
The unit tests below render and build results without grading.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import time

import nbformat
import pytest
from bs4 import BeautifulSoup

from bngrader import course
from conftest import REPORTS
from hostile.html import CANARY, active_html

A = "02_numpy_forward"
# the lesson's autograded exercises (code and concept checks) by name, with their points, from the release
EXERCISES = {c.metadata.nbgrader["grade_id"][len("test_"):]: c.metadata.nbgrader["points"]
             for c in nbformat.read(course.NOTEBOOKS / A / f"{A}.ipynb", 4).cells
             if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"}
HIDDEN = re.compile(r"\b(bn|keras|experiment)_checks\b|(BEGIN|END) HIDDEN TESTS")
MARK = "# my own code, as handed in"
PAYLOAD = f'<img src=x onerror="{CANARY}">'
VISIBLE_CALLS = 4  # check_update_moving_stats calls the function 4 times; bn_checks' hidden test more


def _solution(gid: str) -> str:
    nb = course.learner_submission(A)
    return next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def _hidden_only_moving_stats() -> str:
    """Right for as many calls as the visible check makes, then wrong: only the hidden test sees it."""
    solution = _solution("update_moving_stats").replace("def update_moving_stats(", "def _right(", 1)
    return (f"{MARK}\n{solution}\n\n_calls = []\n\n"
            "def update_moving_stats(moving_mean, moving_var, batch_mean, batch_var, momentum=0.99):\n"
            "    _calls.append(1)\n"
            f"    if len(_calls) > {VISIBLE_CALLS}:\n"
            "        return moving_mean, moving_var\n"
            "    return _right(moving_mean, moving_var, batch_mean, batch_var, momentum)\n")


def _submissions() -> dict[str, nbformat.NotebookNode]:
    wrong = course.learner_submission(A, {
        "batchnorm_forward": f"{MARK}\ndef batchnorm_forward(x, gamma, beta, eps=1e-3):\n    return x, {{}}\n",
        "batchnorm_inference": (f"{MARK}\ndef batchnorm_inference(x, gamma, beta, moving_mean, moving_var, eps=1e-3):\n"
                                f"    raise ValueError('{PAYLOAD} not yet')\n")})
    at = next(i for i, c in enumerate(wrong.cells)
              if c.metadata.get("nbgrader", {}).get("grade_id") == "test_batchnorm_layer")
    wrong.cells.insert(at, nbformat.v4.new_markdown_cell(f"## My layer <script>{CANARY}</script> notes"))
    return {"honest": course.learner_submission(A),
            "wrong": wrong,
            "hidden_only": course.learner_submission(A, {"update_moving_stats": _hidden_only_moving_stats()})}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("feedback")
    sub, out = root / "submitted", root / "out"
    for student, nb in _submissions().items():
        nb.metadata["bncourse_test_student"] = student  # no two notebooks byte-identical
        (sub / student / A).mkdir(parents=True)
        nbformat.write(nb, sub / student / A / f"{A}.ipynb")
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "bngrader", "grade", A, "--submitted", str(sub), "--out", str(out),
                           "--gradescope", "--workers", "2", "--cell-timeout", "60"],
                          capture_output=True, text=True, timeout=900)
    seconds = time.monotonic() - start
    assert proc.returncode == 0, proc.stdout + proc.stderr
    REPORTS["feedback class (lesson 02, 3 submissions)"] = [f"graded with --gradescope in {seconds:.1f} s (2 workers)"]
    pages = {s: (out / "feedback" / s / A / f"{A}.html").read_text() for s in ("honest", "wrong", "hidden_only")}
    results = {s: json.loads((out / "gradescope" / s / A / "results.json").read_text()) for s in pages}
    return {"out": out, "pages": pages, "results": results}


def _summary(page: str) -> dict[str, tuple[str, str]]:
    """exercise -> (score/max, hint) as the summary table at the top shows them."""
    soup = BeautifulSoup(page, "html.parser")
    rows = {}
    for tr in soup.select("table.bn-summary tbody tr"):
        cells = tr.find_all("td")
        name = cells[0].find("a")
        if name is not None:
            rows[name.get_text()] = (cells[1].get_text(" ", strip=True), cells[2].get_text(" ", strip=True))
    return rows


def _headings(page: str) -> dict[str, tuple[str, str]]:
    """exercise -> (score/max, hint) as each test cell's heading shows them."""
    soup = BeautifulSoup(page, "html.parser")
    found = {}
    for head in soup.select("div.bn-heading"):
        score = head.select_one(".bn-score").get_text(" ", strip=True).replace("(Top)", "").strip()
        found[head.select_one(".bn-name").get_text()] = (score, head.select_one(".bn-hint").get_text(strip=True))
    return found


def _hint(results: dict, exercise: str) -> str:
    return next(t["output"] for t in results["tests"] if t["name"] == f"{A}: {exercise}")


@pytest.mark.parametrize("student", ["honest", "wrong", "hidden_only"])
def test_each_exercise_is_named_with_its_score_and_hint(graded, student):
    page, results = graded["pages"][student], graded["results"][student]
    summary, headings = _summary(page), _headings(page)
    assert set(summary) == set(headings) == set(EXERCISES), (summary, headings)
    for name, points in EXERCISES.items():
        test = next(t for t in results["tests"] if t["name"] == f"{A}: {name}")
        shown = (f"{test['score']:g} / {points}", test["output"])  # the page and Gradescope agree
        assert summary[name] == shown == headings[name], (name, summary[name], headings[name], shown)
    assert "Test cell" not in BeautifulSoup(page, "html.parser").get_text()  # nbgrader's generic label is gone


def test_hints_are_the_messages_that_fired(graded):
    honest, wrong, hidden = (_summary(graded["pages"][s]) for s in ("honest", "wrong", "hidden_only"))
    assert all(hint == "passed" and score == f"{EXERCISES[n]} / {EXERCISES[n]}" for n, (score, hint) in honest.items())
    assert wrong["batchnorm_forward"][0] == "0 / 3" and wrong["batchnorm_forward"][1].startswith("CheckFailed: ")
    # the student's own error, as the visible check names it, its HTML shown as text
    score, hint = wrong["batchnorm_inference"]
    assert score == "0 / 2" and hint.startswith("CheckFailed: batchnorm_inference raised ValueError") and PAYLOAD in hint
    assert html.escape(PAYLOAD, quote=False) in graded["pages"]["wrong"]
    assert hidden["update_moving_stats"][0] == "0 / 2"
    assert hidden["update_moving_stats"][1].startswith("AssertionError: "), hidden
    assert hidden["batchnorm_forward"] == ("3 / 3", "passed")


def test_a_hidden_failure_says_so(graded):
    def noted(student):  # exercises whose heading says a hidden test failed; and how many summary rows do
        soup = BeautifulSoup(graded["pages"][student], "html.parser")
        heads = {h.select_one(".bn-name").get_text() for h in soup.select("div.bn-heading") if h.select_one(".bn-hidden")}
        return heads, len(soup.select("table.bn-summary .bn-hidden"))

    assert noted("hidden_only") == ({"update_moving_stats"}, 1)
    assert noted("wrong") == noted("honest") == (set(), 0)  # visible failures are not hidden ones


def test_titles_come_from_the_nearest_heading(graded):
    soup = BeautifulSoup(graded["pages"]["honest"], "html.parser")
    titles = {h.select_one(".bn-name").get_text(): h.select_one(".bn-title").get_text()
              for h in soup.select("div.bn-heading") if h.select_one(".bn-title")}  # an exercise's own heading
    assert titles["batchnorm_forward"] == "Exercise 1 · The training-mode forward pass"
    assert titles["batchnorm_layer"] == "Exercise 4 · A layer object"
    wrong = BeautifulSoup(graded["pages"]["wrong"], "html.parser")
    title = next(h.select_one(".bn-title").get_text() for h in wrong.select("div.bn-heading")
                 if h.select_one(".bn-name").get_text() == "batchnorm_layer")
    assert title.startswith("My layer") and "script" not in title  # the student's heading, cleaned


@pytest.mark.parametrize("student", ["honest", "wrong", "hidden_only"])
def test_check_code_is_folded_and_the_students_code_shown(graded, student):
    soup = BeautifulSoup(graded["pages"][student], "html.parser")
    folded = soup.select("details.bn-checks")
    assert len(folded) == len(EXERCISES)
    assert all("bncourse.checks" in d.get_text() for d in folded)  # the visible checks, collapsed
    for d in soup.find_all("details"):
        d.decompose()
    rest = soup.get_text()
    assert "bncourse.checks" not in rest and "check_batchnorm_forward(" not in rest
    assert "def batchnorm_forward(" in rest  # the student's answer cells, open
    if student != "honest":
        assert MARK in rest
    assert not HIDDEN.search(graded["pages"][student])


def test_pages_stay_inert(graded):
    for student, page in graded["pages"].items():
        found, csp = active_html(page, allowed_src="mathjax/MathJax.js")
        assert not found and len(csp) == 1, (student, found, csp)
        assert CANARY not in page.replace(html.escape(CANARY, quote=False), "").replace(
            html.escape(CANARY), ""), student  # only as escaped text


def test_gradescope_results_name_exercises_and_hide_hidden_failures(graded):
    for student, results in graded["results"].items():
        assert results["output_format"] == "text"
        assert results["output"] == f"{A}: graded"
        assert [t["name"] for t in results["tests"]] == [f"{A}: {n}" for n in EXERCISES], student
        assert results["score"] == sum(t["score"] for t in results["tests"])
        for t in results["tests"]:
            assert t["status"] == ("passed" if t["output"] == "passed" else "failed"), (student, t)
            assert not HIDDEN.search(t["output"])
    visibility = {s: {t["name"].split(": ")[1]: t["visibility"] for t in r["tests"]} for s, r in graded["results"].items()}
    assert set(visibility["honest"].values()) == set(visibility["wrong"].values()) == {"visible"}
    assert visibility["hidden_only"] == {n: "after_published" if n == "update_moving_stats" else "visible"
                                         for n in EXERCISES}
    assert _hint(graded["results"]["hidden_only"], "update_moving_stats").startswith("AssertionError: ")
    assert PAYLOAD in _hint(graded["results"]["wrong"], "batchnorm_inference")


# ----------------------------------------------------------------------------- without grading

def test_a_failure_is_hidden_only_when_the_hidden_part_raised():
    from bngrader.hardened import in_hidden_tests

    source = "visible(f)\n\n### BEGIN HIDDEN TESTS\nhidden(f)\n### END HIDDEN TESTS\n"

    def raised(visible_ok: bool, hidden_ok: bool, code: str = source) -> BaseException:
        def check(ok):
            def run(f):
                if not ok:
                    raise AssertionError("no")
            return run

        try:
            exec(compile(code, "<test cell t>", "exec"), {"visible": check(visible_ok), "hidden": check(hidden_ok), "f": 0})
        except AssertionError as exc:
            return exc
        raise AssertionError("the cell passed")

    assert in_hidden_tests(raised(True, False), source, "<test cell t>")
    assert not in_hidden_tests(raised(False, True), source, "<test cell t>")
    assert not in_hidden_tests(raised(False, False), source, "<test cell t>")
    assert not in_hidden_tests(raised(True, False), source, "<test cell other>")
    plain = source.replace("### BEGIN HIDDEN TESTS", "#")
    assert not in_hidden_tests(raised(True, False, plain), plain, "<test cell t>")


def test_names_and_titles():
    from bngrader.feedback import exercise_name, heading

    assert exercise_name("test_batchnorm_forward") == "batchnorm_forward"
    assert exercise_name("batchnorm_forward") == "batchnorm_forward" and exercise_name("test_") == "test_"
    assert heading("text\n\n## Exercise 4 · A **layer** `object`\nmore") == "Exercise 4 · A layer object"
    assert heading("```\n# a comment in code\n```\nno heading") is None
    assert len(heading("# " + "x" * 500)) == 120


def test_gradescope_results_of_rows_not_graded():
    from bngrader.grade import Row, _gradescope

    rows = [Row("s", A, A, "missing", 0.0, 10.0, "no notebook", [], {"test_batchnorm_forward": (0.0, 3.0)}),
            Row("s", A, "other", "graded", 2.0, 2.0, "", [], {"test_x": (2.0, 2.0)})]
    results = _gradescope(rows, {"other": set()})
    assert results["tests"] == [
        {"name": f"{A}: batchnorm_forward", "score": 0.0, "max_score": 3.0, "status": "failed",
         "output": "not graded: missing (no notebook)", "visibility": "visible"},
        {"name": "other: x", "score": 2.0, "max_score": 2.0, "status": "passed", "output": "passed",
         "visibility": "visible"}]
    assert results["output"] == f"{A}: missing (no notebook); other: graded" and results["score"] == 2.0


def _render(nb) -> str:
    """``nb`` through the course's feedback export (hardening's config, as GenerateFeedback runs it)."""
    import os

    import nbgrader
    from nbgrader.preprocessors import ClearHiddenTests
    from traitlets.config import Config

    from bngrader.feedback import LabelFeedback
    from bngrader.hardening import harden
    from bngrader.sanitize import SafeHTMLExporter, SanitizeNotebook

    c = Config()
    harden(c, cell_timeout=1, notebook_timeout=1, memory_mb=1, sandbox="none", work_dir="/nonexistent")
    c.HTMLExporter.extra_template_paths = [os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions",
                                                        "formgrader", "static", "node_modules", "bootstrap", "dist", "css")]
    c.ClearHiddenTests.enforce_metadata = False
    exporter = SafeHTMLExporter(config=c)
    for pp in (ClearHiddenTests, SanitizeNotebook, LabelFeedback):
        exporter.register_preprocessor(pp(config=c), enabled=True)
    page, _ = exporter.from_notebook_node(nb, {"nbgrader": {"notebook": A, "score": 0, "max_score": 10,
                                                             "late_penalty": 0}})
    return page


def test_hostile_hints_and_headings_render_as_text():
    """Without grading: hints and headings are student-controlled text; the page shows them escaped."""
    nb = nbformat.read(course.SOLUTIONS / A / f"{A}.ipynb", 4)
    cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"
             and not c.metadata["nbgrader"].get("solution")]
    for cell in [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]:  # as GetGrades does
        cell.metadata.nbgrader.update(score=0.0, points=float(cell.metadata.nbgrader["points"]))
    for cell in cells:
        cell.outputs = [nbformat.v4.new_output("error", ename="CheckFailed", evalue=f"{PAYLOAD} </td></tr></table>\nmore",
                                               traceback=["CheckFailed"])]
    at = nb.cells.index(cells[-1])
    nb.cells.insert(at, nbformat.v4.new_markdown_cell(f"## Mine {PAYLOAD} <script>{CANARY}</script>"))
    page = _render(nb)
    found, csp = active_html(page, allowed_src="mathjax/MathJax.js")
    assert not found and len(csp) == 1, found
    summary = _summary(page)
    assert set(summary) == set(EXERCISES)
    assert all(v == (f"0 / {EXERCISES[k]}", f"CheckFailed: {PAYLOAD} </td></tr></table>") for k, v in summary.items())
    assert _headings(page)["batchnorm_layer"][1] == f"CheckFailed: {PAYLOAD} </td></tr></table>"
    assert not HIDDEN.search(page) and "more" not in _summary(page)["batchnorm_forward"][1]
