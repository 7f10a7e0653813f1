"""The student bundle (``bngrader bundle``): what is in it, what never is, and that it works.

The bundle is built into a temporary folder and unpacked into a fresh one. Lesson 1 is then run
from the unpacked folder, with this environment's Python but ``import bncourse`` resolving to the
bundle's copy (checked inside the kernel). Its answer cells are filled in with the solution
notebook's answers by the test, which may read solutions/ (the bundle may not): run blank, every
visible check fails with "not implemented", which proves little; filled in, every visible check
has to pass against the bundle's own ``bncourse`` and its literal answers (``expected/*.json``),
and every plot, widget and Keras demonstration cell has to run, so a missing module, data file or
answer table shows up as an error.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from bngrader import bundle
from conftest import ROOT

MARKERS = ["### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS", "bn_checks", "keras_checks", "experiment_checks", "concept_checks", "practice_checks",
           "bn_reference"]
TOP = f"{bundle.NAME}-{bundle.version()}"
LESSON1 = "notebooks/01_formulas_by_hand/01_formulas_by_hand.ipynb"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(the archive, the unpacked course folder)."""
    out = bundle.build(tmp_path_factory.mktemp("bundle") / "course.zip")
    dest = tmp_path_factory.mktemp("unpacked")
    with zipfile.ZipFile(out) as zf:
        zf.extractall(dest)
    assert sorted(p.name for p in dest.iterdir()) == [TOP], "the archive holds one top folder"
    return out, dest / TOP


def _unpacked_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_bundle_holds_exactly_the_allow_list(built):
    _, course = built
    files = _unpacked_files(course)
    lessons = sorted(p.parent.name for p in (ROOT / "solutions").glob("*/*.ipynb"))
    expected = ({f"notebooks/{a}/{a}.ipynb" for a in lessons} | {f"bncourse/expected/{a}.json" for a in lessons}
                | {f"bncourse/{p.name}" for p in (ROOT / "bncourse").glob("*.py")}
                | {f"bncourse/paper/{p.name}" for p in (ROOT / "bncourse" / "paper").glob("*.json")}
                | {f"data/mnist/{p.name}" for p in (ROOT / "data" / "mnist").iterdir()}
                | {"README.md", "Makefile", "requirements.txt", "pyproject.toml", "environment.yml",
                   "nbgrader_config.py", "LICENSE", "CITATION.cff", ".gitignore"})
    assert set(files) == expected
    for denied in ("solutions", "autograder", "tests", "instructor", ".git"):
        assert not [f for f in files if denied in f.split("/")], denied
    # the learner notebooks and the data go out byte for byte as committed
    for rel in files:
        if rel.startswith(("notebooks/", "data/", "bncourse/")):
            assert (course / rel).read_bytes() == (ROOT / rel).read_bytes(), rel
    readme = (course / "README.md").read_text()
    assert all(w in readme for w in ("make env", "make lab", "pip install -r requirements.txt -e .", "Validate"))
    assert all(f"`{a}`" in readme for a in lessons), "the student README lists every lesson"
    # make progress: in the Makefile, in the README, and its cache out of a student's git
    assert "make progress" in readme
    assert re.search(r"^progress: \$\(STAMP\)\n\t\$\(BIN\)/python -m bncourse.progress notebooks",
                     (course / "Makefile").read_text(), re.M)
    assert "notebooks/.progress-cache/" in (course / ".gitignore").read_text().splitlines()
    # the one nbgrader config is the student's (a time limit), not the instructor's
    config = (course / "nbgrader_config.py").read_text()
    assert "c.Execute.timeout = 300" in config
    assert not re.search(r"bngrader|harden|gradebook|db_url", config)


