"""The course's late-submission policy, as an nbgrader ``LateSubmissionPlugin``.

One policy, configured in one place: ``autograder/nbgrader_config.py`` installs it for stock
nbgrader (Formgrader's *Autograde* button, ``nbgrader autograde``), and ``bngrader grade``
applies the same plugin when it records a class's grades (``--late-penalty`` overrides it for
a run). The deadline is the assignment's due date in the gradebook (``bngrader grade
--deadline`` records it; Formgrader shows it), plus the student's extension, if any
(``bngrader extend``). Methods:

    none      no penalty: late work is only flagged
    zero      a late notebook scores 0 (nbgrader's own 'zero')
    per_day   PERCENT_PER_DAY % of the notebook's score per started day late, at most all of it
              (the course's default: 10 % a day, so 1 minute late costs 10 %, 3 days and 1 hour 40 %)

The penalty is in points, never more than the score (nbgrader clamps it the same way), and the
CSVs show the raw score, the penalty and the final score.
"""

from __future__ import annotations

import math

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Enum, Float

METHODS = ("none", "zero", "per_day")
DEFAULT_METHOD = "per_day"
DEFAULT_PERCENT_PER_DAY = 10.0


class LatePenalty(LateSubmissionPlugin):
    """nbgrader's ``none`` and ``zero``, and ``per_day``: a percentage of the score per started day."""

    penalty_method = Enum(METHODS, default_value=DEFAULT_METHOD,
                          help="none, zero, or per_day (percent_per_day of the score per started day late)"
                          ).tag(config=True)
    percent_per_day = Float(DEFAULT_PERCENT_PER_DAY, help="per_day: percent of the score lost per started day late"
                            ).tag(config=True)

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float) -> float | None:
        if total_seconds_late <= 0 or self.penalty_method == "none":
            return None
        if self.penalty_method == "zero":
            return score
        days = math.ceil(total_seconds_late / 86400)
        return min(score, score * days * self.percent_per_day / 100)


def parse_policy(text: str) -> dict:
    """``none``, ``zero``, ``per_day`` or ``per_day:PERCENT`` -> the plugin's settings; ValueError otherwise."""
    method, _, value = text.partition(":")
    if method not in METHODS or (value and method != "per_day"):
        raise ValueError(f"{text!r} is not a late policy (none, zero, per_day or per_day:PERCENT)")
    settings = {"penalty_method": method}
    if value:
        try:
            percent = float(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a percentage") from None
        if not 0 <= percent <= 100:
            raise ValueError(f"{percent:g} % a day is not between 0 and 100")
        settings["percent_per_day"] = percent
    return settings


def describe(plugin: LatePenalty) -> str:
    if plugin.penalty_method == "per_day":
        return f"{plugin.percent_per_day:g} % of the score per started day late"
    return {"none": "no penalty (late work is flagged)", "zero": "a late notebook scores 0"}[plugin.penalty_method]


def extend_main(argv: list[str] | None = None) -> int:
    """``bngrader extend``: give a student more time on an assignment (nbgrader's extension), then
    rebuild the grades, so the CSVs and the gradebook show the penalty it leaves."""
    import argparse
    import sys
    import warnings
    from pathlib import Path

    from nbgrader.api import Gradebook, MissingEntry

    from bngrader import records
    from bngrader.settings import INSTRUCTOR

    p = argparse.ArgumentParser(prog="bngrader extend", description=extend_main.__doc__)
    p.add_argument("assignment")
    p.add_argument("student")
    p.add_argument("--days", type=float, default=0)
    p.add_argument("--hours", type=float, default=0)
    p.add_argument("--minutes", type=float, default=0)
    p.add_argument("--out", type=Path, default=INSTRUCTOR, help="the grading output folder (default: instructor/)")
    p.add_argument("--gradebook", type=Path, help="default: <out>/gradebook.db")
    args = p.parse_args(argv)
    out = args.out.resolve()
    db = (args.gradebook or out / "gradebook.db").resolve()
    if not db.is_file():
        print(f"error: no gradebook at {db}: grade the assignment first", file=sys.stderr)
        return 2
    with Gradebook(f"sqlite:///{db}") as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            gb.grant_extension(args.assignment, args.student, minutes=args.minutes, hours=args.hours, days=args.days)
        except MissingEntry:
            print(f"error: {args.student} has no graded submission of {args.assignment} in {db}: grade it first "
                  "(an extension belongs to a submission in nbgrader's gradebook)", file=sys.stderr)
            return 2
        sub = gb.find_submission(args.assignment, args.student)
        due = sub.duedate
    what = "removed the extension" if not (args.days or args.hours or args.minutes) else "extension granted"
    print(f"{args.student}, {args.assignment}: {what}; due {due or 'no due date'}")
    return records.export_main([args.assignment, "--out", str(out), "--gradebook", str(db)])
