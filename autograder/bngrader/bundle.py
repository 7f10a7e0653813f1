"""``bngrader bundle``: the one archive students receive.

    bngrader bundle                 # instructor/bundle/batchnorm-course-<version>.zip
    bngrader bundle --out PATH.zip  # somewhere else

What goes in is an allow-list, named here (:func:`members`): the learner notebooks as released,
the ``bncourse`` modules they import with the visible checks' literal answers, MNIST with its
checksums, the licence and citation, and files written for students (README, Makefile,
requirements without the instructor-only tools, a pyproject for ``pip install -e .``, an nbgrader
config for the Validate button). Before anything is written, every member is scanned
(:func:`leaks`): solution and hidden-test markers, the reference checks' names, the grading
package's imports, instructor folders in a path, and the code of every solution and hidden-test
region of ``solutions/*/*.ipynb``. One finding and nothing is written; the error names the member.

The archive is deterministic: members sorted, one fixed time stamp, fixed permissions, fixed
compression, so two builds of the same course are byte-identical.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
import tempfile
import zipfile
from pathlib import Path

from bngrader import settings

NAME = "batchnorm-course"

# --- the allow-list -------------------------------------------------------------------------
#: bncourse modules learners need: what the learner notebooks import, and what those import
#: (tests/test_bundle.py checks the list against the notebooks and the package itself).
BNCOURSE_MODULES = ("__init__", "casecheck", "checks", "concepts", "data", "experiments", "gradcheck", "keras_compare",
                    "plotting", "practicecheck", "progress", "results", "setup", "widgets")
#: results of full-length runs that lessons plot (``bngrader paper-fig1`` writes them; data, no code)
PAPER_FILES = ("fig1_50k.json",)
MNIST_FILES = ("README.md", "SHA256SUMS", "t10k-images.idx3-ubyte.gz", "t10k-labels.idx1-ubyte.gz",
               "train-images.idx3-ubyte.gz", "train-labels.idx1-ubyte.gz")
COPIED = ("LICENSE", "CITATION.cff")  # CC BY 4.0 and MNIST's CC BY-SA 3.0 ask for attribution
#: requirements.txt entries students do not need: class grading (dask, distributed), the grader's
#: page cleaning (nh3, jupyter-server-mathjax), the maintainers' tests and lint. Nothing a
#: student's package needs depends on them (tests/test_bundle.py checks).
INSTRUCTOR_ONLY = ("dask", "distributed", "nh3", "jupyter-server-mathjax", "pytest", "pytest-xdist", "execnet", "ruff",
                   "playwright")

# --- what must never be in it -----------------------------------------------------------------
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS",
           "bn_checks", "keras_checks", "experiment_checks", "concept_checks", "practice_checks", "bn_reference", "from bngrader",
           "import bngrader")
DENIED_PARTS = {"solutions", "autograder", "reference", "tests", "instructor", ".git", "__pycache__"}
DENIED_NAMES = {"gradebook.db", "grades.csv", ".ipynb_checkpoints"}
WINDOW = 3  # a run of this many consecutive lines of a solution region is a leak
MIN_LINE = 13  # ... and so is one line of it this long (not a comment), as tests/test_release.py says
#: Solution code a later lesson hands out on purpose, in a locked "given code" cell: (member,
#: "lesson:grade_id") -> why. Only that member may hold that region; every build lists what it let
#: through. Students get all lessons at once, so this is the instructor's call: release the
#: lessons one at a time (or rewrite the given code) to keep it from them.
CARRIED = {
    ("notebooks/04_conv_batchnorm/04_conv_batchnorm.ipynb", "03_numpy_backward:batchnorm_backward_alt"):
        "lesson 4's locked given_code cell is lesson 3's closed-form backward pass, verbatim",
}

# Fixed metadata, so that two builds are byte-identical.
EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold
FILE_MODE = 0o100644
STORED = (".gz",)  # already compressed


class BundleError(RuntimeError):
    """The bundle cannot be built, or would leak: nothing was written."""


def version(root: Path = settings.ROOT) -> str:
    """The course version: ``[project] version`` of pyproject.toml."""
    m = re.search(r'^version\s*=\s*"([^"]+)"', (root / "pyproject.toml").read_text(), re.M)
    if not m:
        raise BundleError(f"{root / 'pyproject.toml'} names no version")
    return m.group(1)


def default_out(root: Path = settings.ROOT) -> Path:
    return root / "instructor" / "bundle" / f"{NAME}-{version(root)}.zip"


def assignments(root: Path) -> list[str]:
    """The released assignments: solutions/<A>/<A>.ipynb (nbgrader's source)."""
    found = sorted(p.parent.name for p in (root / "solutions").glob("*/*.ipynb") if p.stem == p.parent.name)
    if not found:
        raise BundleError(f"no solution notebooks in {root / 'solutions'}: nothing to release or to check against")
    return found


def _read(root: Path, rel: str) -> bytes:
    path = root / rel
    if path.is_symlink() or not path.is_file():
        raise BundleError(f"{rel}: missing or not a regular file in {root}")
    return path.read_bytes()


def copied_files(root: Path) -> list[str]:
    """The allow-list of course files copied as they are, as paths relative to ``root``."""
    files = [f"notebooks/{a}/{a}.ipynb" for a in assignments(root)]
    files += [f"bncourse/{m}.py" for m in BNCOURSE_MODULES]
    files += [f"bncourse/expected/{a}.json" for a in assignments(root)]
    files += [f"bncourse/paper/{f}" for f in PAPER_FILES]
    files += [f"data/mnist/{f}" for f in MNIST_FILES]
    return files + list(COPIED)


def members(root: Path = settings.ROOT) -> dict[str, bytes]:
    """Every member of the bundle (path inside it -> content), allow-listed files and generated ones."""
    out = {rel: _read(root, rel) for rel in copied_files(root)}
    _verify_mnist(out)
    for rel in (f for f in out if f.endswith(".ipynb")):
        _verify_released(rel, out[rel])
    out.update({
        "README.md": student_readme(root).encode(),
        "Makefile": STUDENT_MAKEFILE.encode(),
        "requirements.txt": student_requirements(root).encode(),
        "pyproject.toml": STUDENT_PYPROJECT.format(version=version(root)).encode(),
        "nbgrader_config.py": STUDENT_NBGRADER_CONFIG.encode(),
        "environment.yml": STUDENT_ENVIRONMENT.encode(),
        ".gitignore": STUDENT_GITIGNORE.encode(),
    })
    return out


def _verify_mnist(files: dict[str, bytes]) -> None:
    import hashlib

    sums = files["data/mnist/SHA256SUMS"].decode()
    for line in filter(str.strip, sums.splitlines()):
        digest, name = line.split()
        rel = f"data/mnist/{name.lstrip('*')}"
        if rel not in files or hashlib.sha256(files[rel]).hexdigest() != digest:
            raise BundleError(f"{rel}: missing or does not match data/mnist/SHA256SUMS")


def _verify_released(rel: str, data: bytes) -> None:
    """A learner notebook goes out exactly as released: no outputs, no execution counts."""
    nb = json.loads(data)
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and (c.get("outputs")
                                                                                    or c.get("execution_count"))]
    if dirty:
        raise BundleError(f"{rel}: cells {dirty} carry outputs; commit notebooks stripped (make release)")


