"""``autograder/grade.py`` on an adversarial class, through its real command line.

One class of lesson 02 submissions (four graded cells: forward 3 points, moving
statistics 2, inference 2, the layer 3) covers every way a submission can go wrong.
Each case states its exact status and the most its honest content earns; the run must
grade every case, modify no file outside its work area, and show no hidden test in any
feedback. Smaller classes check resuming after an interruption, the Dask path and LMS
zip input.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

import course
import hostile
from conftest import REPORTS, ROOT
from hostile import Case

GRADE = [sys.executable, str(ROOT / "autograder" / "grade.py")]
A = "02_numpy_forward"
POINTS = {"test_batchnorm_forward": 3, "test_update_moving_stats": 2, "test_batchnorm_inference": 2,
          "test_batchnorm_layer": 3}
HIDDEN = re.compile(r"from (bn|keras|experiment)_checks import|check_batchnorm|### (BEGIN|END) HIDDEN TESTS")
DEADLINE = "2026-11-01 00:00:00 UTC"
CELL_TIMEOUT = 15




def _blank(gid):
    return course.learner_submission(A, solved=False).cells[_index(gid)].source


def _index(gid):
    nb = course.learner_submission(A)
    return next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def _solution(gid):
    return course.learner_submission(A).cells[_index(gid)].source


WRONG = {  # every function wrong, in the simplest way
    "batchnorm_forward": "def batchnorm_forward(x, gamma, beta, eps=1e-3):\n    return x, {}\n",
    "update_moving_stats": "def update_moving_stats(moving_mean, moving_var, batch_mean, batch_var, momentum=0.99):\n"
                           "    return moving_mean, moving_var\n",
    "batchnorm_inference": "def batchnorm_inference(x, gamma, beta, moving_mean, moving_var, eps=1e-3):\n    return x\n",
}
PATCHES = """import numpy as np
import bncourse.checks
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
bncourse.checks.expect_close = lambda *a, **k: None
"""


def _escape_code(paths: dict[str, str], port: int) -> str:
    """An answer that tries to leave its sandbox, reports what it reached, then execs the solution."""
    return f"""import json, socket
_paths = {paths!r}
_report = {{}}
for _name, _path in _paths.items():
    try:
        if _name.startswith("write"):
            with open(_path, "r+") as _f:  # only an existing file: the sandbox's own /tmp is scratch
                _f.seek(0, 2)
                _f.write("pwned")
            _report[_name] = "WROTE"
        else:
            with open(_path, "rb") as _f:
                _f.read(16)
            _report[_name] = "READ"
    except Exception as _e:
        _report[_name] = type(_e).__name__
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=3).close()
    _report["network"] = "CONNECTED"
except Exception as _e:
    _report["network"] = type(_e).__name__
try:
    import bn_reference
    _report["import_reference"] = "IMPORTED"
except Exception as _e:
    _report["import_reference"] = type(_e).__name__
print("ESCAPE-REPORT " + json.dumps(_report))
_sol = json.load(open(_paths["solutions"]))
for _cell in _sol["cells"]:
    if _cell["cell_type"] == "code":
        exec("".join(_cell["source"]))
