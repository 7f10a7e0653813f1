"""Benchmark class grading: stock ``nbgrader autograde`` against ``grade.py``, on the same class.

    bngrader bench-grading                                  # 40 students x all assignments
    bngrader bench-grading --students 4 --assignments 01_formulas_by_hand 02_numpy_forward
    bngrader bench-grading --workers 2 --cell-timeout 60 --keep /tmp/bench

It generates a class deterministically (per student and assignment: about 60% correct,
20% blank, 10% partly wrong, 10% adversarial), grades it twice, once sequentially with the
stock CLI (one ``nbgrader autograde A --force --create`` per assignment, on a throw-away
course that loads ``autograder/nbgrader_config.py``) and once with ``grade.py --workers N``
(the real CLI, in a subprocess), then prints one table: wall times, throughput, the
notebooks' own execution time, grade.py's overhead per submission, and a comparison of
every test cell's score. A score difference on a correct, blank or partly wrong
submission is a MISMATCH and makes the exit status 1; on adversarial submissions
differences are expected (stock nbgrader can be fooled or lose the grade).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bngrader import course, grade
from bngrader.settings import CONFIG

# One block of 10 students: 6 correct, 2 blank, 1 partly wrong, 1 adversarial. Student i takes
# entry (i + assignment index) % 10, so every student gets a mix and even 4 students cover every kind.
MIX = ["correct", "blank", "partial", "adversarial", "correct", "correct", "blank", "correct", "correct", "correct"]
MONKEYPATCH = """import numpy as np
import bncourse.checks
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.isclose = lambda a, b, *r, **k: np.ones(np.broadcast(a, b).shape, bool)
bncourse.checks.expect_close = lambda *a, **k: None
bncourse.checks.expect_gradient = lambda *a, **k: None
"""
WRONG_FIRST_ANSWER = {  # a wrong but well-formed first answer per assignment
    "01_formulas_by_hand": "batch_mean = np.zeros(3)\n",
    "02_numpy_forward": "def batchnorm_forward(x, gamma, beta, eps=1e-3):\n    return x.copy(), {}\n",
    "03_numpy_backward": "def batchnorm_backward(dout, cache):\n    return dout.copy(), dout.sum(0), dout.sum(0)\n",
    "04_conv_batchnorm": "def spatial_batchnorm_forward(x, gamma, beta, eps=1e-3):\n    return x.copy(), {}\n",
    "05_keras_dense": "def bn_inference_from_layer(layer, x):\n    return np.asarray(x, dtype=float)\n",
    "06_keras_cnn": "def accuracy_with_batch_statistics(model, x, y, batch_size=128):\n    return 0.5\n",
    "07_bn_experiments": "def percentiles_over_training(activations, q=(15, 50, 85)):\n"
                         "    return np.zeros((len(activations), len(q)))\n",
    "08_bn_in_practice": "def torch_bn_to_keras(state):\n    return {'momentum': 0.1, 'epsilon': 1e-5}, []\n",
}
ADVERSARIAL = {
    "a": "numpy comparisons and the check helpers patched to pass, with a wrong first answer",
    "b": 'print("All tests passed") appended to a blank first answer',
    "c": "import os; os._exit(1) appended to the last answer",
}
STARTED = time.monotonic()


def log(message: str):
    """One progress line, with the time since the benchmark started."""
    print(f"[{time.monotonic() - STARTED:7.1f} s] {message}", flush=True)


# ============================================================================ the class

def submission_kind(student: int, assignment: int) -> str:
    """Kind of submission of the ``student``-th student (0-based) for the ``assignment``-th assignment."""
    kind = MIX[(student + assignment) % len(MIX)]
    if kind == "adversarial":
        variants = sorted(ADVERSARIAL)
        kind += "-" + variants[(student // len(MIX) + assignment) % len(variants)]
    return kind


def answer_cells(assignment: str) -> list[tuple[str, str]]:
    """(grade id, blank release source) of each answer cell, in notebook order."""
    nb = course.learner_submission(assignment, solved=False)
    return [(c.metadata["nbgrader"]["grade_id"], c.source) for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution")]


def make_submission(assignment: str, kind: str):
    """The notebook a learner of this ``kind`` hands in (see ``MIX`` and ``ADVERSARIAL``)."""
    if kind == "correct":
        return course.learner_submission(assignment)
    if kind == "blank":
        return course.learner_submission(assignment, solved=False)
    blanks = answer_cells(assignment)
    first_id, first_blank = blanks[0]
    if kind == "partial":
        return course.learner_submission(assignment, answers={first_id: first_blank})
    if kind == "adversarial-a":
        wrong = WRONG_FIRST_ANSWER.get(assignment, first_blank)
        return course.learner_submission(assignment, answers={first_id: MONKEYPATCH + wrong})
    if kind == "adversarial-b":
        return course.learner_submission(assignment, answers={first_id: first_blank + '\nprint("All tests passed")'})
    if kind == "adversarial-c":
        last_id = blanks[-1][0]
        solved = {c.metadata["nbgrader"]["grade_id"]: c.source for c in course.learner_submission(assignment).cells
                  if c.metadata.get("nbgrader", {}).get("grade_id")}
        return course.learner_submission(assignment, answers={last_id: solved[last_id] + "\nimport os\nos._exit(1)"})
    raise ValueError(f"unknown submission kind {kind!r}")


def generate_class(submitted: Path, students: list[str], assignments: list[str]) -> dict[tuple[str, str], str]:
    """Write ``submitted/<student>/<a>/<a>.ipynb`` for everyone; returns (student, a) -> kind."""
    import nbformat

    kinds = {}
    for j, assignment in enumerate(assignments):
        made = {}  # every submission of one kind is the same notebook
        for i, student in enumerate(students):
            kind = submission_kind(i, j)
            if kind not in made:
                made[kind] = make_submission(assignment, kind)
            folder = submitted / student / assignment
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(made[kind], folder / f"{assignment}.ipynb")
            kinds[student, assignment] = kind
    return kinds


# ============================================================================ stock nbgrader

class StockCourse:
    """A throw-away nbgrader course that loads the course's config, as ``tests/nbgrader_harness.py`` does."""

    def __init__(self, root: Path, assignments: list[str]):
        self.root, self.assignments = root, assignments
        self.db = root / "gradebook.db"
        self.submitted = root / "instructor" / "submitted"
        root.mkdir(parents=True, exist_ok=True)
        (root / "nbgrader_config.py").write_text(
            "c = get_config()\n"
            f"load_subconfig({str(CONFIG)!r})\n"
            f"c.CourseDirectory.root = {str(root)!r}\n"
            f"c.CourseDirectory.db_url = 'sqlite:///{self.db}'\n")
        for a in assignments:
            shutil.copytree(course.SOLUTIONS / a, root / "solutions" / a, ignore=shutil.ignore_patterns("*.py"))

    def nbgrader(self, *args: str) -> subprocess.CompletedProcess:
        """Run the stock CLI in this course; the output is kept in ``logs/``."""
        proc = course.nbgrader(*args, "--log-level=WARN", cwd=self.root, check=False)
        logs = self.root / "logs"
        logs.mkdir(exist_ok=True)
        (logs / f"{'-'.join(args[:2])}.log").write_text(proc.stdout + proc.stderr)
        return proc

    def generate(self):
        """``generate_assignment`` every assignment (records them in the gradebook)."""
        for a in self.assignments:
            proc = self.nbgrader("generate_assignment", a, "--force")
            if proc.returncode != 0:
                raise grade.GradingError(f"nbgrader generate_assignment {a} failed:\n{proc.stderr[-2000:]}")

    def autograde(self, assignment: str, cell_timeout: int) -> tuple[float, int]:
        """One stock ``nbgrader autograde`` of a whole assignment: (seconds, submissions it failed)."""
        start = time.monotonic()
        proc = self.nbgrader("autograde", assignment, "--force", "--create", f"--Execute.timeout={cell_timeout}")
        seconds = time.monotonic() - start
        failed = len(re.findall(r"There was an error processing assignment '", proc.stdout + proc.stderr))
        if proc.returncode != 0 and not failed:
            raise grade.GradingError(f"nbgrader autograde {assignment} failed:\n{proc.stderr[-2000:]}")
        return seconds, failed

    def scores(self, kinds: dict[tuple[str, str], str]) -> tuple[dict, set]:
        """(student, a, cell) -> score from the gradebook, and the (student, a) whose grading failed.

        A failed submission has no autograded notebook; its cells count 0, as in an export.
        """
        from nbgrader.api import Gradebook, MissingEntry

        scores, lost = {}, set()
        with Gradebook(f"sqlite:///{self.db}") as gb:
            for student, a in kinds:
                if not (self.root / "instructor" / "autograded" / student / a / f"{a}.ipynb").exists():
                    lost.add((student, a))
                try:
                    grades = gb.find_submission_notebook(a, a, student).grades
                except MissingEntry:
                    grades = gb.find_notebook(a, a).grade_cells
                    lost.add((student, a))
                for g in grades:
                    scores[student, a, g.name] = 0.0 if (student, a) in lost else float(g.score)
        return scores, lost