def student_requirements(root: Path) -> str:
    """requirements.txt's pins without the instructor-only tools."""
    keep = []
    for line in (root / "requirements.txt").read_text().splitlines():
        req = line.split("#", 1)[0].strip()
        if not req:
            continue
        name = re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0].lower().replace("_", "-")
        if name not in INSTRUCTOR_ONLY:
            keep.append(req)
    return ("# The course's pinned packages (its requirements.txt), without the instructor-only tools.\n"
            "# TensorFlow: the CPU-only wheel on Linux x86_64, the standard wheel elsewhere.\n"
            + "\n".join(keep) + "\n")


def student_readme(root: Path) -> str:
    """The student README: set-up, the lessons (README.md's lesson table), validating, licences."""
    text = (root / "README.md").read_text()
    m = re.search(r"^## Lessons\n(.*?)(?=^## )", text, re.M | re.S)
    if not m:
        raise BundleError("README.md has no '## Lessons' section to copy into the student README")
    return STUDENT_README.format(version=version(root), lessons=m.group(1).strip())


# --- the scan -------------------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return [s for s in (ln.strip() for ln in text.splitlines()) if s]


def solution_regions(root: Path) -> list[tuple[str, str, list[str]]]:
    """(lesson, "lesson:grade_id", lines) of every solution and hidden-test region of solutions/*/*.ipynb."""
    regions = []
    for a in assignments(root):
        nb = json.loads((root / "solutions" / a / f"{a}.ipynb").read_text())
        for cell in nb["cells"]:
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            for m in re.finditer(r"### BEGIN (SOLUTION|HIDDEN TESTS)[^\n]*\n(.*?)### END \1", src, re.S):
                gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", cell.get("id", "?"))
                regions.append((a, f"{a}:{gid}", _lines(m.group(2))))
    return regions