"""


CASES = {
    "honest": Case("graded", 10, POINTS),
    "blank": Case("graded", 0),
    "prints_all_passed": Case("graded", 0),
    "infinite_loop": Case("timeout", 5, {"test_batchnorm_forward": 3, "test_update_moving_stats": 2},
                          "ran longer than"),
    "sigint_proof_loop": Case("timeout", 5, {"test_batchnorm_forward": 3, "test_update_moving_stats": 2},
                              "ran longer than"),
    "os_exit": Case("kernel_died", 5, {"test_batchnorm_forward": 3, "test_batchnorm_inference": 2}, "kernel died"),
    "memory_hog": Case("kernel_died", 7, {"test_batchnorm_forward": 3, "test_update_moving_stats": 2,
                                          "test_batchnorm_inference": 2}, "MB of memory"),
    "invalid_json": Case("invalid_notebook", 0, reason="not valid JSON"),
    "deleted_test_cell": Case("missing_tests_restored", 10, POINTS, "test_update_moving_stats"),
    # the layer builds on the (wrong) inference function, so its test fails too
    "edited_test_cell": Case("tampered", 5, {"test_batchnorm_inference": 0, "test_batchnorm_forward": 3},
                             "test_batchnorm_inference"),
    "monkeypatched_numpy": Case("suspicious", 0, reason="patches a library attribute"),
    "escape_and_exec_solution": Case("suspicious", 0, reason="names a grader path"),
    "huge_output": Case("graded", 10, POINTS, "output beyond"),
    "renamed": Case("renamed", 10, POINTS, "02_numpy_forward-1.ipynb"),
    "missing": Case("missing", 0, reason="no 02_numpy_forward.ipynb"),
    "late": Case("late", 10, POINTS, "after the deadline"),
}
if hostile.ONLY:
    CASES = {k: CASES[k] for k in ("honest", "blank")}
CASES.update(hostile.all_cases())  # the trust-boundary classes, one module each in tests/hostile/


def _write(folder: Path, nb, name=f"{A}.ipynb"):
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / name)


def build_class(root: Path, port: int, out: Path) -> Path:
    """The submitted/ tree, one student per case."""
    sub = root / "submitted"
    own = lambda s: sub / s / A  # noqa: E731
    solved = lambda answers=None: course.learner_submission(A, answers)  # noqa: E731
    _write(own("honest"), solved())
    _write(own("blank"), course.learner_submission(A, solved=False))
    _write(own("prints_all_passed"), course.learner_submission(
        A, {"batchnorm_forward": _blank("batchnorm_forward") + '\nprint("All tests passed")\n'}, solved=False))
    _write(own("infinite_loop"), solved({"batchnorm_inference": "while True:\n    pass\n"}))
    _write(own("sigint_proof_loop"), solved({"batchnorm_inference": (
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n")}))
    _write(own("os_exit"), solved({"update_moving_stats": _solution("update_moving_stats") + "\nimport os\nos._exit(1)\n"}))
    _write(own("memory_hog"), solved({"batchnorm_layer": _solution("batchnorm_layer")
                                     + "\nimport numpy as np\n_big = np.ones((500, 1_000_000))\n"}))
    text = nbformat.writes(solved())
    own("invalid_json").mkdir(parents=True)
    (own("invalid_json") / f"{A}.ipynb").write_text(text[: len(text) // 2])
    nb = solved()
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "test_update_moving_stats"]
    _write(own("deleted_test_cell"), nb)
    nb = solved({"batchnorm_inference": WRONG["batchnorm_inference"]})
    nb.cells[_index("test_batchnorm_inference")].source = 'print("All tests passed")'
    _write(own("edited_test_cell"), nb)
    _write(own("monkeypatched_numpy"), course.learner_submission(
        A, {k: (PATCHES + v if k == "batchnorm_forward" else v) for k, v in WRONG.items()}, solved=False))
    paths = {"solutions": str(ROOT / "solutions" / A / f"{A}.ipynb"),
             "reference": str(ROOT / "autograder" / "reference" / "bn_reference.py"),
             "gradebook": str(out / "gradebook.db"),
             "other_student": str(own("honest") / f"{A}.ipynb"),
             "write_canary": str(root / "canary.txt"),
             "write_repo": str(ROOT / "README.md")}
    _write(own("escape_and_exec_solution"), course.learner_submission(
        A, {"batchnorm_forward": _escape_code(paths, port)}, solved=False))
    _write(own("huge_output"), solved({"batchnorm_layer": _solution("batchnorm_layer") + '\nprint("x" * 30_000_000)\n'}))
    _write(own("renamed"), solved(), f"{A}-1.ipynb")
    own("missing").mkdir(parents=True)
    (own("missing") / "notes.txt").write_text("I forgot the notebook")
    _write(own("late"), solved())
    (own("late") / "timestamp.txt").write_text("2026-11-20 12:00:00 UTC")
    hostile.build_all(hostile.Context(root=root, sub=sub, out=out, port=port, assignment=A, own=own, solved=solved,
                                      blank=_blank, solution=_solution, index=_index, write=_write))
    for extra in (d for d in sub.iterdir() if d.name not in CASES):  # HOSTILE_ONLY: only those modules
        shutil.rmtree(extra)
    assert sorted(p.name for p in sub.iterdir()) == sorted(CASES)
    return sub


def snapshot(*roots: Path, skip: tuple[Path, ...] = ()) -> dict[str, str]:
    """path -> sha256 of every file under ``roots`` (except under ``skip``)."""
    out = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file() and not any(path.is_relative_to(s) for s in skip):
                out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def read_csv(path: Path) -> dict[str, dict]:
    with open(path) as f:
        return {row["student"]: row for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def listener():
    """A TCP server on this machine's loopback: a sandboxed kernel must not reach it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.5)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                server.accept()[0].close()
            except OSError:
                pass

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    stop.set()
    server.close()


