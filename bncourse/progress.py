"""A learner's progress, at a glance: every lesson's exercises, checked, in one command.

    python -m bncourse.progress [NOTEBOOKS_DIR] [--json] [--jobs N] [--no-cache] [--lessons 01 02 ...]
    make progress

Each lesson notebook (``NOTEBOOKS_DIR/<lesson>/<lesson>.ipynb``, default ``notebooks/``) is run from
the top in a fresh kernel, the way the **Validate** button runs it: in grading mode
(``NBGRADER_EXECUTION``), so ``%%demo`` cells are skipped and ``bncourse.budget`` picks the short
runs, and errors do not stop the run. The notebook file itself is never changed. Then, per lesson:

- every exercise (a check cell, named by its id without ``test_``) with its points, and
  ``✓`` (the check cell ran without an error), ``✗`` and the first line of the error (the check's
  hint), or ``not attempted``: the check did not pass and every answer cell it checks (the answer
  cells since the previous check cell) is still exactly as handed out (nbgrader's checksum of the
  released cell), or the check stopped on a ``NotImplementedError`` (the stub still runs);
- every written answer (a graded answer cell, marked by hand): ``answered`` or ``not yet``;
- the points earned (as nbgrader scores a cell: an error, or output on stderr, scores 0) out of the
  lesson's automatically checked points; and the course's total.

Only the visible checks of the notebooks run (the instructor's hidden tests are not in them, and the
instructor's reference is kept off the kernel's path). Lessons run in parallel, ``--jobs`` at a
time (default: one per CPU core). A lesson whose notebook and ``bncourse`` (this package and its
answer tables) have not changed since the last run is answered from the cache,
``NOTEBOOKS_DIR/.progress-cache/`` (git-ignored); ``--no-cache`` runs everything again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import time
import types
from pathlib import Path

FORMAT = 1  # the result's shape: bump it when that changes, and older cache entries are ignored
CACHE_DIR = ".progress-cache"
TIMEOUT = 300  # seconds per cell, as the Validate button's nbgrader_config.py
HINT_CHARS = 300
PASSED, FAILED, NOT_ATTEMPTED = "passed", "failed", "not_attempted"
MARK = {PASSED: "✓", FAILED: "✗", NOT_ATTEMPTED: "·"}
STUB = {"code": ("YOUR CODE HERE", "raise NotImplementedError"), "markdown": ("YOUR ANSWER HERE",)}
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# --- which notebooks ---------------------------------------------------------------------------


def cpu_count() -> int:
    """The cores this process may use (a container's or a CPU affinity's limit, not the machine's)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def find_lessons(folder: Path, only: list[str] | None = None) -> list[Path]:
    """The lesson notebooks under ``folder``: ``<lesson>/<lesson>.ipynb`` (another notebook of a
    lesson folder only when the folder has none of its own name), or ``folder``'s own notebooks,
    or ``folder`` itself when it is a notebook. ``only``: lesson names or prefixes (``01``)."""
    folder = Path(folder)
    if folder.is_file():
        found = [folder]
    else:
        found = []
        for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
            own = sub / f"{sub.name}.ipynb"
            found += [own] if own.is_file() else sorted(sub.glob("*.ipynb"))
        found = found or sorted(folder.glob("*.ipynb"))
    if only:
        unknown = [o for o in only if not any(p.stem.startswith(o) for p in found)]
        if unknown:
            raise ValueError(f"no lesson named {', '.join(unknown)} in {folder}")
        found = [p for p in found if any(p.stem.startswith(o) for o in only)]
    return found


# --- nbgrader's cell roles ---------------------------------------------------------------------


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def checksum(cell) -> str:
    """nbgrader's checksum of a cell (``nbgrader.utils.compute_checksum``), which the release
    stores in every answer and check cell: equal means the cell is as it was handed out."""
    meta = _meta(cell)
    grade, solution = bool(meta.get("grade", False)), bool(meta.get("solution", False))
    locked = False if solution else (True if grade else bool(meta.get("locked", False)))
    m = hashlib.md5()
    for part in (cell["source"], cell["cell_type"], str(grade), str(solution), str(locked), meta["grade_id"]):
        m.update(str(part).encode("utf-8"))
    if grade:
        m.update(str(float(meta["points"])).encode("utf-8"))
    return m.hexdigest()


def unchanged(cell) -> bool:
    """The cell is as released: its checksum, or (a notebook without checksums) the stub text."""
    want = _meta(cell).get("checksum")
    if want:
        return checksum(cell) == want
    return all(s in cell["source"] for s in STUB.get(cell["cell_type"], ("\0",)))


def exercise_name(grade_id: str) -> str:
    """``test_batchnorm_forward`` -> ``batchnorm_forward``."""
    return grade_id[len("test_"):] if grade_id.startswith("test_") and len(grade_id) > 5 else grade_id


def _number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else round(float(x), 2)


# --- running a notebook ------------------------------------------------------------------------


def kernel_env(base: dict | None = None) -> dict[str, str]:
    """The kernel's environment: the learner's, in nbgrader's validation mode (what the Validate
    button sets), without the instructor's reference folder on PYTHONPATH (``make lab`` in the
    course repository puts it there for instructors) and without the benchmark's variables."""
    env = dict(os.environ if base is None else base)
    env.update(NBGRADER_EXECUTION="validate", NBGRADER_VALIDATING="1")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for var in ("BNCOURSE_RESULTS", "BNCOURSE_ROOT"):
        env.pop(var, None)
    kept = [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
            if p and Path(p).parts[-2:] != ("autograder", "reference")]
    if kept:
        env["PYTHONPATH"] = os.pathsep.join(kept)
    else:
        env.pop("PYTHONPATH", None)
    return env


def _kernel_config(ipc_dir: str | None):
    """Local IPC sockets on POSIX: no TCP port to race for between kernels started side by side."""
    from traitlets.config import Config

    cfg = Config()
    if ipc_dir:
        cfg.KernelManager.transport = "ipc"
        cfg.KernelManager.ip = os.path.join(ipc_dir, "kernel")
    return cfg


def execute(nb, folder: Path, timeout: int = TIMEOUT) -> str | None:
    """Run ``nb`` (in memory) in a fresh kernel started in ``folder``, errors allowed, in grading
    mode. Returns None, or what stopped the run (a dead kernel) in one line."""
    import shutil
    import tempfile

    from nbclient import NotebookClient

    ipc_dir = tempfile.mkdtemp(prefix="bncourse-progress-") if os.name == "posix" else None
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", allow_errors=True, interrupt_on_timeout=True,
        error_on_timeout={"ename": "CellTimeoutError", "evalue": f"the cell ran longer than {timeout} s",
                          "traceback": []},
        resources={"metadata": {"path": str(folder)}}, config=_kernel_config(ipc_dir))
    try:
        client.execute(env=kernel_env())
    except Exception as exc:  # noqa: BLE001 - a dead kernel ends the lesson's run, not the command
        first = (str(exc).strip().splitlines() or [""])[0]
        return _clip(f"{type(exc).__name__}: {first}" if first else type(exc).__name__)
    finally:
        if ipc_dir:
            shutil.rmtree(ipc_dir, ignore_errors=True)
    return None