def run_stock(stock: StockCourse, kinds: dict, cell_timeout: int) -> dict:
    """Autograde every assignment sequentially with the stock CLI; time it end to end."""
    per_assignment, failed = {}, 0
    start = time.monotonic()
    for a in stock.assignments:
        per_assignment[a], n_failed = stock.autograde(a, cell_timeout)
        failed += n_failed
        log(f"stock: nbgrader autograde {a}: {per_assignment[a]:.1f} s"
            + (f", {n_failed} submission{'s' * (n_failed != 1)} failed" if n_failed else ""))
    wall = time.monotonic() - start
    scores, lost = stock.scores(kinds)
    return {"wall": wall, "per_assignment": per_assignment, "scores": scores, "lost": lost, "failed": failed}


# ============================================================================ grade.py

def run_grade_py(assignments: list[str], submitted: Path, out: Path, workers: int, cell_timeout: int) -> dict:
    """The real ``grade.py`` CLI in a subprocess, timed end to end; its output is condensed to a few lines."""
    cmd = [sys.executable, "-m", "bngrader", "grade", *assignments, "--submitted", str(submitted), "--out", str(out),
           "--workers", str(workers), "--cell-timeout", str(cell_timeout)]
    progress = re.compile(r"\] (\d+)/(\d+) submissions")
    startup, lines = None, []
    start = time.monotonic()
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"}) as proc:
        for line in proc.stdout:
            line = line.rstrip("\n").split("\r")[-1]
            lines.append(line)
            if startup is None and line.startswith("grading "):
                startup = time.monotonic() - start  # template ready, workers about to start
            p = progress.search(line)
            if not line.strip() or (p and p.group(1) != p.group(2)):
                continue  # a partial progress bar
            log(f"grade.py| {line}")
    wall = time.monotonic() - start
    (out / "grade_py.log").write_text("\n".join(lines) + "\n")
    if proc.returncode != 0:
        raise grade.GradingError(f"grade.py exited with {proc.returncode}; output in {out / 'grade_py.log'}")
    return {"wall": wall, "startup": startup or 0.0, "rows": read_grades_csv(out / "grades.csv"),
            "worker_seconds": ledger_seconds(out), "timing": ledger_timing(out)}


