"""The class report (``bngrader/report.py``).

Unit tests on hand-made rows: how a hint becomes a named mistake (on the checks' real
messages too), how mistakes, pass rates, flags and timings are counted, and a page that is
stable, self-contained and escapes student text. Then a generated class of lesson 02
submissions whose mistakes are known (wrong implementations planted from tests/catalog/),
graded through the real ``bngrader grade`` command: the report must name exactly the planted
mistakes, for exactly the planted students.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import subprocess
import sys
import time

import nbformat
import pytest

from bngrader import cli, course, report
from bngrader.grade import Row, rows_as_data
from conftest import REPORTS, ROOT

A = "02_numpy_forward"
DDOF = "It divides the variance by N-1 (ddof=1, the unbiased variance)"
EPS_OUT = "Epsilon is added outside the square root; it belongs inside: sqrt(var + eps)"
XSS = "<img src=x onerror=alert(1)>"
URL = re.compile(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", re.I)


def hint_on(label: str, mistake: str, fn: str = "batchnorm_forward", exc: str = "CheckFailed") -> str:
    return f"{exc}: {fn} is wrong on {label}. {mistake}. Batch norm uses the biased variance, dividing by N."


# ------------------------------------------------------------------------ normalisation

@pytest.mark.parametrize("hint, expected", [
    (hint_on("a batch of N=2 samples", DDOF), DDOF),
    (hint_on("x of shape (5, 3)", DDOF, "spatial_batchnorm_forward", "AssertionError"), DDOF),
    ("CheckFailed: batchnorm_forward is wrong on eps=0.25 with low-variance features. It adds no epsilon: "
     "divide by sqrt(var + eps), not sqrt(var).", "It adds no epsilon: divide by sqrt(var + eps), not sqrt(var)"),
    ("CheckFailed: batchnorm_forward is wrong on float32 inputs. It uses epsilon 1e-5 instead of the epsilon "
     "argument.", "It uses epsilon 1e-5 instead of the epsilon argument"),  # numbers of the mistake stay
    ("CheckFailed: BatchNorm raised KeyError on training call 1 of 3: \"'mean'\".",
     "BatchNorm raised KeyError on training call # of #: \"'mean'\""),
    ("AssertionError: batchnorm_forward out has shape (3, 2) on a batch of N=2 samples; it should have shape "
     "(2, 3). It has the right number of entries.",
     "batchnorm_forward out has shape (…) on a batch of N=# samples; it should have shape (…)"),
    ("CheckFailed: batchnorm_forward out is float32 for float64 inputs (a batch of N=2 samples): keep float64.",
     "batchnorm_forward out is float32 for float64 inputs (a batch of N=# samples): keep float64"),
    ("CheckFailed: batchnorm_backward: dx misses the path through the mean (relative error 3.2e-02)",
     "batchnorm_backward: dx misses the path through the mean (relative error #)"),
    ("CheckFailed: batchnorm_forward is not implemented yet.", "batchnorm_forward is not implemented yet"),
    ("NotImplementedError", "NotImplementedError"),
], ids=["ddof-on-a-batch", "ddof-on-a-shape", "label-with-decimals", "numbers-of-the-mistake-kept", "raised-masked",
        "shapes-masked", "float32-kept", "relative-error-masked", "not-implemented", "bare-exception"])
def test_mistake_names_the_mistake_without_its_input(hint, expected):
    assert report.mistake(hint) == expected


def _named_hints(value, out):
    """(hint) strings of every ``[hint, value]`` pair under a case's ``wrong``."""
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
        out.append(value[0])
    elif isinstance(value, list):
        for v in value:
            _named_hints(v, out)
    return out


def test_every_named_mistake_of_the_checks_counts_once_whatever_the_input():
    """The checks' real messages (bncourse/expected/*.json: each case's label and its known-wrong
    variants' hints), as "<check> is wrong on <label>. <hint>": one key per hint whatever the label,
    and the key is the start of the hint (the mistake as the check words it)."""
    keys: dict[tuple, set] = {}
    for path in sorted((ROOT / "bncourse" / "expected").glob("*.json")):
        for check, table in json.loads(path.read_text()).items():
            for case in table if isinstance(table, list) else []:
                if not isinstance(case, dict) or "label" not in case:
                    continue
                for hint in _named_hints(case.get("wrong", []), []):
                    key = report.mistake(f"CheckFailed: {check} is wrong on {case['label']}. {hint}")
                    assert key and hint.startswith(key), (hint, key)
                    keys.setdefault((check, hint), set()).add(key)
    assert len(keys) > 100, "the expected tables were not read"
    several = {k: v for k, v in keys.items() if len(v) > 1}
    assert not several, f"one mistake, several keys: {several}"


