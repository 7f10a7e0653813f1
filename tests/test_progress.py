"""``python -m bncourse.progress``: a learner's progress, at a glance.

Run as a learner runs it (a subprocess of this environment, no bngrader involved) on copies of the
released notebooks in a temporary folder: blank (every exercise not attempted), filled in with the
solution notebooks' answers (every exercise passed, full marks; all the lessons, in parallel, with
the instructor's reference on PYTHONPATH to prove the kernels never see it), and half finished
(exact states and hints). Then the cache: a second run answers from it with the same output, and an
edited notebook is run again alone.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from conftest import REPORTS, ROOT

progress = importlib.import_module("bncourse.progress")  # (`from bncourse import progress` is the function)

LESSONS = sorted(p.parent.name for p in (ROOT / "notebooks").glob("*/*.ipynb"))
L1, L2 = "01_formulas_by_hand", "02_numpy_forward"
REFERENCE_MODULES = ("bn_checks", "keras_checks", "experiment_checks", "concept_checks", "practice_checks", "bn_reference")
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def _timings():
    """The measured wall times, printed after the test summary."""
    yield
    if TIMINGS:
        REPORTS["bncourse.progress (wall time, this machine)"] = [f"{k}: {v:.1f} s" for k, v in TIMINGS.items()]


def _env(**extra) -> dict[str, str]:
    """This environment as a learner's shell has it: no grading or benchmark variables set."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("NBGRADER_EXECUTION", "NBGRADER_VALIDATING", "BNCOURSE_FAST", "BNCOURSE_RESULTS",
                        "BNCOURSE_ROOT", "PYTHONPATH")}
    return {**env, **extra}


def run_progress(folder: Path, *args: str, env: dict | None = None) -> tuple[subprocess.CompletedProcess, float]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bncourse.progress", str(folder), *args], capture_output=True,
                          text=True, env=env or _env(), timeout=900)
    seconds = time.perf_counter() - start
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc, seconds


def release_copy(dest: Path, lessons=LESSONS) -> Path:
    for lesson in lessons:
        shutil.copytree(ROOT / "notebooks" / lesson, dest / lesson)
    return dest


