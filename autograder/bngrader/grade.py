"""Grade a whole class: parallel, sandboxed, hardened; stock nbgrader does the grading.

    bngrader grade 02_numpy_forward                      # instructor/submitted/*/02_numpy_forward/
    bngrader grade 02_numpy_forward --zip export.zip     # an LMS zip export
    bngrader grade 01_formulas_by_hand 02_numpy_forward --workers 2 --gradescope
    bngrader grade 02_numpy_forward --scheduler local    # the same on a Dask cluster

For every student and notebook it writes one row of ``grades/<assignment>.csv`` and of the
combined ``grades.csv`` (records.py: score, late penalty, each test cell's score, a status
and a reason; other assignments' rows are kept), the autograded notebook, feedback HTML
without hidden tests, and optionally a Gradescope ``results.json``; and it records the
grades in the course's nbgrader gradebook, so Formgrader and ``nbgrader export`` see
them. The feedback folder of a student holds only the feedback page of each graded
notebook; nothing the student's code wrote is handed back. For the whole class it writes
``report.html`` and ``report.json`` (:mod:`bngrader.report`): the score distribution, each
exercise's pass rate, the named mistakes ranked by how many students made them, the flagged
submissions and the grading times. Statuses, from the most to the least serious:

    rejected          not taken in: invalid or colliding student id, unreadable folder (score 0,
                      not in the gradebook; the reason names the folder or zip member)
    invalid_notebook  the file is not a notebook, or nbgrader rejected it, or its zip member
                      is corrupt, encrypted or too big (score 0)
    missing           no notebook of that name (score 0)
    unattempted       the released notebook, no answer changed (graded)
    kernel_died       the kernel crashed, or hit the memory limit or the disk quota (other cells still graded)
    timeout           a cell or the notebook ran out of time (other cells still graded)
    tampered          a test or read-only cell was edited (nbgrader restored it)
    missing_tests_restored  a test cell was deleted (nbgrader added it back)
    suspicious        for a human to review (see the reason): the static scan flagged code; or the
                      notebook is byte-identical to a classmate's (graded) or to the solution
                      notebook, or is a symbolic link (both not graded, score 0); or the folder
                      holds links, special or oversized files (never read)
    bad_timestamp     timestamp.txt is unreadable or implausible: graded, not checked against --deadline
    renamed           graded, from a notebook with another name
    late              (records.py) handed in after the due date and extension: the late policy applies
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
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import time
import zipfile
import zlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from bngrader import runner, settings
from bngrader.settings import INSTRUCTOR, PACKAGE, ROOT, reference_files


@dataclass(frozen=True)
class GradeOptions:
    """How a run grades each submission: its limits, sandbox, deadline and outputs. Part of every
    submission's fingerprint, so changing one regrades (the ledger keeps results per options)."""

    cell_timeout: int = 120  # seconds per cell
    notebook_timeout: int = 900  # seconds per notebook
    memory_mb: int = 3000  # per kernel, tmpfs files included
    disk_mb: int = 200  # per kernel, also the largest file it may write
    max_files: int = 2000  # files and folders a kernel may create
    sandbox: str = "auto"  # "bwrap", "none", or "auto" (bwrap where it works)
    gradescope: bool = False  # also write gradescope/<student>/<assignment>/results.json
    keep_work: bool = False  # keep each submission's scratch folder


@dataclass(frozen=True)
class Task:
    """One student's submission of one assignment, as a worker grades it (picklable: it travels
    to worker processes and Dask workers)."""

    assignment: str
    student: str
    folder: str  # the submission as handed in (only read)
    notebooks: list[str]  # the assignment's notebook names
    max_scores: dict  # notebook -> max score
    cell_max: dict  # notebook -> test cell -> max score
    release_cells: dict  # notebook -> cell id -> the released cell (to tell an untouched notebook)
    template_db: str  # the gradebook the worker copies for this submission
    out: str  # the output folder (feedback/, autograded/, gradescope/)
    options: GradeOptions
    grader: str  # version of the solutions and the grader, for the fingerprint
    work: str  # this submission's scratch folder
    flags: dict  # notebook -> [(status, reason)] found before grading (copies, links)
    fingerprint: str  # files and options: the ledger's key
    ledger: str  # where the finished result is kept
    started: str  # the file the worker marks when it starts (runner's deadline)
    token: str  # this run's mark


@dataclass
class Row:
    """One line of grades.csv: one student's notebook of one assignment."""

    student: str
    assignment: str
    notebook: str
    status: str  # one of SEVERITY
    score: float
    max_score: float
    reason: str = ""  # every problem found, most serious first
    flags: list[str] = field(default_factory=list)  # the statuses found besides the one shown
    cells: dict = field(default_factory=dict)  # test cell -> (score, max score)
    seconds: float = 0.0  # grading time of the submission up to its scores
    hints: dict = field(default_factory=dict)  # failed test cell -> its error's first line ("CheckFailed: ...")
    penalty: float = 0.0  # late penalty in points (records.py: the gradebook's due date, the course's policy)
    written: list[str] = field(default_factory=list)  # cells graded by hand (written answers), in ``cells`` too


def rows_as_data(result: dict) -> dict:
    """``result`` with its rows as plain dicts (for the ledger's JSON)."""
    return {**result, "rows": [asdict(r) for r in result["rows"]]}


def rows_from_data(result: dict) -> dict:
    """``result`` read back from the ledger, its rows as :class:`Row` (cells as tuples again)."""
    rows = [Row(**{**r, "cells": {c: tuple(v) for c, v in r["cells"].items()}}) for r in result["rows"]]
    return {**result, "rows": rows}


class GradingError(Exception):
    """A problem with the whole run (its arguments, its input), not with one submission: the
    command line prints it and exits with status 2. Per-submission problems are statuses."""

SEVERITY = ["rejected", "invalid_notebook", "missing", "unattempted", "kernel_died", "timeout", "tampered",
            "missing_tests_restored", "suspicious", "bad_timestamp", "renamed", "late", "graded"]
# Canvas's export names: <student>_[late_]<user id>_<submission id>_<original file name>. The
# student id is "<student>_<user id>" (see unpack_zip): two students with one name stay apart.
DEFAULT_PATTERN = (r"^(?P<student_id>[^_]+)_(?:late_)?(?P<user_id>\d+)_\d+_(?P<file_id>.+\.ipynb)$")
# One rule for every student id, from any source: it becomes a folder name and a gradebook key.
STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
FILE_NAME = re.compile(r"[^/\\\x00-\x1f\x7f]{1,200}")
MAX_MEMBERS = 20_000  # zip members: more is not an export of one class
MAX_MEMBER_BYTES = 100 * 2**20  # one extracted file (a notebook with plots is a few MB)
MAX_ZIP_BYTES = 10 * 2**30  # all extracted files together (disk safety; per-member failures beyond it)
MAX_TIMESTAMP_BYTES = 200
LEDGER_VERSION = 2  # 2: rows carry the failed cells' hints


# ============================================================================ inputs

