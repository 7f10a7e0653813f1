"""Handing feedback back: one zip per student, to upload to the LMS or mail.

    bngrader handback 02_numpy_forward              # instructor/handback/02_numpy_forward/<student>.zip

Each zip holds the student's feedback pages of that assignment and the course's MathJax beside
them (formulas render offline), under ``<assignment>/``. Nothing else: the pages are the
sanitised ones ``bngrader grade`` wrote, read from ``<out>/feedback/<student>/<assignment>/``
without following links; the MathJax files come from the installed package. The zips are
deterministic (sorted members, fixed times), so handing back twice gives the same bytes.

Why not nbgrader's exchange (``nbgrader release_feedback``): it finds a student's feedback by the
``submission_secret.txt`` that ``nbgrader submit`` writes, so it works only for classes that hand
in through nbgrader's exchange on one shared machine (JupyterHub); an LMS export has no secret.
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

from bngrader.fsguard import UnsafeFile, read_regular
from bngrader.settings import INSTRUCTOR

FIXED_TIME = (2020, 1, 1, 0, 0, 0)
MAX_PAGE_BYTES = 256 * 2**20


def _member(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, FIXED_TIME)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def student_zip(feedback: Path, assignment: str, target: Path) -> list[str]:
    """Write ``target`` from one student's feedback folder; returns the pages it holds. A page
    that is a link or not a regular file is left out (and named on stderr)."""
    from bngrader.sanitize import mathjax_files

    pages = {}
    for page in sorted(feedback.glob("*.html")):
        try:
            pages[page.name] = read_regular(page, MAX_PAGE_BYTES)
        except UnsafeFile as exc:
            print(f"warning: {feedback}: {exc}; not handed back", file=sys.stderr)
    if not pages:
        return []
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        for name, data in pages.items():
            _member(zf, f"{assignment}/{name}", data)
        for rel, data in sorted(mathjax_files().items()):
            _member(zf, f"{assignment}/{rel}", data)
    tmp.replace(target)
    return sorted(pages)


def handback(assignment: str, out: Path = INSTRUCTOR, dest: Path | None = None) -> dict[str, list[str]]:
    """One zip per student with feedback for ``assignment``: student -> pages handed back."""
    from bngrader.grade import check_student_id

    root = out / "feedback"
    dest = dest or out / "handback" / assignment
    done = {}
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if folder.is_symlink() or not (folder / assignment).is_dir() or check_student_id(folder.name):
            continue
        pages = student_zip(folder / assignment, assignment, dest / f"{folder.name}.zip")
        if pages:
            done[folder.name] = pages
    return done


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bngrader handback", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("assignment")
    p.add_argument("--out", type=Path, default=INSTRUCTOR, help="the grading output folder (default: instructor/)")
    p.add_argument("--dest", type=Path, help="default: <out>/handback/<assignment>/")
    args = p.parse_args(argv)
    out = args.out.resolve()
    done = handback(args.assignment, out, args.dest)
    if not done:
        print(f"error: no feedback for {args.assignment} in {out / 'feedback'}: grade it first", file=sys.stderr)
        return 2
    dest = args.dest or out / "handback" / args.assignment
    print(f"{len(done)} students: {dest}/<student>.zip")
    return 0
