"""Grade a whole class: parallel, sandboxed, hardened; stock nbgrader does the grading.

    python autograder/grade.py 02_numpy_forward                      # autograder/submitted/*/02_numpy_forward/
    python autograder/grade.py 02_numpy_forward --zip export.zip     # an LMS zip export
    python autograder/grade.py 01_formulas_by_hand 02_numpy_forward --workers 2 --gradescope
    python autograder/grade.py 02_numpy_forward --scheduler local    # the same on a Dask cluster

For every student and notebook it writes one row of ``grades.csv`` (score, max score,
each test cell's score, a status and a reason), the autograded notebook, feedback HTML
without hidden tests, and optionally a Gradescope ``results.json``; and it records the
grades in the course's nbgrader gradebook, so Formgrader and ``nbgrader export`` see
them. The feedback folder of a student holds only the feedback page of each graded
notebook; nothing the student's code wrote is handed back. Statuses, from the most to
the least serious:

    invalid_notebook  the file is not a notebook, or nbgrader rejected it (score 0)
    missing           no notebook of that name (score 0)
    kernel_died       the kernel crashed, or hit the memory limit or the disk quota (other cells still graded)
    timeout           a cell or the notebook ran out of time (other cells still graded)
    tampered          a test or read-only cell was edited (nbgrader restored it)
    missing_tests_restored  a test cell was deleted (nbgrader added it back)
    suspicious        for a human to review (see the reason): the static scan flagged code; or the
                      notebook is byte-identical to a classmate's (graded) or to the solution
                      notebook, or is a symbolic link (both not graded, score 0); or the folder
                      holds links, special or oversized files (never read)
    renamed           graded, from a notebook with another name
    late              submitted after --deadline
    graded            nothing to report

Each submission is graded by nbgrader's own ``Autograde`` converter, in a warm worker
process, against a private copy of the gradebook; the results are merged into the
course gradebook one at a time by this process. Submitted files are only read. A run
that is interrupted resumes where it stopped: finished submissions are kept in
``<out>/ledger`` and not graded again unless their files or the options change
(``--regrade`` grades everything again).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REFERENCE = HERE / "reference"
for _p in (str(HERE), str(REFERENCE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

SEVERITY = ["invalid_notebook", "missing", "kernel_died", "timeout", "tampered", "missing_tests_restored",
            "suspicious", "renamed", "late", "graded"]
# Canvas's export names: <student>_[late_]<id>_<id>_<original file name>
DEFAULT_PATTERN = r"^(?P<student_id>[^_]+)_(?:late_)?\d+_\d+_(?P<file_id>.+\.ipynb)$"
LEDGER_VERSION = 1


# ============================================================================ inputs

def collect_submitted(folder: Path, assignment: str) -> dict[str, Path]:
    """student id -> submission folder, from an nbgrader ``submitted/`` tree. A folder that is a
    symbolic link is listed too (never followed): its student gets a row that says so."""
    found = {}
    if folder.is_dir():
        for student_dir in sorted(folder.iterdir()):
            sub = student_dir / assignment
            if os.path.islink(student_dir) or os.path.islink(sub) or sub.is_dir():
                found[student_dir.name] = sub
    return found


def unpack_zip(archive: Path, assignment: str, pattern: str, staging: Path,
               max_bytes: int = 200 * 2**20) -> dict[str, Path]:
    """Extract an LMS export into ``staging/<student>/<assignment>/`` (read-only use of the zip).

    ``pattern`` is a regular expression on each member's file name with the named groups
    ``student_id`` and ``file_id`` (the notebook's file name), and optionally ``timestamp``
    (ISO 8601), as in nbgrader's ``zip_collect``. Members that do not match are listed and
    skipped. Paths are never taken from the archive: no file can land outside ``staging``.
    """
    regex = re.compile(pattern)
    found, skipped = {}, []
    if staging.exists():
        shutil.rmtree(staging)
    with zipfile.ZipFile(archive) as zf:
        total = 0
        for info in zf.infolist():
            if info.is_dir():
                continue
            name = info.filename.rsplit("/", 1)[-1]
            m = regex.search(name)
            if not m or not m.groupdict().get("student_id") or not m.groupdict().get("file_id"):
                skipped.append(info.filename)
                continue
            total += info.file_size
            if total > max_bytes:
                raise SystemExit(f"error: {archive} unpacks to more than {max_bytes // 2**20} MB; refusing.")
            student = re.sub(r"[^A-Za-z0-9_.@-]", "_", m.group("student_id"))
            file_id = Path(m.group("file_id")).name
            dest = staging / student / assignment
            dest.mkdir(parents=True, exist_ok=True)
            (dest / file_id).write_bytes(zf.read(info))
            if m.groupdict().get("timestamp"):
                (dest / "timestamp.txt").write_text(m.group("timestamp"))
            found[student] = dest
    for name in skipped:
        print(f"  zip: skipped {name} (does not match --pattern)", file=sys.stderr)
    return found


def expected_notebooks(assignment: str) -> list[str]:
    return sorted(p.stem for p in (ROOT / "solutions" / assignment).glob("*.ipynb"))


def grader_version(assignment: str) -> str:
    """Hash of the assignment's solutions and of the grader and reference code, computed once
    per run: a changed grader or reference regrades every submission."""
    h = hashlib.sha256()
    grader = [*HERE.glob("*.py"), *REFERENCE.glob("*.py")]
    for path in sorted((ROOT / "solutions" / assignment).glob("*.ipynb")) + sorted(grader):
        h.update(path.read_bytes())
    return h.hexdigest()


def fingerprint(folder: Path, options: dict) -> str:
    """Hash of one submission's files and the grading options (grader version included).
    Read in bounded memory: chunked hashes, links not followed, big files by size and time
    (see fsguard.scan_folder)."""
    from fsguard import scan_folder

    h = hashlib.sha256(json.dumps(options, sort_keys=True).encode())
    entries, problems = scan_folder(folder)
    for e in entries:
        h.update(f"{e.rel}\0{e.kind}\0{e.size}\0{e.digest}\n".encode())
    h.update("\n".join(problems).encode())
    return h.hexdigest()


MAX_NOTEBOOK_BYTES = 20 * 2**20  # a submitted notebook larger than this is not read


def submitted_notebooks(folder: Path) -> dict[str, Path]:
    """file name -> path of the ``*.ipynb`` entries at the top of a submission folder,
    symbolic links included (they are flagged, never followed)."""
    if os.path.islink(folder) or not folder.is_dir():
        return {}
    with os.scandir(folder) as it:
        return {e.name: Path(e.path) for e in sorted(it, key=lambda e: e.name) if e.name.endswith(".ipynb")}


def pick_notebook(files: dict[str, Path], name: str, notebooks: list[str]) -> tuple[Path | None, bool]:
    """(the file graded as notebook ``name``, whether it was renamed): ``<name>.ipynb``, or the
    only notebook of a one-notebook assignment whatever its name."""
    if f"{name}.ipynb" in files:
        return files[f"{name}.ipynb"], False
    extra = [f for f in files if Path(f).stem not in notebooks]
    if len(notebooks) == 1 and len(extra) == 1:
        return files[extra[0]], True
    return None, False


def copy_flags(subs: dict[str, Path], notebooks: list[str], assignment: str) -> dict[str, dict[str, list]]:
    """student -> notebook -> flags for submitted notebooks that are not the student's own file:
    a symbolic link (not graded: its content is someone else's file, score 0), byte-identical
    to the solution notebook (not graded, score 0: it is the instructor's file), or
    byte-identical to another student's notebook in this run (graded, flagged for a human:
    who copied whom is not for the grader to decide). The released notebook handed in
    untouched is no copy: it is not compared. Hashes are read in chunks."""
    from fsguard import UnsafeFile, hash_regular

    solution, released = {}, {}
    for name in notebooks:
        with contextlib.suppress(OSError):
            solution[name] = hash_regular(ROOT / "solutions" / assignment / f"{name}.ipynb", 2**31)
        with contextlib.suppress(OSError):
            released[name] = hash_regular(ROOT / "notebooks" / assignment / f"{name}.ipynb", 2**31)
    flags: dict[str, dict[str, list]] = {s: {n: [] for n in notebooks} for s in subs}
    by_hash: dict[tuple[str, str], list[str]] = {}
    for student, folder in subs.items():
        files = submitted_notebooks(folder)
        for name in notebooks:
            path, _ = pick_notebook(files, name, notebooks)
            if path is None:
                continue
            if os.path.islink(path):
                flags[student][name].append(("suspicious", f"{path.name} is a symbolic link (not graded)"))
                continue
            try:
                digest = hash_regular(path, MAX_NOTEBOOK_BYTES)
            except UnsafeFile:
                continue  # the worker says why
            if digest == solution.get(name):
                flags[student][name].append(("suspicious", f"{path.name} is identical to the solution notebook "
                                                           "(not graded)"))
            elif digest != released.get(name):
                by_hash.setdefault((name, digest), []).append(student)
    for (name, _), students in by_hash.items():
        for student in students if len(students) > 1 else []:
            others = ", ".join(s for s in students if s != student)
            flags[student][name].append(("suspicious", f"identical to another submission: {others}"))
    return flags


# ============================================================================ worker side

def _course_config(course: Path, db: Path, assignment: str, student: str, opts: dict):
    from hardened import HardenedExecute
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
    from traitlets.config import Config

    c = Config()
    c.CourseDirectory.root = str(course)
    c.CourseDirectory.course_id = "batchnorm"
    c.CourseDirectory.source_directory = str(ROOT / "solutions")
    c.CourseDirectory.submitted_directory = "submitted"
    c.CourseDirectory.autograded_directory = "autograded"
    c.CourseDirectory.feedback_directory = "feedback"
    c.CourseDirectory.db_url = f"sqlite:///{db}"
    c.CourseDirectory.assignment_id = assignment
    c.CourseDirectory.student_id = student
    c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "*.py"]
    c.OverwriteCells.add_missing_cells = True
    c.Autograde.autograde_preprocessors = [HardenedExecute, IgnorePattern, ClearMetadataPreprocessor,
                                           LimitOutput, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
    c.Execute.timeout = opts["cell_timeout"]
    c.HardenedExecute.notebook_timeout = opts["notebook_timeout"]
    c.HardenedExecute.memory_limit_mb = opts["memory_mb"]
    c.HardenedExecute.disk_limit_mb = opts.get("disk_mb", 200)
    c.HardenedExecute.max_files = opts.get("max_files", 2000)
    c.HardenedExecute.sandbox = opts["sandbox"]
    c.HardenedExecute.work_dir = str(course.parent / "run")
    c.GenerateFeedback.preprocessors = [ClearHiddenTests, GetGrades, CSSHTMLHeaderPreprocessor]
    c.ClearHiddenTests.enforce_metadata = False
    return c


def _read_notebook(path: Path, data: bytes | None = None):
    """(notebook, None) or (None, reason) for a file that is not a valid notebook. ``data`` is
    the file's content when the caller already read it safely (fsguard.read_regular)."""
    import nbformat

    try:
        text = (path.read_bytes() if data is None else data).decode("utf-8")
        json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"{path.name} is not valid JSON ({str(exc)[:80]})"
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # noqa: BLE001 - nbformat raises several kinds
        return None, f"{path.name} is not a valid notebook ({str(exc).splitlines()[0][:80]})"
    return nb, None


def _stage_notebooks(task: dict, src: Path, staged: Path) -> tuple[dict[str, list], dict[str, bool]]:
    """Copy the submitted notebooks into nbgrader's ``submitted/`` folder: regular files only,
    read once with O_NOFOLLOW and a size cap, so what is graded is what was checked.
    Returns (flags per notebook, notebooks to grade)."""
    from fsguard import UnsafeFile, read_regular, scan_folder

    notebooks = task["notebooks"]
    flags: dict[str, list[tuple[str, str]]] = {n: list(map(tuple, task.get("flags", {}).get(n, []))) for n in notebooks}
    valid = {}
    if os.path.islink(src) or os.path.islink(src.parent):
        for name in notebooks:
            flags[name].append(("suspicious", "the submission folder is a symbolic link (not graded)"))
        return flags, valid
    _, problems = scan_folder(src, hash_files=False)
    others = [p for p in problems if not re.match(r"[^/]*\.ipynb |timestamp\.txt ", p)]  # those are said below
    files = submitted_notebooks(src)
    extra = [f for f in files if Path(f).stem not in notebooks]
    for name in notebooks:
        flags[name] += [("suspicious", p) for p in others]
        if any(r.endswith("(not graded)") for _, r in flags[name]):
            continue  # a link or the solution notebook (grade_class's copy_flags): score 0
        path, renamed = pick_notebook(files, name, notebooks)
        if renamed:
            flags[name].append(("renamed", f"graded {path.name} (expected {name}.ipynb)"))
        if path is None:
            flags[name].append(("missing", f"no {name}.ipynb in the submission"
                                + (f" (found {', '.join(extra)})" if extra else "")))
            continue
        try:
            data = read_regular(path, MAX_NOTEBOOK_BYTES)
        except UnsafeFile as exc:
            link = "symbolic link" in str(exc)
            flags[name].append(("suspicious" if link else "invalid_notebook", f"{exc} (not graded)"))
            continue
        nb, problem = _read_notebook(path, data)
        if problem:
            flags[name].append(("invalid_notebook", problem))
            continue
        tampered, deleted, findings = _inspect(nb, task["release_cells"][name])
        if tampered:
            flags[name].append(("tampered", f"edited read-only/test cells {', '.join(tampered)} (restored)"))
        if deleted:
            flags[name].append(("missing_tests_restored", f"deleted test cells {', '.join(deleted)} (restored)"))
        if findings:
            flags[name].append(("suspicious", "; ".join(findings[:4]) + (" ..." if len(findings) > 4 else "")))
        (staged / f"{name}.ipynb").write_bytes(data)
        valid[name] = True
    return flags, valid


def _stage_timestamp(src: Path, staged: Path, flags: dict[str, list]) -> str | None:
    """The submission's timestamp.txt (a regular file of at most 4 kB, never through a link),
    copied for nbgrader; a link or special file is ignored and flagged."""
    from fsguard import UnsafeFile, read_regular

    path = src / "timestamp.txt"
    if not os.path.lexists(path):
        return None
    try:
        data = read_regular(path, 4096)
    except UnsafeFile as exc:
        for name in flags:
            flags[name].append(("suspicious", f"{exc} (ignored)"))
        return None
    (staged / "timestamp.txt").write_bytes(data)
    return data.decode("utf-8", "replace").strip()


def release_cells(release: Path) -> dict[str, dict[str, dict]]:
    """notebook -> grade id -> what the learner was given (role and source, hidden tests removed)."""
    import nbformat

    out = {}
    for path in sorted(release.glob("*.ipynb")):
        cells = {}
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade_id"):
                cells[meta["grade_id"]] = {"source": cell.source, "readonly": bool(meta.get("locked")) or (
                    bool(meta.get("grade")) and not meta.get("solution")), "test": bool(meta.get("grade")) and not meta.get("solution")}
        out[path.stem] = cells
    return out


def _normal(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def _inspect(nb, sources: dict[str, dict]) -> tuple[list[str], list[str], list[str]]:
    """Tampered cells, deleted test cells, static-scan findings, for one submitted notebook."""
    from scan import scan_notebook

    present, tampered = set(), []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id")
        if not gid or gid not in sources:
            continue
        present.add(gid)
        src = sources[gid]
        if src["readonly"] and _normal(cell.source) != _normal(src["source"]):
            tampered.append(gid)
    missing = [gid for gid, s in sources.items() if gid not in present and s["test"]]

    def answer_or_new(cell):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        return not meta or meta.get("solution") or not (meta.get("locked") or meta.get("grade"))

    return tampered, missing, scan_notebook(nb, answer_or_new)


def _gradescope(rows: list[dict]) -> dict:
    tests = []
    for row in rows:
        for cell, (score, max_score) in row["cells"].items():
            tests.append({"name": f"{row['notebook']}: {cell}", "score": score, "max_score": max_score,
                          "visibility": "visible"})
    return {"score": sum(r["score"] for r in rows), "tests": tests,
            "output": "; ".join(f"{r['notebook']}: {r['status']}" + (f" ({r['reason']})" if r["reason"] else "")
                                for r in rows)}


def grade_submission(task: dict) -> dict:
    """Grade one student's submission of one assignment. Runs in a worker process.

    Never raises: any failure becomes a status, so the batch always completes.
    """
    try:
        return _grade_submission(task)
    except Exception as exc:  # noqa: BLE001
        import traceback

        rows = [{"student": task["student"], "assignment": task["assignment"], "notebook": name,
                 "status": "invalid_notebook", "score": 0.0, "max_score": task["max_scores"].get(name, 0.0),
                 "reason": f"grading failed: {type(exc).__name__}: {str(exc)[:200]}", "flags": ["error"],
                 "cells": {}, "seconds": 0.0} for name in task["notebooks"]]
        return {"rows": rows, "grades": {}, "error": traceback.format_exc()[-2000:], "timestamp": None}


def _grade_submission(task: dict) -> dict:
    import warnings

    warnings.filterwarnings("ignore")  # nbformat/SQLAlchemy chatter; problems become statuses
    logging.getLogger("traitlets").setLevel(logging.ERROR)  # nbgrader's per-cell warnings, likewise
    from fsguard import remove_tree
    from nbgrader.api import Gradebook
    from nbgrader.converters import Autograde, GenerateFeedback
    from nbgrader.coursedir import CourseDirectory

    start = time.monotonic()
    assignment, student, opts = task["assignment"], task["student"], task["options"]
    work = Path(task["work"])
    remove_tree(work)
    course = work / "course"
    staged = course / "submitted" / student / assignment
    staged.mkdir(parents=True)
    (work / "run").mkdir()
    db = course / "gradebook.db"
    shutil.copyfile(task["template_db"], db)
    src = Path(task["folder"])

    # -- look at what was handed in, before nbgrader does (read only, links never followed)
    flags, valid = _stage_notebooks(task, src, staged)
    timestamp = _stage_timestamp(src, staged, flags)
    if timestamp and opts.get("deadline"):
        from nbgrader.utils import parse_utc

        late = (parse_utc(timestamp) - parse_utc(opts["deadline"])).total_seconds()
        if late > 0:
            for name in task["notebooks"]:
                flags[name].append(("late", f"{_duration(late)} after the deadline"))

    # -- stock nbgrader autograde, in this process, on the private gradebook
    log_lines = []
    timing = {"prepare": time.monotonic() - start}
    if valid:
        config = _course_config(course, db, assignment, student, opts)
        handler = _ListHandler(log_lines)
        converter = Autograde(coursedir=CourseDirectory(config=config), config=config)
        converter.log.addHandler(handler)
        converter.log.setLevel(logging.WARNING)
        try:
            converter.start()
        except Exception as exc:  # noqa: BLE001 - nbgrader rejected the submission
            tracebacks = [ln for ln in log_lines if "Traceback" in ln]
            cause = tracebacks[-1].strip().splitlines()[-1] if tracebacks else str(exc)
            for name in valid:
                flags[name].append(("invalid_notebook", f"nbgrader could not grade it: {cause[:200]}"))
        finally:
            converter.log.removeHandler(handler)
    for name in valid:
        events_file = work / "run" / f"events-{name}.json"
        for ev in json.loads(events_file.read_text()) if events_file.exists() else []:
            if ev["kind"] in ("timeout", "not_run"):
                flags[name].append(("timeout", ev["detail"]))
            elif ev["kind"] == "kernel_died":
                flags[name].append(("kernel_died", ev["detail"]))
            elif ev["kind"] == "output_truncated":
                flags[name].append(("graded", ev["detail"]))

    timing["autograde"] = time.monotonic() - start - sum(timing.values())
    # -- scores from the private gradebook
    rows, grades = [], {}
    with Gradebook(f"sqlite:///{db}") as gb:
        for name in task["notebooks"]:
            cells, score = {}, 0.0
            nb_grades = {}
            autograded = course / "autograded" / student / assignment / f"{name}.ipynb"
            graded = name in valid and autograded.exists() and not any(k == "invalid_notebook" for k, _ in flags[name])
            if graded:
                sub_nb = gb.find_submission_notebook(name, assignment, student)
                for g in sub_nb.grades:
                    cells[g.name] = (float(g.score), float(g.max_score))
                    nb_grades[g.name] = {"auto_score": g.auto_score, "needs_manual_grade": g.needs_manual_grade}
                score = float(sub_nb.score)
            else:
                for cell, mx in task["cell_max"][name].items():
                    cells[cell] = (0.0, mx)
            grades[name] = nb_grades
            status, reason = _status(flags[name])
            rows.append({"student": student, "assignment": assignment, "notebook": name, "status": status,
                         "score": score, "max_score": task["max_scores"][name], "reason": reason,
                         "flags": sorted({k for k, _ in flags[name]} - {"graded"}), "cells": cells,
                         "seconds": round(time.monotonic() - start, 2)})

    timing["scores"] = time.monotonic() - start - sum(timing.values())
    # -- feedback without hidden tests, the autograded notebooks for the instructor
    out = Path(task["out"])
    if any(r["status"] != "missing" and r["notebook"] in valid for r in rows):
        config = _course_config(course, db, assignment, student, opts)
        fb = GenerateFeedback(coursedir=CourseDirectory(config=config), config=config)
        fb.log.setLevel(logging.ERROR)
        try:
            fb.start()
        except Exception as exc:  # noqa: BLE001
            log_lines.append(f"feedback failed: {exc}")
    _copy_back(course, out, student, assignment, [r["notebook"] for r in rows if r["notebook"] in valid])
    if opts.get("gradescope"):
        gs = out / "gradescope" / student / assignment
        gs.mkdir(parents=True, exist_ok=True)
        (gs / "results.json").write_text(json.dumps(_gradescope(rows), indent=1))
    if not opts.get("keep_work"):
        with contextlib.suppress(OSError):
            remove_tree(work)
    timing["feedback"] = time.monotonic() - start - sum(timing.values())
    return {"rows": rows, "grades": grades, "timestamp": timestamp, "log": log_lines[-20:],
            "timing": {k: round(v, 3) for k, v in timing.items()}}


MAX_OUTPUT_FILE_BYTES = 256 * 2**20  # a feedback page or graded notebook larger than this is not copied


def _copy_back(course: Path, out: Path, student: str, assignment: str, notebooks: list[str]) -> None:
    """Copy what the instructor and the student get: ``feedback/<student>/<assignment>/`` holds
    exactly one HTML page per graded notebook and ``autograded/...`` exactly the autograded
    notebooks. Nothing else nbgrader copied along (timestamp.txt, files next to the notebook)
    is handed out, and only regular files are copied (a link is refused, not followed)."""
    from fsguard import UnsafeFile, copy_regular, remove_tree

    for sub, ext in (("feedback", ".html"), ("autograded", ".ipynb")):
        target = out / sub / student / assignment
        remove_tree(target)
        folder = course / sub / student / assignment
        for name in notebooks:
            if not os.path.lexists(folder / f"{name}{ext}"):
                continue
            target.mkdir(parents=True, exist_ok=True)
            try:
                copy_regular(folder / f"{name}{ext}", target / f"{name}{ext}", MAX_OUTPUT_FILE_BYTES)
            except UnsafeFile as exc:
                with contextlib.suppress(OSError):
                    os.unlink(target / f"{name}{ext}")
                logging.getLogger("grade").warning("%s: %s/%s not copied: %s", student, sub, name, exc)


class _ListHandler(logging.Handler):
    def __init__(self, sink):
        super().__init__(logging.WARNING)
        self.sink = sink

    def emit(self, record):
        message = record.getMessage()
        self.sink.append(message if len(message) <= 600 else message[:200] + " ... " + message[-400:])


def _status(flags: list[tuple[str, str]]) -> tuple[str, str]:
    kinds = [k for k, _ in flags]
    status = min(kinds, key=SEVERITY.index) if kinds else "graded"
    reasons = []
    for kind in SEVERITY:
        reasons += [d.rstrip(".") for k, d in flags if k == kind and d.rstrip(".") not in reasons]
    return status, "; ".join(reasons)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    return (f"{days} d " if days else "") + f"{hours} h {rest // 60} min"


# ============================================================================ main process

def _generate(db: Path, release: Path):
    """Stock ``nbgrader generate_assignment`` for every assignment, in-process, into ``db``."""
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    c = Config()
    c.CourseDirectory.root = str(ROOT)
    c.CourseDirectory.course_id = "batchnorm"
    c.CourseDirectory.source_directory = "solutions"
    c.CourseDirectory.release_directory = str(release)
    c.CourseDirectory.db_url = f"sqlite:///{db}"
    c.CourseDirectory.assignment_id = "*"
    c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "*.py"]
    c.GenerateAssignment.force = True
    conv = GenerateAssignment(coursedir=CourseDirectory(config=c), config=c)
    conv.log.setLevel(logging.ERROR)
    conv.start()


def _cells_in(db: Path) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{db}") as gb:
        return {(a.name, nb.name): sorted((c.name, c.checksum) for c in nb.source_cells)
                for a in gb.assignments for nb in a.notebooks}


def prepare(out: Path, master_db: Path) -> tuple[Path, dict]:
    """The assignments as stock ``generate_assignment`` records them, once per version of
    ``solutions/``: a template gradebook (each submission gets a private copy of it) and the
    released notebooks. The course gradebook gets them too, when it lacks them or they changed.
    Returns (template, {assignment: (max per notebook, cells per notebook, release cells)})."""
    from nbgrader.api import Gradebook

    h = hashlib.sha256()
    for path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        h.update(str(path.relative_to(ROOT)).encode() + path.read_bytes())
    key = h.hexdigest()[:16]
    cache = out / "work" / f"template-{key}"
    template, release = cache / "gradebook.db", cache / "release"
    if not template.exists():
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True)
        _generate(cache / "building.db", release)
        os.replace(cache / "building.db", template)
    if not master_db.exists():
        master_db.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, master_db)
    else:
        wanted = _cells_in(template)
        have = _cells_in(master_db)
        if any(have.get(k) != v for k, v in wanted.items()):
            _generate(master_db, cache / "release-master")
    info = {}
    with Gradebook(f"sqlite:///{template}") as gb:
        for a in gb.assignments:
            maxes = {nb.name: float(nb.max_score) for nb in a.notebooks}
            cells = {nb.name: {g.name: float(g.max_score) for g in nb.grade_cells} for nb in a.notebooks}
            info[a.name] = (maxes, cells, release_cells(release / a.name))
    return template, info