def read_grades_csv(path: Path) -> list[dict]:
    """grades.csv rows, with ``cells``: test cell -> score (only the cells of that row's notebook)."""
    fixed = {"student", "assignment", "notebook", "score", "max_score", "status", "reason", "flags"}
    rows = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            row["cells"] = {k: float(v) for k, v in row.items() if k not in fixed and v not in ("", None)}
            rows.append(row)
    return rows


def ledger_timing(out: Path) -> dict[str, float]:
    """Mean seconds per submission of each stage of grade.py's worker (prepare, autograde, scores, feedback)."""
    totals, n = Counter(), 0
    for entry in (out / "ledger").glob("*/*.json"):
        timing = json.loads(entry.read_text())["result"].get("timing", {})
        totals.update(timing)
        n += bool(timing)
    return {k: v / n for k, v in totals.items()} if n else {}


def ledger_seconds(out: Path) -> dict[tuple[str, str], float]:
    """(student, a) -> seconds a worker spent on it, from grade.py's ledger (empty if absent)."""
    seconds = {}
    for entry in sorted((out / "ledger").glob("*/*.json")):
        for row in json.loads(entry.read_text())["result"]["rows"]:
            seconds[row["student"], row["assignment"]] = seconds.get((row["student"], row["assignment"]), 0.0) \
                + float(row.get("seconds", 0.0))
    return seconds