def test_no_member_holds_a_marker_or_solution_code(built):
    """Every member, as bytes and (notebooks) as cell sources: no marker, and no solution or
    hidden-test region of more than two lines of any solution notebook, except the one lesson 4
    hands out on purpose (``bundle.CARRIED``), and there only."""
    archive, _ = built
    regions = []
    for nb_path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        for cell in nbformat.read(nb_path, as_version=4).cells:
            for m in re.finditer(r"### BEGIN (SOLUTION|HIDDEN TESTS).*?\n(.*?)### END \1", cell.source, re.S):
                body = "\n".join(ln.strip() for ln in m.group(2).splitlines() if ln.strip())
                if body.count("\n") >= 2:  # more than a couple of lines
                    regions.append((f"{nb_path.parent.name}:{cell.metadata['nbgrader']['grade_id']}", body))
    assert len(regions) >= 10  # 16 today: most hidden-test regions and lesson 1 answers are one or two lines
    found = []
    with zipfile.ZipFile(archive) as zf:
        for name in zf.namelist():
            data = zf.read(name)
            found += [f"{name}: {m}" for m in MARKERS if m.encode() in data]
            if name.endswith(".gz"):
                continue
            text = data.decode()
            if name.endswith(".ipynb"):
                text = "\n".join(c.source for c in nbformat.reads(text, as_version=4).cells)
            flat = "\n".join(ln.strip() for ln in text.splitlines() if ln.strip())
            found += [f"{name}: {where}" for where, body in regions if body in flat]
    carried = [f"{TOP}/{member}: {where}" for member, where in bundle.CARRIED]
    assert found == carried


def test_two_builds_are_byte_identical_with_fixed_metadata(built, tmp_path):
    archive, _ = built
    again = bundle.build(tmp_path / "again.zip")
    assert again.read_bytes() == archive.read_bytes()
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert {i.date_time for i in infos} == {bundle.EPOCH}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.zip"], "no temporary file is left behind"


# IPython runs this in every kernel before the first cell: this environment installed the
# repository's bncourse in editable mode, whose import hook would quietly supply a module the
# bundle lacks (the bundle's bncourse comes first on PYTHONPATH, but a missing submodule falls
# through to the hook). Without the hook, a missing module is an ImportError, as for a student.
NO_REPO_HOOK = """import sys
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in (getattr(f, "__module__", "") or "")]
"""


def _bundle_env(course: Path) -> dict[str, str]:
    """This environment, with bncourse found in the bundle only: PYTHONPATH is the bundle, the
    repository's editable install is unhooked (NO_REPO_HOOK, through an IPython profile next to the
    bundle), no user site, no course variables an earlier test may have set."""
    ipython = course.parent / "ipython"
    (ipython / "profile_default" / "startup").mkdir(parents=True, exist_ok=True)
    (ipython / "profile_default" / "startup" / "00-bundle-only.py").write_text(NO_REPO_HOOK)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "BNCOURSE_ROOT", "BNCOURSE_DATA", "BNCOURSE_FAST", "BNCOURSE_RESULTS",
                        "NBGRADER_EXECUTION", "JUPYTER_CONFIG_PATH")}
    env.update(PYTHONPATH=str(course), PYTHONNOUSERSITE="1", TF_CPP_MIN_LOG_LEVEL="2", IPYTHONDIR=str(ipython))
    return env