def merge(master_db: Path, result: dict, assignment: str, student: str):
    """Record one submission's grades in the course gradebook (idempotent)."""
    import warnings

    from nbgrader.api import Gradebook
    from nbgrader.utils import parse_utc

    with Gradebook(f"sqlite:///{master_db}") as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy autoflush chatter inside nbgrader's API
        gb.update_or_create_student(student)
        kwargs = {"timestamp": parse_utc(result["timestamp"])} if result.get("timestamp") else {}
        gb.update_or_create_submission(assignment, student, **kwargs)
        for notebook, cells in result["grades"].items():
            for cell, values in cells.items():
                grade = gb.find_grade(cell, notebook, assignment, student)
                grade.auto_score = values["auto_score"]
                grade.needs_manual_grade = values["needs_manual_grade"]
        for row in result["rows"]:
            if not result["grades"].get(row["notebook"]):
                sub_nb = gb.find_submission_notebook(row["notebook"], assignment, student)
                for g in sub_nb.grades:
                    g.auto_score, g.needs_manual_grade = 0.0, False
        gb.db.commit()


class Progress:
    """One progress bar per class: a redrawn line on a terminal, a line per 10% in logs."""

    def __init__(self, total: int, workers: int, label: str):
        self.total, self.done, self.flagged, self.start = total, 0, 0, time.monotonic()
        self.workers, self.label, self.tty = workers, label, sys.stderr.isatty()
        self.last_decile = -1

    def update(self, rows: list[dict], cached: bool = False):
        self.done += 1
        self.flagged += any(r["status"] != "graded" for r in rows)
        elapsed = time.monotonic() - self.start
        eta = elapsed / self.done * (self.total - self.done) if self.done else 0
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        line = (f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} submissions, "
                f"{self.flagged} flagged, {elapsed:.0f} s elapsed, ~{eta:.0f} s left ({self.workers} workers)")
        decile = self.done * 10 // max(self.total, 1)
        if self.tty:
            print("\r" + line, end="\n" if self.done == self.total else "", file=sys.stderr, flush=True)
        elif decile != self.last_decile:
            self.last_decile = decile
            print(line, file=sys.stderr, flush=True)