@pytest.fixture(scope="module")
def adversarial(tmp_path_factory, listener):
    root = tmp_path_factory.mktemp("class")
    out = root / "out"
    (root / "canary.txt").write_text("canary")
    sub = build_class(root, listener, out)
    watched = (ROOT / "solutions", ROOT / "notebooks", ROOT / "autograder", ROOT / "bncourse", ROOT / "data",
               ROOT / "README.md", sub, root / "canary.txt")
    before = snapshot(*(p for p in watched if p.is_dir()),
                      skip=(ROOT / "autograder" / "__pycache__", ROOT / "autograder" / "reference" / "__pycache__"))
    files_before = {p: p.read_bytes() for p in watched if p.is_file()}
    args = [A, "--submitted", str(sub), "--out", str(out), "--workers", "2", "--sandbox", "bwrap",
            "--cell-timeout", str(CELL_TIMEOUT), "--notebook-timeout", "240", "--memory-mb", "1500",
            "--deadline", DEADLINE, "--gradescope"]
    start = time.monotonic()
    proc = subprocess.run([*GRADE, *args], capture_output=True, text=True, timeout=900)
    seconds = time.monotonic() - start
    assert proc.returncode == 0, proc.stdout + proc.stderr
    after = snapshot(*(p for p in watched if p.is_dir()),
                     skip=(ROOT / "autograder" / "__pycache__", ROOT / "autograder" / "reference" / "__pycache__"))
    rows = read_csv(out / "grades.csv")
    REPORTS["grade.py on the adversarial class (lesson 02)"] = [
        f"{'student':<26} {'status':<22} {'score':>5}  reason", "-" * 100,
        *(f"{s:<26} {r['status']:<22} {r['score']:>5}  {r['reason'][:80]}" for s, r in sorted(rows.items())),
        f"{len(rows)} submissions graded in {seconds:.1f} s (2 workers, cell timeout {CELL_TIMEOUT} s)",
    ]
    return {"root": root, "out": out, "sub": sub, "rows": rows, "before": before, "after": after,
            "files_before": files_before, "args": args, "stdout": proc.stdout, "stderr": proc.stderr}


@pytest.mark.parametrize("student", sorted(CASES))
def test_each_case_gets_its_status_and_no_more_than_its_honest_score(adversarial, student):
    case, row = CASES[student], adversarial["rows"][student]
    assert row["status"] == case.status, row
    assert float(row["score"]) <= case.honest, row
    assert float(row["max_score"]) == 10
    for cell, points in case.cells.items():
        assert float(row[cell]) == points, (cell, row)
    assert case.reason in row["reason"], row