@dataclass
class Intake:
    """What one assignment's input yields: the submissions to grade, and what could not be used.

    ``subs``: student id -> folder. ``notes``: student id -> problems with their files (e.g. a
    corrupt zip member), each ``(file name, reason)``; they become that student's status.
    ``rejected``: ``(student as shown, reason)`` for submissions that cannot be taken in at all
    (invalid or colliding student id, unreadable folder): listed, given a ``rejected`` row, never
    graded and never recorded in the gradebook.
    """

    subs: dict[str, Path] = field(default_factory=dict)
    notes: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    rejected: list[tuple[str, str]] = field(default_factory=list)


def shown(name: str) -> str:
    """``name`` as it can be printed and written to a CSV: control characters and undecodable
    bytes (file names are str with surrogate escapes) as backslash escapes."""
    raw = os.fsencode(name) if any("\udc80" <= ch <= "\udcff" for ch in name) else name.encode("utf-8", "surrogatepass")
    text = raw.decode("utf-8", "backslashreplace")
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def check_student_id(student: str) -> str | None:
    """None if ``student`` is a usable student id, else why not. Ids are never rewritten into
    other ids: an invalid one is reported, not "sanitised" into a classmate's."""
    if STUDENT_ID.fullmatch(student) and ".." not in student:
        return None
    why = ("is empty" if not student else "is longer than 64 characters" if len(student) > 64
           else "contains a path separator" if "/" in student or "\\" in student
           else "is only dots" if not student.strip(".") else "contains '..'" if ".." in student
           else "must start with an ASCII letter or digit" if not (student[0].isascii() and student[0].isalnum())
           else "may only contain ASCII letters, digits and _ . @ -")
    return f"student id '{shown(student)}' is not valid: it {why}"


def collect_submitted(folder: Path, assignment: str) -> Intake:
    """The submissions in an nbgrader ``submitted/<student>/<assignment>/`` tree.

    Students without a folder for ``assignment`` did not hand it in and are not listed. Folders
    with an invalid student id, symlinks (never followed: they could point at a classmate's work
    or at solutions/) and folders that cannot be read are rejected with a reason naming them.
    """
    intake = Intake()
    try:
        entries = sorted(folder.iterdir()) if folder.is_dir() else []
    except OSError as exc:
        raise GradingError(f"cannot read {folder}: {exc.strerror or exc}") from exc
    for student_dir in entries:
        student, sub = student_dir.name, student_dir / assignment
        where = shown(str(sub))
        try:
            if not os.path.lexists(sub):
                continue
            problem = check_student_id(student)
            if not problem and (student_dir.is_symlink() or sub.is_symlink()):
                problem = f"{where} is a symlink (not followed)"
            elif not problem and not sub.is_dir():
                problem = f"{where} is not a folder"
            elif not problem:
                os.listdir(sub)  # readable, or the reason why not
        except OSError as exc:
            problem = f"cannot read {where}: {exc.strerror or exc}"
        if problem:
            intake.rejected.append((shown(student), problem))
        else:
            intake.subs[student] = sub
    return intake


def _member_name(info: zipfile.ZipInfo) -> str:
    """A member's name as its author meant it: names without the zip UTF-8 flag are decoded by
    zipfile as cp437; many tools write UTF-8 there anyway, others a legacy code page (whose bytes
    are kept as surrogate escapes, never guessed: :func:`shown` prints them as ``\\xe9``)."""
    if info.flag_bits & 0x800:
        return info.filename
    return info.filename.encode("cp437").decode("utf-8", "surrogateescape")


def _bad_file_name(file_id: str) -> str | None:
    """None if ``file_id`` can be a file name in a submission folder, else why not."""
    if FILE_NAME.fullmatch(file_id) and not file_id.startswith(".") and shown(file_id) == file_id:
        return None
    return f"has a file name that cannot be used ('{shown(file_id)}')"


def _extract_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, cap: int) -> str | None:
    """Stream one member into ``dest`` (at most ``cap`` bytes, whatever its header claims).
    None on success, else why it failed (the partial file is removed)."""
    if info.flag_bits & 0x1:
        return "is encrypted"
    if info.file_size > cap:
        return f"is {info.file_size / 2**20:.0f} MB, more than the {cap / 2**20:.0f} MB cap per file"
    written = 0
    try:
        with zf.open(info) as src, open(dest, "xb") as out:
            while chunk := src.read(min(2**20, cap + 1 - written)):
                written += len(chunk)
                if written > cap:
                    raise OverflowError
                out.write(chunk)
    except OverflowError:
        problem = f"inflates past the {cap / 2**20:.0f} MB cap per file (its header says {info.file_size} bytes)"
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        problem = f"is corrupt ({str(exc)[:100]})"
    except (NotImplementedError, RuntimeError, ValueError, OSError) as exc:
        problem = f"cannot be extracted ({str(exc)[:100]})"
    else:
        return None
    dest.unlink(missing_ok=True)
    return problem


def _zip_members(zf: zipfile.ZipFile, regex: re.Pattern, max_members: int):
    """student id -> [(member, its name, the pattern's groups)], and the names that do not match."""
    members = [info for info in zf.infolist() if not info.is_dir()]
    if len(members) > max_members:
        raise GradingError(f"{zf.filename} has {len(members)} files, more than {max_members}: "
                         "not one class's export; refusing.")
    plan, skipped = {}, []
    for info in members:
        name = _member_name(info)
        m = regex.search(name.rsplit("/", 1)[-1])
        groups = m.groupdict() if m else {}
        if not groups.get("student_id") or not groups.get("file_id"):
            skipped.append(name)
            continue
        student = groups["student_id"] + (f"_{groups['user_id']}" if groups.get("user_id") else "")
        plan.setdefault(student, []).append((info, name, groups))
    return plan, skipped


def _names(items) -> str:
    return ", ".join(f"'{shown(name)}'" for _, name, _ in items)


