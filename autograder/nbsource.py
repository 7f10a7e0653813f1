"""Edit solution notebooks as plain text, with their nbgrader metadata.

The solution ``.ipynb`` files are the single source of truth. This tool turns one
into a percent-format Python file for comfortable editing, and back::

    python autograder/nbsource.py to-py  solutions/01_formulas_by_hand/01_formulas_by_hand.ipynb
    python autograder/nbsource.py to-nb  solutions/01_formulas_by_hand/01_formulas_by_hand.py

``to-nb`` writes the ``.ipynb`` next to the ``.py``; delete the ``.py`` afterwards
(it is git-ignored). Cell headers name the nbgrader role of each cell::

    # %% [markdown]                  a markdown cell
    # %% [code]                      an ordinary, editable code cell
    # %% [locked id=setup]           read-only code the learner runs but cannot edit
    # %% [answer id=batch_mean]      an autograded answer (### BEGIN/END SOLUTION inside)
    # %% [tests id=test_mean points=2]  autograder tests (### BEGIN/END HIDDEN TESTS inside)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

HEADER = re.compile(r"^# %% \[(?P<kind>markdown|code|locked|answer|tests)(?P<attrs>[^\]]*)\]\s*$")


def _nbgrader(kind: str, attrs: dict[str, str]) -> dict | None:
    if kind in ("markdown", "code"):
        return None
    meta = {
        "grade": kind == "tests",
        "grade_id": attrs["id"],
        "locked": kind != "answer",
        "schema_version": 3,
        "solution": kind == "answer",
        "task": False,
    }
    if kind == "tests":
        meta["points"] = int(attrs.get("points", 1))
    return meta


def _kind(cell) -> tuple[str, str]:
    meta = cell.metadata.get("nbgrader")
    if cell.cell_type == "markdown":
        return "markdown", ""
    if not meta:
        return "code", ""
    gid = f" id={meta['grade_id']}"
    if meta.get("grade"):
        return "tests", f"{gid} points={meta['points']}"
    if meta.get("solution"):
        return "answer", gid
    return "locked", gid


def py_to_notebook(text: str) -> nbformat.NotebookNode:
    cells, kind, attrs, body = [], None, {}, []

    def flush():
        if kind is None:
            return
        source = "\n".join(body).strip("\n")
        if kind == "markdown":
            lines = [ln[2:] if ln.startswith("# ") else ln.lstrip("#") for ln in source.splitlines()]
            cell = nbformat.v4.new_markdown_cell("\n".join(lines))
        else:
            cell = nbformat.v4.new_code_cell(source)
        meta = _nbgrader(kind, attrs)
        if meta:
            cell.metadata["nbgrader"] = meta
        cells.append(cell)

    for line in text.splitlines():
        m = HEADER.match(line)
        if m:
            flush()
            kind = m["kind"]
            attrs = dict(a.split("=", 1) for a in m["attrs"].split())
            body = []
        elif kind is not None:
            body.append(line)
    flush()
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for i, cell in enumerate(nb.cells):  # stable ids keep diffs and releases reproducible
        cell["id"] = f"cell-{i:03d}"
    return nb


def notebook_to_py(nb) -> str:
    chunks = []
    for cell in nb.cells:
        kind, attrs = _kind(cell)
        src = cell.source
        if kind == "markdown":
            src = "\n".join(("# " + ln) if ln else "#" for ln in src.splitlines())
        chunks.append(f"# %% [{kind}{attrs}]\n{src}\n")
    return "\n".join(chunks)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("to-py", "to-nb"):
        print(__doc__)
        return 2
    path = Path(argv[1])
    if argv[0] == "to-py":
        nb = nbformat.read(path, as_version=4)
        path.with_suffix(".py").write_text(notebook_to_py(nb))
        print(f"wrote {path.with_suffix('.py')}")
    else:
        nb = py_to_notebook(path.read_text())
        nbformat.validate(nb)
        nbformat.write(nb, path.with_suffix(".ipynb"))
        print(f"wrote {path.with_suffix('.ipynb')} ({len(nb.cells)} cells)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