def _clip(text: str) -> str:
    text = _ANSI.sub("", text).strip()
    return text if len(text) <= HINT_CHARS else text[:HINT_CHARS - 1] + "…"


def _outcome(cell) -> tuple[float | None, str | None, str | None]:
    """(points earned, hint, error name) of a check cell that ran, scored as nbgrader does: an
    error or anything on stderr scores 0, a number as the result is partial credit, else full.
    Points None: the cell did not run."""
    if cell.get("execution_count") is None and not cell.get("outputs"):
        return None, None, None
    points = float(_meta(cell).get("points", 0))
    for out in cell.get("outputs", []):
        if out["output_type"] == "error":
            lines = str(out.get("evalue") or "").strip().splitlines()
            return 0.0, _clip(f"{out['ename']}: {lines[0]}" if lines else out["ename"]), out["ename"]
        if out["output_type"] == "stream" and out.get("name") == "stderr":
            text = "".join(out.get("text", "")).strip().splitlines()
            return 0.0, _clip("it wrote to stderr: " + (text[0] if text else "")), None
        if out["output_type"] == "execute_result":
            try:
                value = float(str(out.get("data", {}).get("text/plain", "")).strip())
            except ValueError:
                continue
            if 0 <= value < points:
                return value, f"partial credit: {_number(value)} of {_number(points)}", None
    return points, None, None