def solution_fingerprints(root: Path) -> tuple[dict[str, set[str]], dict[tuple[str, ...], set[str]]]:
    """Distinctive single lines, and runs of WINDOW consecutive lines, of the solution regions
    -> the regions ("lesson:grade_id") they come from."""
    single: dict[str, set[str]] = {}
    runs: dict[tuple[str, ...], set[str]] = {}
    for _lesson, where, lines in solution_regions(root):
        for ln in lines:
            if len(ln) >= MIN_LINE and not ln.startswith(("#", '"""', "'''")):
                single.setdefault(ln, set()).add(where)
        for i in range(len(lines) - WINDOW + 1):
            runs.setdefault(tuple(lines[i:i + WINDOW]), set()).add(where)
    return single, runs


def _texts(rel: str, data: bytes) -> list[str]:
    """The text of a member as a reader sees it: a notebook's cell sources (decoded from JSON), or the file."""
    if rel.endswith(".gz"):
        return []
    text = data.decode("utf-8", errors="replace")
    if rel.endswith(".ipynb"):
        cells = json.loads(text)["cells"]
        return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells]
    return [text]


def _lesson_of(rel: str) -> str | None:
    parts = rel.split("/")
    return parts[1] if parts[0] == "notebooks" and len(parts) > 2 else None


def _solution_text(rel: str, lines: list[str], single, runs, carried: list[str]) -> str | None:
    """The first solution found in ``lines`` of member ``rel`` (a finding), else None.

    A run of WINDOW lines of any solution region is a leak anywhere, unless CARRIED names that
    member and region (then it is appended to ``carried``). A single distinctive line is a leak
    in any member but a learner notebook, where only its own lesson's lines count: later lessons
    hand out earlier lessons' building blocks, and short lines such as ``return out, cache`` recur.
    """
    lesson = _lesson_of(rel)
    for ln in lines:
        origin = {w for w in single.get(ln, ()) if lesson is None or w.startswith(f"{lesson}:")}
        if origin:
            return f"{rel}: holds the solution line {ln!r} ({', '.join(sorted(origin))})"
    for i in range(len(lines) - WINDOW + 1):
        origin = runs.get(tuple(lines[i:i + WINDOW]), set())
        allowed = {w for w in origin if (rel, w) in CARRIED}
        carried += [f"{rel} carries {w}: {CARRIED[(rel, w)]}" for w in sorted(allowed)]
        if origin - allowed:
            return (f"{rel}: holds {WINDOW} consecutive lines of a solution, from {lines[i]!r} "
                    f"({', '.join(sorted(origin - allowed))})")
    return None


def leaks(files: dict[str, bytes], root: Path = settings.ROOT, carried: list[str] | None = None) -> list[str]:
    """Every finding, one line each, naming the member; [] when the bundle is clean. Solution code
    let through by CARRIED is listed in ``carried`` (one line per run of lines)."""
    single, runs = solution_fingerprints(root)
    carried = [] if carried is None else carried
    found = []
    for rel in sorted(files):
        data = files[rel]
        parts = set(rel.split("/"))
        if parts & (DENIED_PARTS | DENIED_NAMES) or rel.endswith((".pyc", ".db")):
            found.append(f"{rel}: an instructor or generated path")
        found += [f"{rel}: contains {m!r}" for m in MARKERS if m.encode() in data]
        for text in _texts(rel, data):
            finding = _solution_text(rel, _lines(text), single, runs, carried)
            if finding:
                found.append(finding)
                break
    return found


# --- the archive ----------------------------------------------------------------------------