def unpack_zip(archive: Path, assignment: str, pattern: str, staging: Path,
               max_member_bytes: int = MAX_MEMBER_BYTES, max_total_bytes: int = MAX_ZIP_BYTES,
               max_members: int = MAX_MEMBERS) -> Intake:
    """Extract an LMS export into ``staging/<student>/<assignment>/`` (read-only use of the zip).

    ``pattern`` is a regular expression on each member's file name with the named groups
    ``student_id`` and ``file_id`` (the notebook's file name), and optionally ``timestamp``
    (ISO 8601), as in nbgrader's ``zip_collect``, and ``user_id``: with it the student id is
    ``<student_id>_<user_id>``. The default pattern reads Canvas's names,
    ``<student>_[late_]<user id>_<submission id>_<file>``, so the id is e.g. ``doejane_12345``:
    readable, stable across exports, and two students with the same name (different Canvas
    user ids) stay two students. To key the gradebook by Canvas user id alone, pass
    ``--pattern '^[^_]+_(?:late_)?(?P<student_id>\\d+)_\\d+_(?P<file_id>.+\\.ipynb)$'``.

    Members are extracted one at a time, streamed, each capped at ``max_member_bytes`` of
    actual output (a header may lie about the size). Paths are never taken from the archive: a
    member lands at ``staging/<student id>/<assignment>/<file name>`` only with a valid student
    id (:func:`check_student_id`) and a plain file name. Problems stay with their student and
    name the member: a corrupt, encrypted, oversize or badly named member is that student's
    ``invalid_notebook`` reason (:attr:`Intake.notes`). An invalid student id is ``rejected``;
    so is a student with two members of one file name (two people, or two uploads, behind one
    id: neither is graded in the other's name). Members that do not match are listed and skipped.
    """
    if staging.exists():
        shutil.rmtree(staging)
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise GradingError(f"{archive} is not a readable zip file ({exc})") from exc
    intake, total = Intake(), 0
    with zf:
        plan, skipped = _zip_members(zf, re.compile(pattern), max_members)
        for student, items in sorted(plan.items()):
            problem = check_student_id(student)
            files = [groups["file_id"] for _, _, groups in items]
            twice = sorted({f for f in files if files.count(f) > 1})
            if problem:
                intake.rejected.append((shown(student), f"{problem} (zip member {_names(items)})"))
                continue
            if twice:
                intake.rejected.append((student, f"{len(items)} zip members map to student {student!r} "
                                        f"and file '{shown(twice[0])}': {_names(items)}; none graded "
                                        "(fix the export or --pattern)"))
                continue
            dest = staging / student / assignment
            dest.mkdir(parents=True)
            intake.subs[student] = dest
            for info, name, groups in items:
                file_id = groups["file_id"]
                why = _bad_file_name(file_id)
                if not why and total + info.file_size > max_total_bytes:
                    why = f"not extracted: the export unpacks to more than {max_total_bytes / 2**30:.0f} GB"
                why = why or _extract_member(zf, info, dest / file_id, max_member_bytes)
                if why:
                    intake.notes.setdefault(student, []).append((file_id, f"zip member '{shown(name)}' {why}"))
                    continue
                total += (dest / file_id).stat().st_size
                if groups.get("timestamp"):
                    (dest / "timestamp.txt").write_text(groups["timestamp"])
    for name in skipped:
        print(f"  zip: skipped {shown(name)} (does not match --pattern)", file=sys.stderr)
    return intake


def grader_version(assignment: str) -> str:
    """Hash of the assignment's solutions and of the grader and reference code, computed once
    per run: a changed grader or reference regrades every submission."""
    h = hashlib.sha256()
    grader = [*PACKAGE.glob("*.py"), *reference_files().values()]
    for path in sorted((ROOT / "solutions" / assignment).glob("*.ipynb")) + sorted(grader):
        h.update(path.read_bytes())
    return h.hexdigest()


def fingerprint(folder: Path, options: dict) -> str:
    """Hash of one submission's files and the grading options (grader version included).
    Read in bounded memory: chunked hashes, links not followed, big files by size and time
    (see fsguard.scan_folder)."""
    from bngrader.fsguard import scan_folder

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
    from bngrader.fsguard import UnsafeFile, hash_regular

    solution, released = {}, {}
    for name in notebooks:
        with contextlib.suppress(OSError, UnsafeFile):  # the course's own files; missing: nothing to compare
            solution[name] = hash_regular(ROOT / "solutions" / assignment / f"{name}.ipynb", 2**31)
        with contextlib.suppress(OSError, UnsafeFile):
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

def _course_config(course: Path, db: Path, assignment: str, student: str, opts: GradeOptions):
    from traitlets.config import Config

    from bngrader.hardening import harden

    c = Config()
    settings.apply(c)
    c.CourseDirectory.root = str(course)
    c.CourseDirectory.source_directory = str(ROOT / settings.SOURCE)
    c.CourseDirectory.submitted_directory = "submitted"
    c.CourseDirectory.autograded_directory = "autograded"
    c.CourseDirectory.feedback_directory = "feedback"
    c.CourseDirectory.db_url = f"sqlite:///{db}"
    c.CourseDirectory.assignment_id = assignment
    c.CourseDirectory.student_id = student
    # the same hardened execution, sanitising and hidden-test clearing as nbgrader_config.py
    harden(c, cell_timeout=opts.cell_timeout, notebook_timeout=opts.notebook_timeout,
           memory_mb=opts.memory_mb, sandbox=opts.sandbox, work_dir=str(course.parent / "run"))
    c.HardenedExecute.disk_limit_mb = opts.disk_mb
    c.HardenedExecute.max_files = opts.max_files
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
    problem = _metadata_problem(nb)
    return (None, f"{path.name}: {problem}") if problem else (nb, None)


def _metadata_problem(nb) -> str | None:
    """Why the notebook's nbgrader metadata cannot be read (nbformat accepts any value there;
    nbgrader and the checks below expect a dict with a string grade id), or None."""
    for i, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not isinstance(meta, dict):
            return f"cell #{i + 1} has nbgrader metadata that is a {type(meta).__name__}, not a dict"
        if "grade_id" in meta and not isinstance(meta["grade_id"], str):
            return f"cell #{i + 1} has a grade_id that is a {type(meta['grade_id']).__name__}, not a string"
    return None


def _stage_notebooks(task: Task, src: Path, staged: Path) -> tuple[dict[str, list], dict[str, bool]]:
    """Copy the submitted notebooks into nbgrader's ``submitted/`` folder: regular files only,
    read once with O_NOFOLLOW and a size cap, so what is graded is what was checked.
    Returns (flags per notebook, notebooks to grade)."""
    from bngrader.fsguard import UnsafeFile, read_regular, scan_folder

    notebooks = task.notebooks
    flags: dict[str, list[tuple[str, str]]] = {n: list(map(tuple, task.flags.get(n, []))) for n in notebooks}
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
        tampered, deleted, findings = _inspect(nb, task.release_cells[name]["cells"])
        if unattempted(nb, task.release_cells[name]):
            flags[name].append(("unattempted", "the released notebook, no answer changed"))
        if tampered:
            flags[name].append(("tampered", f"edited read-only/test cells {', '.join(tampered)} (restored)"))
        if deleted:
            flags[name].append(("missing_tests_restored", f"deleted test cells {', '.join(deleted)} (restored)"))
        if findings:
            flags[name].append(("suspicious", "; ".join(findings[:4]) + (" ..." if len(findings) > 4 else "")))
        (staged / f"{name}.ipynb").write_bytes(data)
        valid[name] = True
    return flags, valid


def release_cells(release: Path) -> dict[str, dict]:
    """notebook -> {"cells": grade id -> what the learner was given (role and source, hidden tests
    removed), "code": the code cells without a grade id (given code), normalised}."""
    import nbformat

    out = {}
    for path in sorted(release.glob("*.ipynb")):
        cells, code = {}, []
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade_id"):
                test = bool(meta.get("grade")) and not meta.get("solution")
                cells[meta["grade_id"]] = {"source": cell.source, "readonly": bool(meta.get("locked")) or test,
                                           "test": test, "answer": bool(meta.get("solution")),
                                           "written": bool(meta.get("grade")) and cell.cell_type == "markdown"}
            elif cell.cell_type == "code" and cell.source.strip():
                code.append(_normal(cell.source))
        out[path.stem] = {"cells": cells, "code": sorted(code)}
    return out