# ============================================================================ own execution time

def measure_execution(work: Path, assignments: list[str], cell_timeout: int) -> dict[tuple[str, str], float]:
    """(a, "correct" | "blank") -> seconds for ``course.execute(fast=True)`` of that submission (on a copy)."""
    import nbformat

    seconds = {}
    work.mkdir(parents=True, exist_ok=True)
    for a in assignments:
        for kind in ("correct", "blank"):
            path = work / a / kind / f"{a}.ipynb"
            path.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(make_submission(a, kind), path)
            with stderr_to(work / "kernels.log"):
                run = course.execute(path, fast=True, timeout=cell_timeout)
            seconds[a, kind] = run["seconds"]
            if kind == "correct" and run["error"]:
                log(f"warning: the correct {a} raised while executing: {run['error']}")
        log(f"executed {a}: correct {seconds[a, 'correct']:.1f} s, blank {seconds[a, 'blank']:.1f} s")
    return seconds


@contextlib.contextmanager
def stderr_to(path: Path):
    """Send this process's stderr, and so its kernels' start-up chatter, to ``path`` for a while."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(path, "a") as f:
            os.dup2(f.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def own_time(kind: str, assignment: str, execution: dict) -> float:
    """Execution time of one submission: a blank one runs like the blank notebook, any other like the solution."""
    return execution[assignment, "blank" if kind == "blank" else "correct"]


# ============================================================================ comparison

def compare(kinds: dict, stock: dict, rows: list[dict]) -> tuple[int, list[dict]]:
    """(identical test cells, differences) between stock's and grade.py's per-cell scores."""
    new = {(r["student"], r["assignment"], cell): score for r in rows for cell, score in r["cells"].items()}
    status = {(r["student"], r["assignment"]): r["status"] for r in rows}
    identical, diffs = 0, []
    for key in sorted(set(stock["scores"]) | set(new)):
        student, a, cell = key
        old_score, new_score = stock["scores"].get(key), new.get(key)
        if old_score is not None and new_score is not None and abs(old_score - new_score) < 1e-9:
            identical += 1
            continue
        kind = kinds[student, a]
        lost = (student, a) in stock["lost"]
        if not kind.startswith("adversarial"):
            why = "MISMATCH"
        elif old_score is None or new_score is None:
            why = "cell missing on one side"
        elif old_score > new_score:
            why = "stock fooled"
        elif lost:
            why = "stock lost the grade"
        else:
            why = "grade.py gave more"
        diffs.append({"student": student, "assignment": a, "cell": cell, "kind": kind, "stock": old_score,
                      "new": new_score, "status": status.get((student, a), "-"), "why": why})
    return identical, diffs


def fmt_score(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


# ============================================================================ report

def print_report(args, kinds: dict, stock: dict, new: dict, execution: dict, generate_seconds: float,
                 identical: int, diffs: list[dict]):
    """The benchmark table, the per-assignment breakdown, the statuses and the score comparison."""
    n, a_count = len(kinds), len(args.assignments)
    w = args.workers
    print(f"\nGrading benchmark: {args.students} students x {a_count} assignments = {n} submissions, "
          f"{os.cpu_count()} cores")
    print(f"{'':<28}{'wall time':>10}   {'throughput':<18}{'per submission':>14}")
    for label, wall in (("stock nbgrader autograde", stock["wall"]), (f"grade.py --workers {w}", new["wall"])):
        print(f"{label:<28}{wall:>8.1f} s   {n / wall * 60:>6.1f} subm/min   {wall / n:>10.2f} s")
    print(f"{'ratio (throughput)':<28}{stock['wall'] / new['wall']:>9.2f}x")
    print(f"(not timed above: stock generate_assignment of {a_count} assignments, {generate_seconds:.1f} s; "
          f"grade.py runs its own, inside its wall time)")

    mean_own = sum(own_time(k, a, execution) for (_, a), k in kinds.items()) / n
    busy = min(w, os.cpu_count() or 1)  # machine time: cores that can work at once
    per_sub = new["wall"] * busy / n
    print(f"notebook execution alone (mean over the class's mix): {mean_own:.1f} s; grade.py overhead per "
          f"submission: {per_sub - mean_own:.1f} s  (= {new['wall']:.1f} s x {busy} cores / {n} - {mean_own:.1f} s)")

    adversarial_only = all(d["why"] != "MISMATCH" for d in diffs)
    reasons = Counter(d["why"] for d in diffs)
    summary = ", ".join(f"{why}: {count}" for why, count in sorted(reasons.items()))
    total = identical + len(diffs)
    print(f"scores: {identical} of {total} test cells identical; {len(diffs)} differ"
          + (f", {'all adversarial' if adversarial_only else 'NOT ONLY ADVERSARIAL'} ({summary})" if diffs else ""))
    print_estimate(args, new, n)
    print_breakdown(args, kinds, stock, new, execution)
    print_statuses(kinds, new["rows"], stock)
    print_diffs(diffs)


def print_estimate(args, new: dict, n: int):
    """Extrapolate grade.py to 1,000 students on a cluster from this run's costs."""
    a_count, cores = len(args.assignments), args.cluster_cores
    startup = new["startup"]
    busy = min(args.workers, os.cpu_count() or 1)
    per_sub = (new["wall"] - startup) * busy / n
    total = 1000 * a_count
    seconds = per_sub * total / cores + startup
    print(f"estimate for 1,000 students x {a_count} assignments on a {cores}-core cluster: "
          f"{per_sub:.2f} core-s/submission x {total} submissions / {cores} cores + {startup:.1f} s "
          f"start-up = {seconds:.0f} s ({seconds / 60:.1f} min)")
    print(f"  (core-s/submission = (wall {new['wall']:.1f} s - start-up {startup:.1f} s) x {busy} cores / "
          f"{n}; start-up = grade.py's time until its workers start, once per run; cluster start not included)")


