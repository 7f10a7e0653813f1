"""``bngrader``: the course's one command for maintainers and instructors.

    bngrader sources                      regenerate solutions/*/*.ipynb from their text sources
    bngrader release [--dest D]           sources, then notebooks/ (stock nbgrader generate_assignment)
    bngrader validate [--invert] PATH...  nbgrader validation; exit 1 when a notebook fails
    bngrader benchmark [--fast] [PATH...] execute solution notebooks; wall time and key results
    bngrader grade ASSIGNMENT... [opts]   grade a class (sandboxed, parallel); see bngrader grade --help
    bngrader export [ASSIGNMENT...]       rebuild the grade CSVs and the class report from the ledger and the
                                          gradebook (after manual grading)
    bngrader extend A STUDENT --days N    a student's extension (nbgrader's), then the CSVs again
    bngrader handback ASSIGNMENT          one feedback zip per student (pages and offline MathJax)
    bngrader report [--out DIR]           rebuild the class report (report.html, report.json) alone
    bngrader source to-py|to-nb FILE...   one notebook <-> its percent-format text
    bngrader expected [--check]           the visible checks' literal answers, from the reference
    bngrader bench-grading [opts]         grade a generated class with stock nbgrader and with grade
    bngrader bundle [--out PATH]          the student bundle: one zip, allow-listed and scanned for leaks
    bngrader paper-fig1 [opts]            lesson 7's Figure 1 at the paper's 50,000 steps: bncourse/paper/fig1_50k.json

``python -m bngrader`` is the same command.
"""

from __future__ import annotations

import importlib
import sys

COURSE = ("sources", "release", "validate", "benchmark")
# command -> (module, function): each module is imported only when its command runs
COMMANDS = {"grade": ("grade", "main"), "export": ("records", "export_main"), "extend": ("late", "extend_main"),
            "handback": ("handback", "main"), "report": ("report", "main"), "source": ("nbsource", "main"),
            "expected": ("make_expected", "main"), "bench-grading": ("bench_grading", "main"),
            "bundle": ("bundle", "main"), "paper-fig1": ("paper_fig1", "main")}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__.strip())
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd in COURSE:
        from bngrader import course

        return course.main([cmd, *rest])
    if cmd in COMMANDS:
        module, function = COMMANDS[cmd]
        return getattr(importlib.import_module(f"bngrader.{module}"), function)(rest)
    print(f"bngrader: unknown command {cmd!r}\n\n{__doc__.strip()}", file=sys.stderr)
    return 2