def _normal(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def unattempted(nb, released: dict) -> bool:
    """True if ``nb`` is the released notebook with no answer: every answer cell as given, and no
    code of the student's own in another cell (outputs, metadata and cell order do not count)."""
    answers = {gid: _normal(c["source"]) for gid, c in released["cells"].items() if c["answer"]}
    code, seen = [], {}
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in answers:
            seen[gid] = _normal(cell.get("source", ""))
        elif not gid and cell.get("cell_type") == "code" and cell.get("source", "").strip():
            code.append(_normal(cell.source))
    return bool(answers) and seen == answers and sorted(code) == released["code"]


def _inspect(nb, sources: dict[str, dict]) -> tuple[list[str], list[str], list[str]]:
    """Tampered cells, deleted test cells, static-scan findings, for one submitted notebook."""
    from bngrader.scan import scan_notebook

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


def _gradescope(rows: list[Row], hidden: dict[str, set[str]] | None = None) -> dict:
    """Gradescope's ``results.json`` (https://gradescope-autograders.readthedocs.io/en/latest/specs/):
    one test per test cell, named by its exercise ("02_numpy_forward: batchnorm_forward"), its
    ``output`` the hint that fired (the error's first line), "passed", or why the notebook was not
    graded; the top-level ``output`` lists each notebook's status.

    Visibility. A test cell runs its visible checks (``bncourse.checks``), then, in the same cell,
    the hidden tests (``bn_checks``/``keras_checks``/``experiment_checks``, between nbgrader's
    ``BEGIN/END HIDDEN TESTS``), and nbgrader gives the cell one score. The cell stays one test
    with that score; its ``visibility`` is ``"after_published"`` when the failure came from the
    hidden part (``hidden``: notebook -> grade ids, read by :class:`hardened.HardenedExecute` from the
    traceback: the visible checks passed, a hidden test raised), and ``"visible"`` otherwise (passed,
    or failed by a visible check or the student's own code, which the student sees in the notebook
    anyway). So a student does not learn from Gradescope what a hidden test checks before grades
    are published; the total score, which Gradescope always shows, still counts the cell.

    Written answers are not tests here: they are graded by hand later (Formgrader, or a manual
    question in Gradescope), so the results hold the autograded cells only."""
    from bngrader.feedback import exercise_name

    hidden = hidden or {}
    tests = []
    for row in rows:
        for cell, (score, max_score) in row.cells.items():
            if cell in row.written:
                continue
            hint = row.hints.get(cell)
            if hint:
                output = hint
            elif score >= max_score:
                output = "passed"
            else:
                output = f"not graded: {row.status}" + (f" ({row.reason})" if row.reason else "")
            tests.append({"name": f"{row.notebook}: {exercise_name(cell)}", "score": score, "max_score": max_score,
                          "status": "passed" if score >= max_score and not hint else "failed", "output": output,
                          "visibility": "after_published" if cell in hidden.get(row.notebook, ()) else "visible"})
    return {"score": sum(r.score for r in rows), "output_format": "text", "tests": tests,
            "output": "; ".join(f"{r.notebook}: {r.status}" + (f" ({r.reason})" if r.reason else "")
                                for r in rows)}


def parse_time(text: str):
    """A naive UTC datetime for an ISO 8601 time as nbgrader writes them ("2026-11-20
    12:00:00.123456 UTC", "...+01:00"), or ValueError. Stricter than nbgrader's parse_utc,
    which also reads "12" or "May" as today's date, or an unknown zone as UTC."""
    import dateutil.tz
    from nbgrader.utils import parse_utc

    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?"
                        r"( ?(Z|[+-]\d{2}(:?\d{2})?| [A-Za-z][A-Za-z0-9/_+-]{0,40}))?", text):
        raise ValueError("not an ISO 8601 time")
    zone = text.split(" ")[2] if text.count(" ") == 2 else None
    if zone and not re.fullmatch(r"[+-]?\d+", zone) and dateutil.tz.gettz(zone) is None:
        raise ValueError(f"unknown time zone {zone!r}")
    text = re.sub(r" ([+-]\d{2}:?\d{2})$", r"\1", text)  # parse_utc would read " +0100" as 100 seconds
    try:
        return parse_utc(text)
    except (ValueError, OverflowError) as exc:
        raise ValueError(str(exc)[:80]) from exc


