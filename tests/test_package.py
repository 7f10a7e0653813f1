"""The grading package as installed: one command, the reference reachable from the grader only,
the instructor's data in one folder (and moved there from where earlier versions kept it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bngrader import reference, settings
from bngrader.sandbox import kernel_env
from conftest import ROOT


def _bngrader(*args, **kw):
    exe = Path(sys.executable).with_name("bngrader")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=120, **kw)


def test_one_command_lists_its_subcommands_and_refuses_unknown_ones():
    proc = _bngrader("--help")
    assert proc.returncode == 0
    for cmd in ("sources", "release", "validate", "benchmark", "grade", "source", "expected", "bench-grading",
                "bundle", "export", "extend", "handback", "report"):
        assert f"bngrader {cmd}" in proc.stdout, cmd
    proc = _bngrader("regrade-everything")
    assert proc.returncode == 2 and "unknown command 'regrade-everything'" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "bngrader", "grade", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "--task-timeout" in proc.stdout


def test_no_path_manipulation_in_the_package_or_the_tests():
    hits = [f"{p}:{n}" for folder in ("autograder/bngrader", "tests") for p in (ROOT / folder).rglob("*.py")
            for n, line in enumerate(p.read_text().splitlines(), 1)
            if "sys.path.insert" in line or "sys.path.append" in line]
    hits = [h for h in hits if not h.startswith(str(ROOT / "tests" / "test_package.py"))]
    assert not hits, hits


def test_the_reference_is_importable_in_the_grader_only():
    reference.enable()
    import bn_checks

    assert Path(bn_checks.__file__).parent == settings.REFERENCE
    finder = next(f for f in sys.meta_path if isinstance(f, reference._ReferenceFinder))
    assert finder.find_spec("os_not_there") is None and finder.find_spec("bn_checks.sub") is None
    assert finder.find_spec("bn_checks", path=["/elsewhere"]) is None  # only top-level modules of that folder
    # not installed: a fresh interpreter of the course's environment cannot import it (PYTHONPATH
    # cleared: grading_env() puts the reference there for the stock commands' kernels, and earlier
    # tests in this process may have set it) ...
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", "import bn_checks"], capture_output=True, text=True, cwd="/",
                          env=env)
    assert proc.returncode != 0 and "No module named 'bn_checks'" in proc.stderr
    # ... and a sandboxed kernel's environment does not point to it
    assert not [v for v in kernel_env("/h").values() if "reference" in v]


def test_instructor_data_moves_once_from_the_old_place_and_nothing_is_overwritten(tmp_path):
    old, new = tmp_path / "autograder", tmp_path / "instructor"
    (old / "submitted" / "ada" / "01").mkdir(parents=True)
    (old / "submitted" / "ada" / "01" / "01.ipynb").write_text("{}")
    (old / "gradebook.db").write_bytes(b"db")
    (old / "grades.csv").write_text("student\n")
    (old / "nbgrader_config.py").write_text("# code stays")
    assert sorted(settings.migrate_instructor_data(old, new)) == ["gradebook.db", "grades.csv", "submitted"]
    assert (new / "gradebook.db").read_bytes() == b"db" and (new / "submitted/ada/01/01.ipynb").exists()
    assert sorted(p.name for p in old.iterdir()) == ["nbgrader_config.py"]
    (old / "gradebook.db").write_bytes(b"another")  # instructor/ has a gradebook: never moved again
    assert settings.migrate_instructor_data(old, new) == []
    assert (new / "gradebook.db").read_bytes() == b"db"


def test_a_fresh_clone_has_no_instructor_folder_and_the_stock_commands_make_one(tmp_path):
    """Formgrader's first visit (and any stock nbgrader command) opens instructor/gradebook.db;
    sqlite creates no folders, so the course config makes instructor/ (a fresh clone has none)."""
    root = tmp_path / "clone"
    root.mkdir()
    nbgrader = Path(sys.executable).with_name("nbgrader")
    proc = subprocess.run([str(nbgrader), "db", "assignment", "list"], capture_output=True, text=True, timeout=120,
                          cwd=settings.AUTOGRADER, env={**os.environ, "BNCOURSE_ROOT": str(root)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (root / "instructor" / "gradebook.db").is_file()


def test_ruff_passes_with_complexity_15_and_no_complexity_exemption():
    """The lint the pre-commit hook runs, in make test too: ruff's rules of pyproject.toml (C901 at
    most 15 included), and no function exempted from the complexity limit with a noqa."""
    ruff = Path(sys.executable).parent / "ruff"
    proc = subprocess.run([str(ruff), "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    exempt = subprocess.run([str(ruff), "check", "--no-cache", "--ignore-noqa", "--select", "C901", "."], cwd=ROOT,
                            capture_output=True, text=True)
    assert exempt.returncode == 0, exempt.stdout
