"""Concept checks: multiple-choice and short numeric questions, judged from a question's data.

A lesson ends with a few concept checks. The learner stores an answer in a variable (a letter
such as ``"b"``, or a number) and the check cell calls :func:`bncourse.checks.check_concept`.
The visible check and the hidden one share :func:`judge`; they differ only in where the question
comes from: the instructor's answer key (``autograder/reference/concepts/<lesson>.toml``, never
released) or its copy in ``bncourse/expected/<lesson>.json`` made by ``bngrader expected``
(``tests/test_expected.py`` proves the two equal). A question is a dict::

    {"kind": "choice", "answer": "b", "why": {"a": "...", "b": "...", "c": "..."}}
    {"kind": "number", "answer": 0.651, "rtol": 1e-3, "right": "...", "otherwise": "...",
     "wrong": [{"value": 0.349, "hint": "..."}]}

Every choice has its own explanation (why it is right, or why it is wrong), so the learner
reads why after every answer. A number is right within ``rtol`` (and ``atol``, default 1e-9);
a known wrong number gets its hint, any other number the ``otherwise`` hint.
"""

from __future__ import annotations

import math
import re

KINDS = ("choice", "number")
DEFAULT_RTOL = 1e-3
DEFAULT_ATOL = 1e-9
_LETTER = re.compile(r"\s*\(?\s*([A-Za-z])\s*\)?\s*")


def validate(qid: str, q: dict) -> None:
    """Raise ValueError naming ``qid`` when the question's data is not well formed."""
    try:
        if not re.fullmatch(r"concept_[a-z0-9_]+", qid):
            raise ValueError("ids look like concept_<lowercase words>")
        kinds = {"choice": _validate_choice, "number": _validate_number}
        if q.get("kind") not in kinds:
            raise ValueError(f"kind must be one of {KINDS}, not {q.get('kind')!r}")
        extra = set(q) - kinds[q["kind"]](q)
        if extra:
            raise ValueError(f"unknown keys {sorted(extra)}")
    except ValueError as e:
        raise ValueError(f"concept question {qid!r}: {e}") from None


def _validate_choice(q: dict) -> set:
    why = q.get("why")
    if not isinstance(why, dict) or len(why) < 3:
        raise ValueError("a choice question needs a 'why' table with at least three choices")
    if sorted(why) != [chr(ord("a") + i) for i in range(len(why))]:
        raise ValueError(f"choices must be a, b, c, ... in order, not {sorted(why)}")
    if q.get("answer") not in why:
        raise ValueError(f"answer {q.get('answer')!r} is not one of the choices {sorted(why)}")
    if not all(isinstance(t, str) and t.strip() for t in why.values()):
        raise ValueError("every choice needs an explanation")
    return {"kind", "answer", "why"}


def _validate_number(q: dict) -> set:
    if not isinstance(q.get("answer"), (int, float)) or isinstance(q.get("answer"), bool):
        raise ValueError("a number question needs a numeric 'answer'")
    for key in ("right", "otherwise"):
        if not isinstance(q.get(key), str) or not q[key].strip():
            raise ValueError(f"a number question needs a '{key}' explanation")
    for w in q.get("wrong", []):
        if set(w) != {"value", "hint"} or not isinstance(w["hint"], str):
            raise ValueError("each 'wrong' entry is {value = <number>, hint = <text>}")
    values = [q["answer"]] + [w["value"] for w in q.get("wrong", [])]
    for i, v in enumerate(values):
        if any(_close(v, {**q, "answer": u}) for u in values[:i]):
            raise ValueError(f"wrong value {v} is within tolerance of the answer or of another wrong value")
    return {"kind", "answer", "rtol", "atol", "right", "otherwise", "wrong"}


def _close(x: float, q: dict) -> bool:
    return math.isclose(x, q["answer"], rel_tol=q.get("rtol", DEFAULT_RTOL), abs_tol=q.get("atol", DEFAULT_ATOL))


def _letter(qid: str, q: dict, value) -> str:
    choices = sorted(q["why"])
    listed = ", ".join(f'"{c}"' for c in choices)
    m = _LETTER.fullmatch(value) if isinstance(value, str) else None
    if m is None or m.group(1).lower() not in choices:
        raise AssertionError(f"{qid} should be the letter of one choice: one of {listed} (a string), "
                             f"not {value!r}.")
    return m.group(1).lower()


def _number(qid: str, value) -> float:
    try:
        if isinstance(value, (bool, str, bytes)):
            raise TypeError
        x = float(value)
    except (TypeError, ValueError):
        raise AssertionError(f"{qid} should be a number (an int or a float), not {value!r}.") from None
    if not math.isfinite(x):
        raise AssertionError(f"{qid} should be a finite number, not {x}.")
    return x


def judge(qid: str, q: dict, value) -> str:
    """The message for a right answer; raise ``AssertionError`` with the explanation otherwise."""
    if q["kind"] == "choice":
        letter = _letter(qid, q, value)
        verdict = "is right" if letter == q["answer"] else "is not right"
        message = f"{qid}: ({letter}) {verdict}. {q['why'][letter]}"
        right = letter == q["answer"]
    else:
        x = _number(qid, value)
        right = _close(x, q)
        hint = next((w["hint"] for w in q.get("wrong", []) if _close(x, {**q, "answer": w["value"]})),
                    q["otherwise"])
        message = f"{qid}: {x:.6g} " + (f"is right. {q['right']}" if right else f"is not right. {hint}")
    if not right:
        raise AssertionError(message)
    return "✓ " + message