def _submitters(workers: int, scheduler: str | None):
    """(submit(fn, arg) -> future, as_completed, shutdown)."""
    if scheduler:
        from dask.distributed import Client, LocalCluster
        from dask.distributed import as_completed as dask_completed

        if scheduler == "local":
            os.environ["PYTHONPATH"] = os.pathsep.join(
                [str(HERE), str(REFERENCE)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR)
            client = Client(cluster)
        else:
            cluster, client = None, Client(scheduler)

        def shutdown(now=False):
            if now:
                client.cancel(list(client.futures.values()), force=True)
            client.close()
            if cluster is not None:
                cluster.close()

        return (lambda fn, arg: client.submit(fn, arg, pure=False)), dask_completed, shutdown
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures import as_completed as cf_completed

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                               initializer=_warm_worker)

    def shutdown(now=False):
        if now:  # Ctrl-C: stop the workers (their sandboxed kernels die with them)
            for proc in list((pool._processes or {}).values()):
                proc.terminate()
        pool.shutdown(wait=not now, cancel_futures=True)
        _stop_resource_tracker()

    return pool.submit, cf_completed, shutdown


def _stop_resource_tracker():
    """Wait for multiprocessing's resource tracker (a helper process the pool starts): it would
    otherwise outlive grade.py by a moment."""
    from multiprocessing import resource_tracker

    with contextlib.suppress(Exception):  # private API: if it changes, the tracker exits on its own
        resource_tracker._resource_tracker._stop()


