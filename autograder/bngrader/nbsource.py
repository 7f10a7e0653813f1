"""Solution notebooks as reviewable text: ``solutions/<A>/<A>.py`` is the source of truth.

Each lesson's instructor version is committed as a percent-format Python file next to its
notebook; ``solutions/<A>/<A>.ipynb`` is generated from it (``make release`` regenerates
both the solution notebooks and, with stock nbgrader, ``notebooks/``)::

    bngrader source to-nb  solutions/01_formulas_by_hand/01_formulas_by_hand.py
    bngrader source to-py  solutions/01_formulas_by_hand/01_formulas_by_hand.ipynb

``to-py`` is for bringing in a notebook edited in JupyterLab: it rewrites the ``.py`` from the
``.ipynb`` (cell ids that the text would not reproduce become explicit ``id=`` attributes;
``--fresh-ids`` drops them). Cell headers name the nbgrader role of each cell::

    # %% [markdown]                  a markdown cell (lines start with "# ")
    # %% [code]                      an ordinary, editable code cell
    # %% [locked id=setup]           read-only code the learner runs but cannot edit
    # %% [answer id=batch_mean]      an autograded answer (### BEGIN/END SOLUTION inside)
    # %% [tests id=test_mean points=2]  autograder tests (### BEGIN/END HIDDEN TESTS inside)
    # %% [written id=why_eps points=2]  a written answer (markdown, "# " lines), graded by hand

Cell ids do not depend on a cell's position, so inserting, deleting or moving one cell
leaves every other cell's id alone:

- nbgrader cells (locked, answer, tests): the ``id=`` of the header, which is also the
  nbgrader ``grade_id``;
- markdown and plain code cells: an explicit ``id=`` when the header has one
  (``# %% [markdown id=intro]``), else ``md-`` or ``code-`` and the first 8 hex digits of
  the SHA-1 of the cell's source, with ``-2``, ``-3``... for repeated sources. Editing such
  a cell gives it a new id; give it an ``id=`` to keep one across edits.

Ids must be valid nbformat cell ids (1-64 characters of ``A-Z a-z 0-9 - _``) and unique in
the notebook; ``to-nb`` stops with a message otherwise.
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

import nbformat

HEADER = re.compile(r"^# %% \[(?P<kind>markdown|code|locked|answer|tests|written)(?P<attrs>[^\]]*)\]\s*$")
CELL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ATTRS = {"markdown": {"id"}, "code": {"id"}, "locked": {"id"}, "answer": {"id"}, "tests": {"id", "points"},
         "written": {"id", "points"}}
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def _nbgrader(kind: str, attrs: dict[str, str]) -> dict | None:
    if kind in ("markdown", "code"):
        return None
    meta = {
        "grade": kind in ("tests", "written"),
        "grade_id": attrs["id"],
        "locked": kind not in ("answer", "written"),
        "schema_version": 3,
        "solution": kind in ("answer", "written"),
        "task": False,
    }
    if kind in ("tests", "written"):
        meta["points"] = int(attrs.get("points", 1))
    return meta


def _kind(cell) -> tuple[str, str]:
    meta = cell.metadata.get("nbgrader")
    if cell.cell_type == "markdown":
        if meta and meta.get("grade") and meta.get("solution"):
            return "written", f" id={meta['grade_id']} points={meta['points']}"
        return "markdown", ""
    if not meta:
        return "code", ""
    gid = f" id={meta['grade_id']}"
    if meta.get("grade"):
        return "tests", f"{gid} points={meta['points']}"
    if meta.get("solution"):
        return "answer", gid
    return "locked", gid


def content_id(cell) -> str:
    """The id a markdown or plain code cell gets from its source (before de-duplication)."""
    prefix = "md" if cell.cell_type == "markdown" else "code"
    return f"{prefix}-{hashlib.sha1(cell.source.encode()).hexdigest()[:8]}"


def assign_ids(cells: list, explicit: list[str | None]) -> None:
    """Set ``cell["id"]``: the explicit id where given (``id=``, the grade id of nbgrader
    cells), else the cell's content id, suffixed ``-2``, ``-3``... when already taken."""
    taken: set[str] = set()
    for cell_id in filter(None, explicit):
        if not CELL_ID.match(cell_id):
            raise ValueError(f"cell id {cell_id!r} is not a valid nbformat id (1-64 of A-Z a-z 0-9 - _)")
        if cell_id in taken:
            raise ValueError(f"two cells have the id {cell_id!r}")
        taken.add(cell_id)
    for cell, cell_id in zip(cells, explicit):
        if cell_id is None:
            base = cell_id = content_id(cell)
            n = 1
            while cell_id in taken:
                n += 1
                cell_id = f"{base}-{n}"
            taken.add(cell_id)
        cell["id"] = cell_id


