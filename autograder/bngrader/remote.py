"""Grading on a Dask cluster that shares no file with the instructor's machine.

``bngrader grade A --scheduler tcp://host:8786`` (any address but ``local``) grades on workers that
have the course's packages installed (``bngrader``, ``bncourse``, nbgrader and the rest of
``requirements.txt``) and the MNIST files, but no course folder, no submissions and no output
folder. What crosses the network:

* **to every worker, once** (:func:`shared_payload`, sent with ``client.scatter(...,
  broadcast=True)`` by ``runner.run``): the template gradebook's bytes, the release cells of each
  assignment, and the reference checks' modules (``autograder/reference/*.py``: instructor code,
  sent to instructor-run workers). A worker writes them once per content hash into its temporary
  folder (``bngrader-shared-<hash>``) and puts that copy of the reference on the grader's own
  import path (:func:`bngrader.reference.enable`); kernels never see it, as on one machine.
* **with each task** (:func:`pack`, on the instructor's machine, just before the task is
  submitted): the submission's notebooks and its checked hand-in time, read as ``grade.py``
  stages them (no link followed, regular files only, :data:`grade.MAX_NOTEBOOK_BYTES` each), and
  what reading the folder found (links, special or oversized files, an unreadable notebook or
  ``timestamp.txt``) as the task's flags, worded as ``grade.py`` words them. Nothing else of the
  folder is read or sent: on one machine too, only the notebooks and the checked time are
  staged for nbgrader.
* **back with each result**: the rows and grades, and the feedback pages, autograded notebooks
  and Gradescope ``results.json`` as bytes (each capped at :data:`grade.MAX_OUTPUT_FILE_BYTES`).

The worker grades in its own temporary folder (:func:`grade_packed`); only the instructor's
machine writes the output folder (:func:`unpacking`: ``feedback/``, ``autograded/``,
``gradescope/``, MathJax next to each page), then merges into the gradebook and the ledger as
for a local run. A worker whose ``bngrader`` differs from the instructor's (:func:`package_digest`)
refuses the tasks ("grading failed", retried on the next run); so does a worker where the sandbox
the instructor's machine chose (bubblewrap) does not work. nbgrader's source folder
(``solutions/<assignment>/``) does not exist on a worker: only its notebooks and ``*.py`` are
in it today, which nbgrader does not copy anyway. The per-task deadline (``--task-timeout``) is measured by the client from the
moment the worker reports the task started (a Dask event, see ``runner.py``); an overdue task's
worker is restarted by its nanny.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from bngrader import grade
from bngrader.settings import PACKAGE, reference_files

OUTPUTS = ("feedback", "autograded", "gradescope")  # what a worker hands back, per student and assignment
OUTPUT_NAME = re.compile(r"[A-Za-z0-9_@+-][A-Za-z0-9_.@+-]{0,199}")


@dataclass(frozen=True)
class Packed:
    """One submission as it travels to a remote worker: the task (its local paths blanked) and
    the bytes it needs. ``files``: top-level ``*.ipynb`` name -> bytes, or None for an entry that
    was not read (a link, too big, unreadable: its flag says so, and it is never graded)."""

    task: grade.Task
    files: dict
    timestamp: str | None  # the checked hand-in time, or None


# ============================================================================ instructor's machine

def shared_payload(tasks: list[grade.Task]) -> dict:
    """What every task of the run needs, sent once to each worker: the template gradebook, the
    release cells per assignment, the reference checks; ``key`` is their content hash."""
    template = Path(tasks[0].template_db).read_bytes()
    reference = {name: p.read_bytes() for name, p in reference_files().items()}
    release = {t.assignment: t.release_cells for t in tasks}
    h = hashlib.sha256(template)
    for name, data in reference.items():
        h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    h.update(repr(sorted(release.items())).encode())
    return {"key": h.hexdigest()[:16], "template": template, "reference": reference, "release_cells": release,
            "package": package_digest()}


@functools.lru_cache(maxsize=1)
def package_digest() -> str:
    """Hash of the installed grading package (its modules and templates): a worker whose copy
    differs from the instructor's refuses to grade (it would grade differently)."""
    h = hashlib.sha256()
    for path in sorted([*PACKAGE.glob("*.py"), *PACKAGE.glob("templates/*/*.j2")]):
        h.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def pack(task: grade.Task) -> Packed:
    """Read one submission for a remote worker, as :func:`grade._stage_notebooks` would read it
    on this machine; what the worker cannot see again (links, special files, unreadable files,
    the hand-in time's problem) is added to the task's flags with the words ``grade.py`` uses."""
    from bngrader.fsguard import UnsafeFile, read_regular, scan_folder

    src, names = Path(task.folder), task.notebooks
    flags = {n: [tuple(f) for f in task.flags.get(n, [])] for n in names}
    files: dict[str, bytes | None] = {}
    if os.path.islink(src) or os.path.islink(src.parent):
        for name in names:
            flags[name].append(("suspicious", "the submission folder is a symbolic link (not graded)"))
    else:
        _, problems = scan_folder(src, hash_files=False)
        others = [p for p in problems if not re.match(r"[^/]*\.ipynb |timestamp\.txt ", p)]
        listing = grade.submitted_notebooks(src)
        files = dict.fromkeys(listing)  # every name (the worker's "found ..." and renamed logic), unread
        for name in names:
            flags[name] += [("suspicious", p) for p in others]
            if any(r.endswith("(not graded)") for _, r in flags[name]):
                continue
            path, renamed = grade.pick_notebook(listing, name, names)
            if path is None:
                continue
            try:
                files[path.name] = read_regular(path, grade.MAX_NOTEBOOK_BYTES)
            except UnsafeFile as exc:
                if renamed:
                    flags[name].append(("renamed", f"graded {path.name} (expected {name}.ipynb)"))
                link = "symbolic link" in str(exc)
                flags[name].append(("suspicious" if link else "invalid_notebook", f"{exc} (not graded)"))
    timestamp, problem = grade.read_timestamp(src / "timestamp.txt")
    if problem:
        for name in names:
            flags[name].append(("bad_timestamp", f"{problem}; graded without a hand-in time"))
    sent = replace(task, folder="", template_db="", out="", work="", ledger="", started="", release_cells={},
                   flags=flags)
    return Packed(sent, files, timestamp)