def _warm_worker():
    """Import nbgrader and the grading code once per worker, not once per submission.
    Ctrl-C is the main process's to handle: it stops the workers."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import hardened  # noqa: F401
    import nbgrader.converters  # noqa: F401


def grade_class(assignments: list[str], *, submitted: Path | None = None, zip_path: Path | None = None,
                pattern: str = DEFAULT_PATTERN, out: Path = HERE, workers: int | None = None,
                scheduler: str | None = None, cell_timeout: int = 120, notebook_timeout: int = 900,
                memory_mb: int = 3000, disk_mb: int = 200, max_files: int = 2000, sandbox: str = "auto",
                deadline: str | None = None,
                gradescope: bool = False, regrade: bool = False, gradebook: Path | None = None,
                keep_work: bool = False, quiet: bool = False) -> list[dict]:
    """Grade every submission of ``assignments``; write grades.csv and friends under ``out``.
    Returns the CSV rows."""
    from hardened import sandbox_available

    from course import grading_env

    os.environ.update(grading_env())  # nbgrader calls `alembic` by name; workers inherit this
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    workers = workers or default_workers()
    if sandbox == "auto":
        sandbox = "bwrap" if sandbox_available() else "none"
    if sandbox == "bwrap" and not sandbox_available():
        raise SystemExit("error: --sandbox bwrap, but bubblewrap is missing or cannot create namespaces here "
                         "(apt-get install bubblewrap).")
    if sandbox == "none" and not quiet:
        print("warning: no sandbox (bubblewrap is not available): student code can read this machine's files "
              "and use the network. Hidden tests still run outside the students' kernels.", file=sys.stderr)
    master_db = Path(gradebook).resolve() if gradebook else out / "gradebook.db"
    have = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir())
    for assignment in assignments:
        if assignment not in have:
            raise SystemExit(f"error: no assignment {assignment!r} in solutions/ (have: {', '.join(have)})")
    template, info = prepare(out, master_db)
    tasks, results, cell_names = [], {}, []
    for assignment in assignments:
        if zip_path:
            subs = unpack_zip(Path(zip_path), assignment, pattern, out / "work" / "zip" / assignment)
        else:
            subs = collect_submitted(Path(submitted or HERE / "submitted"), assignment)
        maxes, cell_max, given = info[assignment]
        notebooks = sorted(maxes)
        cell_names += [c for nb in notebooks for c in cell_max[nb] if c not in cell_names]
        options = {"assignment": assignment, "cell_timeout": cell_timeout, "notebook_timeout": notebook_timeout,
                   "memory_mb": memory_mb, "disk_mb": disk_mb, "max_files": max_files, "sandbox": sandbox,
                   "deadline": deadline, "gradescope": gradescope,
                   "keep_work": keep_work, "version": LEDGER_VERSION, "grader": grader_version(assignment)}
        ledger = out / "ledger" / assignment
        ledger.mkdir(parents=True, exist_ok=True)
        cached = 0
        flags = copy_flags(subs, notebooks, assignment)
        for student, folder in subs.items():
            fp = fingerprint(folder, {**options, "flags": flags[student]})
            entry = ledger / f"{student}.json"
            if not regrade and entry.exists():
                saved = json.loads(entry.read_text())
                if saved.get("fingerprint") == fp:
                    results[assignment, student] = saved["result"]
                    cached += 1
                    continue
            tasks.append({"assignment": assignment, "student": student, "folder": str(folder),
                          "notebooks": notebooks, "max_scores": maxes, "cell_max": cell_max, "release_cells": given,
                          "template_db": str(template), "work": str(out / "work" / assignment / student),
                          "flags": flags[student],
                          "out": str(out), "options": options, "fingerprint": fp, "ledger": str(entry)})
        if not quiet:
            print(f"{assignment}: {len(subs)} submissions, {cached} already graded, "
                  f"{len(subs) - cached} to grade", file=sys.stderr)
    if tasks:
        n = min(workers, len(tasks))
        if not quiet:
            print(f"grading {len(tasks)} submissions with {n} workers "
                  f"({'dask ' + scheduler if scheduler else 'processes'}, sandbox: {sandbox})", file=sys.stderr)
        progress = Progress(len(tasks), n, "class" if len(assignments) > 1 else assignments[0])
        submit, completed, shutdown = _submitters(n, scheduler)
        interrupted = False
        try:
            futures = {submit(grade_submission, t): t for t in tasks}
            for fut in completed(futures):
                task = futures[fut]
                result = fut.result()
                merge(master_db, result, task["assignment"], task["student"])
                results[task["assignment"], task["student"]] = result
                if result.get("error"):  # a grader failure is not a result: retried next run
                    print(f"\n{task['student']}: grading failed:\n{result['error']}", file=sys.stderr)
                else:
                    entry = Path(task["ledger"])
                    tmp = entry.with_name(f".{entry.name}.tmp")
                    tmp.write_text(json.dumps({"fingerprint": task["fingerprint"], "result": result}))
                    os.replace(tmp, entry)
                if not quiet:
                    progress.update(result["rows"])
        except KeyboardInterrupt:
            interrupted = True
            print(f"\ninterrupted: {len(results)} graded submissions are kept in {out / 'ledger'}; "
                  "run the same command again to resume.", file=sys.stderr)
            raise
        finally:
            shutdown(now=interrupted)
    rows = [row for key in sorted(results) for row in results[key]["rows"]]
    write_csv(out / "grades.csv", rows, cell_names)
    return rows


def default_workers() -> int:
    """All cores plus one: a worker waits while its kernel starts and answers, and the extra one
    fills those gaps (measured on 2 cores: 2 workers 204 s, 3 workers 170 s, 4 workers 171 s)."""
    return (os.cpu_count() or 1) + 1


def write_csv(path: Path, rows: list[dict], cell_names: list[str]):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "assignment", "notebook", "score", "max_score", "status", "reason", "flags",
                    *cell_names])
        for r in rows:
            w.writerow([r["student"], r["assignment"], r["notebook"], f"{r['score']:g}", f"{r['max_score']:g}",
                        r["status"], r["reason"], " ".join(r["flags"]),
                        *(f"{r['cells'][c][0]:g}" if c in r["cells"] else "" for c in cell_names)])


def summary(rows: list[dict]) -> str:
    from collections import Counter

    counts = Counter(r["status"] for r in rows)
    return ", ".join(f"{counts[s]} {s}" for s in SEVERITY if counts[s])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("assignments", nargs="+", help="assignment ids (folders of solutions/)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--submitted", type=Path, help="nbgrader submitted/ tree (default: autograder/submitted)")
    src.add_argument("--zip", type=Path, help="an LMS zip export (one assignment per run)")
    p.add_argument("--pattern", default=DEFAULT_PATTERN,
                   help="regex on zip member names with groups student_id and file_id (and optional timestamp)")
    p.add_argument("--out", type=Path, default=HERE, help="where grades.csv, feedback/, autograded/ go "
                                                         "(default: autograder/, the nbgrader course folders)")
    p.add_argument("--gradebook", type=Path, help="gradebook to record grades in (default: <out>/gradebook.db)")
    p.add_argument("--workers", type=int, default=None, help="parallel submissions (default: cores + 1)")
    p.add_argument("--scheduler", help="run on Dask: 'local' for a local cluster, or a scheduler address")
    p.add_argument("--cell-timeout", type=int, default=120, help="seconds per cell (default 120)")
    p.add_argument("--notebook-timeout", type=int, default=900, help="seconds per notebook (default 900)")
    p.add_argument("--memory-mb", type=int, default=3000, help="memory per kernel (default 3000 MB)")
    p.add_argument("--disk-mb", type=int, default=200,
                   help="disk quota per kernel: bytes it may write, also its largest file (default 200 MB)")
    p.add_argument("--max-files", type=int, default=2000, help="files a kernel may create (default 2000)")
    p.add_argument("--sandbox", choices=["auto", "bwrap", "none"], default="auto")
    p.add_argument("--deadline", help="ISO time; later submissions are marked late (timestamp.txt)")
    p.add_argument("--gradescope", action="store_true", help="also write gradescope/<student>/<a>/results.json")
    p.add_argument("--regrade", action="store_true", help="grade again even what the ledger has")
    p.add_argument("--keep-work", action="store_true", help="keep each submission's scratch folder")
    args = p.parse_args(argv)
    if args.zip and len(args.assignments) != 1:
        p.error("--zip takes one assignment")
    if args.zip and not args.zip.is_file():
        p.error(f"no such zip file: {args.zip}")
    import signal

    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C works even if started with SIGINT ignored
    start = time.monotonic()
    try:
        rows = grade_class(args.assignments, submitted=args.submitted, zip_path=args.zip, pattern=args.pattern,
                           out=args.out, workers=args.workers, scheduler=args.scheduler,
                           cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
                           memory_mb=args.memory_mb, disk_mb=args.disk_mb, max_files=args.max_files,
                           sandbox=args.sandbox, deadline=args.deadline,
                           gradescope=args.gradescope, regrade=args.regrade, gradebook=args.gradebook,
                           keep_work=args.keep_work)
    except KeyboardInterrupt:
        return 130
    out = args.out.resolve()
    print(f"graded {len(rows)} notebooks in {time.monotonic() - start:.1f} s: {summary(rows) or 'nothing to grade'}")
    print(f"  grades:    {out / 'grades.csv'}\n  feedback:  {out / 'feedback'}/<student>/<assignment>/"
          f"\n  gradebook: {args.gradebook or out / 'gradebook.db'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