def _fill_in_answers(path: Path, lesson: str) -> None:
    """The answer cells of the bundle's notebook at ``path``, written with the solution's answers."""
    nb = nbformat.read(path, as_version=4)
    solution = nbformat.read(ROOT / "solutions" / lesson / f"{lesson}.ipynb", as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solution.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    filled = 0
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source, filled = answers[gid], filled + 1
    assert filled >= 5
    nb.cells.append(nbformat.v4.new_code_cell(
        "import importlib.util, json, sys, bncourse, bncourse.casecheck, bncourse.data\n"
        "print('WHERE=' + json.dumps({'bncourse': bncourse.__file__, 'data': str(bncourse.data.data_dir()),\n"
        "      'modules': sorted(m.__file__ for n, m in sys.modules.items() if n.startswith('bncourse')),\n"
        "      'expected': str(bncourse.casecheck.EXPECTED_DIR),\n"
        "      'reference': importlib.util.find_spec('bn_checks') is not None}))"))
    nbformat.write(nb, path)


def test_lesson1_runs_top_to_bottom_from_the_unpacked_bundle(built, tmp_path):
    _, course = built
    work = tmp_path / "course"
    shutil.copytree(course, work)  # the module's unpacked copy stays as built for the other tests
    nb = work / LESSON1
    _fill_in_answers(nb, "01_formulas_by_hand")
    proc = subprocess.run([str(Path(sys.executable).with_name("jupyter")), "nbconvert", "--to", "notebook",
                           "--execute", "--inplace", "--ExecutePreprocessor.timeout=300", nb.name],
                          cwd=nb.parent, env=_bundle_env(work), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ran = nbformat.read(nb, as_version=4)
    errors = [o for c in ran.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, errors[0]
    text = "\n".join(o.get("text", "") for c in ran.cells if c.cell_type == "code" for o in c.outputs)
    assert text.count("is correct") >= 6, text  # the visible checks passed, with the bundle's answer tables
    where = json.loads(text.split("WHERE=")[1].splitlines()[0])
    assert Path(where["bncourse"]).parent == work / "bncourse"
    assert len(where["modules"]) >= 8 and all(Path(m).parent == work / "bncourse" for m in where["modules"])
    assert Path(where["data"]) == work / "data" / "mnist"
    assert Path(where["expected"]) == work / "bncourse" / "expected"
    assert where["reference"] is False


def test_validate_works_from_the_bundle_with_the_student_config(built, tmp_path):
    """`nbgrader validate` (what the Validate button runs) from the bundle's folder, without the
    instructor's config: the filled-in lesson 1 passes, the blank one fails naming a check."""
    _, course = built
    work = tmp_path / "course"
    shutil.copytree(course, work)
    nbgrader = str(Path(sys.executable).with_name("nbgrader"))
    blank = subprocess.run([nbgrader, "validate", LESSON1], cwd=work, env=_bundle_env(work),
                           capture_output=True, text=True, timeout=300)
    assert "normalize is not implemented yet" in blank.stdout, blank.stdout + blank.stderr
    _fill_in_answers(work / LESSON1, "01_formulas_by_hand")
    filled = subprocess.run([nbgrader, "validate", LESSON1], cwd=work, env=_bundle_env(work),
                            capture_output=True, text=True, timeout=300)
    assert filled.stdout.strip().startswith("Success!"), filled.stdout + filled.stderr


def test_make_progress_runs_from_the_bundle_without_bngrader(built, tmp_path):
    """The student Makefile's `make progress`, in the unpacked bundle: the bundle's own
    bncourse.progress (bngrader is not there), lesson 1 blank: every exercise not attempted, 0 points;
    its cache in notebooks/.progress-cache/, which the bundle's .gitignore names. (-o: the
    environment is this one, never installed by the test.)"""
    _, course = built
    work = tmp_path / "course"
    shutil.copytree(course, work)
    # the command and its worker processes unhook the repository's editable install too (at start-up,
    # after the .pth files): a module the bundle lacks is then an ImportError, as for a student
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(NO_REPO_HOOK)
    env = _bundle_env(work)
    env["PYTHONPATH"] += os.pathsep + str(tmp_path / "site")
    stamp = Path(sys.executable).parent.parent / ".installed"
    proc = subprocess.run(["make", "-s", "-o", str(stamp), "progress", f"STAMP={stamp}",
                           f"BIN={Path(sys.executable).parent}", "PROGRESS_ARGS=--lessons 01 --json"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rep = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert [lesson["lesson"] for lesson in rep["lessons"]] == ["01_formulas_by_hand"]
    assert {e["state"] for e in rep["lessons"][0]["exercises"]} == {"not_attempted"}
    graded = [c for c in nbformat.read(work / LESSON1, 4).cells
              if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("test_")]
    assert rep["total"]["earned"] == 0 and rep["total"]["exercises"] == len(graded) >= 7
    assert (work / "notebooks" / ".progress-cache" / "01_formulas_by_hand__01_formulas_by_hand.json").is_file()
    assert not (work / "bngrader").exists() and not list(work.rglob("bngrader*"))


def _imports(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "bncourse":
            names.add(f"bncourse.{node.attr}")
    return {n.split(".")[1] for n in names if n.startswith("bncourse.")} | ({"__init__"} if "bncourse" in names else set())


def test_bncourse_allow_list_is_what_the_learner_notebooks_need():
    """Every bncourse module a learner notebook imports, directly or through another module, is
    in the bundle; and every module of the package is named in the allow-list (a new module is a
    decision, not an accident)."""
    modules = {p.stem for p in (ROOT / "bncourse").glob("*.py")}
    needed = set()
    for nb_path in sorted((ROOT / "notebooks").glob("*/*.ipynb")):
        for cell in nbformat.read(nb_path, as_version=4).cells:
            if cell.cell_type == "code":
                src = "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in cell.source.splitlines())
                needed |= _imports(src) & modules
    todo = set(needed)
    while todo:
        needed_by = _imports((ROOT / "bncourse" / f"{todo.pop()}.py").read_text()) & modules
        todo |= needed_by - needed
        needed |= needed_by
    assert needed <= set(bundle.BNCOURSE_MODULES), sorted(needed - set(bundle.BNCOURSE_MODULES))
    assert set(bundle.BNCOURSE_MODULES) == modules


def _pins(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        req = line.split("#", 1)[0].strip()
        if req:
            pins[re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0].lower()] = req
    return pins


def test_student_requirements_are_the_course_pins_without_instructor_tools(built):
    from importlib.metadata import requires

    from packaging.requirements import Requirement

    _, course = built
    student, course_pins = _pins((course / "requirements.txt").read_text()), _pins((ROOT / "requirements.txt").read_text())
    assert student == {k: v for k, v in course_pins.items() if k not in bundle.INSTRUCTOR_ONLY}
    assert {"nbgrader", "jupyterlab", "keras", "numpy", "ipywidgets"} <= set(student)
    assert not {"pytest", "pytest-xdist", "execnet", "ruff", "playwright", "dask"} & set(student)
    # what is left out is not needed by what is kept (installed metadata, transitively)
    seen, todo = set(), [k for k in student if not k.startswith("tensorflow")]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for req in map(Requirement, requires(name) or []):
            if req.marker is None or req.marker.evaluate({"extra": ""}):  # no extras, this platform
                todo.append(req.name.lower().replace("_", "-"))
    assert {"psutil", "beautifulsoup4"} <= seen  # why those two pins stay: ipython, nbconvert need them
    assert not seen & set(bundle.INSTRUCTOR_ONLY), sorted(seen & set(bundle.INSTRUCTOR_ONLY))


def test_student_pyproject_builds_bncourse_with_its_answer_tables(built, tmp_path):
    """`pip install -e .` in the bundle needs a valid pyproject: building its wheel (offline, with
    this environment's setuptools) gives bncourse and its expected/*.json."""
    _, course = built
    src = tmp_path / "src"
    src.mkdir()
    shutil.copytree(course / "bncourse", src / "bncourse")
    shutil.copy(course / "pyproject.toml", src)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "--no-index",
                           "-q", "-w", str(tmp_path / "wheel"), str(src)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (wheel,) = (tmp_path / "wheel").glob("bncourse-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "bncourse/expected/01_formulas_by_hand.json" in names and "bncourse/checks.py" in names
    assert not [n for n in names if n.startswith("bngrader")]


# --- planted leaks ----------------------------------------------------------------------------


def _scratch_course(tmp_path: Path) -> Path:
    """A copy of the course with what the bundle reads (and the solutions it checks against)."""
    root = tmp_path / "course"
    for folder in ("notebooks", "bncourse", "data", "solutions"):
        shutil.copytree(ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__", "*.py")
                        if folder == "solutions" else shutil.ignore_patterns("__pycache__"))
    for name in ("README.md", "requirements.txt", "pyproject.toml", *bundle.COPIED):
        shutil.copy(ROOT / name, root / name)
    return root


def _region(lesson: str, gid: str) -> str:
    cell = next(c for c in nbformat.read(ROOT / "solutions" / lesson / f"{lesson}.ipynb", as_version=4).cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == gid)
    return re.search(r"### BEGIN SOLUTION.*?\n(.*?)### END SOLUTION", cell.source, re.S).group(1)


def _plant_solution_notebook(root):
    shutil.copy(root / "solutions/01_formulas_by_hand/01_formulas_by_hand.ipynb", root / LESSON1)
    return LESSON1, "### BEGIN SOLUTION"


def _plant_answer_in_helper(root):
    """Answer code without any marker, pasted into a helper module (re-indented)."""
    code = "\n".join("    " + ln.strip() for ln in _region("02_numpy_forward", "batchnorm_forward").splitlines())
    with open(root / "bncourse/plotting.py", "a") as f:
        f.write(f"\n\ndef _forward(x, gamma, beta, eps=1e-3):\n{code}\n")
    return "bncourse/plotting.py", "02_numpy_forward:batchnorm_forward"


def _plant_carried_code_elsewhere(root):
    """Lesson 3's answer may be in lesson 4's notebook (CARRIED), and nowhere else: not in
    lesson 6's (where single lines of other lessons do not count, only runs of lines)."""
    path = root / "notebooks/06_keras_cnn/06_keras_cnn.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("def alt(dout, cache):\n"
                                              + _region("03_numpy_backward", "batchnorm_backward_alt")))
    nbformat.write(nb, path)
    return "notebooks/06_keras_cnn/06_keras_cnn.ipynb", "03_numpy_backward:batchnorm_backward_alt"


def _plant_answer_in_later_lesson(root):
    """A whole answer of lesson 2 in lesson 5's notebook, which CARRIED does not allow."""
    path = root / "notebooks/05_keras_dense/05_keras_dense.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("def f(x, gamma, beta, eps=1e-3):\n"
                                              + _region("02_numpy_forward", "batchnorm_forward")))
    nbformat.write(nb, path)
    return "notebooks/05_keras_dense/05_keras_dense.ipynb", "02_numpy_forward:batchnorm_forward"


@pytest.mark.parametrize("plant", [_plant_solution_notebook, _plant_answer_in_helper, _plant_carried_code_elsewhere,
                                   _plant_answer_in_later_lesson], ids=lambda f: f.__name__[7:])
def test_a_planted_leak_fails_the_build_naming_the_file(plant, tmp_path):
    root = _scratch_course(tmp_path)
    assert bundle.leaks(bundle.members(root), root) == []  # the copy is clean before planting
    member, reason = plant(root)
    out = tmp_path / "out" / "course.zip"
    with pytest.raises(bundle.BundleError) as err:
        bundle.build(out, root=root)
    assert f"{member}: " in str(err.value) and reason in str(err.value), str(err.value)
    assert not out.parent.exists() or not any(out.parent.iterdir()), "nothing may be written"


@pytest.mark.parametrize("extra", ["autograder/reference/bn_checks.py", "autograder/nbgrader_config.py",
                                   "tests/test_bundle.py", "solutions/01_formulas_by_hand/01_formulas_by_hand.py"])
def test_an_instructor_file_in_the_allow_list_fails_the_build(extra, monkeypatch, tmp_path):
    monkeypatch.setattr(bundle, "COPIED", (*bundle.COPIED, extra))
    out = tmp_path / "course.zip"
    with pytest.raises(bundle.BundleError, match=re.escape(f"{extra}: an instructor or generated path")):
        bundle.build(out)
    assert not out.exists()


def test_the_command_writes_the_bundle_or_refuses_with_the_file_named(tmp_path):
    root = _scratch_course(tmp_path)
    exe = str(Path(sys.executable).with_name("bngrader"))
    env = {**os.environ, "BNCOURSE_ROOT": str(root)}
    ok = subprocess.run([exe, "bundle", "--out", str(tmp_path / "ok.zip")], env=env, capture_output=True,
                        text=True, timeout=120)
    assert ok.returncode == 0 and "wrote" in ok.stdout, ok.stderr
    assert "carries 03_numpy_backward:batchnorm_backward_alt" in ok.stderr  # what CARRIED let through is said
    _plant_solution_notebook(root)
    bad = subprocess.run([exe, "bundle", "--out", str(tmp_path / "bad.zip")], env=env, capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 1 and f"{LESSON1}: contains '### BEGIN SOLUTION'" in bad.stderr, bad.stderr
    assert not (tmp_path / "bad.zip").exists()