def unpacking(on_result, out: Path):
    """``on_result`` that first writes a remote result's files into ``out`` (as ``_copy_back``
    does on one machine), then hands the result on without them."""

    def write_then_record(task, raw):
        files = raw.pop("files", None) if isinstance(raw, dict) else None
        if files is not None:
            write_outputs(Path(out), task.student, task.assignment, files)
        on_result(task, raw)

    return write_then_record


def write_outputs(out: Path, student: str, assignment: str, files: dict) -> None:
    """``files`` ("feedback/<name>.html" ... -> bytes) into ``out/<sub>/<student>/<assignment>/``:
    the feedback and autograded folders are replaced, as on one machine; names are checked, no
    link is written through, and MathJax is put next to the feedback pages."""
    from bngrader.fsguard import remove_tree

    for sub in ("feedback", "autograded"):
        remove_tree(out / sub / student / assignment)
    for rel, data in sorted(files.items()):
        sub, _, name = rel.partition("/")
        if sub not in OUTPUTS or not OUTPUT_NAME.fullmatch(name) or ".." in name or not isinstance(data, bytes) \
                or len(data) > grade.MAX_OUTPUT_FILE_BYTES:
            print(f"{student}: {assignment}: result file {grade.shown(rel)[:100]!r} refused", file=sys.stderr)
            continue
        target = out / sub / student / assignment
        target.mkdir(parents=True, exist_ok=True)
        _write_new(target / name, data)
    if (out / "feedback" / student / assignment).is_dir():
        grade._install_mathjax(out, out / "feedback" / student / assignment)