def solution_answers(lesson: str) -> dict[str, str]:
    nb = nbformat.read(ROOT / "solutions" / lesson / f"{lesson}.ipynb", as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution")}


def fill(folder: Path, lesson: str, answers: dict[str, str] | None = None, blank=(), extra_cell: str | None = None):
    """The released notebook in ``folder``, its answer cells written with the solution's answers,
    then with ``answers`` (grade id -> source); those in ``blank`` stay as released."""
    path = folder / lesson / f"{lesson}.ipynb"
    nb = nbformat.read(path, as_version=4)
    given = {**solution_answers(lesson), **(answers or {})}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and meta["grade_id"] not in blank:
            cell.source = given[meta["grade_id"]]
    if extra_cell:
        nb.cells.append(nbformat.v4.new_code_cell(extra_cell))
    nbformat.write(nb, path)


def released_points(lesson: str) -> dict[str, int]:
    """Test cell grade id -> points, read from the release."""
    nb = nbformat.read(ROOT / "notebooks" / lesson / f"{lesson}.ipynb", as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution")}


def states(rep: dict) -> dict[str, dict[str, str]]:
    return {lesson["lesson"]: {e["name"]: e["state"] for e in lesson["exercises"]} for lesson in rep["lessons"]}


# --- no kernel: cell roles and the not-attempted rule ------------------------------------------


def test_release_checksums_are_nbgraders_and_every_answer_is_unchanged():
    from nbgrader.utils import compute_checksum

    for lesson in LESSONS:
        nb = nbformat.read(ROOT / "notebooks" / lesson / f"{lesson}.ipynb", as_version=4)
        cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")]
        assert cells
        for cell in cells:
            assert progress.checksum(cell) == compute_checksum(cell) == cell.metadata["nbgrader"]["checksum"]
            assert progress.unchanged(cell)
            cell.source += "\n# mine"
            assert not progress.unchanged(cell)
    assert progress.exercise_name("test_batchnorm_forward") == "batchnorm_forward"


def _cell(kind: str, source: str, **meta):
    cell = (nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell)(source)
    cell.metadata["nbgrader"] = {"grade": False, "solution": False, "locked": False, **meta}
    cell.metadata["nbgrader"]["checksum"] = progress.checksum(cell)  # as released
    return cell


def _ran(cell, *outputs):
    cell.execution_count = 1
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    return cell


def test_summary_of_an_executed_notebook_with_written_answers():
    """States from the outputs alone: an error's first line is the hint, a released answer makes its
    exercise 'not attempted', a written (markdown) answer is answered once it differs from the release."""
    stub = "# YOUR CODE HERE\nraise NotImplementedError()"
    err = {"output_type": "error", "ename": "CheckFailed", "evalue": "f: you divided by N-1.\nsecond line",
           "traceback": ["\x1b[0;31mframes of the check\x1b[0m"]}
    a1, a2, a3 = (_cell("code", stub, solution=True, grade_id=g) for g in ("f", "g", "h"))
    a1.source, a2.source = "def f(x):\n    return x", "def g(x):\n    return x"
    w1, w2 = (_cell("markdown", "YOUR ANSWER HERE", solution=True, grade=True, grade_id=g, points=2)
              for g in ("why_eps", "why_momentum"))
    w1.source = "Because sqrt(0) has no gradient."
    nb = nbformat.v4.new_notebook(cells=[
        a1, _ran(_cell("code", "check(f)", grade=True, grade_id="test_f", points=3), err),
        a2, _ran(_cell("code", "check(g)", grade=True, grade_id="test_g", points=2),
                 {"output_type": "stream", "name": "stdout", "text": "✓ g is correct\n"}),
        a3, _ran(_cell("code", "check(h)", grade=True, grade_id="test_h", points=1),
                 {"output_type": "error", "ename": "NameError", "evalue": "name 'h' is not defined", "traceback": []}),
        _ran(_cell("code", "check(k)", grade=True, grade_id="test_k", points=1),
             {"output_type": "stream", "name": "stderr", "text": "a warning\n"}),
        w1, w2])
    got = progress.summarize(nb)
    assert [(e["name"], e["state"], e["earned"], e["points"], e["hint"]) for e in got["exercises"]] == [
        ("f", "failed", 0, 3, "CheckFailed: f: you divided by N-1."),
        ("g", "passed", 2, 2, None),
        ("h", "not_attempted", 0, 1, None),
        ("k", "failed", 0, 1, "it wrote to stderr: a warning"),  # as nbgrader scores it
    ]
    assert (got["earned"], got["points"]) == (2, 7)
    assert [(w["name"], w["answered"], w["points"]) for w in got["written"]] == [("why_eps", True, 2),
                                                                               ("why_momentum", False, 2)]
    text = progress.render(progress.report([{"lesson": "99_demo", "notebook": "x", **got}]))
    assert "frames of the check" not in text and "check(" not in text
    assert re.search(r"^  ✎ why_eps +\?/2 +written answer: answered", text, re.M)
    assert re.search(r"^  ✎ why_momentum +\?/2 +written answer: not yet", text, re.M)
    assert "1 of 2 written answers answered" in text.splitlines()[-1]


def test_the_module_keeps_bncourse_progress_callable(capsys):
    import bncourse

    bncourse.progress("lr 0.1: accuracy 0.91")  # the lessons' progress line, with this module imported
    assert "lr 0.1: accuracy 0.91" in capsys.readouterr().out


def test_kernel_env_is_validation_mode_without_the_reference():
    env = progress.kernel_env({"PYTHONPATH": os.pathsep.join([str(ROOT / "autograder" / "reference"), "/mine"]),
                               "BNCOURSE_RESULTS": "/tmp/r.jsonl"})
    assert env["NBGRADER_EXECUTION"] == "validate" and env["PYTHONPATH"] == "/mine"
    assert "BNCOURSE_RESULTS" not in env
    assert "PYTHONPATH" not in progress.kernel_env({"PYTHONPATH": str(ROOT / "autograder" / "reference")})


# --- executed ----------------------------------------------------------------------------------


def test_blank_release_nothing_attempted(tmp_path):
    folder = release_copy(tmp_path / "notebooks", [L1, L2])
    proc, _ = run_progress(folder, "--json")
    rep = json.loads(proc.stdout)
    assert [lesson["lesson"] for lesson in rep["lessons"]] == [L1, L2]
    for lesson in rep["lessons"]:
        assert lesson["problem"] is None
        assert {e["grade_id"]: e["points"] for e in lesson["exercises"]} == released_points(lesson["lesson"])
        assert {e["state"] for e in lesson["exercises"]} == {"not_attempted"}
        assert lesson["earned"] == 0 and lesson["points"] == sum(released_points(lesson["lesson"]).values())
    total = rep["total"]
    assert (total["earned"], total["passed"], total["failed"]) == (0, 0, 0)
    assert total["not_attempted"] == total["exercises"] == sum(len(released_points(a)) for a in (L1, L2))
    # the notebooks were read, not written
    for lesson in (L1, L2):
        assert (folder / lesson / f"{lesson}.ipynb").read_bytes() == (ROOT / "notebooks" / lesson /
                                                                       f"{lesson}.ipynb").read_bytes()


PROBE = """import importlib.util, json, sys
json.dump({"found": [m for m in %r if importlib.util.find_spec(m) is not None],
           "loaded": sorted(m for m in sys.modules if m in %r or m.startswith("bngrader"))},
          open(%r, "w"))
"""


def test_filled_course_full_marks_in_parallel_without_the_reference(tmp_path):
    """All the lessons, two at a time, answered with the solutions: every exercise passed. The
    instructor's reference is on the command's PYTHONPATH (as after `make lab` in the repository);
    a cell added to lesson 1 proves the kernel can neither find nor has loaded any of its modules."""
    folder = release_copy(tmp_path / "notebooks")
    probe = tmp_path / "probe.json"
    for lesson in LESSONS:
        fill(folder, lesson, extra_cell=PROBE % (REFERENCE_MODULES, REFERENCE_MODULES, str(probe))
             if lesson == L1 else None)
    env = _env(PYTHONPATH=str(ROOT / "autograder" / "reference"))
    proc, seconds = run_progress(folder, "--json", "--jobs", "2", env=env)
    TIMINGS[f"full run ({len(LESSONS)} lessons, filled, --jobs 2)"] = seconds
    rep = json.loads(proc.stdout)
    assert json.loads(probe.read_text()) == {"found": [], "loaded": []}
    assert [lesson["lesson"] for lesson in rep["lessons"]] == LESSONS
    for lesson in rep["lessons"]:
        assert lesson["problem"] is None, lesson
        failed = [(e["name"], e["hint"]) for e in lesson["exercises"] if e["state"] != "passed"]
        assert not failed, (lesson["lesson"], failed)
        assert {e["grade_id"]: e["earned"] for e in lesson["exercises"]} == released_points(lesson["lesson"])
        assert lesson["earned"] == lesson["points"] == sum(released_points(lesson["lesson"]).values())
    total = rep["total"]
    assert total["earned"] == total["points"] == sum(sum(released_points(a).values()) for a in LESSONS)
    assert total["passed"] == total["exercises"] and total["failed"] == total["not_attempted"] == 0
    # one progress line per lesson on stderr, and nothing else there (no kernel or TensorFlow noise)
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith(f"progress: running {len(LESSONS)} lessons, 2 at a time")
    pattern = rf"^  \[\d+/{len(LESSONS)}\] (\S+) +checked in [\d.]+ s$"
    assert sorted(re.sub(pattern, r"\1", ln) for ln in lines[1:]) == LESSONS


HALF_L1 = {"batch_mean": "batch_mean = X.sum(axis=0) / 3"}  # divides by N-1
CONCEPTS = {L1: ["concept_faster_momentum", "concept_moving_after_ten", "concept_small_std", "concept_which_variance"],
            L2: ["concept_training_batch_of_one", "concept_inference_output", "concept_moving_variance_after_100",
                 "concept_two_pass_variance"]}  # answered from the solution: all right
EXPECTED_HALF = {
    L1: {"batch_mean": "failed", "batch_var": "passed", "x_hat": "passed", "y": "passed", "eps_std": "passed",
         "moving": "passed", "normalize": "not_attempted", **dict.fromkeys(CONCEPTS[L1], "passed")},
    L2: {"batchnorm_forward": "failed", "update_moving_stats": "passed", "batchnorm_inference": "passed",
         "batchnorm_layer": "not_attempted", **dict.fromkeys(CONCEPTS[L2], "passed")},
}


@pytest.fixture(scope="module")
def half(tmp_path_factory):
    """Lessons 1 and 2 half finished, checked once: (folder, stdout, stderr, seconds)."""
    folder = release_copy(tmp_path_factory.mktemp("half") / "notebooks", [L1, L2])
    fill(folder, L1, HALF_L1, blank=["normalize"])
    wrong = (ROOT / "tests" / "catalog" / "wrong" / "fwd_ddof1.py").read_text()
    fill(folder, L2, {"batchnorm_forward": wrong}, blank=["batchnorm_layer"])
    # the learner's own outputs from an earlier session (a failure since fixed) are not what counts
    path = folder / L2 / f"{L2}.ipynb"
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_batchnorm_inference")
    cell.execution_count, cell.outputs = 7, [nbformat.v4.new_output("error", ename="CheckFailed", evalue="stale",
                                                                    traceback=[])]
    nbformat.write(nb, path)
    proc, seconds = run_progress(folder, "--jobs", "2")
    TIMINGS["half-finished lessons 1-2, first run"] = seconds
    return folder, proc.stdout, proc.stderr, seconds


def test_half_finished_exact_states_and_hints(half):
    _, out, err, _ = half
    lines = out.splitlines()
    line = {m.group(1): ln for ln in lines if (m := re.match(r"  \S (\w+) ", ln))}
    # lesson 1: 7 of its 10 code points (batch_mean wrong, normalize left), its 4 concept points
    assert re.fullmatch(rf"{L1} +11/14 +points", lines[0]), lines[0]
    assert re.fullmatch(r"  ✗ batch_mean +0/1 +CheckFailed: batch_mean: you divided by N-1; the mean divides by N\.",
                        lines[1]), lines[1]
    assert re.fullmatch(r"  ✓ batch_var +1/1", lines[2])
    assert re.fullmatch(r"  · normalize +0/2 +not attempted", line["normalize"])
    assert re.fullmatch(r"  ✓ concept_small_std +1/1", line["concept_small_std"])
    assert re.fullmatch(r"  ✎ written_eps_inside_sqrt +\?/2 +written answer: answered \(marked by your instructor\)",
                        line["written_eps_inside_sqrt"])
    l2 = lines.index(next(ln for ln in lines if ln.startswith(L2)))
    assert re.fullmatch(rf"{L2} +8/14 +points", lines[l2]), lines[l2]  # 4 of 10 code points, 4 concept points
    assert re.fullmatch(r"  ✗ batchnorm_forward +0/3 +CheckFailed: batchnorm_forward is wrong on .*N-1.*", lines[l2 + 1])
    assert re.fullmatch(r"  · batchnorm_layer +0/3 +not attempted", line["batchnorm_layer"])
    assert re.fullmatch(r"Course total +19/28 +points: 15 of 19 exercises done, 2 to fix, 2 not attempted; "
                        r"4 of 4 written answers answered \(10 pts, marked by hand\)", lines[-1]), lines[-1]
    assert len(lines) == 2 + len(line) + 1  # two lesson lines, one per exercise or question, the total
    marks = {"✓": "passed", "✗": "failed", "·": "not_attempted", "✎": "written"}
    got = {m.group(2): marks[m.group(1)] for ln in lines if (m := re.match(r"  (\S) (\w+) ", ln))}
    written = {w: "written" for w in ("written_gamma_beta", "written_eps_inside_sqrt", "written_one_pass_variance",
                                      "written_momentum_fine_tune")}
    assert got == {**EXPECTED_HALF[L1], **EXPECTED_HALF[L2], **written}
    # aligned: every score (lessons, exercises, the total) has its "/" in the same column
    assert len({line.index("/") for line in lines}) == 1
    assert "def " not in out and "check_" not in out and "Traceback" not in out
    assert err.startswith("progress: running 2 lessons, 2 at a time")


def test_cache_same_answer_and_only_an_edited_lesson_runs_again(half, tmp_path):
    folder = tmp_path / "notebooks"
    shutil.copytree(half[0], folder)  # with its cache; the fixture's folder stays as it was
    first_out, first_seconds = half[1], half[3]
    assert sorted(p.name for p in (folder / progress.CACHE_DIR).iterdir()) == [
        ".gitignore", f"{L1}__{L1}.json", f"{L2}__{L2}.json"]

    again, seconds = run_progress(folder)
    TIMINGS["half-finished lessons 1-2, cached run"] = seconds
    assert again.stdout == first_out
    assert again.stderr.count("unchanged: from the cache") == 2 and "checked in" not in again.stderr
    assert seconds < max(5.0, first_seconds / 3), (seconds, first_seconds)

    as_json, _ = run_progress(folder, "--json")  # from the cache too: the same report
    rep = json.loads(as_json.stdout)
    assert states(rep) == EXPECTED_HALF
    assert as_json.stderr.count("from the cache") == 2

    # touching a notebook (its time stamp) changes nothing; editing it runs that lesson only
    nb2 = folder / L2 / f"{L2}.ipynb"
    os.utime(nb2, (time.time() + 60, time.time() + 60))
    assert run_progress(folder)[0].stderr.count("from the cache") == 2
    fill(folder, L2, blank=["batchnorm_layer"])  # batchnorm_forward now right
    edited, _ = run_progress(folder, "--json")
    assert re.search(rf"{L1} +unchanged: from the cache", edited.stderr)
    assert re.search(rf"{L2} +checked in [\d.]+ s", edited.stderr)
    rep2 = json.loads(edited.stdout)
    assert rep2["lessons"][0] == rep["lessons"][0]
    assert states(rep2)[L2] == {**EXPECTED_HALF[L2], "batchnorm_forward": "passed"}
    assert (rep2["lessons"][1]["earned"], rep2["total"]["earned"]) == (11, 22)

    fresh, _ = run_progress(folder, "--json", "--no-cache", "--lessons", "01")
    assert "from the cache" not in fresh.stderr and re.search(rf"{L1} +checked in", fresh.stderr)
    assert json.loads(fresh.stdout)["lessons"] == [rep["lessons"][0]]


def test_json_structure(half):
    """--json: the same report as the text, as data."""
    folder = half[0]
    proc, _ = run_progress(folder, "--json")  # from the cache
    rep = json.loads(proc.stdout)
    assert set(rep) == {"format", "lessons", "total"} and rep["format"] == progress.FORMAT
    assert set(rep["total"]) == {"earned", "points", "exercises", "passed", "failed", "not_attempted", "written",
                                 "answered", "written_points"}
    assert rep["total"] == {"earned": 19, "points": 28, "exercises": 19, "passed": 15, "failed": 2,
                            "not_attempted": 2, "written": 4, "answered": 4, "written_points": 10}
    l1 = rep["lessons"][0]
    assert set(l1) == {"lesson", "notebook", "earned", "points", "exercises", "written", "problem"}
    assert (l1["lesson"], l1["notebook"], l1["earned"], l1["points"]) == (L1, f"{L1}/{L1}.ipynb", 11, 14)
    assert l1["exercises"][0] == {"name": "batch_mean", "grade_id": "test_batch_mean", "points": 1, "earned": 0,
                                  "state": "failed", "check_edited": False,
                                  "hint": "CheckFailed: batch_mean: you divided by N-1; the mean divides by N."}
    assert next(e for e in l1["exercises"] if e["name"] == "normalize") == {"name": "normalize", "grade_id": "test_normalize", "points": 2, "earned": 0,
                                   "state": "not_attempted", "hint": None, "check_edited": False}
    assert progress.render(rep) == half[1].rstrip("\n")


def test_make_progress_target():
    # --no-print-directory: under `make test` this is a sub-make, which would print "Entering directory"
    proc = subprocess.run(["make", "--no-print-directory", "-n", "-o", ".venv/.installed", "progress",
                           "PROGRESS_ARGS=--lessons 01 --json"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("/python -m bncourse.progress notebooks --lessons 01 --json"), proc.stdout
    ignored = subprocess.run(["git", "check-ignore", "-q", "notebooks/.progress-cache/x.json"], cwd=ROOT)
    assert ignored.returncode == 0, "the progress cache is git-ignored"


def test_longest_lessons_start_first(tmp_path):
    """The lessons to run are ordered by their last run's time, else lessons that start TensorFlow first."""
    for name, setup in (("01_a", "setup_notebook(seed=0)"), ("02_b", "setup_notebook(seed=0, keras=True)"),
                        ("03_c", "setup_notebook(seed=0)")):
        (tmp_path / name).mkdir()
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(setup)]),
                       tmp_path / name / f"{name}.ipynb")
    notebooks = progress.find_lessons(tmp_path)
    cached, todo = progress._plan(notebooks, tmp_path, True, lambda line: None)
    assert cached == {} and [t[0].stem for t in todo] == ["02_b", "01_a", "03_c"]
    progress.store(tmp_path, "03_c__03_c", "an older key", {"exercises": []}, 42.0)
    _, todo = progress._plan(notebooks, tmp_path, True, lambda line: None)
    assert [t[0].stem for t in todo] == ["03_c", "02_b", "01_a"]


def test_a_dead_kernel_is_that_lessons_problem_and_is_not_cached(tmp_path):
    """A kernel that dies mid-lesson: the checks before it count, those after it failed (not run,
    whatever outputs the learner's own session left in them), the lesson says why, and nothing is
    cached (the next run tries again)."""
    folder = tmp_path / "notebooks"
    (folder / "01_x").mkdir(parents=True)
    cells = [_cell("code", "x = 1", solution=True, grade_id="x"),
             _cell("code", "assert x == 1", grade=True, grade_id="test_x", points=1, locked=True),
             nbformat.v4.new_code_cell("import os\nos._exit(3)"),
             _ran(_cell("code", "assert x == 1", grade=True, grade_id="test_after", points=2, locked=True),
                  {"output_type": "stream", "name": "stdout", "text": "a pass from the learner's own session\n"})]
    nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}}),
                   folder / "01_x" / "01_x.ipynb")
    proc, _ = run_progress(folder, "--json")
    (lesson,) = json.loads(proc.stdout)["lessons"]
    assert lesson["problem"].startswith("DeadKernelError"), lesson
    assert [(e["name"], e["state"], e["earned"]) for e in lesson["exercises"]] == [("x", "passed", 1),
                                                                                  ("after", "failed", 0)]
    assert lesson["exercises"][1]["hint"] == lesson["problem"]
    assert not (folder / progress.CACHE_DIR / "01_x__01_x.json").exists()
    assert "! the run stopped: DeadKernelError" in run_progress(folder)[0].stdout


def test_an_unknown_lesson_is_a_usage_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "bncourse.progress", str(ROOT / "notebooks"), "--lessons", "99"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "no lesson named 99 in" in proc.stderr and "Traceback" not in proc.stderr
