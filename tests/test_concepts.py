"""Concept checks: the questions at the end of each lesson (``bncourse.concepts``).

The visible check (``bncourse.checks.check_concept``, reading ``bncourse/expected``) and the hidden
one (``concept_checks``, reading the instructor's answer key in ``autograder/reference/concepts/``)
must give the same verdict and the same explanation for every answer a learner can give: each
choice, each known wrong number, an unlisted number and malformed input. Exactly one choice is
right; every other choice is explained by its own text. The lessons' cells and the key agree.
"""

import contextlib
import io
import re

import nbformat
import numpy as np
import pytest

import concept_checks  # the instructor reference (conftest enables it)
from bncourse import checks, concepts
from bncourse.checks import CheckFailed
from conftest import LEARNER_NOTEBOOKS, SOLUTION_NOTEBOOKS, nb_id

QUESTIONS = concept_checks.questions()
BAD_CHOICES = ["e", "", "ab", 2, None, ["b"], "b)("]
BAD_NUMBERS = ["1.5", True, float("nan"), None, [1.0]]


def _tries(q):
    """Every answer worth trying on ``q``, with True where it must pass, False where it must fail."""
    if q["kind"] == "choice":
        right = q["answer"]
        return ([(c, c == right) for c in sorted(q["why"])] + [(f"({right.upper()})", True), (f" {right} ", True)]
                + [(v, False) for v in BAD_CHOICES])
    wrong = [(w["value"], False) for w in q.get("wrong", [])]
    return [(q["answer"], True), (np.float64(q["answer"]), True), (q["answer"] * (1 + q.get("rtol", 1e-3) / 2), True),
            *wrong, (q["answer"] * 1.7 + 0.3, False), *[(v, False) for v in BAD_NUMBERS]]


def _verdict(check, qid, value):
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            check(qid, value)
    except AssertionError as e:
        return False, str(e), type(e)
    return True, out.getvalue().strip(), None


def test_the_course_has_concept_questions():
    assert len(QUESTIONS) >= 4 and all(qid.startswith("concept_") for qid in QUESTIONS)


@pytest.mark.parametrize("qid", sorted(QUESTIONS))
def test_visible_verdict_equals_hidden_verdict(qid):
    q = QUESTIONS[qid]
    for value, right in _tries(q):
        seen = _verdict(checks.check_concept, qid, value)
        hidden = _verdict(concept_checks.check_concept, qid, value)
        assert seen[:2] == hidden[:2], f"{qid}={value!r}: visible {seen[:2]} vs hidden {hidden[:2]}"
        assert seen[0] is right, f"{qid}={value!r}: expected {'pass' if right else 'fail'}, got {seen[1]}"
        if not right:
            assert seen[2] is CheckFailed and hidden[2] is AssertionError, (seen[2], hidden[2])


@pytest.mark.parametrize("qid", sorted(QUESTIONS))
def test_every_answer_gets_its_own_explanation(qid):
    """A choice's message is its own 'why'; a known wrong number gets its hint, not the fallback."""
    q = QUESTIONS[qid]
    if q["kind"] == "choice":
        assert sum(c == q["answer"] for c in q["why"]) == 1
        for c, why in q["why"].items():
            msg = _verdict(checks.check_concept, qid, c)[1]
            assert msg.endswith(why) and f"({c})" in msg
        return
    assert _verdict(checks.check_concept, qid, q["answer"])[1].endswith(q["right"])
    for w in q.get("wrong", []):
        msg = _verdict(checks.check_concept, qid, w["value"])[1]
        assert msg.endswith(w["hint"]) and q["otherwise"] not in msg
    assert _verdict(checks.check_concept, qid, q["answer"] * 1.7 + 0.3)[1].endswith(q["otherwise"])


def test_malformed_input_is_named():
    qid = next(k for k, q in QUESTIONS.items() if q["kind"] == "choice")
    assert "should be the letter of one choice" in _verdict(checks.check_concept, qid, "z")[1]
    nid = next(k for k, q in QUESTIONS.items() if q["kind"] == "number")
    assert "should be a number" in _verdict(checks.check_concept, nid, "1.95")[1]
    assert "should be a finite number" in _verdict(checks.check_concept, nid, float("inf"))[1]
    msg = _verdict(checks.check_concept, "concept_no_such_question", "a")[1]
    assert "no concept question named 'concept_no_such_question'" in msg


