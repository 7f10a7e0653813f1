"""The class report: what a grading run says about the class as a whole.

    bngrader report [--out instructor/]     rebuild it from <out>/ledger/ (no grading)

``bngrader grade`` writes it after every run, next to ``grades.csv``:

- ``report.json``: per assignment, the score distribution (each student's total and the
  maximum), per exercise (test cell) the pass rate (full marks / graded) and mean score, the
  named mistakes ranked by how many students made them, the flagged submissions with their
  reasons, and the grading time per submission (min / median / max, the slowest ones);
- ``report.html``: the same as one self-contained page (inline CSS, the figures as base64 PNG,
  no script, no external URL), which any browser opens from disk.

A *mistake* is a failed test cell's hint (the first line of its error, see
:func:`bngrader.grade.cell_hints`), normalised by :func:`mistake` so that the same mistake
on different inputs counts once. Hints are student-influenced text: the page escapes every
piece of it, and the figures hold no student text at all. Submissions that were not graded
(``rejected``, ``missing``, ``invalid_notebook``) count in the score distribution (0 points)
and in the flagged list, not in the pass rates, mistakes or timings.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import re
import statistics
import sys
from pathlib import Path

from bngrader.grade import SEVERITY, Row, shown
from bngrader.settings import INSTRUCTOR

NOT_GRADED = ("rejected", "missing", "invalid_notebook")
EXAMPLES = 3  # example students per mistake
SLOWEST = 5  # slowest submissions listed per assignment

# --------------------------------------------------------------------------- named mistakes

_EXCEPTION = re.compile(r"[A-Za-z_][\w.]*: ")  # the "CheckFailed: " that cell_hints puts first
_WRONG_ON = re.compile(r".+? is wrong on .+?\.\s+(?=\S)")  # "<function> is wrong on <input>. "
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_SHAPE = re.compile(r"\(\s*\d+\s*,[\d\s,]*\)")  # (5, 3), (64,)
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.])")  # 2, 0.25, 1e-6; not float32


def mistake(hint: str) -> str:
    """The mistake a hint names, the same for every input it showed on:

    1. drop the exception class (``"CheckFailed: "``);
    2. ``"<function> is wrong on <input>. <mistake>. <advice>"`` (the checks' usual shape):
       keep the first sentence after the input description, as written (its numbers, such as
       N-1 or 1e-5, are part of the mistake);
    3. any other message (``"... is not implemented yet."``, ``"... raised KeyError on training
       call 1 of 3: ..."``): its first sentence, with shapes written ``(…)`` and numbers ``#``;
    4. without the final full stop.
    """
    text = hint.strip()
    if m := _EXCEPTION.match(text):
        text = text[m.end():]
    named = _WRONG_ON.match(text)
    if named:
        text = text[named.end():]
    text = _SENTENCE_END.split(text, maxsplit=1)[0].strip()
    if not named:
        text = _NUMBER.sub("#", _SHAPE.sub("(…)", text))
    return text.rstrip(".").strip() or hint.strip()


# --------------------------------------------------------------------------- the report as data

def _exercise(row: Row, cell: str) -> str:
    """A test cell's name in the report; prefixed with its notebook if that is not the assignment's."""
    return cell if row.notebook == row.assignment else f"{row.notebook}/{cell}"


def _summary(values: list[float]) -> dict:
    if not values:
        return {"n": 0, "min": None, "median": None, "max": None, "mean": None}
    return {"n": len(values), "min": min(values), "median": statistics.median(values), "max": max(values),
            "mean": round(statistics.fmean(values), 3)}


def _exercises(rows: list[Row]) -> dict:
    """Exercise -> pass rate, mean score and ranked mistakes, over the graded rows. ``written``: a
    written answer, graded by hand (0 until the instructor has graded it)."""
    stats: dict[str, dict] = {}
    for row in rows:
        for cell, (score, top) in row.cells.items():
            s = stats.setdefault(_exercise(row, cell), {"max_score": top, "scores": [], "mistakes": {},
                                                        "written": cell in row.written})
            s["max_score"] = max(s["max_score"], top)
            if row.status in NOT_GRADED:
                continue
            s["scores"].append(score)
            if cell in row.hints:
                s["mistakes"].setdefault(mistake(row.hints[cell]), {})[row.student] = row.hints[cell]
    out = {}
    for name, s in stats.items():
        full = sum(score >= s["max_score"] for score in s["scores"])
        n = len(s["scores"])
        ranked = sorted(s["mistakes"].items(), key=lambda kv: (-len(kv[1]), kv[0]))
        out[name] = {
            "max_score": s["max_score"], "written": s["written"], "graded": n, "full_marks": full,
            "pass_rate": round(full / n, 4) if n else None,
            "mean_score": round(statistics.fmean(s["scores"]), 3) if n else None,
            "mistakes": [{"mistake": key, "students": len(who), "examples": sorted(who)[:EXAMPLES],
                          "example_hint": who[min(who)]} for key, who in ranked],
        }
    return out


def _assignment(rows: list[Row]) -> dict:
    totals: dict[str, list[float]] = {}
    seconds: dict[str, float] = {}
    for row in rows:
        total = totals.setdefault(row.student, [0.0, 0.0])
        total[0] += row.score - row.penalty  # the final score, late penalty taken off
        total[1] += row.max_score
        if row.status not in NOT_GRADED and row.seconds > 0:
            seconds[row.student] = max(seconds.get(row.student, 0.0), row.seconds)
    scores = [{"student": s, "score": t[0], "max_score": t[1]} for s, t in sorted(totals.items())]
    flagged = [{"student": r.student, "notebook": r.notebook, "status": r.status, "score": r.score,
                "reason": r.reason, "flags": list(r.flags)}
               for r in sorted(rows, key=lambda r: (SEVERITY.index(r.status) if r.status in SEVERITY else -1,
                                                    r.student, r.notebook))
               if r.status != "graded"]
    slow = sorted(seconds.items(), key=lambda kv: (-kv[1], kv[0]))[:SLOWEST]
    return {
        "students": len(totals),
        "max_score": max((t[1] for t in totals.values()), default=0.0),
        "scores": scores,
        "score_summary": _summary([t[0] for t in totals.values()]),
        "exercises": _exercises(rows),
        "flagged": flagged,
        "timing": {**_summary(list(seconds.values())),
                   "slowest": [{"student": s, "seconds": t} for s, t in slow]},
    }


def build_report(rows: list[Row]) -> dict:
    """The class report as JSON-ready data (see the module docstring); pure and deterministic."""
    by_assignment: dict[str, list[Row]] = {}
    for row in sorted(rows, key=lambda r: (r.assignment, r.student, r.notebook)):
        by_assignment.setdefault(row.assignment, []).append(row)
    return {"version": 1, "assignments": {a: _assignment(rs) for a, rs in by_assignment.items()}}


def mistake_lines(report: dict) -> list[str]:
    """The ranked mistakes as text, one line each:
    ``02_numpy_forward test_batchnorm_forward: 'It divides ...' - 3 students (ada, bob, cat)``."""
    lines = []
    for a, data in report["assignments"].items():
        for ex, e in data["exercises"].items():
            for m in e["mistakes"]:
                more = ", ..." if m["students"] > len(m["examples"]) else ""
                lines.append(f"{a} {ex}: '{shown(m['mistake'])}' - {m['students']} "
                             f"student{'s' if m['students'] != 1 else ''} ({', '.join(m['examples'])}{more})")
    return lines


def rows_from_ledger(out: Path) -> list[Row]:
    """The term's record as ``<out>/ledger`` and the gradebook ``<out>/gradebook.db`` keep it (records.py:
    each student's last grading, the last run's rejected submissions, manual grades, late penalties)."""
    from bngrader import records

    return records.term_rows(Path(out) / "gradebook.db", Path(out))


# --------------------------------------------------------------------------- figures

def _png(fig) -> str:
    """``fig`` as a base64 PNG, byte for byte the same on every run (no date or software stamp)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(name: str, data: dict) -> str:
    """One assignment's score histogram and pass rate per exercise, side by side (no student text)."""
    import matplotlib
    import numpy as np
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"font.family": "DejaVu Sans", "font.size": 10, "axes.grid": False}):
        exercises = [e for e, d in data["exercises"].items() if not d["written"]]  # autograded: their pass rates
        fig = Figure(figsize=(11, max(3.2, 0.45 * len(exercises) + 1.2)), layout="constrained")
        hist, bars = fig.subplots(1, 2)
        top = data["max_score"] or 1.0
        bins = np.linspace(0, top, min(max(int(round(top)), 1), 20) + 1)
        hist.hist([s["score"] for s in data["scores"]], bins=bins, color="#4c72b0", edgecolor="white")
        hist.set(title=f"{name}: total scores ({data['students']} students)", xlabel=f"score (of {top:g})",
                 ylabel="students", xlim=(0, top))
        hist.yaxis.get_major_locator().set_params(integer=True)
        rates = [100 * (data["exercises"][e]["pass_rate"] or 0) for e in exercises]
        y = np.arange(len(exercises))
        bars.barh(y, rates, color="#55a868")
        bars.set_yticks(y, exercises)
        bars.invert_yaxis()
        bars.set(title="full marks per exercise", xlabel="% of graded students", xlim=(0, 105))
        for yi, r in zip(y, rates):
            bars.text(min(r + 1, 90), yi, f"{r:.0f}%", va="center")
        return _png(fig)