def archive(files: dict[str, bytes], top: str) -> bytes:
    """A zip of ``files`` under the folder ``top``: sorted, fixed times and permissions."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for rel in sorted(files):
            info = zipfile.ZipInfo(f"{top}/{rel}", date_time=EPOCH)
            info.create_system = 3  # Unix, so the permissions below are read back
            info.external_attr = FILE_MODE << 16
            info.compress_type = zipfile.ZIP_STORED if rel.endswith(STORED) else zipfile.ZIP_DEFLATED
            zf.writestr(info, files[rel], compresslevel=9)
    return buf.getvalue()


def build(out: Path | None = None, root: Path = settings.ROOT) -> Path:
    """Collect the allow-list, scan it, then write the archive to ``out`` (atomically).
    Raises :class:`BundleError`, writing nothing, when a member leaks or a file is missing."""
    root = Path(root).resolve()
    out = Path(out) if out is not None else default_out(root)
    files = members(root)
    carried: list[str] = []
    found = leaks(files, root, carried)
    if found:
        raise BundleError("refusing to write the bundle: " + "; ".join(found))
    for note in dict.fromkeys(carried):
        print(f"bngrader bundle: note: {note} (CARRIED in bngrader/bundle.py)", file=sys.stderr)
    data = archive(files, f"{NAME}-{version(root)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bngrader bundle", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="the archive to write (default: instructor/bundle/"
                        f"{NAME}-<version>.zip)")
    args = parser.parse_args(argv)
    try:
        out = build(args.out)
    except BundleError as exc:
        print(f"bngrader bundle: {exc}", file=sys.stderr)
        return 1
    with zipfile.ZipFile(out) as zf:
        n = len(zf.namelist())
    print(f"wrote {out} ({n} files, {out.stat().st_size / 1e6:.1f} MB); scanned: no solution, hidden test or "
          "instructor file in it")
    return 0


# --- files written for students ---------------------------------------------------------------

STUDENT_PYPROJECT = """\
# `pip install -e .` makes `import bncourse` work in every notebook of this folder.
# Editable on purpose: bncourse finds MNIST next to itself, in data/mnist/.
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "bncourse"
version = "{version}"
description = "Helpers for the course 'Batch Normalization, from the formulas to Keras'"
requires-python = ">=3.10"
license = {{ text = "MIT" }}

[tool.setuptools]
packages = ["bncourse"]

[tool.setuptools.package-data]
bncourse = ["expected/*.json", "paper/*.json"]
"""

STUDENT_ENVIRONMENT = """\
# conda: conda env create -f environment.yml && conda activate batchnorm-course
name: batchnorm-course
channels:
  - conda-forge
dependencies:
  - python=3.11
  - pip
  - pip:
      - -r requirements.txt
      - -e .
"""

# The Validate button and `nbgrader validate` read this from the folder JupyterLab (or the
# command) starts in. nbgrader's default of 30 s per cell is too short for the Keras lessons.
STUDENT_NBGRADER_CONFIG = """\
# Read by nbgrader's Validate button (JupyterLab started in this folder: make lab) and by
# `nbgrader validate` run from here. The Keras lessons train for up to about a minute in a cell.
c = get_config()  # noqa: F821
c.Execute.timeout = 300
"""

STUDENT_MAKEFILE = """\
# make lab: creates .venv the first time (about 1-2 minutes), then opens JupyterLab on notebooks/.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LAB_PORT ?= 8888
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: env lab validate progress clean-env

env: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
\t@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "Python >= 3.10 is needed, found " + sys.version.split()[0]'
\t@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
\t@echo "Installing the course environment into $(VENV) (about 1-2 minutes, once)..."
\t$(BIN)/python -m pip install --disable-pip-version-check --progress-bar off -q -r requirements.txt -e .
\t@# students need nbgrader's Validate button only: hide the instructor's panels in this environment
\t$(BIN)/jupyter labextension disable --level=sys_prefix @jupyter/nbgrader:formgrader \\
\t  @jupyter/nbgrader:create-assignment @jupyter/nbgrader:course-list @jupyter/nbgrader:assignment-list >/dev/null
\t@touch $(STAMP)
\t@echo "Environment ready."

lab: $(STAMP)
\t$(BIN)/jupyter lab --notebook-dir=$(CURDIR) --ServerApp.default_url=/lab/tree/notebooks \\
\t  --port=$(LAB_PORT) $(ROOT_FLAG) $(LAB_ARGS)