GOOD_CHOICE = {"kind": "choice", "answer": "b", "why": {"a": "x", "b": "y", "c": "z"}}
GOOD_NUMBER = {"kind": "number", "answer": 2.0, "right": "r", "otherwise": "o", "wrong": [{"value": 4.0, "hint": "h"}]}


@pytest.mark.parametrize("qid, q, says", [
    ("concept_ok", {**GOOD_CHOICE, "answer": "d"}, "is not one of the choices"),
    ("concept_ok", {**GOOD_CHOICE, "why": {"a": "x", "b": "y"}}, "at least three choices"),
    ("concept_ok", {**GOOD_CHOICE, "why": {"a": "x", "b": "y", "d": "z"}}, "a, b, c, ... in order"),
    ("concept_ok", {**GOOD_CHOICE, "why": {"a": "x", "b": " ", "c": "z"}}, "every choice needs an explanation"),
    ("concept_ok", {**GOOD_CHOICE, "hint": "?"}, "unknown keys ['hint']"),
    ("concept_ok", {**GOOD_NUMBER, "wrong": [{"value": 2.001, "hint": "h"}]}, "within tolerance"),
    ("concept_ok", {**GOOD_NUMBER, "answer": "2"}, "numeric 'answer'"),
    ("concept_ok", {k: v for k, v in GOOD_NUMBER.items() if k != "otherwise"}, "'otherwise' explanation"),
    ("concept_ok", {**GOOD_NUMBER, "kind": "essay"}, "kind must be one of"),
    ("Concept-1", GOOD_CHOICE, "ids look like"),
])
def test_malformed_questions_are_refused(qid, q, says):
    concepts.validate("concept_ok", GOOD_CHOICE)
    concepts.validate("concept_ok", GOOD_NUMBER)
    with pytest.raises(ValueError, match=re.escape(says)) as e:
        concepts.validate(qid, q)
    assert repr(qid) in str(e.value)


def _concept_cells(path):
    """Answer cell source and test cell source of each concept question in a notebook, by id."""
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in nbformat.read(path, 4).cells}
    return {gid[len("test_"):]: (cells.get(gid[len("test_"):]), src) for gid, src in cells.items()
            if gid and gid.startswith("test_concept_")}


@pytest.mark.parametrize("path", SOLUTION_NOTEBOOKS, ids=nb_id)
def test_lessons_and_answer_key_agree(path):
    """Each concept test cell checks its own variable, visibly and hidden, against a question of
    this lesson's key; the key has no question the lesson lacks; the solution's answer is right."""
    found = _concept_cells(path)
    key = concept_checks.lesson_table(nb_id(path)) if nb_id(path) in concept_checks.lessons() else {}
    assert set(found) == set(key), f"{path.name}: cells {sorted(found)} vs answer key {sorted(key)}"
    for qid, (answer, test) in found.items():
        assert f'check_concept("{qid}", {qid})' in test.split("### BEGIN HIDDEN TESTS")[0]
        assert f'concept_checks.check_concept("{qid}", {qid})' in test.split("### BEGIN HIDDEN TESTS")[1]
        ns: dict = {}
        exec(answer.replace("### BEGIN SOLUTION", "").replace("### END SOLUTION", ""), ns)  # our own solution
        concepts.judge(qid, key[qid], ns[qid])


@pytest.mark.parametrize("path", LEARNER_NOTEBOOKS, ids=nb_id)
def test_released_answer_cells_hold_no_answer(path):
    for qid, (answer, _) in _concept_cells(path).items():
        assert "raise NotImplementedError" in answer and qid not in answer.replace("# YOUR CODE HERE", ""), answer


@pytest.mark.parametrize("path", SOLUTION_NOTEBOOKS, ids=nb_id)
def test_every_lesson_has_written_questions_and_concept_checks(path):
    """1-3 written questions graded by hand, each with a model answer and a rubric in its solution
    region (so never released), and 3-5 concept checks."""
    cells = nbformat.read(path, 4).cells
    written = [c for c in cells if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("grade")]
    assert 1 <= len(written) <= 3, f"{path.name}: {len(written)} written questions"
    for cell in written:
        hidden = cell.source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
        assert "Model answer" in hidden and "Rubric" in hidden, cell.metadata.nbgrader["grade_id"]
        assert cell.metadata.nbgrader["points"] > 0
    assert 3 <= len(_concept_cells(path)) <= 5, f"{path.name}: {len(_concept_cells(path))} concept checks"