def print_breakdown(args, kinds: dict, stock: dict, new: dict, execution: dict):
    """Per assignment: stock seconds, grade.py seconds, worker seconds, own execution time."""
    print(f"\n{'assignment':<22}{'subm':>5}{'stock s':>9}{'worker s/subm':>15}"
          f"{'exec correct s':>16}{'exec blank s':>14}")
    for a in args.assignments:
        subs = [s for (s, b) in kinds if b == a]
        worker = [new["worker_seconds"][s, a] for s in subs if (s, a) in new["worker_seconds"]]
        print(f"{a:<22}{len(subs):>5}{stock['per_assignment'][a]:>9.1f}"
              f"{(sum(worker) / len(worker)) if worker else float('nan'):>15.2f}"
              f"{execution[a, 'correct']:>16.1f}{execution[a, 'blank']:>14.1f}")
    print("(worker s/subm: grade.py's ledger, a worker's time on one submission up to its scores, without "
          "the feedback HTML; exec blank: course.execute stops at the first error)")
    timing = new["timing"]
    if timing:
        print("grade.py worker time per submission, by stage (mean): "
              + ", ".join(f"{k} {v:.2f} s" for k, v in timing.items()))


def print_statuses(kinds: dict, rows: list[dict], stock: dict):
    """grade.py's status counts, overall and per submission kind; stock's failures."""
    print(f"\ngrade.py statuses: {grade.summary(r['status'] for r in rows) or 'none'}")
    by_kind = Counter((kinds[r['student'], r['assignment']], r["status"]) for r in rows)
    for kind in sorted({k for k, _ in by_kind}):
        counts = ", ".join(f"{by_kind[kind, s]} {s}" for s in grade.SEVERITY if by_kind[kind, s])
        lost = sum(1 for key in stock["lost"] if kinds[key] == kind)
        print(f"  {kind:<15} {counts}" + (f"   (stock nbgrader failed {lost})" if lost else ""))