def read_timestamp(path: Path, now=None) -> tuple[str | None, str | None]:
    """(hand-in time as "YYYY-MM-DD HH:MM:SS.ffffff UTC", None), (None, why it cannot be used),
    or (None, None) without a timestamp.txt. Read without following a symlink or blocking on
    a FIFO, and at most MAX_TIMESTAMP_BYTES; times before 2000 or after tomorrow are refused."""
    import datetime as dt
    import errno
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"timestamp.txt cannot be read ({'a symlink, not followed' if exc.errno == errno.ELOOP else exc.strerror})"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, "timestamp.txt is not a regular file"
        data = os.read(fd, MAX_TIMESTAMP_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_TIMESTAMP_BYTES:
        return None, f"timestamp.txt is {info.st_size} bytes, not a time"
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None, "timestamp.txt is not text"
    if not text:
        return None, "timestamp.txt is empty"
    try:
        when = parse_time(text)
    except ValueError as exc:
        return None, f"timestamp.txt says '{shown(text)[:60]}', not a time ({exc})"
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    if not dt.datetime(2000, 1, 1) <= when <= now + dt.timedelta(days=1):
        return None, f"timestamp.txt says '{shown(text)[:60]}', not a plausible hand-in time"
    return when.strftime("%Y-%m-%d %H:%M:%S.%f UTC"), None


def grade_submission(task: Task) -> dict:
    """Grade one student's submission of one assignment. Runs in a worker process.

    Never raises: any failure becomes a status, so the batch always completes.
    """
    runner.mark_started(task)
    try:
        return _grade_submission(task)
    except Exception as exc:  # noqa: BLE001
        import traceback

        return failed_result(task, f"{type(exc).__name__}: {str(exc)[:200]}", traceback.format_exc()[-2000:])


def failed_result(task: Task, why: str, error: str | None = None) -> dict:
    """The result of a submission the grader could not grade: each notebook 0 points, status
    ``invalid_notebook`` with ``why``; marked as an error, so the ledger does not keep it and
    the next run tries again."""
    rows = [Row(task.student, task.assignment, name, "invalid_notebook", 0.0, task.max_scores.get(name, 0.0),
                f"grading failed: {why}", ["error"]) for name in task.notebooks]
    return {"rows": rows, "grades": {}, "error": error or why, "timestamp": None}


def _grade_submission(task: Task) -> dict:
    """inspect -> autograde -> scores -> feedback, in a scratch course of this submission's own."""
    import warnings

    warnings.filterwarnings("ignore")  # nbformat/SQLAlchemy chatter; problems become statuses
    logging.getLogger("traitlets").setLevel(logging.ERROR)  # nbgrader's per-cell warnings, likewise
    from bngrader.fsguard import remove_tree

    start = time.monotonic()
    work = Path(task.work)
    remove_tree(work)
    course = work / "course"
    staged = course / "submitted" / task.student / task.assignment
    staged.mkdir(parents=True)
    (work / "run").mkdir()
    db = course / "gradebook.db"
    shutil.copyfile(task.template_db, db)
    log_lines: list[str] = []
    timing = {}

    def lap(stage):
        timing[stage] = round(time.monotonic() - start - sum(timing.values()), 3)

    flags, valid, timestamp = _inspect_submission(task, Path(task.folder), staged)
    lap("prepare")
    if valid:
        _autograde(course, db, task, flags, valid, log_lines)
        _kernel_events(work / "run", flags, valid)
    lap("autograde")
    rows, grades = _scores(course, db, task, flags, valid, start)
    lap("scores")
    _feedback(course, db, task, rows, valid, log_lines)
    if not task.options.keep_work:
        with contextlib.suppress(OSError):
            remove_tree(work)
    lap("feedback")
    return {"rows": rows, "grades": grades, "timestamp": timestamp, "log": log_lines[-20:], "timing": timing}


def _inspect_submission(task: Task, src: Path, staged: Path) -> tuple[dict[str, list], dict[str, bool], str | None]:
    """Look at what was handed in before nbgrader does (read only, links never followed): stage the
    notebooks, read timestamp.txt. Returns (flags, valid notebooks, hand-in time). Lateness is
    the main process's to judge (records.py), against the gradebook's due date and extensions."""
    flags, valid = _stage_notebooks(task, src, staged)
    timestamp, problem = read_timestamp(src / "timestamp.txt")
    if timestamp:  # nbgrader reads the checked, normalised time, never the student's file
        (staged / "timestamp.txt").write_text(timestamp)
    for name in task.notebooks:
        if problem:
            flags[name].append(("bad_timestamp", f"{problem}; graded without a hand-in time"))
    return flags, valid, timestamp


def _autograde(course: Path, db: Path, task: Task, flags: dict, valid: dict, log_lines: list[str]) -> None:
    """Stock nbgrader ``Autograde``, in this process, on the private gradebook ``db``."""
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory

    config = _course_config(course, db, task.assignment, task.student, task.options)
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


EVENT_STATUS = {"timeout": "timeout", "not_run": "timeout", "kernel_died": "kernel_died", "output_truncated": "graded"}


def _kernel_events(run: Path, flags: dict, valid: dict) -> None:
    """What HardenedExecute recorded per notebook (timeouts, dead kernels, dropped output) as flags."""
    for name in valid:
        events_file = run / f"events-{name}.json"
        for ev in json.loads(events_file.read_text()) if events_file.exists() else []:
            if ev["kind"] in EVENT_STATUS:
                flags[name].append((EVENT_STATUS[ev["kind"]], ev["detail"]))


def _scores(course: Path, db: Path, task: Task, flags: dict, valid: dict, start: float) -> tuple[list[Row], dict]:
    """One row per notebook (status, score, each test cell) and the grades to merge, from the private
    gradebook; a notebook that was not graded gets 0 on each cell."""
    from nbgrader.api import Gradebook

    assignment, student = task.assignment, task.student
    rows, grades = [], {}
    with Gradebook(f"sqlite:///{db}") as gb:
        for name in task.notebooks:
            cells, score, nb_grades, hints, written = {}, 0.0, {}, {}, []
            autograded = course / "autograded" / student / assignment / f"{name}.ipynb"
            if name in valid and autograded.exists() and not any(k == "invalid_notebook" for k, _ in flags[name]):
                sub_nb = gb.find_submission_notebook(name, assignment, student)
                for g in sub_nb.grades:
                    cells[g.name] = (float(g.score), float(g.max_score))
                    nb_grades[g.name] = {"auto_score": g.auto_score, "needs_manual_grade": g.needs_manual_grade}
                    if g.cell.cell_type == "markdown":
                        written.append(g.name)
                score = float(sub_nb.score)
                graded_nb, _ = _read_notebook(autograded)
                hints = cell_hints(graded_nb, set(cells)) if graded_nb else {}
            else:
                cells = {cell: (0.0, mx) for cell, mx in task.cell_max[name].items()}
                written = [c for c, given in task.release_cells[name]["cells"].items() if given.get("written")]
            grades[name] = nb_grades
            status, reason = _status(flags[name])
            rows.append(Row(student, assignment, name, status, score, task.max_scores[name], reason,
                            sorted({k for k, _ in flags[name]} - {"graded"}), cells, round(time.monotonic() - start, 2),
                            hints, written=sorted(written)))
    return rows, grades


MAX_HINT_CHARS = 300


def cell_hints(nb, grade_ids: set[str]) -> dict[str, str]:
    """Test cell -> the first line of the error it raised ("CheckFailed: batchnorm_forward is
    wrong ..."), for the test cells of ``grade_ids`` that raised one: the message the student
    sees, kept for the class report and Gradescope. Student-controlled text: data, never markup."""
    hints = {}
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid not in grade_ids or cell.get("cell_type") != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                ename, evalue = str(out.get("ename", "")), str(out.get("evalue", ""))
                first = next((ln.strip() for ln in evalue.splitlines() if ln.strip()), "")
                text = f"{ename}: {first}" if first else ename
                hints[gid] = shown(text)[:MAX_HINT_CHARS]
                break
    return hints


def _feedback(course: Path, db: Path, task: Task, rows: list[Row], valid: dict, log_lines: list[str]) -> None:
    """Feedback pages without hidden tests (stock GenerateFeedback, hardened), copied out with the
    autograded notebooks; the Gradescope results.json when asked for. Both say which test cells
    failed a hidden test after passing their visible checks (HardenedExecute's events)."""
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory

    from bngrader.feedback import hidden_failures

    assignment, student, opts, out = task.assignment, task.student, task.options, Path(task.out)
    hidden = hidden_failures(Path(task.work) / "run", [r.notebook for r in rows if r.notebook in valid])
    if any(r.status != "missing" and r.notebook in valid for r in rows):
        config = _course_config(course, db, assignment, student, opts)
        config.LabelFeedback.hidden_failed = {name: sorted(ids) for name, ids in hidden.items()}
        fb = GenerateFeedback(coursedir=CourseDirectory(config=config), config=config)
        fb.log.setLevel(logging.ERROR)
        try:
            fb.start()
        except Exception as exc:  # noqa: BLE001
            log_lines.append(f"feedback failed: {exc}")
    _copy_back(course, out, student, assignment, [r.notebook for r in rows if r.notebook in valid])
    if opts.gradescope:
        gs = out / "gradescope" / student / assignment
        gs.mkdir(parents=True, exist_ok=True)
        (gs / "results.json").write_text(json.dumps(_gradescope(rows, hidden), indent=1))


MAX_OUTPUT_FILE_BYTES = 256 * 2**20  # a feedback page or graded notebook larger than this is not copied


def _copy_back(course: Path, out: Path, student: str, assignment: str, notebooks: list[str]) -> None:
    """Copy what the instructor and the student get: ``feedback/<student>/<assignment>/`` holds
    exactly one HTML page per graded notebook and ``autograded/...`` exactly the autograded
    notebooks. Nothing else nbgrader copied along (timestamp.txt, files next to the notebook)
    is handed out, and only regular files are copied (a link is refused, not followed)."""
    from bngrader.fsguard import UnsafeFile, copy_regular, remove_tree

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
    if (out / "feedback" / student / assignment).is_dir():
        _install_mathjax(out, out / "feedback" / student / assignment)


@functools.lru_cache(maxsize=1)
def _mathjax_key() -> str:
    """Content hash of the course's MathJax files, once per process."""
    from bngrader.sanitize import mathjax_files

    files, digest = mathjax_files(), hashlib.sha256()
    for rel in sorted(files):
        digest.update(rel.encode() + b"\0" + hashlib.sha256(files[rel]).digest())
    return digest.hexdigest()[:12]


def _install_mathjax(out: Path, target: Path) -> None:
    """The course's MathJax next to a feedback page (the page loads ``mathjax/MathJax.js``; nothing
    from a CDN). Written from the installed package, never from the submission's work area, and
    hard-linked to one copy per output folder, so a class costs its size once."""
    from bngrader.sanitize import mathjax_files

    files = mathjax_files()
    shared = out / "work" / f"mathjax-{_mathjax_key()}"
    for rel, data in files.items():
        source, dest = shared / rel, target / rel
        if not source.is_file():
            source.parent.mkdir(parents=True, exist_ok=True)
            tmp = source.with_name(f".{source.name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, dest)
        except OSError:  # another file system: a copy
            dest.write_bytes(data)


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

def _generate(db: Path, release: Path, assignments: list[str]):
    """Stock ``nbgrader generate_assignment`` for ``assignments``, in-process, into ``db``."""
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    from bngrader.course import grading_env

    os.environ.update(grading_env())  # nbgrader's Gradebook calls `alembic` by name
    c = Config()
    settings.apply(c)
    c.CourseDirectory.root = str(ROOT)
    c.CourseDirectory.release_directory = str(release)
    c.CourseDirectory.db_url = f"sqlite:///{db}"
    c.GenerateAssignment.force = True
    for assignment in assignments:
        c.CourseDirectory.assignment_id = assignment
        conv = GenerateAssignment(coursedir=CourseDirectory(config=c), config=c)
        conv.log.setLevel(logging.ERROR)
        conv.start()


def _cells_in(db: Path) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{db}") as gb:
        return {(a.name, nb.name): sorted((c.name, c.checksum) for c in nb.source_cells)
                for a in gb.assignments for nb in a.notebooks}


def prepare(out: Path, master_db: Path, assignments: list[str]) -> tuple[Path, dict]:
    """``assignments`` as stock ``generate_assignment`` records them, once per version of their
    solutions: a template gradebook (each submission gets a private copy of it) and the released
    notebooks. The course gradebook gets them too, when it lacks them or they changed; it keeps
    every other assignment as it is. Returns (template, {assignment: (max per notebook, cells per
    notebook, release cells)})."""
    from nbgrader.api import Gradebook

    assignments = sorted(set(assignments))
    h = hashlib.sha256()
    for assignment in assignments:
        for path in sorted((ROOT / "solutions" / assignment).glob("*.ipynb")):
            h.update(str(path.relative_to(ROOT)).encode() + path.read_bytes())
    key = h.hexdigest()[:16]
    cache = out / "work" / f"template-{key}"
    template, release = cache / "gradebook.db", cache / "release"
    if not template.exists():
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True)
        _generate(cache / "building.db", release, assignments)
        os.replace(cache / "building.db", template)
    if not master_db.exists():
        master_db.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, master_db)
    else:
        wanted = _cells_in(template)
        have = _cells_in(master_db)
        stale = {a for (a, notebook), cells in wanted.items() if have.get((a, notebook)) != cells}
        if stale:
            _generate(master_db, cache / "release-master", sorted(stale))
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

    with Gradebook(f"sqlite:///{master_db}") as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy autoflush chatter inside nbgrader's API
        gb.update_or_create_student(student)
        when = _time_or_none(result.get("timestamp"))
        kwargs = {"timestamp": when} if when else {}
        gb.update_or_create_submission(assignment, student, **kwargs)
        for notebook, cells in result["grades"].items():
            for cell, values in cells.items():
                grade = gb.find_grade(cell, notebook, assignment, student)
                grade.auto_score = values["auto_score"]
                grade.needs_manual_grade = values["needs_manual_grade"]
        for row in result["rows"]:
            if not result["grades"].get(row.notebook):
                sub_nb = gb.find_submission_notebook(row.notebook, assignment, student)
                for g in sub_nb.grades:
                    g.auto_score, g.needs_manual_grade = 0.0, False
        gb.db.commit()


