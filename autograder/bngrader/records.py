"""The class's grades as they stand, rebuilt after every run from what is kept, never from memory.

For each assignment a run graded, the record is every student the ledger has a result for
(``<out>/ledger/<assignment>/<student>.json``: the last grading of that student, so a regraded
student's row replaces the old one), and the rows of the last run's submissions that could not be
taken in or graded (``<out>/ledger/<assignment>.unrecorded.json``; they replace a student's older
result until the next run of that assignment). Scores come from the course gradebook, so
manual grades given in Formgrader count, and the gradebook, the CSVs and Formgrader agree.
Late penalties are computed here, by the course's ``LatePenalty`` plugin (bngrader.late), from
the gradebook's due date, the student's extension and the hand-in time, and stored in the
gradebook as nbgrader stores them. Files:

    <out>/grades/<assignment>.csv   one per assignment; rewritten only when that assignment is graded
                                    (or by ``bngrader export``)
    <out>/grades.csv                all assignments: every grades/*.csv, combined
    <out>/report.html, report.json  the class report (report.py) of every assignment graded into <out>
"""

from __future__ import annotations

import contextlib
import csv
import json
import warnings
from dataclasses import replace
from pathlib import Path

from bngrader.grade import SEVERITY, Row, _duration, apply_notes, rows_as_data, rows_from_data

FIXED = ["student", "assignment", "notebook", "score", "max_score", "raw_score", "late_penalty", "status", "reason",
         "flags"]


def ledger_rows(out: Path, assignment: str) -> dict[str, list[Row]]:
    """student -> rows of the last result the ledger keeps for them, with the notes on their input
    files (unreadable entries are skipped), then the last run's unrecorded rows in their place."""
    rows = {}
    for entry in sorted((out / "ledger" / assignment).glob("*.json")):
        try:
            saved = json.loads(entry.read_text())
            result = apply_notes(rows_from_data(saved["result"]), [tuple(n) for n in saved.get("notes", [])])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
        rows[entry.stem] = result["rows"]
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError, AttributeError):
        unrecorded = rows_from_data(json.loads((out / "ledger" / f"{assignment}.unrecorded.json").read_text()))
        for row in unrecorded["rows"]:
            rows.pop(row.student, None)
        for row in unrecorded["rows"]:
            rows.setdefault(row.student, []).append(row)
    return rows


def keep_unrecorded(out: Path, assignment: str, rows: list[Row]) -> None:
    """This run's rows that the ledger does not keep (rejected, grading failed), for the record."""
    path = out / "ledger" / f"{assignment}.unrecorded.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(rows_as_data({"rows": rows})))
    tmp.replace(path)


def late_plugin(policy: str | None = None):
    """The course's late policy (autograder/nbgrader_config.py), ``policy`` overriding it for a run."""
    from traitlets.config.loader import PyFileConfigLoader

    from bngrader import late, settings

    config = PyFileConfigLoader(settings.CONFIG.name, path=str(settings.CONFIG.parent)).load_config()
    plugin = late.LatePenalty(config=config)
    for name, value in (late.parse_policy(policy) if policy else {}).items():
        setattr(plugin, name, value)
    return plugin


def with_flag(row: Row, kind: str, reason: str) -> Row:
    """``row`` with one more problem: the status becomes the more serious one, the reason is added."""
    status = min(row.status, kind, key=SEVERITY.index)
    reasons = [r for r in (row.reason, reason) if r]
    if SEVERITY.index(kind) < SEVERITY.index(row.status):
        reasons.reverse()
    return replace(row, status=status, flags=sorted({*row.flags, kind}), reason="; ".join(reasons))


def current_rows(master_db: Path | None, out: Path, assignment: str, plugin) -> list[Row]:
    """The assignment's record (module docstring), late penalties applied and stored in the gradebook
    (without a gradebook, ``master_db`` None or missing: the rows as graded)."""
    from nbgrader.api import Gradebook, MissingEntry

    by_student = ledger_rows(out, assignment)
    if master_db is None or not Path(master_db).is_file():
        return sorted((r for rows in by_student.values() for r in rows), key=lambda r: (r.student, r.notebook))
    rows = []
    with Gradebook(f"sqlite:///{master_db}") as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy autoflush chatter inside nbgrader's API
        for student in sorted(by_student):
            for row in by_student[student]:
                try:
                    sub = gb.find_submission(assignment, student) if row.status != "rejected" else None
                    sub_nb = gb.find_submission_notebook(row.notebook, assignment, student) if sub else None
                except MissingEntry:
                    sub = sub_nb = None
                rows.append(_from_gradebook(row, sub, sub_nb, plugin) if sub_nb else row)
        gb.db.commit()
    return sorted(rows, key=lambda r: (r.student, r.notebook))


def _from_gradebook(row: Row, sub, sub_nb, plugin) -> Row:
    """``row`` with the gradebook's scores (manual grades included) and its late penalty."""
    row = replace(row, score=float(sub_nb.score), penalty=0.0,
                  cells={g.name: (float(g.score), float(g.max_score)) for g in sub_nb.grades},
                  flags=[f for f in row.flags if f not in ("late", "needs_manual_grade")])
    manual = [g.name for g in sub_nb.grades if g.needs_manual_grade]
    if manual:
        row = replace(row, flags=sorted({*row.flags, "needs_manual_grade"}),
                      reason="; ".join(filter(None, [row.reason, f"needs a manual grade: {', '.join(manual)}"])))
    late = sub.total_seconds_late
    penalty = plugin.late_submission_penalty(row.student, row.score, late) if late > 0 else None
    penalty = min(max(float(penalty or 0.0), 0.0), row.score)  # as nbgrader's AssignLatePenalties clamps it
    sub_nb.late_submission_penalty = penalty if late > 0 else None
    if late > 0:
        extension = f", extension {_duration(sub.extension.total_seconds())}" if sub.extension else ""
        row = with_flag(row, "late", f"{_duration(late)} after the deadline{extension}"
                                     + (f": -{penalty:g} points" if penalty else ""))
    return replace(row, penalty=penalty)