def _exercise(cell, answers: list, problem: str | None) -> dict:
    meta = _meta(cell)
    points = float(meta.get("points", 0))
    earned, hint, ename = _outcome(cell)
    if earned is None:
        earned, hint = 0.0, problem or "this cell did not run"
    state = PASSED if earned == points and hint is None else FAILED
    if state == FAILED and ((answers and all(map(unchanged, answers))) or ename == "NotImplementedError"):
        state, hint = NOT_ATTEMPTED, None
    return {"name": exercise_name(meta["grade_id"]), "grade_id": meta["grade_id"], "points": _number(points),
            "earned": _number(earned), "state": state, "hint": hint, "check_edited": not unchanged(cell)}


def summarize(nb, problem: str | None = None) -> dict:
    """Exercises and written answers of an executed notebook, in notebook order."""
    exercises, written, answers = [], [], []
    for cell in nb["cells"]:
        meta = _meta(cell)
        if not meta.get("grade_id"):
            continue
        if meta.get("solution") and meta.get("grade"):  # answered in words (or code), marked by hand
            written.append({"name": meta["grade_id"], "grade_id": meta["grade_id"],
                            "points": _number(float(meta.get("points", 0))), "answered": not unchanged(cell)})
        elif meta.get("solution") and cell["cell_type"] == "code":
            answers.append(cell)
        elif meta.get("grade") and cell["cell_type"] == "code":
            exercises.append(_exercise(cell, answers, problem))
            answers = []
    earned = sum(e["earned"] for e in exercises)
    return {"earned": _number(earned), "points": _number(sum(e["points"] for e in exercises)),
            "exercises": exercises, "written": written, "problem": problem}


def check_lesson(name: str, notebook: str, data: bytes, timeout: int = TIMEOUT) -> dict:
    """One lesson, start to end (what a worker process runs): the notebook's bytes as they were
    read (and hashed for the cache), executed in its own folder; the notebook file is not written."""
    import nbformat

    start = time.perf_counter()
    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
    except Exception as exc:  # noqa: BLE001 - a broken file is this lesson's problem only
        result = {"earned": 0, "points": 0, "exercises": [], "written": [],
                  "problem": _clip(f"not a readable notebook: {type(exc).__name__}: {exc}")}
    else:
        for cell in nb.cells:  # the learner's own outputs say nothing: only this run's count
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        result = summarize(nb, execute(nb, Path(notebook).parent, timeout))
    return {"lesson": name, **result, "seconds": time.perf_counter() - start}