def _time_or_none(text: str | None):
    """The time in ``text`` (checked by the worker; a ledger from an older grader may hold
    anything), or None: a bad time is never a reason not to record the grades."""
    try:
        return parse_time(text) if text else None
    except ValueError:
        return None


def record(master_db: Path, result: dict, assignment: str, student: str) -> dict:
    """:func:`merge` ``result`` into the course gradebook; if the gradebook refuses it, the
    submission's rows become ``rejected`` with the reason (and the would-be score), the result
    is marked as an error (so it is not kept in the ledger: the next run tries again), and the
    other submissions carry on."""
    try:
        merge(master_db, result, assignment, student)
        return result
    except Exception as exc:  # noqa: BLE001 - one submission's failure stays its own
        import traceback

        why = f"grades not recorded: the gradebook refused them ({type(exc).__name__}: {str(exc)[:200]})"
        rows = [replace(row, status="rejected", score=0.0, flags=sorted({*row.flags, "rejected"}),
                        reason=f"{why}; it scored {row.score:g}/{row.max_score:g}"
                               + (f"; {row.reason}" if row.reason else "")) for row in result["rows"]]
        return {**result, "rows": rows, "error": traceback.format_exc()[-2000:]}


def rejected_rows(student: str, reason: str, assignment: str, maxes: dict, cell_max: dict) -> list[Row]:
    """The rows of a submission that could not be taken in: one per notebook, score 0."""
    return [Row(student, assignment, name, "rejected", 0.0, maxes[name], reason, ["rejected"],
                {c: (0.0, mx) for c, mx in cell_max[name].items()}) for name in sorted(maxes)]


def apply_notes(result: dict, notes: list[tuple[str, str]]) -> dict:
    """``result`` with the problems of the student's input files (e.g. a corrupt zip member,
    never extracted) in its rows: a notebook whose file is one of them, or that is missing
    while some file of the submission is, becomes ``invalid_notebook`` with that reason;
    other notebooks keep their status and get the reason added."""
    if not notes:
        return result
    names = {row.notebook for row in result["rows"]}
    rows = []
    for row in result["rows"]:
        own = [why for f, why in notes if Path(f).stem == row.notebook]
        stray = [why for f, why in notes if Path(f).stem not in names]
        reasons = "; ".join(own + stray)
        row = replace(row, reason=reasons + (f"; {row.reason}" if row.reason else ""))
        if (own or row.status == "missing") and SEVERITY.index("invalid_notebook") < SEVERITY.index(row.status):
            row = replace(row, status="invalid_notebook", flags=sorted({*row.flags, "invalid_notebook"}))
        rows.append(row)
    return {**result, "rows": rows}