def py_to_notebook(text: str) -> nbformat.NotebookNode:
    cells, explicit = [], []
    kind, attrs, body = None, {}, []

    def flush():
        if kind is None:
            return
        source = "\n".join(body).strip("\n")
        if kind in ("markdown", "written"):
            lines = [ln[2:] if ln.startswith("# ") else ln.lstrip("#") for ln in source.splitlines()]
            cell = nbformat.v4.new_markdown_cell("\n".join(lines))
        else:
            cell = nbformat.v4.new_code_cell(source)
        meta = _nbgrader(kind, attrs)
        if meta:
            cell.metadata["nbgrader"] = meta
        cells.append(cell)
        explicit.append(attrs.get("id"))

    for number, line in enumerate(text.splitlines(), 1):
        m = HEADER.match(line)
        if m:
            flush()
            kind, body = m["kind"], []
            try:
                attrs = dict(a.split("=", 1) for a in m["attrs"].split())
            except ValueError:
                raise ValueError(f"line {number}: attributes are name=value: {line!r}") from None
            unknown = set(attrs) - ATTRS[kind]
            if unknown:
                raise ValueError(f"line {number}: {kind} cells take no {sorted(unknown)}: {line!r}")
            if kind not in ("markdown", "code") and "id" not in attrs:
                raise ValueError(f"line {number}: a {kind} cell needs id=<grade id>: {line!r}")
        elif kind is not None:
            body.append(line)
    flush()
    assign_ids(cells, explicit)
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    return nb


def notebook_to_py(nb, *, keep_ids: bool = True) -> str:
    """The text of a notebook. With ``keep_ids``, a markdown or plain code cell whose id the
    text would not reproduce gets an explicit ``id=`` (nbgrader cells always get their grade id)."""
    named: set[int] = set()
    while True:
        text = _to_py(nb, named)
        if not keep_ids:
            return text
        again = py_to_notebook(text).cells
        wrong = {i for i, (a, b) in enumerate(zip(nb.cells, again))
                 if a.get("id") and a["id"] != b["id"] and _kind(a)[0] in ("markdown", "code")}
        if wrong <= named:
            return text
        named |= wrong


def _to_py(nb, named: set[int]) -> str:
    chunks = []
    for i, cell in enumerate(nb.cells):
        kind, attrs = _kind(cell)
        if i in named:
            attrs = f" id={cell['id']}"
        src = cell.source
        if kind in ("markdown", "written"):
            src = "\n".join(("# " + ln) if ln else "#" for ln in src.splitlines())
        chunks.append(f"# %% [{kind}{attrs}]\n{src}\n")
    return "\n".join(chunks)


def notebook_text(nb) -> str:
    """The bytes ``nbformat.write`` puts in a file (one trailing newline)."""
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def sources(solutions: Path) -> list[Path]:
    """The lesson sources: ``<solutions>/<A>/<A>.py``."""
    return sorted(p for p in Path(solutions).glob("*/*.py") if p.stem == p.parent.name)


def build(source: Path) -> tuple[Path, bool]:
    """Write ``<A>.ipynb`` from ``<A>.py``; returns (notebook, changed). An unchanged notebook
    is not rewritten."""
    nb = py_to_notebook(Path(source).read_text())
    nbformat.validate(nb)
    target = Path(source).with_suffix(".ipynb")
    text = notebook_text(nb)
    if target.is_file() and target.read_text() == text:
        return target, False
    target.write_text(text)
    return target, True


def main(argv: list[str]) -> int:
    fresh = "--fresh-ids" in argv
    argv = [a for a in argv if a != "--fresh-ids"]
    if len(argv) < 2 or argv[0] not in ("to-py", "to-nb"):
        print(__doc__)
        return 2
    for arg in argv[1:]:
        path = Path(arg)
        if argv[0] == "to-py":
            nb = nbformat.read(path.with_suffix(".ipynb"), as_version=4)
            path.with_suffix(".py").write_text(notebook_to_py(nb, keep_ids=not fresh))
            print(f"wrote {path.with_suffix('.py')}")
        else:
            target, changed = build(path.with_suffix(".py"))
            print(f"{'wrote' if changed else 'unchanged'} {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