def _quiet_worker() -> None:
    """A worker's (and so its kernels') stdout and stderr go nowhere: TensorFlow's start-up lines
    and kernel warnings stay out of the terminal; results come back through the pool."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)


# --- the cache ---------------------------------------------------------------------------------


_PACKAGE: dict[str, str] = {}


def package_hash() -> str:
    """A hash of this package as installed: its version, its modules and its answer tables."""
    if "hash" not in _PACKAGE:
        here = Path(__file__).resolve().parent
        m = hashlib.sha256(f"format {FORMAT}".encode())
        try:
            from importlib.metadata import version

            m.update(version("bncourse").encode())
        except Exception:  # noqa: BLE001 - not installed (PYTHONPATH): the files decide
            pass
        for path in sorted([*here.glob("*.py"), *here.glob("expected/*.json")]):
            m.update(path.relative_to(here).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
        _PACKAGE["hash"] = m.hexdigest()
    return _PACKAGE["hash"]


def cache_key(relpath: str, data: bytes) -> str:
    return hashlib.sha256(package_hash().encode() + relpath.encode() + b"\0" + data).hexdigest()


def _cache_file(folder: Path, name: str) -> Path:
    return folder / CACHE_DIR / f"{name}.json"


def cached_entry(folder: Path, name: str) -> dict:
    """A lesson's cache entry, ``{"key", "seconds", "result"}``, or {}."""
    try:
        entry = json.loads(_cache_file(folder, name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return entry if isinstance(entry, dict) else {}


def store(folder: Path, name: str, key: str, result: dict, seconds: float) -> None:
    """Write one lesson's entry atomically; a folder that cannot be written just means no cache."""
    path = _cache_file(folder, name)
    try:
        path.parent.mkdir(exist_ok=True)
        ignore = path.parent / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# bncourse.progress's cache: never commit it\n*\n", encoding="utf-8")
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"key": key, "seconds": round(seconds, 1), "result": result}, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


# --- all lessons -------------------------------------------------------------------------------


def _plan(notebooks: list[Path], folder: Path, use_cache: bool, log) -> tuple[dict, list]:
    """(results answered from the cache by notebook path, the lessons to run: longest first)."""
    results, todo = {}, []
    pad = max(len(p.stem) for p in notebooks)
    for path in notebooks:
        data, rel = path.read_bytes(), path.resolve().relative_to(folder.resolve()).as_posix()
        key, slot = cache_key(rel, data), rel.removesuffix(".ipynb").replace("/", "__")
        entry = cached_entry(folder, slot)
        if use_cache and entry.get("key") == key and isinstance(entry.get("result"), dict):
            results[rel] = entry["result"]
            log(f"  [{len(results)}/{len(notebooks)}] {path.stem:<{pad}}  unchanged: from the cache")
            continue
        # the last run's time, else a guess (a lesson whose setup starts TensorFlow takes longer):
        # the longest lessons start first, so that the short ones fill the gaps, not the end
        estimate = entry.get("seconds") or (10.0 if b"keras=True" in data else 1.0)
        todo.append((estimate, path, rel, data, key, slot))
    todo.sort(key=lambda t: -t[0])
    return results, [t[1:] for t in todo]


def run(notebooks: list[Path], folder: Path, *, jobs: int | None = None, use_cache: bool = True,
        timeout: int = TIMEOUT, log=None) -> dict:
    """Check every notebook (cached, or ``jobs`` at a time in worker processes); the report."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    folder = Path(folder if Path(folder).is_dir() else Path(folder).parent)
    results, todo = _plan(notebooks, folder, use_cache, log)
    pad = max(len(p.stem) for p in notebooks)
    if todo:
        workers = max(1, min(jobs or cpu_count(), len(todo)))
        log(f"progress: running {len(todo)} lesson{'s' * (len(todo) > 1)}, {workers} at a time "
            "(grading mode: demonstrations skipped, short budgets)")
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_quiet_worker) as pool:
            futures = {pool.submit(check_lesson, p.stem, str(p), data, timeout): (p, rel, key, slot)
                       for p, rel, data, key, slot in todo}
            for future in as_completed(futures):
                path, rel, key, slot = futures[future]
                results[rel] = result = _result_of(future, path.stem)
                seconds, result["notebook"] = result.pop("seconds"), rel
                if use_cache and result["problem"] is None:
                    store(folder, slot, key, result, seconds)
                log(f"  [{len(results)}/{len(notebooks)}] {path.stem:<{pad}}  checked in {seconds:.1f} s")
    lessons = []
    for path in notebooks:
        rel = path.resolve().relative_to(folder.resolve()).as_posix()
        lessons.append({"lesson": path.stem, **{k: v for k, v in results[rel].items() if k != "lesson"}})
    return report(lessons)


def _result_of(future, name: str) -> dict:
    """The worker's result, or (the worker itself died) a lesson with that problem and nothing checked."""
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - one lesson's failure is reported, the others still count
        return {"lesson": name, "earned": 0, "points": 0, "exercises": [], "written": [], "seconds": 0.0,
                "problem": _clip(f"{type(exc).__name__}: {exc}")}


def report(lessons: list[dict]) -> dict:
    exercises = [e for lesson in lessons for e in lesson["exercises"]]
    written = [w for lesson in lessons for w in lesson["written"]]
    total = {
        "earned": _number(sum(lesson["earned"] for lesson in lessons)),
        "points": _number(sum(lesson["points"] for lesson in lessons)),
        "exercises": len(exercises),
        **{state: sum(e["state"] == state for e in exercises) for state in (PASSED, FAILED, NOT_ATTEMPTED)},
        "written": len(written), "answered": sum(w["answered"] for w in written),
        "written_points": _number(sum(w["points"] for w in written)),
    }
    return {"format": FORMAT, "lessons": lessons, "total": total}


# --- printing ----------------------------------------------------------------------------------


def _pts(x) -> str:
    return f"{x} pt" if x == 1 else f"{x} pts"


def render(rep: dict) -> str:
    """The compact text: one block per lesson, one line per exercise, the course's total. Every
    score ends in the same column."""
    rows = [e["name"] for lesson in rep["lessons"] for e in lesson["exercises"] + lesson["written"]]
    heads = [lesson["lesson"] for lesson in rep["lessons"]] + ["Course total"]
    width = max([len(n) for n in rows] + [len(h) - 4 for h in heads] + [8])
    lines = []
    for lesson in rep["lessons"]:
        lines.append(f"{lesson['lesson']:<{width + 4}}{lesson['earned']:>5}/{lesson['points']:<3} points".rstrip())
        if lesson["problem"]:
            lines.append(f"  ! the run stopped: {lesson['problem']}")
        for e in lesson["exercises"]:
            note = {PASSED: "", FAILED: e["hint"] or "", NOT_ATTEMPTED: "not attempted"}[e["state"]]
            if e["check_edited"]:
                note = (note + " " if note else "") + "(its check cell was edited: it is restored when graded)"
            lines.append(f"  {MARK[e['state']]} {e['name']:<{width}}{e['earned']:>5}/{e['points']:<3} {note}".rstrip())
        for w in lesson["written"]:
            state = "answered" if w["answered"] else "not yet"
            lines.append(f"  ✎ {w['name']:<{width}}{'?':>5}/{w['points']:<3} written answer: {state} "
                         "(marked by your instructor)")
    t = rep["total"]
    summary = (f"{t['passed']} of {t['exercises']} exercises done, {t['failed']} to fix, "
               f"{t['not_attempted']} not attempted")
    if t["written"]:
        summary += (f"; {t['answered']} of {t['written']} written answers answered "
                    f"({_pts(t['written_points'])}, marked by hand)")
    lines.append(f"{'Course total':<{width + 4}}{t['earned']:>5}/{t['points']:<3} points: {summary}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bncourse.progress", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="?", type=Path, help="the notebooks folder (default: notebooks/)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--jobs", type=int, default=cpu_count(),
                        help="lessons run at the same time (default: the number of CPU cores, %(default)s)")
    parser.add_argument("--no-cache", action="store_true", help="run every lesson, even an unchanged one (the cache is neither used nor updated)")
    parser.add_argument("--lessons", nargs="+", metavar="NAME", help="only these lessons (names or prefixes: 01 02)")
    parser.add_argument("--timeout", type=int, default=TIMEOUT, help="seconds per cell (default %(default)s)")
    args = parser.parse_args(argv)
    folder = args.notebooks or (Path("notebooks") if Path("notebooks").is_dir()
                                else Path(__file__).resolve().parent.parent / "notebooks")
    if not folder.exists():
        parser.error(f"{folder}: no such folder")
    try:
        notebooks = find_lessons(folder, args.lessons)
    except ValueError as e:
        parser.error(str(e))
    if not notebooks:
        parser.error(f"{folder}: no lesson notebooks in it")
    rep = run(notebooks, folder, jobs=max(1, args.jobs), use_cache=not args.no_cache, timeout=args.timeout)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="replace")  # a terminal without ✓ and ✗ gets "?" instead
    print(json.dumps(rep, indent=2, ensure_ascii=False) if args.json else render(rep))
    return 0


class _ProgressModule(types.ModuleType):
    """``bncourse.progress`` is also the function lessons call to print a progress line
    (:func:`bncourse.results.progress`). Importing this module makes ``bncourse.progress`` the
    module, so the module is callable: ``bncourse.progress(text)`` keeps printing that line."""

    def __call__(self, text: str) -> None:
        from bncourse.results import progress

        progress(text)


sys.modules[__name__].__class__ = _ProgressModule

if __name__ == "__main__":
    sys.exit(main())