# ------------------------------------------------------------------------ counting

def row(student, status="graded", forward=(3.0, None), seconds=2.0, score=None, reason="", **cells):
    """A lesson-02 row: the forward cell's (score, hint), other cells full marks unless given."""
    all_cells = {"test_batchnorm_forward": (forward[0], 3.0), "test_update_moving_stats": (2.0, 2.0)}
    all_cells.update(cells)
    hints = {"test_batchnorm_forward": forward[1]} if forward[1] else {}
    total = sum(s for s, _ in all_cells.values()) if score is None else score
    return Row(student, A, A, status, total, 5.0, reason, [], all_cells, seconds, hints)


def _class():
    return [
        row("ada", forward=(0.0, hint_on("a batch of N=2 samples", DDOF)), seconds=3.0),
        row("bob", forward=(0.0, hint_on("features of very different scales (N=7, D=4)", DDOF)), seconds=1.0),
        row("cat", "late", forward=(0.0, hint_on("a batch of N=2 samples", EPS_OUT)), seconds=4.0,
            reason="handed in after the deadline"),
        row("dan", seconds=2.0),
        # not graded: in the scores and the flagged list, not in mistakes, pass rates or timings
        row("eve", "missing", forward=(0.0, hint_on("a batch of N=2 samples", DDOF)), seconds=0.5, score=0.0,
            reason="no 02_numpy_forward.ipynb", test_update_moving_stats=(0.0, 2.0)),
        row("fay", "rejected", forward=(0.0, None), seconds=0.0, score=0.0, reason="student id is not valid",
            test_update_moving_stats=(0.0, 2.0)),
    ]


def test_report_counts_students_per_mistake_and_leaves_ungraded_rows_out():
    rep = report.build_report(_class())
    a = rep["assignments"][A]
    fwd = a["exercises"]["test_batchnorm_forward"]
    assert [(m["mistake"], m["students"], m["examples"]) for m in fwd["mistakes"]] == [
        (DDOF, 2, ["ada", "bob"]), (EPS_OUT, 1, ["cat"])]
    assert fwd["mistakes"][0]["example_hint"] == hint_on("a batch of N=2 samples", DDOF)  # ada's, the first
    assert (fwd["graded"], fwd["full_marks"], fwd["pass_rate"], fwd["mean_score"]) == (4, 1, 0.25, 0.75)
    ums = a["exercises"]["test_update_moving_stats"]
    assert (ums["graded"], ums["full_marks"], ums["pass_rate"], ums["mistakes"]) == (4, 4, 1.0, [])
    assert [(s["student"], s["score"]) for s in a["scores"]] == [
        ("ada", 2.0), ("bob", 2.0), ("cat", 2.0), ("dan", 5.0), ("eve", 0.0), ("fay", 0.0)]
    assert (a["students"], a["max_score"]) == (6, 5.0)
    assert [(f["student"], f["status"]) for f in a["flagged"]] == [("fay", "rejected"), ("eve", "missing"),
                                                                  ("cat", "late")]
    t = a["timing"]
    assert (t["n"], t["min"], t["median"], t["max"]) == (4, 1.0, 2.5, 4.0)
    assert [s["student"] for s in t["slowest"]] == ["cat", "ada", "dan", "bob"]
    assert json.loads(json.dumps(rep)) == rep  # JSON-ready as it is


def test_a_mistake_lists_at_most_three_example_students():
    rows = [row(s, forward=(0.0, hint_on(f"a batch of N={n} samples", DDOF))) for n, s in
            enumerate(["zed", "ann", "kim", "bea", "lou"], start=2)]
    (m,) = report.build_report(rows)["assignments"][A]["exercises"]["test_batchnorm_forward"]["mistakes"]
    assert (m["students"], m["examples"]) == (5, ["ann", "bea", "kim"])
    assert report.mistake_lines(report.build_report(rows)) == [
        f"{A} test_batchnorm_forward: '{DDOF}' - 5 students (ann, bea, kim, ...)"]


# ------------------------------------------------------------------------ the page

