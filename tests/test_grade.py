"""``bngrader grade`` on an adversarial class, through its real command line.

One class of lesson 02 submissions (four graded cells: forward 3 points, moving
statistics 2, inference 2, the layer 3) covers every way a submission can go wrong.
Each case states its exact status and the most its honest content earns; the run must
grade every case, modify no file outside its work area, and show no hidden test in any
feedback. Smaller classes check resuming after an interruption, the Dask path and LMS
zip input.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import hashlib
import html
import io
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
import psutil
import pytest
from scratch_course import points

import hostile
from bngrader import course
from conftest import REPORTS, ROOT
from hostile import CONCEPTS, HONEST, POINTS, Case

GRADE = [sys.executable, "-m", "bngrader", "grade"]
A = "02_numpy_forward"
MAX_SCORE = HONEST + sum(points(A)[1].values())  # the autograded cells and the written questions
# hidden tests call bn_checks.check_* (the visible checks call bncourse.checks' functions of the same names)
HIDDEN = re.compile(r"\b(bn|keras|experiment)_checks\b|### (BEGIN|END) HIDDEN TESTS")
DEADLINE = "2026-11-01 00:00:00 UTC"
CELL_TIMEOUT = 15
STUDENT_KEY = "bncourse_test_student"  # notebook metadata: no notebook file may reach a feedback folder
# Peak resident memory (psutil, sampled every 0.1 s) of grade.py's main process and of each
# worker (kernels excluded: each has its own limit, --memory-mb). Measured on the adversarial
# class, 2 workers (2026-12-02): main 129-135 MB; workers 655-739 MB, most of it TensorFlow, which
# the grader imports to check the Keras configs the bridge cases forge (report printed after the tests).
MAIN_RSS_BOUND_MB = 300
WORKER_RSS_BOUND_MB = 800
# The course tree minus what is not course content: environment, version control, caches.
NOT_COURSE = {".venv", ".git", "__pycache__", ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints", "artifacts"}




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
    "honest": Case("graded", HONEST, POINTS),
    "blank": Case("unattempted", 0, reason="the released notebook, no answer changed"),
    "prints_all_passed": Case("graded", 0),
    "infinite_loop": Case("timeout", 5 + CONCEPTS, {"test_batchnorm_forward": 3, "test_update_moving_stats": 2},
                          "ran longer than"),
    "sigint_proof_loop": Case("timeout", 5 + CONCEPTS, {"test_batchnorm_forward": 3, "test_update_moving_stats": 2},
                              "ran longer than"),
    "os_exit": Case("kernel_died", 5 + CONCEPTS, {"test_batchnorm_forward": 3, "test_batchnorm_inference": 2}, "kernel died"),
    "memory_hog": Case("kernel_died", 7 + CONCEPTS, {"test_batchnorm_forward": 3, "test_update_moving_stats": 2,
                                          "test_batchnorm_inference": 2}, "MB of memory"),
    "invalid_json": Case("invalid_notebook", 0, reason="not valid JSON"),
    "deleted_test_cell": Case("missing_tests_restored", HONEST, POINTS, "test_update_moving_stats"),
    # the layer is graded with the student's own helpers (error carried forward): only inference fails
    "edited_test_cell": Case("tampered", 8 + CONCEPTS, {"test_batchnorm_inference": 0, "test_batchnorm_forward": 3,
                                             "test_batchnorm_layer": 3}, "test_batchnorm_inference"),
    "monkeypatched_numpy": Case("suspicious", CONCEPTS, reason="patches a library attribute"),
    "escape_and_exec_solution": Case("suspicious", CONCEPTS, reason="names a grader path"),
    "huge_output": Case("graded", HONEST, POINTS, "output beyond"),
    "renamed": Case("renamed", HONEST, POINTS, "02_numpy_forward-1.ipynb"),
    "missing": Case("missing", 0, reason="no 02_numpy_forward.ipynb"),
    "late": Case("late", HONEST, POINTS, "after the deadline"),
}
if hostile.ONLY:
    CASES = {k: CASES[k] for k in ("honest", "blank")}
CASES.update(hostile.all_cases())  # the trust-boundary classes, one module each in tests/hostile/
for _mod in hostile.modules():  # each module's own tests, against the same graded class
    globals().update({k: v for k, v in vars(_mod).items() if k.startswith("test_")})


def _write(folder: Path, nb, name=f"{A}.ipynb"):
    """Write a student's notebook. Each carries its student's id in its metadata, as real
    submissions differ from each other: grade.py flags byte-identical notebooks."""
    nb = copy.deepcopy(nb)
    nb.metadata[STUDENT_KEY] = folder.parent.name
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


def _digest(path: Path) -> str:
    if path.is_symlink():
        return "link -> " + os.readlink(path)
    if not path.is_file():  # a FIFO: never opened
        return "special"
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def snapshot(*roots: Path, prune: set[str] = frozenset()) -> dict[str, str]:
    """path -> sha256 of every file under ``roots`` (in chunks), links by their target (never
    followed), except under folders named in ``prune`` or ending in .egg-info."""
    out = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in prune and not d.endswith(".egg-info")]
            links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
            for name in [*filenames, *links]:
                out[os.path.join(dirpath, name)] = _digest(Path(dirpath, name))
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


def course_tree() -> dict[str, str]:
    """path -> sha256 of every file of the course tree: the repository minus NOT_COURSE."""
    return snapshot(ROOT, prune=NOT_COURSE)


def _session_members(sid: int) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter():
        try:
            if os.getsid(p.pid) == sid and p.pid != os.getpid():
                found.append(p)
        except (OSError, psutil.Error):
            continue
    return found


def _mentioning(text: str) -> list[psutil.Process]:
    """Processes of this user whose command line mentions ``text`` (pytest itself excluded)."""
    found = []
    for p in psutil.process_iter(["uids", "cmdline"]):
        try:
            if p.pid != os.getpid() and p.info["uids"].real == os.getuid() and text in " ".join(p.info["cmdline"] or []):
                found.append(p)
        except (psutil.Error, TypeError, AttributeError):
            continue
    return found


class ProcessWatch:
    """Samples grade.py's process tree in a thread: peak RSS of the main process and of each
    worker (its direct children; the kernels under them are not counted), and the most
    processes descended from it at once."""

    def __init__(self, proc: subprocess.Popen):
        self.proc, self.main_peak, self.worker_peak, self.most = proc, 0, {}, 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(self.proc.pid)
            while self.proc.poll() is None:
                with contextlib.suppress(psutil.Error):
                    self.main_peak = max(self.main_peak, root.memory_info().rss)
                    self.most = max(self.most, len(root.children(recursive=True)))
                    for child in root.children():
                        with contextlib.suppress(psutil.Error):
                            rss = child.memory_info().rss
                            self.worker_peak[child.pid] = max(self.worker_peak.get(child.pid, 0), rss)
                time.sleep(0.1)


def run_grader(args: list[str], root: Path, timeout: int = 900) -> dict:
    """Run grade.py in a session of its own; report its output, peaks and leftover processes."""
    before = {"session": 0, "mentioning": len(_mentioning(str(root)))}  # its session is new: empty
    start = time.monotonic()
    proc = subprocess.Popen([*GRADE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    watch = ProcessWatch(proc)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    watch.thread.join(5)
    time.sleep(1)  # let a process that outlives grade.py show itself
    after = {"session": [f"{p.pid} {p.name()}" for p in _session_members(proc.pid)],
             "mentioning": [f"{p.pid} {' '.join(p.cmdline())[:120]}" for p in _mentioning(str(root))]}
    return {"returncode": proc.returncode, "stdout": stdout, "stderr": stderr, "seconds": time.monotonic() - start,
            "main_peak": watch.main_peak, "worker_peak": watch.worker_peak, "most": watch.most,
            "before": before, "after": after}


@pytest.fixture(scope="module")
def adversarial(tmp_path_factory, listener):
    root = tmp_path_factory.mktemp("class")
    out = root / "out"
    (root / "canary.txt").write_text("canary")
    sub = build_class(root, listener, out)
    tree_before = course_tree()
    before = snapshot(sub)  # read without following links (the files module submits some)
    files_before = {p: p.read_bytes() for p in (root / "canary.txt",)}
    args = [A, "--submitted", str(sub), "--out", str(out), "--workers", "2", "--sandbox", "bwrap",
            "--cell-timeout", str(CELL_TIMEOUT), "--notebook-timeout", "240", "--memory-mb", "1500",
            "--disk-mb", "200", "--max-files", "2000", "--deadline", DEADLINE, "--gradescope"]
    run = run_grader(args, root)
    assert run["returncode"] == 0, run["stdout"] + run["stderr"]
    after, tree_after = snapshot(sub), course_tree()
    rows = read_csv(out / "grades.csv")
    workers = sorted(run["worker_peak"].values(), reverse=True)
    REPORTS["grade.py on the adversarial class (lesson 02)"] = [
        f"{'student':<34} {'status':<22} {'score':>5}  reason", "-" * 100,
        *(f"{s:<34} {r['status']:<22} {r['score']:>5}  {r['reason'][:80]}" for s, r in sorted(rows.items())),
        f"{len(rows)} submissions graded in {run['seconds']:.1f} s (2 workers, cell timeout {CELL_TIMEOUT} s)",
        f"peak RSS: main process {run['main_peak'] / 2**20:.0f} MB (bound {MAIN_RSS_BOUND_MB}), workers "
        f"{', '.join(f'{w / 2**20:.0f}' for w in workers)} MB (bound {WORKER_RSS_BOUND_MB})",
        f"processes: {run['before']} before; at most {run['most']} descended from grade.py; after it exited: "
        f"{run['after']['session'] or 0} in its session, {run['after']['mentioning'] or 0} mentioning the class folder",
    ]
    return {"root": root, "out": out, "sub": sub, "rows": rows, "before": before, "after": after,
            "tree_before": tree_before, "tree_after": tree_after, "files_before": files_before, "args": args,
            "run": run, "stdout": run["stdout"], "stderr": run["stderr"]}


@pytest.mark.parametrize("student", sorted(CASES))
def test_each_case_gets_its_status_and_no_more_than_its_honest_score(adversarial, student):
    case, row = CASES[student], adversarial["rows"][student]
    assert row["status"] == case.status, row
    assert float(row["score"]) <= case.honest, row
    assert float(row["max_score"]) == MAX_SCORE
    for cell, earned in case.cells.items():
        assert float(row[cell]) == earned, (cell, row)
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
    assert adversarial["tree_after"] == adversarial["tree_before"]  # the whole course tree
    assert len(adversarial["tree_before"]) > 100 and any("solutions" in p for p in adversarial["tree_before"])
    assert adversarial["after"] == adversarial["before"]  # the submissions
    for path, content in adversarial["files_before"].items():
        assert path.read_bytes() == content, path


def test_no_process_outlives_grade_py(adversarial):
    run = adversarial["run"]
    assert run["before"] == {"session": 0, "mentioning": 0}
    assert run["most"] >= 3  # the watch saw the workers and their kernels
    assert run["after"] == {"session": [], "mentioning": []}


def test_peak_memory_of_the_grader_stays_bounded(adversarial):
    run = adversarial["run"]
    assert len(run["worker_peak"]) >= 2, run["worker_peak"]
    assert 0 < run["main_peak"] < MAIN_RSS_BOUND_MB * 2**20, run["main_peak"]
    for pid, peak in run["worker_peak"].items():
        assert peak < WORKER_RSS_BOUND_MB * 2**20, (pid, peak)


def _graded(adversarial) -> set[str]:
    """Students whose notebook was graded: they get a feedback page, the others none."""
    return {s for s, r in adversarial["rows"].items()
            if r["status"] not in ("missing", "invalid_notebook", "rejected") and "(not graded)" not in r["reason"]}


def test_feedback_and_autograded_folders_hold_only_the_graded_notebook(adversarial):
    out, graded = adversarial["out"], _graded(adversarial)
    for sub, name in (("feedback", f"{A}.html"), ("autograded", f"{A}.ipynb")):
        students = {p.name for p in (out / sub).iterdir()}
        assert students == graded, (sub, students ^ graded)
        for student in students:
            entries = sorted(os.listdir(out / sub / student))
            assert entries == [A], (sub, student, entries)
            folder = out / sub / student / A
            expected = [name, "mathjax"] if sub == "feedback" else [name]
            assert sorted(os.listdir(folder)) == sorted(expected), (sub, student, os.listdir(folder))
            assert not (folder / name).is_symlink() and (folder / name).is_file()
            if sub == "feedback":  # the course's MathJax, byte for byte the installed package's
                from bngrader.sanitize import mathjax_files

                ours = {p.relative_to(folder).as_posix(): p for p in (folder / "mathjax").rglob("*") if p.is_file()}
                assert ours.keys() == mathjax_files().keys()
                assert all(not p.is_symlink() and p.read_bytes() == mathjax_files()[k] for k, p in ours.items())


def _instructor_only() -> list[str]:
    """Strings that exist only on the instructor's side: hidden test lines, the reference and
    check modules' own lines, a notebook file's metadata, /etc/shadow, what kernels wrote to
    files (never printed)."""
    from hostile import files as hostile_files

    learner = "\n".join(c.source for c in course.learner_submission(A).cells)
    solution = nbformat.read(ROOT / "solutions" / A / f"{A}.ipynb", as_version=4)
    secrets = []
    for cell in solution.cells:
        for block in re.findall(r"BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", cell.source, re.S):
            secrets += block.splitlines()
    for module in ("bn_reference.py", "bn_checks.py"):
        secrets += (ROOT / "autograder" / "reference" / module).read_text().splitlines()
    with contextlib.suppress(OSError):
        secrets.append(Path("/etc/shadow").read_text().splitlines()[0])
    return sorted({x.strip() for x in secrets if len(x.strip()) >= 24 and x.strip() not in learner} |
                  {hostile_files.KERNEL_MARKER, hostile_files.LOG_MARKER, STUDENT_KEY})


def test_nothing_instructor_only_in_any_feedback_file(adversarial):
    secrets = _instructor_only()
    assert len(secrets) > 100  # the reference and checks' lines, hidden tests, markers
    files = [p for p in (adversarial["out"] / "feedback").rglob("*")
             if not p.is_dir() and "mathjax" not in p.relative_to(adversarial["out"] / "feedback").parts]
    assert len(files) == len(_graded(adversarial))
    for path in files:
        data = path.read_bytes()
        assert b"SQLite format 3" not in data, path
        text = data.decode("utf-8", "replace")
        flat = html.unescape(re.sub(r"<[^>]+>", "", text))  # code as the page shows it, highlighting removed
        assert not HIDDEN.search(text), path
        leaked = [x for x in secrets if x in text or x in flat]
        assert not leaked, (path, leaked[:3])


def test_feedback_never_shows_hidden_tests(adversarial):
    pages = sorted((adversarial["out"] / "feedback").rglob("*.html"))
    graded = _graded(adversarial)
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
    nbgrader_config.py: sandboxed kernel, sanitised autograded notebook, hidden tests cleared, safe page,
    no student link followed (a linked notebook is not graded; linked files are not copied along)."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    from hostile.html import CANARY, active_html
    from nbgrader_harness import TempCourse

    tc = TempCourse(tmp_path, [A])
    tc.generate()
    probe = ("import os\nprint('SANDBOX', os.path.exists(" + repr(str(ROOT / "solutions")) + "))\n"
             "from IPython.display import HTML, display\ndisplay(HTML('<img src=x onerror=\"" + CANARY + "\">'))\n")
    nb = course.learner_submission(A, {"batchnorm_layer": _solution("batchnorm_layer") + "\n" + probe})
    nb.cells[0].source += f"\n\n<script>{CANARY}</script>"
    folder = tc.submit("stock", A, {A: nb})
    secret = tc.root / "instructor-secret.txt"  # an instructor file the student links to
    secret.write_text("INSTRUCTOR-ONLY")
    os.symlink(secret, folder / "notes.txt")
    os.symlink(tc.root / "solutions", folder / "solutions_dir")
    (folder / "data.csv").write_text("1,2\n")  # a regular file: copied along as nbgrader does
    linked = tc.submit("linker", A, {})
    os.symlink(tc.root / "solutions" / A / f"{A}.ipynb", linked / f"{A}.ipynb")  # the solution, by link
    proc = course.nbgrader("autograde", A, "--force", "--create", cwd=tc.root, check=False)
    # the linked notebook is not graded: nbgrader names it and reports that student's error; the class goes on
    assert f"Not graded: {linked / A}.ipynb is a symbolic link" in proc.stderr, proc.stderr
    assert "error processing assignment '02_numpy_forward' for student 'linker'" in proc.stderr
    assert not (tc.root / "instructor" / "autograded" / "linker" / A / f"{A}.ipynb").exists()
    tc.run("generate_feedback", A, "--force")
    assert tc.scores("stock", A, A)[0] == HONEST
    for sub in ("autograded", "feedback"):
        kept = sorted(p.name for p in (tc.root / "instructor" / sub).rglob("*"))
        assert "notes.txt" not in kept and "solutions_dir" not in kept, (sub, kept)
        assert not [p for p in (tc.root / "instructor" / sub).rglob("*") if p.is_symlink()], sub
        assert not [p for p in (tc.root / "instructor" / sub).rglob("*")
                    if p.is_file() and b"INSTRUCTOR-ONLY" in p.read_bytes()], sub
    assert (tc.root / "instructor" / "autograded" / "stock" / A / "data.csv").read_text() == "1,2\n"
    graded = nbformat.read(tc.root / "instructor" / "autograded" / "stock" / A / f"{A}.ipynb", 4)
    outputs = json.dumps([c.get("outputs", []) for c in graded.cells])
    assert "SANDBOX False" in outputs  # the kernel ran in the sandbox: the solutions are not there
    assert "<img" in outputs and "onerror" not in outputs  # the HTML output kept, its handler removed
    assert not active_html(markdown2html_mistune(graded.cells[0].source))[0]
    page = (tc.root / "instructor" / "feedback" / "stock" / A / f"{A}.html").read_text()
    assert not HIDDEN.search(page)
    found, csp = active_html(page, allowed_src="mathjax/MathJax.js")
    assert not found and len(csp) == 1, (found, csp)


def test_gradebook_and_gradescope_agree_with_the_csv(adversarial):
    from nbgrader.api import Gradebook

    rows = {s: r for s, r in adversarial["rows"].items() if r["status"] != "rejected"}  # never recorded
    for student in set(adversarial["rows"]) - set(rows):
        assert not (adversarial["out"] / "gradescope" / student).exists(), student
    with Gradebook(f"sqlite:///{adversarial['out'] / 'gradebook.db'}") as gb:
        subs = gb.find_assignment(A).submissions
        assert sorted(s.student.id for s in subs) == sorted(rows)  # one submission each: none lost or doubled
        for s in subs:  # the CSV's score is nbgrader's score less its late penalty, as `nbgrader export` has it
            row = rows[s.student.id]
            assert (s.score, s.late_submission_penalty) == pytest.approx(
                (float(row["raw_score"]), float(row["late_penalty"]))), s.student.id
            assert float(row["score"]) == pytest.approx(max(0.0, s.score - s.late_submission_penalty))
    for student, row in rows.items():  # Gradescope applies its own late policy: it gets the raw score
        gs = json.loads((adversarial["out"] / "gradescope" / student / A / "results.json").read_text())
        assert gs["score"] == pytest.approx(float(row["raw_score"]))
        assert {"test_" + t["name"].split(": ")[1] for t in gs["tests"]} == set(POINTS)  # named by exercise
        assert all(t["status"] == "passed" and t["output"] == "passed" if t["score"] == t["max_score"]
                   else t["status"] == "failed" and t["output"] for t in gs["tests"]), gs["tests"]


def test_rerun_is_idempotent_and_grades_nothing_again(adversarial):
    before = (adversarial["out"] / "grades.csv").read_bytes()
    proc = subprocess.run([*GRADE, *adversarial["args"]], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rejected = sum(case.status == "rejected" for case in CASES.values())
    assert f"{len(CASES)} submissions, {len(CASES) - rejected} already graded, 0 to grade" in proc.stderr
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
    full = points(L1)[0]  # every autograded point of lesson 1 (its written answers wait for a hand grade)
    assert [float(rows[s]["score"]) for s in sorted(rows)] == [full, 0, full, 0], rows
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


def _patch_member_size(data: bytes, name: str, size: int) -> bytes:
    """The archive with member ``name``'s headers claiming ``size`` uncompressed bytes (a zip bomb
    that lies about its size)."""
    out = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo(name)
    for at in (info.header_offset + 22, out.rindex(name.encode()) - 46 + 24):  # local header, central directory
        assert out[at:at + 4] == info.file_size.to_bytes(4, "little")
        out[at:at + 4] = size.to_bytes(4, "little")
    return bytes(out)


def _hostile_export(path: Path) -> dict[str, tuple[str, float, str]]:
    """A Canvas export of lesson 01 with one student per way a member can go wrong, and the
    honest students around them. Returns student -> (status, score, a phrase of the reason)."""
    def notebook(solved: bool, who: str) -> bytes:  # each student's own file (grade.py flags identical ones)
        nb = course.learner_submission(L1, solved=solved)
        nb.metadata[STUDENT_KEY] = who
        return nbformat.writes(nb).encode()

    corrupt = notebook(True, "corrupt") + b" " * 64
    name = lambda student, user, late=False: f"submissions/{student}_{'late_' if late else ''}{user}_9{user}_{L1}.ipynb"  # noqa: E731
    members = [
        (name("doejane", 12340), notebook(True, "doejane12340")), (name("roejohn", 12341), notebook(False, "roejohn12341")),
        (name("smithjohn", 111), notebook(True, "smithjohn111")), (name("smithjohn", 222, late=True), notebook(False, "smithjohn222")),  # one name, two students
        (name("..", 333), notebook(True, "..333")), (name("...", 334), notebook(True, "...334")), (f"submissions/evil\\victim_444_9444_{L1}.ipynb", notebook(True, "evil")),
        (name("corrupt", 555), corrupt), (name("bomb", 666), b"\0" * 150 * 2**20),
        (name("big", 777), b" " * 101 * 2**20), (name("dup", 999), notebook(True, "dup999")), (f"again/{name('dup', 999)[12:]}", notebook(False, "dup2")),
        (name("XlYve", 888), notebook(True, "latin-a")), (name("YlXve", 889), notebook(True, "latin-b")),  # renamed to latin-1 bytes below
        ("submissions/readme.txt", b"not a submission"),
    ]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, data in members:
            zf.writestr(member, data, zipfile.ZIP_STORED if "corrupt" in member else zipfile.ZIP_DEFLATED)
    data = path.read_bytes()
    at = data.index(corrupt) + 100  # one flipped byte: the CRC no longer matches
    data = data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]
    data = _patch_member_size(data, name("bomb", 666), 4096)
    for old, new in ((b"XlYve", b"\xe9l\xe8ve"), (b"YlXve", b"\xe8l\xe9ve")):
        assert data.count(old) == 2
        data = data.replace(old, new)
    path.write_bytes(data)
    return {
        "doejane_12340": ("graded", points(L1)[0], ""), "roejohn_12341": ("unattempted", 0.0, ""),
        "smithjohn_111": ("graded", points(L1)[0], ""), "smithjohn_222": ("unattempted", 0.0, ""),
        ".._333": ("rejected", 0.0, f"student id '.._333' is not valid: it contains '..' (zip member '{name('..', 333)}')"),
        "..._334": ("rejected", 0.0, "contains '..'"),
        "evil\\victim_444": ("rejected", 0.0, "contains a path separator"),
        "corrupt_555": ("invalid_notebook", 0.0, f"zip member '{name('corrupt', 555)}' is corrupt (Bad CRC-32"),
        "bomb_666": ("invalid_notebook", 0.0, f"zip member '{name('bomb', 666)}' is corrupt"),
        "big_777": ("invalid_notebook", 0.0, f"zip member '{name('big', 777)}' is 101 MB, more than the 100 MB cap"),
        "dup_999": ("rejected", 0.0, "2 zip members map to student 'dup_999'"),
        "\\xe9l\\xe8ve_888": ("rejected", 0.0, "'\\xe9l\\xe8ve_888' is not valid: it must start with an ASCII letter or digit"),
        "\\xe8l\\xe9ve_889": ("rejected", 0.0, "'\\xe8l\\xe9ve_889' is not valid: it must start with an ASCII letter or digit"),
    }


def test_lms_zip_export(tmp_path):
    """One grade.py run on a Canvas export where members go wrong in every way: each is its
    student's own status, named; every other student is graded; a rerun grades nothing again."""
    archive = tmp_path / "export.zip"
    expected = _hostile_export(archive)
    before = archive.read_bytes()
    out = tmp_path / "out"
    args = [*GRADE, L1, "--zip", str(archive), "--out", str(out), "--workers", "2"]
    start = time.monotonic()
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600)
    seconds = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    assert "skipped submissions/readme.txt" in proc.stderr
    assert "rejected .._333: student id '.._333' is not valid" in proc.stderr  # listed, not only in the CSV
    rows = read_csv(out / "grades.csv")
    assert {s: (r["status"], float(r["score"])) for s, r in rows.items()} == {
        s: (status, score) for s, (status, score, _) in expected.items()}
    for student, (_, _, reason) in expected.items():
        assert reason in rows[student]["reason"], (student, rows[student])
    assert "dup_999" not in {p.name for p in (out / "feedback").iterdir()}
    work = out / "work"
    assert sorted(p.name for p in (work / "zip" / L1).iterdir()) == sorted(
        s for s, (status, _, _) in expected.items() if status != "rejected")
    assert archive.read_bytes() == before
    rerun_start = time.monotonic()
    again = subprocess.run(args, capture_output=True, text=True, timeout=300)
    rerun = time.monotonic() - rerun_start
    assert again.returncode == 0, again.stderr
    assert f"{len(expected)} submissions, 7 already graded, 0 to grade, 6 rejected" in again.stderr
    assert read_csv(out / "grades.csv") == rows
    REPORTS["grade.py on a hostile LMS zip export (lesson 01)"] = [
        *(f"{s:<18} {r['status']:<17} {r['score']:>4}  {r['reason'][:90]}" for s, r in sorted(rows.items())),
        f"{len(rows)} students in {seconds:.1f} s (2 workers); the rerun took {rerun:.1f} s",
    ]
    _merge_failures_stay_per_submission(out / "gradebook.db", rows)