def print_diffs(diffs: list[dict]):
    """Every differing test cell; mismatches on honest submissions first and loud."""
    mismatches = [d for d in diffs if d["why"] == "MISMATCH"]
    if mismatches:
        print(f"\n{'!' * 78}\nMISMATCH: {len(mismatches)} test cells of correct/blank/partial submissions "
              f"score differently\n{'!' * 78}")
    if diffs:
        print(f"\n{'student':<8} {'assignment':<22} {'test cell':<36} {'stock':>6} {'grade.py':>9}  "
              f"{'kind':<14} {'grade.py status':<22} why")
    for d in sorted(diffs, key=lambda d: (d["why"] != "MISMATCH", d["assignment"], d["student"], d["cell"])):
        print(f"{d['student']:<8} {d['assignment']:<22} {d['cell']:<36} {fmt_score(d['stock']):>6} "
              f"{fmt_score(d['new']):>9}  {d['kind']:<14} {d['status']:<22} {d['why']}")
    if diffs:
        print("adversarial kinds: " + "; ".join(f"{k}: {v}" for k, v in ADVERSARIAL.items()))


# ============================================================================ main

def benchmark(args, work: Path) -> int:
    """Generate the class, grade it with both graders, measure execution, print the report."""
    students = [f"s{i:03d}" for i in range(1, args.students + 1)]
    log(f"work folder {work}; generating {len(students)} students x {len(args.assignments)} assignments")
    stock = StockCourse(work / "stock", args.assignments)
    kinds = generate_class(stock.submitted, students, args.assignments)
    log(f"class written: {dict(sorted(Counter(kinds.values()).items()))}")

    start = time.monotonic()
    stock.generate()
    generate_seconds = time.monotonic() - start
    log(f"stock: generate_assignment done in {generate_seconds:.1f} s (not timed); autograding sequentially")
    stock_result = run_stock(stock, kinds, args.cell_timeout)
    log(f"stock: done in {stock_result['wall']:.1f} s; grade.py --workers {args.workers}")
    new = run_grade_py(args.assignments, stock.submitted, work / "grade_py", args.workers, args.cell_timeout)
    log(f"grade.py: done in {new['wall']:.1f} s; executing one correct and one blank notebook per assignment")
    execution = measure_execution(work / "exec", args.assignments, args.cell_timeout)

    identical, diffs = compare(kinds, stock_result, new["rows"])
    print_report(args, kinds, stock_result, new, execution, generate_seconds, identical, diffs)
    return 1 if any(d["why"] == "MISMATCH" for d in diffs) else 0


def parse_args(argv: list[str] | None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--students", type=int, default=40, help="students in the generated class (default 40)")
    p.add_argument("--assignments", nargs="+", default=None, help="assignment ids (default: all)")
    p.add_argument("--workers", type=int, default=grade.default_workers(),
                   help=f"grade.py --workers (default: grade.py's own, {grade.default_workers()} here)")
    p.add_argument("--cell-timeout", type=int, default=60, help="seconds per cell, for both graders (default 60)")
    p.add_argument("--cluster-cores", type=int, default=64, help="worker cores of the cluster estimate (default 64)")
    p.add_argument("--keep", type=Path, help="work in this (new or empty) folder and keep it")
    args = p.parse_args(argv)
    known = course.assignments()
    args.assignments = args.assignments or known
    unknown = [a for a in args.assignments if a not in known]
    if unknown:
        p.error(f"unknown assignments {unknown} (have: {', '.join(known)})")
    if args.students < 1 or args.workers < 1:
        p.error("--students and --workers must be at least 1")
    if args.keep and args.keep.exists() and any(args.keep.iterdir()):
        p.error(f"--keep {args.keep}: the folder is not empty")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix="bench_grading-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        return benchmark(args, work)
    except grade.GradingError as e:  # a stage failed: say which, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