class Progress:
    """One progress bar per class: a redrawn line on a terminal, a line per 10% in logs.

    Not ``rich.progress`` (installed with Keras): away from a terminal (CI, a cluster job's log)
    rich draws nothing until the bar stops, where a grading log needs a line per 10%."""

    def __init__(self, total: int, workers: int, label: str):
        self.total, self.done, self.flagged, self.start = total, 0, 0, time.monotonic()
        self.workers, self.label, self.tty = workers, label, sys.stderr.isatty()
        self.last_decile = -1

    def update(self, rows: list[Row]):
        self.done += 1
        self.flagged += any(r.status != "graded" for r in rows)
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


def _warm_worker():
    """Import nbgrader and the grading code once per worker, not once per submission.
    Ctrl-C is the main process's to handle: it stops the workers."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import nbgrader.converters  # noqa: F401

    from bngrader import hardened  # noqa: F401


def grade_class(assignments: list[str], options: GradeOptions = GradeOptions(), *, submitted: Path | None = None,
                zip_path: Path | None = None, pattern: str = DEFAULT_PATTERN, out: Path = INSTRUCTOR,
                workers: int | None = None, scheduler: str | None = None, task_timeout: float | None = None,
                regrade: bool = False, gradebook: Path | None = None, quiet: bool = False,
                deadline: str | None = None, late_policy: str | None = None) -> list[Row]:
    """Grade every submission of ``assignments``; write grades/<assignment>.csv, grades.csv and friends
    under ``out``. ``deadline`` (ISO time) is recorded as the assignments' due date in the gradebook;
    ``late_policy`` overrides the course's late policy for this run (bngrader.late). Returns the rows
    of the graded assignments as written. Raises :class:`GradingError` for a problem with the run."""
    from bngrader import records
    from bngrader.course import grading_env

    os.environ.update(grading_env())  # nbgrader calls `alembic` by name; workers inherit this
    if Path(out).resolve() == INSTRUCTOR:
        settings.migrate_instructor_data()
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    workers = workers or default_workers()
    options = replace(options, sandbox=_check_run(assignments, options.sandbox, deadline, late_policy, quiet))
    master_db = Path(gradebook).resolve() if gradebook else out / "gradebook.db"
    template, info = prepare(out, master_db, assignments)
    if deadline:
        set_due_date(master_db, assignments, parse_time(deadline))
    tasks, results, rejected, notes = [], {}, [], {}
    for assignment in assignments:
        intake = _take_in(assignment, submitted, zip_path, pattern, out)
        maxes, cell_max, given = info[assignment]
        notebooks = sorted(maxes)
        base = {"assignment": assignment, "notebooks": notebooks, "max_scores": maxes, "cell_max": cell_max,
                "release_cells": given, "template_db": str(template), "out": str(out), "options": options,
                "grader": grader_version(assignment)}
        new, cached, refused = _plan(intake, base, out, regrade, notes)
        tasks += new
        results.update(cached)
        for student, reason in refused:
            rejected += rejected_rows(student, reason, assignment, maxes, cell_max)
        if not quiet:
            _say_plan(assignment, intake, len(cached), refused)
    if tasks:
        _run(tasks, results, notes, master_db, out, workers, scheduler,
             task_timeout or options.notebook_timeout + 600, options.sandbox, "class" if len(assignments) > 1 else assignments[0],
             quiet)
    unrecorded = {a: [r for r in rejected if r.assignment == a] for a in assignments}  # not in the ledger
    for key in sorted(results):
        if results[key].get("error"):
            unrecorded[key[0]] += results[key]["rows"]
    return records.update(master_db, out, unrecorded, {a: records.cell_order(info[a][1]) for a in assignments},
                          late_policy)


def set_due_date(master_db: Path, assignments: list[str], when) -> None:
    """Record ``when`` (naive UTC) as the due date of ``assignments`` in the course gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{master_db}") as gb:
        for assignment in assignments:
            gb.update_or_create_assignment(assignment, duedate=when)


def _check_run(assignments: list[str], sandbox: str, deadline: str | None, late_policy: str | None,
               quiet: bool) -> str:
    """Check the run's arguments; returns the sandbox to use ('auto' resolved)."""
    from bngrader.sandbox import sandbox_available

    if sandbox == "auto":
        sandbox = "bwrap" if sandbox_available() else "none"
    if sandbox == "bwrap" and not sandbox_available():
        raise GradingError("--sandbox bwrap, but bubblewrap is missing or cannot create namespaces here "
                           "(apt-get install bubblewrap).")
    if sandbox == "none" and not quiet:
        print("warning: no sandbox (bubblewrap is not available): student code can read this machine's files "
              "and use the network. Hidden tests still run outside the students' kernels.", file=sys.stderr)
    have = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir())
    for assignment in assignments:
        if assignment not in have:
            raise GradingError(f"no assignment {assignment!r} in solutions/ (have: {', '.join(have)})")
    if deadline:
        try:
            parse_time(deadline)
        except ValueError as exc:
            raise GradingError(f"--deadline {deadline!r} is not a time ({exc}); e.g. '2026-12-01 23:59 UTC'") from exc
    if late_policy:
        from bngrader.late import parse_policy

        try:
            parse_policy(late_policy)
        except ValueError as exc:
            raise GradingError(f"--late-penalty: {exc}") from exc
    return sandbox


def _plan(intake: Intake, base: dict, out: Path, regrade: bool, notes: dict):
    """One assignment's submissions -> (tasks to grade, results the ledger already has, refused ones)."""
    assignment = base["assignment"]
    options = {**asdict(base["options"]), "assignment": assignment, "version": LEDGER_VERSION, "grader": base["grader"]}
    ledger = out / "ledger" / assignment
    ledger.mkdir(parents=True, exist_ok=True)
    tasks, cached, refused = [], {}, list(intake.rejected)
    flags = copy_flags(intake.subs, base["notebooks"], assignment)
    for student, folder in intake.subs.items():
        notes[assignment, student] = intake.notes.get(student, [])
        try:
            problem = check_student_id(student)  # whatever the source: it becomes a path below
            fp = None if problem else fingerprint(folder, {**options, "flags": flags[student]})
        except Exception as exc:  # noqa: BLE001 - an unreadable submission is its own problem
            problem = f"cannot read {shown(str(folder))}: {type(exc).__name__}: {str(exc)[:200]}"
        if problem:
            refused.append((shown(student), problem))
            continue
        entry = ledger / f"{student}.json"
        saved = None if regrade else _ledger_entry(entry, fp)
        if saved is not None:
            cached[assignment, student] = apply_notes(saved, notes[assignment, student])
            continue
        tasks.append(Task(**base, student=student, folder=str(folder), work=str(out / "work" / assignment / student),
                          flags=flags[student], fingerprint=fp, ledger=str(entry),
                          started=str(out / "work" / assignment / f".{student}.started"),
                          token=f"{assignment}/{student}/{os.getpid()}/{time.time_ns()}"))
    return tasks, cached, refused