def _pngs(page: str) -> list[bytes]:
    return [base64.b64decode(b) for b in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def assert_inert_page(page: str, hostile: str = XSS) -> None:
    """No script, no URL, the hostile text only escaped, and real PNG figures."""
    assert "<script" not in page.lower() and not URL.search(page), "the page could load or run something"
    assert hostile not in page and "<img src=x" not in page, "student text reached the page unescaped"
    assert "&lt;img src=x onerror=alert(" in page, "the hostile message is not shown (escaped)"
    figures = _pngs(page)
    assert figures and all(f.startswith(b"\x89PNG\r\n\x1a\n") for f in figures)
    assert not any(b"matplotlib" in f.lower() or b"Software" in f for f in figures), "the PNG carries a stamp"


def test_page_escapes_student_text_and_is_byte_stable(tmp_path):
    rows = _class() + [row("gus", forward=(0.0, f"ValueError: {XSS}"), reason="",
                           test_update_moving_stats=(1.0, 2.0))]
    rows[2].reason = f"handed in late <script>alert(2)</script> {XSS}"
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    paths = report.write_report(first, rows)
    report.write_report(second, list(reversed(rows)))
    assert [p.name for p in paths] == ["report.json", "report.html"]
    for name in ("report.json", "report.html"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), f"{name} differs between runs"
    page = paths[1].read_text()
    assert_inert_page(page)
    assert "handed in late &lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert "It divides the variance by N-1 (ddof=1, the unbiased variance)" in page
    assert "Content-Security-Policy" in page


def test_report_command_rebuilds_the_report_from_the_ledger(tmp_path, capsys):
    rows = [r for r in _class() if r.status != "rejected"]  # rejected submissions never reach the ledger
    for r in rows:
        entry = tmp_path / "ledger" / A / f"{r.student}.json"
        entry.parent.mkdir(parents=True, exist_ok=True)
        entry.write_text(json.dumps({"fingerprint": "x", "result": rows_as_data({"rows": [r]})}))
    (tmp_path / "ledger" / A / "broken.json").write_text("{not json")
    assert report.rows_from_ledger(tmp_path) == rows
    assert cli.main(["report", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert f"{A} test_batchnorm_forward: '{DDOF}' - 2 students (ada, bob)" in printed
    assert json.loads((tmp_path / "report.json").read_text()) == report.build_report(rows)
    assert cli.main(["report", "--out", str(tmp_path / "nothing")]) == 2


# ------------------------------------------------------------------------ a generated class, graded

def _catalog(name: str) -> str:
    return "import numpy as np\n\n" + (ROOT / "tests" / "catalog" / "wrong" / f"{name}.py").read_text()


RAISES = ("def batchnorm_inference(x, gamma, beta, moving_mean, moving_var, eps=1e-3):\n"
          f"    raise ValueError({XSS!r})\n")
# student -> the answer cells planted (None: the blank release; "missing": no notebook)
PLANTED = {
    "ada": {"batchnorm_forward": _catalog("fwd_ddof1")},
    "bob": {"batchnorm_forward": _catalog("fwd_ddof1")},
    "cat": {"batchnorm_forward": _catalog("fwd_ddof1")},
    "dan": {"batchnorm_forward": _catalog("fwd_eps_outside")},
    "eve": {"batchnorm_forward": _catalog("fwd_eps_outside")},
    "fay": None,
    "gus": {},
    "hal": {},
    "ivy": {"batchnorm_inference": RAISES},
    "joe": "missing",
}
# What the report must say, exercise by exercise: (mistake, students). The catalog's forwards keep
# the "mean" and "var" in their cache that the lesson asks for, so the students' (correct) BatchNorm
# layer, graded against their own forward, keeps its points (error carried forward).
NOT_IMPLEMENTED = "{} is not implemented yet"
CONCEPTS = ("concept_training_batch_of_one", "concept_inference_output", "concept_moving_variance_after_100",
            "concept_two_pass_variance")  # fay's blank release defines none of them
EXPECTED = {
    "test_batchnorm_forward": [(DDOF, ["ada", "bob", "cat"]), (EPS_OUT, ["dan", "eve"]),
                               (NOT_IMPLEMENTED.format("batchnorm_forward"), ["fay"])],
    "test_update_moving_stats": [(NOT_IMPLEMENTED.format("update_moving_stats"), ["fay"])],
    "test_batchnorm_inference": [
        (NOT_IMPLEMENTED.format("batchnorm_inference"), ["fay"]),
        ("batchnorm_inference raised ValueError on a batch of # whose statistics differ from the moving ones: "
         "<img src=x onerror=alert(#)>", ["ivy"])],
    "test_batchnorm_layer": [
        (NOT_IMPLEMENTED.format("BatchNorm"), ["fay"]),
        ("BatchNorm raised ValueError on an inference call before any training: <img src=x onerror=alert(#)>",
         ["ivy"])],
    **{f"test_{c}": [(f"name '{c}' is not defined", ["fay"])] for c in CONCEPTS},
    "written_one_pass_variance": [], "written_momentum_fine_tune": [],  # graded by hand, later
}
# full marks / graded (9: joe's missing notebook is not graded)
PASS = {"test_batchnorm_forward": (3, 9), "test_update_moving_stats": (8, 9), "test_batchnorm_inference": (7, 9),
        "test_batchnorm_layer": (7, 9), **{f"test_{c}": (8, 9) for c in CONCEPTS},
        "written_one_pass_variance": (0, 9), "written_momentum_fine_tune": (0, 9)}
WRITTEN = {"written_one_pass_variance", "written_momentum_fine_tune"}


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """The PLANTED class graded by `python -m bngrader grade` (2 workers); its output folder."""
    root = tmp_path_factory.mktemp("report_class")
    for student, answers in PLANTED.items():
        folder = root / "submitted" / student / A
        folder.mkdir(parents=True)
        if answers == "missing":
            (folder / "notes.txt").write_text("forgot the notebook")
            continue
        nb = copy.deepcopy(course.learner_submission(A, answers, solved=answers is not None))
        nb.metadata["bncourse_test_student"] = student  # no two notebooks byte-identical (copies are flagged)
        nbformat.write(nb, folder / f"{A}.ipynb")
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "bngrader", "grade", A, "--submitted", str(root / "submitted"),
                           "--out", str(root / "out"), "--workers", "2"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"report:    {root / 'out' / 'report.html'}" in proc.stdout
    REPORTS["Class report of the generated class (bngrader grade, 10 submissions, 2 workers)"] = [
        f"graded in {time.monotonic() - start:.1f} s",
        *report.mistake_lines(json.loads((root / "out" / "report.json").read_text()))]
    return root / "out"


def test_report_names_exactly_the_planted_mistakes(graded_class):
    rep = json.loads((graded_class / "report.json").read_text())["assignments"][A]
    got = {ex: [(m["mistake"], m["examples"]) for m in e["mistakes"]] for ex, e in rep["exercises"].items()}
    assert got == EXPECTED
    counts = {ex: [m["students"] for m in e["mistakes"]] for ex, e in rep["exercises"].items()}
    assert counts == {ex: [len(s) for _, s in ms] for ex, ms in EXPECTED.items()}
    assert {ex: (e["full_marks"], e["graded"]) for ex, e in rep["exercises"].items()} == PASS
    assert {ex for ex, e in rep["exercises"].items() if e["written"]} == WRITTEN
    assert [(f["student"], f["status"]) for f in rep["flagged"]] == [("joe", "missing"), ("fay", "unattempted")]  # fay: the blank release
    assert {s["student"]: s["score"] for s in rep["scores"]} == {
        "ada": 11.0, "bob": 11.0, "cat": 11.0, "dan": 11.0, "eve": 11.0, "fay": 0.0, "gus": 14.0, "hal": 14.0,
        "ivy": 9.0, "joe": 0.0}  # of 14 autograded points (the written answers wait for a hand grade)
    t = rep["timing"]
    assert t["n"] == 9 and 0 < t["min"] <= t["median"] <= t["max"] < 120


def test_report_page_of_the_class_is_inert(graded_class):
    page = (graded_class / "report.html").read_text()
    assert_inert_page(page)
    assert len(_pngs(page)) == 1  # one figure per assignment: the histogram and the pass rates


def test_report_command_gives_the_same_report_as_the_grading_run(graded_class):
    graded = (graded_class / "report.json").read_bytes(), (graded_class / "report.html").read_bytes()
    proc = subprocess.run([sys.executable, "-m", "bngrader", "report", "--out", str(graded_class)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert ((graded_class / "report.json").read_bytes(), (graded_class / "report.html").read_bytes()) == graded
    assert f"{A} test_batchnorm_forward: '{DDOF}' - 3 students (ada, bob, cat)" in proc.stdout