def test_sandbox_kept_the_escape_attempt_in(adversarial):
    nb = nbformat.read(adversarial["out"] / "autograded" / "escape_and_exec_solution" / A / f"{A}.ipynb", 4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    report = json.loads(re.search(r"ESCAPE-REPORT (\{.*\})", text).group(1))
    assert set(report) == {"solutions", "reference", "gradebook", "other_student", "write_canary", "write_repo",
                           "network", "import_reference"}
    for what, result in report.items():
        assert result not in ("READ", "WROTE", "CONNECTED", "IMPORTED"), (what, result)


def test_no_file_outside_the_work_area_changed(adversarial):
    assert adversarial["after"] == adversarial["before"]
    for path, content in adversarial["files_before"].items():
        assert path.read_bytes() == content, path


def test_feedback_never_shows_hidden_tests(adversarial):
    pages = sorted((adversarial["out"] / "feedback").rglob("*.html"))
    graded = {s for s, r in adversarial["rows"].items() if r["status"] not in ("missing", "invalid_notebook")}
    assert {p.parts[-3] for p in pages} == graded
    for page in pages:
        assert not HIDDEN.search(page.read_text()), page
    blank = (adversarial["out"] / "feedback" / "blank" / A / f"{A}.html").read_text()
    assert "NotImplementedError" in blank  # feedback still tells the learner what failed


def test_no_active_html_in_any_page_or_autograded_notebook(adversarial):
    """Every feedback page is inert and has the CSP; every autograded notebook (what Formgrader
    renders) holds no active HTML in Markdown, raw cells, outputs, attachments or metadata."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    from hostile.html import active_html

    out = adversarial["out"]
    pages = sorted((out / "feedback").rglob("*.html"))
    assert pages
    for page in pages:
        found, csp = active_html(page.read_text(), allowed_src="mathjax/MathJax.js")
        assert not found, (page, found)
        assert len(csp) == 1 and "default-src 'none'" in csp[0] and "script-src 'nonce-" in csp[0], (page, csp)
        assert (page.parent / "mathjax" / "MathJax.js").is_file(), page  # the course's own, next to the page
    honest = (out / "feedback" / "honest" / A / f"{A}.html").read_text()
    assert "Lesson 2" in honest and re.search(r"\$[^$<>]+\$", honest)  # the course's Markdown and math survive
    notebooks = sorted((out / "autograded").rglob("*.ipynb"))
    assert notebooks
    for path in notebooks:
        nb = nbformat.read(path, 4)
        assert set(nb.metadata) <= {"kernelspec", "language_info", "nbgrader"}, (path, set(nb.metadata))
        for cell in nb.cells:
            parts = []
            if cell.cell_type == "markdown":
                parts.append(markdown2html_mistune(cell.source))
                assert all(set(b) <= {"image/png", "image/jpeg"} for b in cell.get("attachments", {}).values()), path
            elif cell.cell_type == "raw":
                parts.append(cell.source)
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                assert set(data) <= {"text/plain", "text/html", "text/markdown", "text/latex", "image/png",
                                     "image/jpeg"}, (path, set(data))
                parts += [data.get("text/html", ""), markdown2html_mistune(data.get("text/markdown", ""))]
                assert all(isinstance(v, int) for m in output.get("metadata", {}).values() for v in m.values())
            for part in parts:
                assert not active_html(part)[0], (path, active_html(part)[0], part[:300])
    # the payloads were there to catch: the submitted title cell is active as handed in
    submitted = nbformat.read(adversarial["sub"] / "xss_markdown" / A / f"{A}.ipynb", 4)
    assert active_html(markdown2html_mistune(submitted.cells[0].source))[0]
    made = nbformat.read(out / "autograded" / "xss_outputs" / A / f"{A}.ipynb", 4)
    assert "outputs made" in json.dumps(made.cells)  # the payload cell ran; its outputs were cleaned
    assert "<b>bold</b>" in json.dumps(made.cells)  # harmless HTML output is kept


def test_stock_nbgrader_commands_are_hardened_like_grade_py(tmp_path):
    """Formgrader's Autograde and Generate Feedback buttons run the stock commands with the course's
    nbgrader_config.py: sandboxed kernel, sanitised autograded notebook, hidden tests cleared, safe page."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    from hostile.html import CANARY, active_html
    from nbgrader_harness import TempCourse

    tc = TempCourse(tmp_path, [A])
    tc.generate()
    probe = ("import os\nprint('SANDBOX', os.path.exists(" + repr(str(ROOT / "solutions")) + "))\n"
             "from IPython.display import HTML, display\ndisplay(HTML('<img src=x onerror=\"" + CANARY + "\">'))\n")
    nb = course.learner_submission(A, {"batchnorm_layer": _solution("batchnorm_layer") + "\n" + probe})
    nb.cells[0].source += f"\n\n<script>{CANARY}</script>"
    tc.submit("stock", A, {A: nb})
    tc.autograde(A)
    tc.run("generate_feedback", A, "--force")
    assert tc.scores("stock", A, A)[0] == 10
    graded = nbformat.read(tc.root / "autograder" / "autograded" / "stock" / A / f"{A}.ipynb", 4)
    outputs = json.dumps([c.get("outputs", []) for c in graded.cells])
    assert "SANDBOX False" in outputs  # the kernel ran in the sandbox: the solutions are not there
    assert "<img" in outputs and "onerror" not in outputs  # the HTML output kept, its handler removed
    assert not active_html(markdown2html_mistune(graded.cells[0].source))[0]
    page = (tc.root / "autograder" / "feedback" / "stock" / A / f"{A}.html").read_text()
    assert not HIDDEN.search(page)
    found, csp = active_html(page, allowed_src="mathjax/MathJax.js")
    assert not found and len(csp) == 1, (found, csp)


def test_gradebook_and_gradescope_agree_with_the_csv(adversarial):
    from nbgrader.api import Gradebook

    rows = adversarial["rows"]
    with Gradebook(f"sqlite:///{adversarial['out'] / 'gradebook.db'}") as gb:
        subs = gb.find_assignment(A).submissions
        assert sorted(s.student.id for s in subs) == sorted(rows)  # one submission each: none lost or doubled
        for s in subs:
            assert s.score == pytest.approx(float(rows[s.student.id]["score"])), s.student.id
    for student, row in rows.items():
        gs = json.loads((adversarial["out"] / "gradescope" / student / A / "results.json").read_text())
        assert gs["score"] == pytest.approx(float(row["score"]))
        assert {t["name"].split(": ")[1] for t in gs["tests"]} == set(POINTS)


def test_rerun_is_idempotent_and_grades_nothing_again(adversarial):
    before = (adversarial["out"] / "grades.csv").read_bytes()
    proc = subprocess.run([*GRADE, *adversarial["args"]], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f"{len(CASES)} already graded, 0 to grade" in proc.stderr
    assert (adversarial["out"] / "grades.csv").read_bytes() == before


# ----------------------------------------------------------------------------- smaller classes

L1 = "01_formulas_by_hand"


def _small_class(root: Path, n: int) -> Path:
    sub = root / "submitted"
    for i in range(n):
        nb = course.learner_submission(L1, solved=i % 2 == 0)
        _write(sub / f"s{i}" / L1, nb, f"{L1}.ipynb")
    return sub


def test_interrupted_run_resumes_without_losing_or_doubling_grades(tmp_path):
    sub, out = _small_class(tmp_path, 4), tmp_path / "out"
    args = [*GRADE, L1, "--submitted", str(sub), "--out", str(out), "--workers", "1"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    ledger = out / "ledger" / L1
    deadline = time.monotonic() + 300
    while not (ledger.is_dir() and any(ledger.glob("s*.json"))):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in the instructor's terminal
    proc.communicate(timeout=120)
    done = sorted(p.stem for p in ledger.glob("s*.json"))
    assert 1 <= len(done) < 4
    resumed = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(done)} already graded, {4 - len(done)} to grade" in resumed.stderr
    rows = read_csv(out / "grades.csv")
    assert sorted(rows) == ["s0", "s1", "s2", "s3"]
    assert [float(rows[s]["score"]) for s in sorted(rows)] == [10, 0, 10, 0], rows
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:
        assert sorted(s.student.id for s in gb.find_assignment(L1).submissions) == sorted(rows)


def test_dask_local_cluster_gives_the_same_grades(tmp_path):
    sub = _small_class(tmp_path, 3)
    results = {}
    for name, extra in (("processes", []), ("dask", ["--scheduler", "local"])):
        out = tmp_path / name
        proc = subprocess.run([*GRADE, L1, "--submitted", str(sub), "--out", str(out), "--workers", "2", *extra],
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        results[name] = (out / "grades.csv").read_text()
    assert "dask local" in proc.stderr
    assert results["dask"] == results["processes"]


def test_lms_zip_export(tmp_path):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i, student in enumerate(["doejane", "roejohn"]):
            nb = course.learner_submission(L1, solved=i == 0)
            zf.writestr(f"submissions/{student}_1234{i}_5678{i}_{L1}.ipynb", nbformat.writes(nb))
        zf.writestr("submissions/readme.txt", "not a submission")
    before = archive.read_bytes()
    out = tmp_path / "out"
    proc = subprocess.run([*GRADE, L1, "--zip", str(archive), "--out", str(out)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "skipped submissions/readme.txt" in proc.stderr
    rows = read_csv(out / "grades.csv")
    assert {s: (r["status"], float(r["score"])) for s, r in rows.items()} == {
        "doejane": ("graded", 10.0), "roejohn": ("graded", 0.0)}
    assert archive.read_bytes() == before


def test_bad_command_lines_fail_clearly(tmp_path):
    proc = subprocess.run([*GRADE, "99_nope", "--out", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode != 0 and "no assignment '99_nope'" in proc.stderr
    proc = subprocess.run([*GRADE, L1, "--zip", str(tmp_path / "none.zip")], capture_output=True, text=True)
    assert proc.returncode != 0 and "no such zip file" in proc.stderr
