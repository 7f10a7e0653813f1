"""Hostile submissions: inputs (see hostile/__init__.py).

Malformed timestamp.txt files, student folders whose names are not valid student ids (or
that are symlinks or files), and notebooks whose nbgrader metadata cannot be read. Each is
that submission's own status with a reason naming it; the rest of the class is graded. (A
folder named ``..`` cannot exist; ids from zip exports, where it can, are in test_grade.py's
``test_lms_zip_*`` and tests/test_intake.py.)
"""

from __future__ import annotations

from hostile import HONEST, POINTS, Case, Context

TIMESTAMPS = {  # student -> (timestamp.txt bytes, a phrase of the reason)
    "ts_garbage": (b"yesterday, around noon\n", "not a time"),
    "ts_lenient": (b"12", "not a time"),  # nbgrader's parse_utc reads it as the 12th of this month
    "ts_huge": (b"2026-10-20 12:00:00 UTC " * 100_000, "2400000 bytes, not a time"),
    "ts_binary": (bytes(range(128, 256)) + b"\x00", "not text"),
    "ts_empty": (b"", "timestamp.txt is empty"),
    "ts_far_future": (b"9999-12-31 23:59:59 UTC", "not a plausible hand-in time"),
    "ts_far_past": (b"0001-01-01 00:00:00 UTC", "not a plausible hand-in time"),
    "ts_overflow": (b"9999-12-31 23:59:59 -1400", "not a time"),  # to UTC: past year 9999
}
BAD_IDS = {  # folder name -> a phrase of the reason
    "...": "is only dots", "a..b": "contains '..'", ".hidden": "must start with an ASCII letter or digit",
    "-rf": "must start with", "élève": "must start with", "jöhn": "may only contain", "has space": "may only contain",
    "x" * 65: "longer than 64 characters",
}
CASES: dict[str, Case] = {
    **{s: Case("bad_timestamp", HONEST, POINTS, why) for s, (_, why) in TIMESTAMPS.items()},
    # -0200 is two hours, not 200 seconds as nbgrader's parse_utc reads it: 1 h after the deadline
    "ts_offset_late": Case("late", HONEST, POINTS, "1 h 0 min after the deadline"),
    **{s: Case("rejected", 0, reason=why) for s, why in BAD_IDS.items()},
    "linked_folder": Case("rejected", 0, reason="linked_folder/02_numpy_forward is a symlink (not followed)"),
    "file_not_folder": Case("rejected", 0, reason="file_not_folder/02_numpy_forward is not a folder"),
    "meta_not_a_dict": Case("invalid_notebook", 0, reason="nbgrader metadata that is a str, not a dict"),
    "meta_grade_id_list": Case("invalid_notebook", 0, reason="grade_id that is a list, not a string"),
}


def _own_copy(ctx: Context, student: str):
    """The solved notebook, made this student's own (not byte-identical to a classmate's: the
    point of these cases is their input, not copying)."""
    nb = ctx.solved()
    nb.metadata["submitted_by"] = student
    return nb


def build(ctx: Context) -> None:
    for student, (content, _) in TIMESTAMPS.items():
        ctx.write(ctx.own(student), _own_copy(ctx, student))
        (ctx.own(student) / "timestamp.txt").write_bytes(content)
    ctx.write(ctx.own("ts_offset_late"), _own_copy(ctx, "ts_offset_late"))
    (ctx.own("ts_offset_late") / "timestamp.txt").write_text("2026-10-31 23:00:00 -0200")
    for student in BAD_IDS:
        ctx.write(ctx.own(student), _own_copy(ctx, student))  # honest work: rejected for its folder's name only
    (ctx.sub / "linked_folder").mkdir()
    (ctx.sub / "linked_folder" / ctx.assignment).symlink_to(ctx.own("ts_garbage"))  # a classmate's work
    (ctx.sub / "file_not_folder").mkdir()
    (ctx.sub / "file_not_folder" / ctx.assignment).write_text("a file where the folder should be")
    nb = _own_copy(ctx, "meta_not_a_dict")
    nb.cells[ctx.index("batchnorm_forward")].metadata["nbgrader"] = "garbage"
    ctx.write(ctx.own("meta_not_a_dict"), nb)
    nb = _own_copy(ctx, "meta_grade_id_list")
    nb.cells[ctx.index("test_batchnorm_inference")].metadata["nbgrader"]["grade_id"] = ["test_batchnorm_inference"]
    ctx.write(ctx.own("meta_grade_id_list"), nb)