def _say_plan(assignment: str, intake: Intake, cached: int, refused: list) -> None:
    handed_in = len(intake.subs) + len(intake.rejected)
    print(f"{assignment}: {handed_in} submissions, {cached} already graded, "
          f"{handed_in - len(refused) - cached} to grade" + (f", {len(refused)} rejected:" if refused else ""),
          file=sys.stderr)
    for student, reason in refused:
        print(f"  rejected {student}: {reason}", file=sys.stderr)


def _run(tasks, results, notes, master_db, out, workers, scheduler, task_timeout, sandbox, label, quiet):
    """Grade ``tasks`` on the workers; merge each result into the gradebook and the ledger as it comes."""
    n = min(workers, len(tasks))
    if not quiet:
        print(f"grading {len(tasks)} submissions with {n} workers "
              f"({'dask ' + scheduler if scheduler else 'processes'}, sandbox: {sandbox})", file=sys.stderr)
    progress = Progress(len(tasks), n, label)

    def on_result(task, raw):
        key = task.assignment, task.student
        result = record(master_db, apply_notes(raw, notes[key]), *key)
        results[key] = result
        if result.get("error"):  # a grader failure is not a result: retried next run
            print(f"\n{task.student}: grading failed:\n{result['error']}", file=sys.stderr)
        else:
            entry = Path(task.ledger)
            tmp = entry.with_name(f".{entry.name}.tmp")
            tmp.write_text(json.dumps({"fingerprint": task.fingerprint, "result": rows_as_data(raw),
                                       "notes": notes[key]}))
            os.replace(tmp, entry)
        if not quiet:
            progress.update(result["rows"])

    fn, remote_args = grade_submission, {}
    if runner.is_remote(scheduler):  # workers without this machine's files: bytes both ways (remote.py)
        from bngrader import remote

        fn, on_result = remote.grade_packed, remote.unpacking(on_result, out)
        remote_args = {"pack": remote.pack, "shared": remote.shared_payload(tasks)}
    try:
        runner.run(tasks, fn, on_result, failed_result, workers=n, scheduler=scheduler,
                   initializer=_warm_worker, task_timeout=task_timeout, **remote_args)
    except KeyboardInterrupt:
        print(f"\ninterrupted: {len(results)} graded submissions are kept in {out / 'ledger'}; "
              "run the same command again to resume.", file=sys.stderr)
        raise


def _take_in(assignment: str, submitted: Path | None, zip_path: Path | None, pattern: str, out: Path) -> Intake:
    """One assignment's submissions, from the zip export or the submitted/ tree."""
    if zip_path:
        return unpack_zip(Path(zip_path), assignment, pattern, out / "work" / "zip" / assignment)
    return collect_submitted(Path(submitted or INSTRUCTOR / "submitted"), assignment)


def _ledger_entry(entry: Path, fp: str) -> dict | None:
    """The result kept for this fingerprint, or None (none kept, another one, or unreadable)."""
    try:
        saved = json.loads(entry.read_text())
        return rows_from_data(saved["result"]) if saved.get("fingerprint") == fp else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def default_workers() -> int:
    """All cores plus one: a worker waits while its kernel starts and answers, and the extra one
    fills those gaps (measured on 2 cores: 2 workers 204 s, 3 workers 170 s, 4 workers 171 s)."""
    return (os.cpu_count() or 1) + 1


def summary(statuses) -> str:
    """'3 graded, 1 late' for the given statuses, most serious first."""
    from collections import Counter

    counts = Counter(statuses)
    return ", ".join(f"{counts[s]} {s}" for s in SEVERITY if counts[s])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("assignments", nargs="+", help="assignment ids (folders of solutions/)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--submitted", type=Path, help="nbgrader submitted/ tree (default: instructor/submitted)")
    src.add_argument("--zip", type=Path, help="an LMS zip export (one assignment per run)")
    p.add_argument("--pattern", default=DEFAULT_PATTERN,
                   help="regex on zip member names with groups student_id and file_id (and optional timestamp, "
                        "and user_id: the student id is then <student_id>_<user_id>); default: Canvas's names")
    p.add_argument("--out", type=Path, default=INSTRUCTOR, help="where grades.csv, feedback/, autograded/ go "
                                                               "(default: instructor/, the nbgrader course folders)")
    p.add_argument("--gradebook", type=Path, help="gradebook to record grades in (default: <out>/gradebook.db)")
    p.add_argument("--workers", type=int, default=None, help="parallel submissions (default: cores + 1)")
    p.add_argument("--scheduler", help="run on Dask: 'local' for a local cluster, or a scheduler address")
    p.add_argument("--cell-timeout", type=int, default=120, help="seconds per cell (default 120)")
    p.add_argument("--notebook-timeout", type=int, default=900, help="seconds per notebook (default 900)")
    p.add_argument("--task-timeout", type=int, default=None,
                   help="seconds one submission may take in all, grading included; past it the submission is "
                        "stopped and marked (default: --notebook-timeout + 600)")
    p.add_argument("--memory-mb", type=int, default=3000, help="memory per kernel (default 3000 MB)")
    p.add_argument("--disk-mb", type=int, default=200,
                   help="disk quota per kernel: bytes it may write, also its largest file (default 200 MB)")
    p.add_argument("--max-files", type=int, default=2000, help="files a kernel may create (default 2000)")
    p.add_argument("--sandbox", choices=["auto", "bwrap", "none"], default="auto")
    p.add_argument("--deadline", help="ISO time, recorded as the assignments' due date in the gradebook (it stays "
                                      "there for later runs); later hand-ins (timestamp.txt) are late")
    p.add_argument("--late-penalty", metavar="POLICY",
                   help="none, zero, per_day or per_day:PERCENT, for this run (default: the course's policy in "
                        "autograder/nbgrader_config.py, 10%% of the score per started day late)")
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
        options = GradeOptions(cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
                               memory_mb=args.memory_mb, disk_mb=args.disk_mb, max_files=args.max_files,
                               sandbox=args.sandbox, gradescope=args.gradescope, keep_work=args.keep_work)
        rows = grade_class(args.assignments, options, submitted=args.submitted, zip_path=args.zip,
                           pattern=args.pattern, out=args.out, workers=args.workers, scheduler=args.scheduler,
                           task_timeout=args.task_timeout, regrade=args.regrade, gradebook=args.gradebook,
                           deadline=args.deadline, late_policy=args.late_penalty)
    except KeyboardInterrupt:
        return 130
    except GradingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = args.out.resolve()
    print(f"graded {len(rows)} notebooks in {time.monotonic() - start:.1f} s: {summary(r.status for r in rows) or 'nothing to grade'}")
    print(f"  grades:    {out / 'grades'}/<assignment>.csv, all assignments in {out / 'grades.csv'}"
          f"\n  feedback:  {out / 'feedback'}/<student>/<assignment>/"
          f"\n  gradebook: {args.gradebook or out / 'gradebook.db'}\n  report:    {out / 'report.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