def _write_new(path: Path, data: bytes) -> None:
    if os.path.lexists(path):
        os.unlink(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


# ============================================================================ worker

_SAFE_NAME = re.compile(r"[^/\x00]{1,255}")


def _prepare_worker(shared: dict) -> Path:
    """This worker's copy of the shared payload (written once per content hash, atomically), the
    reference checks made importable from it, nbgrader's ``alembic`` on PATH. Returns the copy."""
    from bngrader import reference

    if shared.get("package") != package_digest():
        raise RuntimeError(f"this worker's bngrader ({package_digest()}) is not the instructor's "
                           f"({shared.get('package')}): install the same version of the course's packages")
    bindir = os.path.dirname(os.path.abspath(sys.executable))
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join(p for p in (bindir, os.environ.get("PATH")) if p)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    key = shared["key"]
    if not re.fullmatch(r"[0-9a-f]{16}", key):
        raise ValueError(f"bad shared key {key!r}")
    home = Path(tempfile.gettempdir()) / f"bngrader-shared-{key}"
    if not (home / "gradebook.db").is_file():
        build = Path(tempfile.mkdtemp(prefix=f".bngrader-shared-{key}-"))
        (build / "reference").mkdir()
        for name, data in shared["reference"].items():
            if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*\.py|concepts/[A-Za-z0-9_]+\.toml", name):
                (build / "reference" / name).parent.mkdir(exist_ok=True)
                (build / "reference" / name).write_bytes(data)
        (build / "gradebook.db").write_bytes(shared["template"])
        try:
            os.rename(build, home)
        except OSError:  # another worker process on this machine was first
            from bngrader.fsguard import remove_tree

            remove_tree(build)
    reference.enable(home / "reference")
    return home


@functools.lru_cache(maxsize=1)
def _sandbox_works() -> bool:
    from bngrader.sandbox import sandbox_available

    return sandbox_available()


def check_sandbox(sandbox: str) -> None:
    """The instructor's machine chose the sandbox (``--sandbox``, or bwrap where it works there): a
    worker that cannot run it refuses the task ("grading failed", retried on the next run), rather
    than give every notebook a dead kernel and 0 points."""
    if sandbox == "bwrap" and not _sandbox_works():
        raise RuntimeError("bubblewrap is missing or cannot create namespaces on this worker "
                           "(apt-get install bubblewrap; in a container, allow user namespaces)")


def grade_packed(packed: Packed, shared: dict) -> dict:
    """Grade one packed submission on a remote worker, in a temporary folder of its own: the
    submission's bytes become a submission folder there, :func:`grade.grade_submission` grades
    it, and the result carries the files it wrote as bytes (``files``)."""
    from bngrader.fsguard import remove_tree

    task = packed.task
    home = _prepare_worker(shared)
    check_sandbox(task.options.sandbox)
    tmp = Path(tempfile.mkdtemp(prefix="bngrader-task-"))
    out = Path(tempfile.gettempdir()) / f"bngrader-out-{os.getpid()}"  # MathJax kept across tasks
    try:
        src = tmp / "submitted" / task.student / task.assignment
        src.mkdir(parents=True)
        for name, data in packed.files.items():
            if _SAFE_NAME.fullmatch(name) and name not in (".", "..") and name.endswith(".ipynb"):
                (src / name).write_bytes(data or b"")  # an unread entry: a placeholder, never graded
        if packed.timestamp:
            (src / "timestamp.txt").write_text(packed.timestamp)
        local = replace(task, folder=str(src), template_db=str(home / "gradebook.db"), out=str(out),
                        work=str(tmp / "work"), release_cells=shared["release_cells"][task.assignment])
        result = grade.grade_submission(local)
        result["files"] = _collect(out, task.student, task.assignment)
        return result
    finally:
        for sub in OUTPUTS:  # this submission's only: another thread may be grading another one
            with contextlib.suppress(OSError):
                remove_tree(out / sub / task.student / task.assignment)
        if not task.options.keep_work:
            with contextlib.suppress(OSError):
                remove_tree(tmp)


def _collect(out: Path, student: str, assignment: str) -> dict[str, bytes]:
    """The regular files grading wrote at the top of ``out/<sub>/<student>/<assignment>/``."""
    from bngrader.fsguard import UnsafeFile, read_regular

    files = {}
    for sub in OUTPUTS:
        folder = out / sub / student / assignment
        if not folder.is_dir():
            continue
        with os.scandir(folder) as it:
            for entry in sorted(it, key=lambda e: e.name):
                if entry.is_file(follow_symlinks=False):
                    with contextlib.suppress(UnsafeFile):
                        files[f"{sub}/{entry.name}"] = read_regular(Path(entry.path), grade.MAX_OUTPUT_FILE_BYTES)
    return files
