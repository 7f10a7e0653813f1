"""A throw-away nbgrader course in a temporary folder, driven by the stock CLI.

It loads the course's own ``autograder/nbgrader_config.py`` and only moves the
course root and gradebook into the temporary folder, so what is tested is the
configuration instructors use.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat

from bngrader.course import ROOT, SOLUTIONS, nbgrader


@dataclass
class CellScore:
    name: str
    score: float
    max_score: float
    written: bool = False  # a written answer: graded by hand, 0 until then


# ``stock=True``: the course's paths and environment, but nbgrader's own Autograde preprocessors
# (its Execute: tests run inside the student's kernel, no sandbox), as an instructor without the
# course's hardening would grade. Only for comparisons: it trusts the student's code.
STOCK_EXECUTE = (
    "from nbgrader.converters import Autograde\n"
    "c.Autograde.autograde_preprocessors = Autograde.class_traits()['autograde_preprocessors'].default()\n"
)


class TempCourse:
    def __init__(self, root: Path, assignments: list[str], stock: bool = False):
        self.root = Path(root)
        self.assignments = assignments
        self.db = self.root / "gradebook.db"
        (self.root / "nbgrader_config.py").write_text(
            f"c = get_config()\n"
            f"load_subconfig({str(ROOT / 'autograder' / 'nbgrader_config.py')!r})\n"
            f"c.CourseDirectory.root = {str(self.root)!r}\n"
            f"c.CourseDirectory.db_url = 'sqlite:///{self.db}'\n"
            + (STOCK_EXECUTE if stock else "")
        )
        for a in assignments:
            shutil.copytree(SOLUTIONS / a, self.root / "solutions" / a, ignore=shutil.ignore_patterns("*.py"))

    def run(self, *args: str):
        proc = nbgrader(*args, "--log-level=WARN", cwd=self.root, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def generate(self):
        for a in self.assignments:
            self.run("generate_assignment", a, "--force")
        return self.root / "notebooks"

    def submit(self, student: str, assignment: str, notebooks: dict[str, nbformat.NotebookNode]):
        """Place a submission: notebook name -> notebook content."""
        folder = self.root / "instructor" / "submitted" / student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        for name, nb in notebooks.items():
            nbformat.write(nb, folder / f"{name}.ipynb")
        return folder

    def autograde(self, assignment: str):
        return self.run("autograde", assignment, "--force", "--create")

    def scores(self, student: str, assignment: str, notebook: str) -> tuple[float, float, list[CellScore]]:
        from nbgrader.api import Gradebook

        with Gradebook(f"sqlite:///{self.db}") as gb:
            nb = gb.find_submission_notebook(notebook, assignment, student)
            cells = [CellScore(g.name, g.score, g.max_score, g.cell.cell_type == "markdown") for g in nb.grades]
            return nb.score, nb.max_score, cells


def combined_submissions(courses: dict[str, TempCourse], dest: Path) -> Path:
    """One submitted/ tree holding the submissions of every course (one course per assignment), so
    one ``bngrader grade`` run grades them all on one pool of workers, as an instructor's class run
    does. Copies: grade.py never follows a link."""
    for tc in courses.values():
        shutil.copytree(tc.root / "instructor" / "submitted", dest, dirs_exist_ok=True)
    return dest
