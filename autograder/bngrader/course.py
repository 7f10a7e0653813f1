"""Maintainer and instructor tools around stock nbgrader.

    bngrader sources            # solutions/<A>/<A>.ipynb <- solutions/<A>/<A>.py
    bngrader release            # sources, then notebooks/ <- solutions/ (nbgrader generate_assignment)
    bngrader release --dest D   # the same, the learner notebooks into another folder
    bngrader validate PATH...   # nbgrader validation, non-zero exit on failure
    bngrader validate --invert notebooks/*/*.ipynb   # every test must fail
    bngrader benchmark [PATH...]  # the lessons' cost (bngrader/cost.py); --fast: grading mode only

Unlike ``nbgrader validate``, ``validate`` exits 1 when a notebook fails.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from bngrader.settings import AUTOGRADER, NOTEBOOKS, REFERENCE, ROOT, SOLUTIONS  # noqa: F401 - used by callers


def assignments() -> list[str]:
    """Assignment ids: the folders of ``solutions/`` that hold a notebook."""
    return sorted(p.name for p in SOLUTIONS.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def _prepend(path: str, value: str | None) -> str:
    parts = [p for p in (value or "").split(os.pathsep) if p]
    return os.pathsep.join(parts if path in parts else [path, *parts])


def grading_env() -> dict[str, str]:
    """Environment for nbgrader and the kernels that run hidden tests (idempotent).

    The reference checks on PYTHONPATH, this environment's bin on PATH (nbgrader calls
    ``alembic`` by name), quiet TensorFlow. ``nbgrader_config.py`` applies it too, so the
    stock nbgrader commands get the same environment.
    """
    env = dict(os.environ)
    env["PATH"] = _prepend(str(Path(sys.executable).parent), env.get("PATH"))
    env["PYTHONPATH"] = _prepend(str(REFERENCE), env.get("PYTHONPATH"))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    return env


def nbgrader(*args: str, cwd: Path = AUTOGRADER, check: bool = True) -> subprocess.CompletedProcess:
    """Run the stock ``nbgrader`` CLI of this environment (from ``autograder/`` by default)."""
    exe = Path(sys.executable).with_name("nbgrader")
    return subprocess.run(
        [str(exe), *args], cwd=cwd, env=grading_env(), check=check, capture_output=True, text=True
    )


def build_sources() -> list[Path]:
    """Regenerate every ``solutions/<A>/<A>.ipynb`` from its committed text ``<A>.py``
    (``nbsource.py``); returns the notebooks that changed."""
    from bngrader.nbsource import build, sources

    return [nb for nb, changed in map(build, sources(SOLUTIONS)) if changed]


def release(dest: Path | None = None) -> Path:
    """Regenerate the learner notebooks from the solution notebooks with stock nbgrader
    (``build_sources`` first regenerates those from the text: the ``release`` command does both)."""
    args = ["generate_assignment", "*", "--force", "--no-db", "--log-level=WARN"]
    if dest is not None:
        args.append(f"--CourseDirectory.release_directory={Path(dest).resolve()}")
    proc = nbgrader(*args, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"nbgrader generate_assignment failed:\n{proc.stdout}\n{proc.stderr}")
    return Path(dest) if dest is not None else NOTEBOOKS


def kernel_config():
    """traitlets Config for the kernels this module starts: local IPC sockets on POSIX.

    Over the default TCP transport, ipykernel prints "Kernel is running over TCP without
    encryption" into every run. IPC sockets are local-only, so the warning does not apply
    and is not printed. They live in a private folder of this process (mode 0700) under an
    absolute path: jupyter_client's default ``kernel-ipc`` is relative to the client's
    working directory, which is not the kernel's.
    """
    import atexit
    import shutil
    import tempfile

    from traitlets.config import Config

    cfg = Config()
    if os.name == "posix":
        if "dir" not in _IPC:
            _IPC["dir"] = tempfile.mkdtemp(prefix="bncourse-kernels-")
            atexit.register(shutil.rmtree, _IPC["dir"], True)
        cfg.KernelManager.transport = "ipc"
        cfg.KernelManager.ip = os.path.join(_IPC["dir"], "kernel")
    return cfg


_IPC: dict[str, str] = {}  # this process's socket folder, created on first use


def validate(path: Path, *, invert: bool = False, timeout: int = 300) -> dict:
    """nbgrader's own Validator, in-process. Returns its result dict ({} means success).

    Without ``invert``: success when every graded test cell passes. With ``invert``:
    success when every graded test cell fails (a blank learner notebook).
    """
    from nbgrader.validator import Validator

    os.environ.update(grading_env())
    cfg = kernel_config()
    cfg.Validator.invert = invert
    cfg.Execute.timeout = timeout
    return Validator(config=cfg).validate(str(Path(path).resolve()))


def execute(path: Path, *, fast: bool = False, autograde: bool = False, timeout: int = 600) -> dict:
    """Execute a notebook top to bottom in a fresh kernel, as a learner's "Run All" would.

    Returns ``{"seconds", "error", "results", "output_kb", "graded"}``: ``error`` is the first
    cell error (or ``None``), ``results`` the key results the notebook recorded with
    ``bncourse.record``, ``output_kb`` the size of all outputs, ``graded`` each graded code
    cell's outcome (:func:`graded_outcomes`). Nothing is written back to the notebook file. ``fast``: grading-mode budgets (``BNCOURSE_FAST=1``);
    ``autograde``: as the autograder runs it (``NBGRADER_EXECUTION=autograde`` too).
    """
    import json
    import tempfile
    import time

    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    path = Path(path).resolve()
    nb = nbformat.read(path, as_version=4)
    saved = dict(os.environ)
    with tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False) as tmp:
        results_file = Path(tmp.name)
    try:
        os.environ.update(grading_env())
        os.environ["BNCOURSE_RESULTS"] = str(results_file)
        if fast or autograde:
            os.environ["BNCOURSE_FAST"] = "1"
        if autograde:
            os.environ["NBGRADER_EXECUTION"] = "autograde"
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", config=kernel_config(),
                                resources={"metadata": {"path": str(path.parent)}})
        start, error = time.perf_counter(), None
        try:
            client.execute()
        except CellExecutionError as exc:
            error = str(exc).strip().splitlines()[-1][:300]
        seconds = time.perf_counter() - start
        lines = results_file.read_text().splitlines()
    finally:
        os.environ.clear()
        os.environ.update(saved)
        results_file.unlink(missing_ok=True)
    outputs = sum(len(json.dumps(c.get("outputs", []))) for c in nb.cells if c.cell_type == "code")
    return {"seconds": seconds, "error": error, "results": [json.loads(ln) for ln in lines],
            "output_kb": outputs / 1024, "graded": graded_outcomes(nb)}


def graded_outcomes(nb) -> dict[str, str | None]:
    """grade id -> outcome of each graded code cell of an executed notebook: ``None`` when it ran
    without error, ``"ExcName: message"`` when it raised, ``"not run"`` when execution stopped before it."""
    outcomes: dict[str, str | None] = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade"):
            continue
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        ran = cell.get("execution_count") is not None
        outcomes[meta["grade_id"]] = f"{errors[0].ename}: {errors[0].evalue}" if errors else None if ran else "not run"
    return outcomes


def learner_submission(assignment: str, answers: dict[str, str] | None = None, *, solved: bool = True):
    """A notebook as a learner would hand it in: the released notebook with its answer cells
    filled in with the solutions (``solved``), then with ``answers`` (grade id -> source)."""
    import nbformat

    name = assignment
    release = nbformat.read(NOTEBOOKS / assignment / f"{name}.ipynb", as_version=4)
    solution = nbformat.read(SOLUTIONS / assignment / f"{name}.ipynb", as_version=4)
    given = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solution.cells
             if c.metadata.get("nbgrader", {}).get("solution")} if solved else {}
    given.update(answers or {})
    unknown = set(answers or {}) - {c.metadata.get("nbgrader", {}).get("grade_id") for c in release.cells}
    if unknown:
        raise KeyError(f"{assignment} has no answer cells {sorted(unknown)}")
    for cell in release.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in given and cell.metadata["nbgrader"].get("solution"):
            cell.source = given[gid]
    return release


def format_value(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def benchmark(paths: list[Path], *, fast: bool = False) -> int:
    """Execute each notebook, then print one table of wall times and key results."""
    rows, status = [], 0
    for path in paths:
        run = execute(path, fast=fast)
        status |= run["error"] is not None
        results = ", ".join(f"{r['name']}={format_value(r['value'])}" for r in run["results"])
        rows.append((Path(path).parent.name, run["seconds"], run["output_kb"], run["error"] or results))
        print(f"  executed {rows[-1][0]} in {run['seconds']:.1f} s", flush=True)
    mode = "fast (grading) mode" if fast else "full mode"
    print(f"\nNotebook execution, {mode}, {os.cpu_count()} CPU cores")
    print(f"{'notebook':<22} {'seconds':>8} {'output kB':>10}  key results (or first error)")
    for name, sec, kb, info in rows:
        print(f"{name:<22} {sec:>8.1f} {kb:>10.0f}  {info}")
    print(f"{'total':<22} {sum(r[1] for r in rows):>8.1f}")
    return int(status)


def _describe(results: dict) -> str:
    lines = []
    for key, label in (("failed", "test cell failed"), ("passed", "test cell passed (should fail)"),
                       ("changed", "locked cell was edited"), ("type_changed", "cell type changed")):
        for cell in results.get(key, []):
            first = cell["source"].splitlines()[0] if cell.get("source") else ""
            lines.append(f"  - {label}: {first[:70]}")
            if cell.get("raw_error"):
                lines.extend("      " + ln for ln in cell["raw_error"].strip().splitlines()[-3:])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("sources", help="regenerate solutions/*/*.ipynb from their .py sources")
    rel = sub.add_parser("release", help="regenerate solutions/*/*.ipynb from their sources, then notebooks/")
    rel.add_argument("--dest", type=Path, help="write the release here instead of notebooks/")
    val = sub.add_parser("validate", help="validate notebooks; exit 1 on failure")
    val.add_argument("paths", nargs="+", type=Path)
    val.add_argument("--invert", action="store_true", help="require every graded test cell to fail")
    ben = sub.add_parser("benchmark", help="the lessons' cost: a TensorFlow-import floor, each lesson in grading mode "
                                           "and in full mode, against the budgets (--fast: grading mode only)")
    ben.add_argument("paths", nargs="*", type=Path)
    ben.add_argument("--fast", action="store_true", help="only grading-mode budgets (BNCOURSE_FAST=1), key results")
    args = parser.parse_args(argv)

    if args.cmd == "benchmark":
        paths = args.paths or sorted(SOLUTIONS.glob("*/*.ipynb"))
        if args.fast:
            return benchmark(paths, fast=True)
        from bngrader import cost

        return cost.main(paths)

    if args.cmd in ("sources", "release"):
        changed = build_sources()
        print(f"regenerated {len(changed)} solution notebooks from their sources"
              + "".join(f"\n  {p.relative_to(ROOT)}" for p in changed))
    if args.cmd == "sources":
        return 0
    if args.cmd == "release":
        out = release(args.dest)
        print(f"released {len(assignments())} assignments into {out}")
        return 0
    status = 0
    for path in args.paths:
        if not path.is_file():
            print(f"FAIL {path}: no such notebook")
            status = 1
            continue
        results = validate(path, invert=args.invert)
        print(f"{'FAIL' if results else 'ok  '} {path}")
        if results:
            print(_describe(results))
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