def _merge_failures_stay_per_submission(db: Path, rows: dict):
    """The course gradebook refusing one result (here: a cell it does not have) makes that
    submission ``rejected``, with the reason; a bad time in an old ledger entry is ignored."""
    from nbgrader.api import Gradebook

    from bngrader import grade

    saved = grade.rows_from_data(json.loads((db.parent / "ledger" / L1 / "doejane_12340.json").read_text())["result"])
    good = {**saved, "timestamp": "yesterday, around noon"}
    assert grade.record(db, good, L1, "doejane_12340") is good  # recorded, without a time
    forged = {**good, "grades": {L1: {**good["grades"][L1], "no_such_cell": {"auto_score": 1.0,
                                                                            "needs_manual_grade": False}}}}
    result = grade.record(db, forged, L1, "doejane_12340")
    row, = result["rows"]
    assert row.status == "rejected" and result["error"]
    assert row.reason.startswith("grades not recorded: the gradebook refused them (MissingEntry")
    auto, written = points(L1)
    assert f"it scored {auto:g}/{auto + sum(written.values()):g}" in row.reason
    with Gradebook(f"sqlite:///{db}") as gb:
        assert gb.find_submission(L1, "doejane_12340").score == float(rows["doejane_12340"]["score"])


def test_bad_command_lines_fail_clearly(tmp_path):
    proc = subprocess.run([*GRADE, "99_nope", "--out", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2 and "error: no assignment '99_nope'" in proc.stderr
    assert "Traceback" not in proc.stderr  # a GradingError is a message, not a crash
    proc = subprocess.run([*GRADE, L1, "--out", str(tmp_path), "--deadline", "next tuesday"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "error: --deadline 'next tuesday' is not a time" in proc.stderr
    proc = subprocess.run([*GRADE, L1, "--zip", str(tmp_path / "none.zip")], capture_output=True, text=True)
    assert proc.returncode != 0 and "no such zip file" in proc.stderr