def write_csv(path: Path, rows: list[Row], cell_names: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow([*FIXED, *cell_names])
        for r in rows:
            w.writerow([r.student, r.assignment, r.notebook, f"{r.score - r.penalty:g}", f"{r.max_score:g}",
                        f"{r.score:g}", f"{r.penalty:g}", r.status, r.reason, " ".join(r.flags),
                        *(f"{r.cells[c][0]:g}" if c in r.cells else "" for c in cell_names)])
    tmp.replace(path)


def combine(out: Path) -> Path:
    """grades.csv from every grades/<assignment>.csv (assignments in order, their cells' columns in order)."""
    tables = []
    for path in sorted((out / "grades").glob("*.csv")):
        with open(path, newline="", encoding="utf-8") as f:
            tables.append(list(csv.DictReader(f)))
    cells = []
    for table in tables:
        cells += [c for c in (table[0].keys() if table else []) if c not in FIXED and c not in cells]
    path = out / "grades.csv"
    tmp = path.with_name(".grades.csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, [*FIXED, *cells], restval="")
        w.writeheader()
        for table in tables:
            w.writerows(table)
    tmp.replace(path)
    return path


def assignments_in(out: Path) -> list[str]:
    """The assignments graded into ``out`` (those with a ledger folder)."""
    ledger = out / "ledger"
    return sorted(d.name for d in ledger.iterdir() if d.is_dir()) if ledger.is_dir() else []


def term_rows(master_db: Path | None, out: Path, policy: str | None = None) -> list[Row]:
    """The record of every assignment graded into ``out``: what grades.csv holds."""
    plugin = late_plugin(policy)
    return [r for a in assignments_in(out) for r in current_rows(master_db, out, a, plugin)]


def write_report(master_db: Path | None, out: Path, policy: str | None = None) -> Path | None:
    """The class report of the whole term; a failure is a warning (the grades are written already)."""
    import sys

    from bngrader import report

    try:
        return report.write_report(out, term_rows(master_db, out, policy))[1]
    except Exception as exc:  # noqa: BLE001 - a report problem must not hide the grades
        print(f"warning: class report not written ({type(exc).__name__}: {exc}); "
              f"`bngrader report --out {out}` tries again", file=sys.stderr)
        return None


def cell_order(cell_max: dict) -> list[str]:
    """The test cells of an assignment's notebooks, in notebook order."""
    return [c for nb in sorted(cell_max) for c in cell_max[nb]]


def update(master_db: Path, out: Path, unrecorded: dict[str, list[Row] | None], cells: dict[str, list[str]],
           policy: str | None = None) -> list[Row]:
    """Rewrite grades/<a>.csv for each assignment of ``unrecorded`` (a -> this run's rows the ledger
    does not keep; None: keep the last run's), then grades.csv and the class report. Returns the
    rows written for those assignments."""
    plugin = late_plugin(policy)
    rows = []
    for assignment, run_rows in unrecorded.items():
        if run_rows is not None:
            keep_unrecorded(out, assignment, run_rows)
        current = current_rows(master_db, out, assignment, plugin)
        write_csv(out / "grades" / f"{assignment}.csv", current, cells[assignment])
        rows += current
    combine(out)
    write_report(master_db, out, policy)
    return rows


def export_main(argv: list[str] | None = None) -> int:
    """``bngrader export``: rebuild grades/<assignment>.csv and grades.csv from the ledger and the
    gradebook without grading: after manual grading in Formgrader, an extension, or a new late policy."""
    import argparse
    import sys

    from bngrader.grade import prepare
    from bngrader.late import parse_policy
    from bngrader.settings import INSTRUCTOR

    p = argparse.ArgumentParser(prog="bngrader export", description=export_main.__doc__)
    p.add_argument("assignments", nargs="*", help="default: every assignment graded into --out")
    p.add_argument("--out", type=Path, default=INSTRUCTOR, help="the grading output folder (default: instructor/)")
    p.add_argument("--gradebook", type=Path, help="default: <out>/gradebook.db")
    p.add_argument("--late-penalty", metavar="POLICY", help="none, zero, per_day or per_day:PERCENT")
    args = p.parse_args(argv)
    out = args.out.resolve()
    db = (args.gradebook or out / "gradebook.db").resolve()
    graded = assignments_in(out)
    wanted = args.assignments or graded
    problems = [f"{a} was never graded into {out}" for a in wanted if a not in graded]
    if args.late_penalty:
        try:
            parse_policy(args.late_penalty)
        except ValueError as exc:
            problems.append(f"--late-penalty: {exc}")
    if problems or not db.is_file():
        print("error: " + "; ".join(problems or [f"no gradebook at {db}"]), file=sys.stderr)
        return 2
    _, info = prepare(out, db, wanted)
    rows = update(db, out, {a: None for a in wanted}, {a: cell_order(info[a][1]) for a in wanted}, args.late_penalty)
    print(f"{len(rows)} rows: {', '.join(str(out / 'grades' / f'{a}.csv') for a in wanted)}; all in {out / 'grades.csv'}"
          f"; report: {out / 'report.html'}")
    return 0