# --------------------------------------------------------------------------- the page

CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:72em;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.25em .6em;
text-align:left;vertical-align:top}th{background:#f2f2f2}td.n{text-align:right}img{max-width:100%}
code{background:#f6f6f6}.muted{color:#666}"""
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _table(head: list[str], body: list[list], numeric: set[int] = frozenset()) -> str:
    if not body:
        return '<p class="muted">none</p>'
    cells = "".join(f"<th>{_e(h)}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f'<td{" class=n" if i in numeric else ""}>{_e(v)}</td>'
                                  for i, v in enumerate(r)) + "</tr>" for r in body)
    return f"<table><tr>{cells}</tr>{trs}</table>"


def _num(x, fmt="g") -> str:
    return "" if x is None else format(x, fmt)


def _section(name: str, data: dict) -> str:
    ex = data["exercises"]
    s, t = data["score_summary"], data["timing"]
    parts = [f"<h2>{_e(name)}</h2>",
             f"<p>{data['students']} students; total score (of {_num(data['max_score'])}): mean {_num(s['mean'])}, "
             f"median {_num(s['median'])}, min {_num(s['min'])}, max {_num(s['max'])}.</p>",
             f'<img alt="{_e(name)}: score histogram and pass rate per exercise" '
             f'src="data:image/png;base64,{_figure(name, data)}">',
             "<h3>Exercises</h3>",
             _table(["exercise", "points", "graded", "full marks", "pass rate", "mean score"],
                    [[f"{k} (written, graded by hand)" if e["written"] else k, _num(e["max_score"]), e["graded"],
                      e["full_marks"],
                      "" if e["pass_rate"] is None else f"{100 * e['pass_rate']:.0f}%", _num(e["mean_score"])]
                     for k, e in ex.items()], {1, 2, 3, 4, 5}),
             "<h3>Mistakes, most frequent first</h3>",
             _table(["exercise", "mistake", "students", "for example", "one student's message"],
                    sorted(([k, m["mistake"], m["students"], ", ".join(m["examples"]), m["example_hint"]]
                            for k, e in ex.items() for m in e["mistakes"]), key=lambda r: -r[2]), {2}),
             "<h3>Flagged submissions</h3>",
             _table(["student", "notebook", "status", "score", "reason"],
                    [[f["student"], f["notebook"], f["status"], _num(f["score"]), f["reason"]]
                     for f in data["flagged"]], {3}),
             "<h3>Grading time per submission</h3>",
             _table(["submissions", "min (s)", "median (s)", "max (s)", "slowest"],
                    [[t["n"], _num(t["min"]), _num(t["median"]), _num(t["max"]),
                      ", ".join(f"{x['student']} {x['seconds']:g} s" for x in t["slowest"])]], {0, 1, 2, 3})]
    return "\n".join(parts)


def render_html(report: dict) -> str:
    """The report as one self-contained page: every text escaped, no script, no URL."""
    sections = [_section(a, d) for a, d in report["assignments"].items()] or ['<p class="muted">No grades yet.</p>']
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f"<title>Class report</title><style>{CSS}</style></head><body>\n<h1>Class report</h1>\n"
            '<p class="muted">Written by <code>bngrader grade</code> (or <code>bngrader report</code>). A mistake is '
            "a failed test's message, counted once per student.</p>\n" + "\n".join(sections) + "\n</body></html>\n")


def write_report(out: Path, rows: list[Row]) -> tuple[Path, Path]:
    """Write ``out/report.json`` and ``out/report.html`` for ``rows``; returns both paths."""
    out = Path(out)
    report = build_report(rows)
    paths = out / "report.json", out / "report.html"
    paths[0].write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    paths[1].write_text(render_html(report), encoding="utf-8")
    return paths


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bngrader report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=INSTRUCTOR,
                   help="the grading output folder, holding ledger/ (default: instructor/)")
    args = p.parse_args(argv)
    rows = rows_from_ledger(args.out)
    if not rows:
        print(f"error: no graded submissions in {args.out / 'ledger'}", file=sys.stderr)
        return 2
    json_path, html_path = write_report(args.out, rows)
    print("\n".join(mistake_lines(json.loads(json_path.read_text(encoding="utf-8")))))
    print(f"report: {html_path}\n        {json_path}")
    return 0