# make validate NB=notebooks/01_formulas_by_hand/01_formulas_by_hand.ipynb
validate: $(STAMP)
\t@test -n "$(NB)" || { echo 'usage: make validate NB=notebooks/<lesson>/<lesson>.ipynb'; exit 2; }
\t$(BIN)/nbgrader validate $(NB)

# Every lesson at a glance: each exercise passed, failed (with its hint) or not attempted, and the
# points. make progress PROGRESS_ARGS="--lessons 01 02" (or --json)
progress: $(STAMP)
\t$(BIN)/python -m bncourse.progress notebooks $(PROGRESS_ARGS)

clean-env:
\trm -rf $(VENV)
"""

# Students may keep their work in git: what the course writes next to it stays out.
STUDENT_GITIGNORE = """\
# written by the course's tools, never your work
.venv/
__pycache__/
.ipynb_checkpoints/
notebooks/.progress-cache/
*.egg-info/
"""

STUDENT_README = """\
# Batch Normalization, from the formulas to Keras (version {version})

A Jupyter course: from computing batch normalization (BN) by hand, through implementing it in
NumPy, to `keras.layers.BatchNormalization` in real models and experiments. Every notebook runs
offline on a CPU; MNIST is in `data/mnist/`.

## Set up

With Python >= 3.10 and `make`, in this folder:

```bash
make env    # creates .venv and installs the course's packages (about 1-2 minutes, once)
make lab    # (creates .venv if needed, then) opens JupyterLab on notebooks/
```

Without `make` (Windows, for example):

```bash
python -m venv .venv
.venv/bin/python -m pip install -r requirements.txt -e .     # Windows: .venv\\Scripts\\python
.venv/bin/jupyter lab                                        # Windows: .venv\\Scripts\\jupyter lab
```

`-e .` installs the course's helper package `bncourse` from this folder, so every notebook can
`import bncourse`. With conda instead: `conda env create -f environment.yml && conda activate
batchnorm-course`, then `jupyter lab`.

## Lessons

{lessons}

## Working through a lesson

1. Open `notebooks/01_formulas_by_hand/01_formulas_by_hand.ipynb` and run the cells from the top.
2. Write your answer where a cell says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
3. Run the check cell under each answer. It prints `✓ ... is correct`, or names the likely mistake.
   An error in your own code shows the lines that led to it; `%xmode Minimal` in a cell gives
   one-line errors, `%xmode Context` switches back.
4. To validate a whole notebook: the **Validate** button of the nbgrader toolbar runs every check
   at once. From a terminal: `make validate NB=notebooks/01_formulas_by_hand/01_formulas_by_hand.ipynb`
   (or `.venv/bin/nbgrader validate <notebook>`).
5. To see where you stand in the whole course: `make progress` (or `.venv/bin/python -m bncourse.progress`)
   runs every lesson the way Validate does and lists each exercise with its points: `✓`, `✗` with
   the check's hint, or `not attempted`, then each lesson's total and the course's. Lessons run side
   by side, and a lesson you have not changed since the last run answers at once (from
   `notebooks/.progress-cache/`). `make progress PROGRESS_ARGS="--lessons 01 02"` checks only those.

Your instructor grades with additional hidden tests, so passing the visible checks is necessary,
not sufficient. Hand in the notebook file itself (`notebooks/<lesson>/<lesson>.ipynb`).

## What is in this folder

```
notebooks/         the lessons, one folder each
bncourse/          the helper package the notebooks import (data, plotting, widgets, the checks; paper/:
                   the committed full-length run that lesson 7 plots)
data/mnist/        MNIST with its SHA-256 checksums (SHA256SUMS)
requirements.txt   the pinned packages; pyproject.toml makes `pip install -e .` work
Makefile           make env, make lab, make validate, make progress
nbgrader_config.py the Validate button's settings (a longer time limit per cell)
```

## Licence

Lesson text and figures: CC BY 4.0. Code: MIT. MNIST (in `data/mnist/`): CC BY-SA 3.0, by
Yann LeCun, Corinna Cortes and Christopher J. C. Burges. See `LICENSE`; cite the course with
`CITATION.cff`.
"""
