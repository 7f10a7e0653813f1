"""What ``grade.py`` takes in: student ids, submitted/ folders, LMS zip members, timestamp.txt.

Every problem stays with its submission and names it; nothing is renamed into another id,
nothing lands outside the staging folder. (The whole pipeline, through grade.py's command
line, is in test_grade.py: the hostile ``inputs`` module and ``test_lms_zip_*``.)
"""

from __future__ import annotations

import datetime as dt
import io
import os
import zipfile
from pathlib import Path

import pytest

from bngrader import grade

NB = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
A = "02_numpy_forward"


# ----------------------------------------------------------------------------- student ids

@pytest.mark.parametrize("student", ["doejane_12345", "s0", "jane.doe@uni.example", "A-1_b.c", "x" * 64])
def test_valid_student_ids_pass(student):
    assert grade.check_student_id(student) is None


@pytest.mark.parametrize("student, why", [
    ("..", "only dots"), ("...", "only dots"), (".", "only dots"), ("a..b", "contains '..'"),
    ("../etc", "path separator"), ("..\\x", "path separator"), ("a/b", "path separator"), ("a\\b", "path separator"), ("", "empty"),
    (".hidden", "start with"), ("-rf", "start with"), ("élève", "start with"), ("jöhn", "may only contain"),
    ("a b", "may only contain"), ("a\nb", "may only contain"), ("x" * 65, "longer than 64"),
    ("a\udce9b", "may only contain"),
])
def test_invalid_student_ids_are_refused_with_the_reason(student, why):
    problem = grade.check_student_id(student)
    assert problem and why in problem and "not valid" in problem


def test_shown_escapes_what_cannot_be_printed():
    assert grade.shown("doejane") == "doejane"
    assert grade.shown("élève") == "élève"
    assert grade.shown(os.fsdecode(b"\xe9l\xe8ve")) == "\\xe9l\\xe8ve"
    assert grade.shown("a\nb\x1b") == "a\\nb\\x1b"


# ----------------------------------------------------------------------------- submitted/ trees

def test_collect_submitted_rejects_bad_folders_and_keeps_the_rest(tmp_path):
    sub = tmp_path / "submitted"
    for student in ("alice", "bob_2", "...", ".hidden", "a..b", "has space", "élève"):
        (sub / student / A).mkdir(parents=True)
    os.makedirs(os.fsencode(sub) + b"/\xe9l\xe8ve/" + A.encode())
    (sub / "carol" / A).mkdir(parents=True)
    (sub / "linked" ).mkdir()
    (sub / "linked" / A).symlink_to(sub / "carol" / A)  # a classmate's folder
    (sub / "linkdir").symlink_to(sub / "carol")
    (sub / "dangling").mkdir()
    (sub / "dangling" / A).symlink_to(tmp_path / "nowhere")
    (sub / "afile").mkdir()
    (sub / "afile" / A).write_text("not a folder")
    (sub / "other_assignment" / "01_formulas_by_hand").mkdir(parents=True)  # did not hand in A
    (sub / "notes.txt").write_text("not a student")
    intake = grade.collect_submitted(sub, A)
    assert sorted(intake.subs) == ["alice", "bob_2", "carol"]
    reasons = dict(intake.rejected)
    assert sorted(reasons) == sorted(["...", ".hidden", "a..b", "has space", "élève", "\\xe9l\\xe8ve", "linked",
                                      "linkdir", "dangling", "afile"])
    assert "only dots" in reasons["..."] and "contains '..'" in reasons["a..b"]
    assert "\\xe9l\\xe8ve" in reasons["\\xe9l\\xe8ve"]
    for name in ("linked", "linkdir", "dangling"):
        assert "is a symlink (not followed)" in reasons[name] and name in reasons[name]
    assert f"afile/{A} is not a folder" in reasons["afile"]


# ----------------------------------------------------------------------------- zip exports

def _canvas(student, user, file=f"{A}.ipynb", late=False):
    return f"submissions/{student}_{'late_' if late else ''}{user}_9{user}_{file}"


def _zip(path: Path, members: list[tuple[str, bytes]], raw: dict[bytes, bytes] | None = None,
         method=zipfile.ZIP_DEFLATED) -> Path:
    """A zip of ``members``; ``raw`` replaces name bytes afterwards (same length), for names
    in a legacy code page, which zipfile itself never writes."""
    with zipfile.ZipFile(path, "w", method, compresslevel=1) as zf:
        for name, data in members:
            zf.writestr(name, data)
    data = path.read_bytes()
    for old, new in (raw or {}).items():
        assert len(old) == len(new) and data.count(old) == 2  # local header and central directory
        data = data.replace(old, new)
    path.write_bytes(data)
    return path


def _patch_size(path: Path, name: str, size: int):
    """Make the headers of member ``name`` claim ``size`` uncompressed bytes (a lying zip bomb)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    real = info.file_size.to_bytes(4, "little")
    local = info.header_offset + 22
    assert data[local:local + 4] == real
    data[local:local + 4] = size.to_bytes(4, "little")
    central = data.rindex(name.encode()) - 46 + 24
    assert data[central:central + 4] == real
    data[central:central + 4] = size.to_bytes(4, "little")
    path.write_bytes(bytes(data))


def test_zip_keeps_user_ids_apart_and_rejects_bad_ids(tmp_path):
    archive = _zip(tmp_path / "export.zip", [
        (_canvas("smithjohn", 111), NB), (_canvas("smithjohn", 222, late=True), NB),  # same name, two students
        (_canvas("..", 333), NB), (_canvas("...", 334), NB), (_canvas(".hidden", 335), NB),
        (f"submissions/evil\\..\\victim_444_9444_{A}.ipynb", NB),  # backslashes are not separators here
        (f"../../outside/doejane_555_9555_{A}.ipynb", NB),  # a path in the archive is never used
        (f"/abs/roejohn_666_9666_{A}.ipynb", NB),
        ("submissions/readme.txt", b"not a submission"),
    ])
    before = archive.read_bytes()
    intake = grade.unpack_zip(archive, A, grade.DEFAULT_PATTERN, tmp_path / "staging")
    assert sorted(intake.subs) == ["doejane_555", "roejohn_666", "smithjohn_111", "smithjohn_222"]
    for student, folder in intake.subs.items():
        assert folder == tmp_path / "staging" / student / A
        assert (folder / f"{A}.ipynb").read_bytes() == NB
    staged = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert staged == sorted(["export.zip", *(f"staging/{s}/{A}/{A}.ipynb" for s in intake.subs)])
    reasons = dict(intake.rejected)
    assert sorted(reasons) == sorted([".._333", "..._334", ".hidden_335", "evil\\..\\victim_444"])
    assert "contains '..'" in reasons[".._333"] and _canvas("..", 333) in reasons[".._333"]
    assert "path separator" in reasons["evil\\..\\victim_444"]
    assert intake.notes == {}
    assert archive.read_bytes() == before


def test_zip_names_in_a_legacy_code_page_are_reported_not_merged(tmp_path):
    # two students whose names are latin-1 bytes: once both became "_l_ve", one row, last one won
    archive = _zip(tmp_path / "export.zip", [(f"XlYve_{A}.ipynb", NB), (f"YlXve_{A}.ipynb", NB),
                                             ("submissions/" + f"Xcole_{A}.ipynb", NB)],
                   raw={b"XlYve": b"\xe9l\xe8ve", b"YlXve": b"\xe8l\xe9ve", b"Xcole": "école".encode()[:5]})
    pattern = r"^(?P<student_id>[^_]+)_(?P<file_id>.+\.ipynb)$"
    intake = grade.unpack_zip(archive, A, pattern, tmp_path / "staging")
    assert intake.subs == {}
    reasons = dict(intake.rejected)
    assert sorted(reasons) == sorted(["\\xe9l\\xe8ve", "\\xe8l\\xe9ve", "écol"])  # UTF-8 without the flag is read as such
    assert all("not valid: it must start with an ASCII letter or digit" in r for r in reasons.values())


def test_zip_utf8_names_without_the_flag_are_read_as_utf8(tmp_path):
    archive = _zip(tmp_path / "export.zip", [(f"XXcole_1_2_{A}.ipynb", NB)], raw={b"XXcole": "école".encode()})
    intake = grade.unpack_zip(archive, A, grade.DEFAULT_PATTERN, tmp_path / "staging")
    assert dict(intake.rejected) == {"école_1": "student id 'école_1' is not valid: it must start with an ASCII "
                                     f"letter or digit (zip member 'école_1_2_{A}.ipynb')"}


def test_zip_collisions_are_reported_and_neither_is_graded(tmp_path):
    archive = _zip(tmp_path / "export.zip", [(_canvas("doejane", 1), NB), ("again/" + _canvas("doejane", 1), NB),
                                             (_canvas("roejohn", 2), NB)])
    intake = grade.unpack_zip(archive, A, grade.DEFAULT_PATTERN, tmp_path / "staging")
    assert sorted(intake.subs) == ["roejohn_2"]
    (student, reason), = intake.rejected
    assert student == "doejane_1"
    assert "2 zip members map to student 'doejane_1'" in reason and "none graded" in reason
    assert _canvas("doejane", 1) in reason and "again/" + _canvas("doejane", 1) in reason
    assert not (tmp_path / "staging" / "doejane_1").exists()


def test_zip_member_problems_stay_with_their_student(tmp_path):
    members = [(_canvas("good", 1), NB), (_canvas("corrupt", 2), NB + b" " * 100), (_canvas("bomb", 3), b"\0" * 3_000_000),
               (_canvas("big", 4), b"\0" * 2_000_000), (_canvas("twofiles", 5), NB),
               (_canvas("twofiles", 5, "data.csv.ipynb"), NB + b"  "), (_canvas("badname", 6, "a\x01b.ipynb"), NB), (_canvas("legacy", 7, "Xtude.ipynb"), NB)]
    archive = _zip(tmp_path / "export.zip", members, raw={b"Xtude": b"\xe9tude"}, method=zipfile.ZIP_STORED)
    data = bytearray(archive.read_bytes())
    at = data.index(NB + b" " * 100) + 5  # flip one stored byte: its CRC no longer matches
    data[at] ^= 0xFF
    archive.write_bytes(bytes(data))
    _patch_size(archive, _canvas("bomb", 3), 1000)
    before = archive.read_bytes()
    intake = grade.unpack_zip(archive, A, grade.DEFAULT_PATTERN, tmp_path / "staging", max_member_bytes=1_000_000)
    assert sorted(intake.subs) == ["badname_6", "big_4", "bomb_3", "corrupt_2", "good_1", "legacy_7", "twofiles_5"]
    assert intake.rejected == []
    notes = {s: dict(n) for s, n in intake.notes.items()}
    assert sorted(notes) == ["badname_6", "big_4", "bomb_3", "corrupt_2", "legacy_7"]
    (legacy, why), = intake.notes["legacy_7"]  # a file name in a legacy code page: shown, not guessed
    assert "has a file name that cannot be used ('\\xe9tude.ipynb')" in why
    assert f"zip member '{_canvas('corrupt', 2)}' is corrupt (Bad CRC-32" in notes["corrupt_2"][f"{A}.ipynb"]
    assert "is corrupt" in notes["bomb_3"][f"{A}.ipynb"]  # zipfile stops at the claimed size: the CRC fails
    assert "is 2 MB, more than the 1 MB cap per file" in notes["big_4"][f"{A}.ipynb"]
    assert "a\\x01b.ipynb" in notes["badname_6"]["a\x01b.ipynb"] and "cannot be used" in notes["badname_6"]["a\x01b.ipynb"]
    assert sorted(p.name for p in (tmp_path / "staging" / "twofiles_5" / A).iterdir()) == [A + ".ipynb",
                                                                                          "data.csv.ipynb"]
    for student in ("corrupt_2", "bomb_3", "big_4", "badname_6", "legacy_7"):  # nothing half-written is left
        assert list((tmp_path / "staging" / student / A).iterdir()) == []
    assert (tmp_path / "staging" / "good_1" / A / f"{A}.ipynb").read_bytes() == NB
    assert archive.read_bytes() == before


def test_extract_member_caps_the_bytes_actually_written(tmp_path):
    class Lying:  # a member that inflates past what its header claims
        def open(self, info):
            return io.BytesIO(b"\0" * 5_000_000)

    info = zipfile.ZipInfo("x.ipynb")
    info.file_size = 10
    why = grade._extract_member(Lying(), info, tmp_path / "x.ipynb", 2**20)
    assert why == "inflates past the 1 MB cap per file (its header says 10 bytes)"
    assert not (tmp_path / "x.ipynb").exists()


def test_zip_total_and_member_count_caps(tmp_path):
    archive = _zip(tmp_path / "export.zip", [(_canvas(f"s{i}", i), NB) for i in range(5)])
    intake = grade.unpack_zip(archive, A, grade.DEFAULT_PATTERN, tmp_path / "staging", max_total_bytes=3 * len(NB))
    assert sorted(intake.subs) == [f"s{i}_{i}" for i in range(5)]
    assert sorted(intake.notes) == ["s3_3", "s4_4"]  # named, never silently dropped
    assert "not extracted: the export unpacks to more than" in intake.notes["s3_3"][0][1]
    with pytest.raises(grade.GradingError, match="has 5 files, more than 4"):
        grade.unpack_zip(archive, A, grade.DEFAULT_PATTERN, tmp_path / "staging", max_members=4)
    (tmp_path / "broken.zip").write_bytes(archive.read_bytes()[:100])
    with pytest.raises(grade.GradingError, match="broken.zip is not a readable zip file"):
        grade.unpack_zip(tmp_path / "broken.zip", A, grade.DEFAULT_PATTERN, tmp_path / "staging")


# ----------------------------------------------------------------------------- timestamp.txt

NOW = dt.datetime(2026, 12, 1, 12, 0)


@pytest.mark.parametrize("text, expected", [
    ("2026-11-20 12:00:00.123456 UTC", "2026-11-20 12:00:00.123456 UTC"),  # nbgrader submit's own format
    ("2026-11-20 12:00:00 UTC\n", "2026-11-20 12:00:00.000000 UTC"),
    ("2026-11-20T12:00:00Z", "2026-11-20 12:00:00.000000 UTC"),
    ("2026-11-20 13:30:00+01:30", "2026-11-20 12:00:00.000000 UTC"),
    ("2026-11-20 13:00:00 +0100", "2026-11-20 12:00:00.000000 UTC"),
    ("2026-11-20 13:00:00 Europe/Paris", "2026-11-20 12:00:00.000000 UTC"),
])
def test_good_timestamps_are_normalised_to_utc(tmp_path, text, expected):
    (tmp_path / "timestamp.txt").write_text(text)
    assert grade.read_timestamp(tmp_path / "timestamp.txt", now=NOW) == (expected, None)


@pytest.mark.parametrize("content, why", [
    (b"", "is empty"), (b"  \n", "is empty"), (b"yesterday, around noon", "not a time"),
    (b"12", "not a time"),  # nbgrader's parse_utc reads this as the 12th of this month
    (b"May 3", "not a time"), (b"2026-11-20 12:00 XYZ", "unknown time zone"),
    (b"2026-13-45 12:00:00 UTC", "not a time"), (b"9999-12-31 23:59:59 -1400", "not a time"),
    (b"\x00\xff\xfe binary", "not text"), (b"2026-11-20 " * 1000, "11000 bytes, not a time"),
    (b"9999-12-31 23:59:59 UTC", "not a plausible hand-in time"), (b"2027-06-01 00:00:00 UTC", "not a plausible"),
    (b"0001-01-01 00:00:00 UTC", "not a plausible hand-in time"), (b"1999-12-31 23:59:59 UTC", "not a plausible"),
])
def test_bad_timestamps_are_reasons_not_crashes(tmp_path, content, why):
    (tmp_path / "timestamp.txt").write_bytes(content)
    timestamp, problem = grade.read_timestamp(tmp_path / "timestamp.txt", now=NOW)
    assert timestamp is None and why in problem and problem.startswith("timestamp.txt ")


def test_timestamp_that_is_not_a_file_is_never_followed_or_waited_on(tmp_path):
    (tmp_path / "real.txt").write_text("2026-11-20 12:00:00 UTC")
    cases = {"link": "a symlink, not followed", "fifo": "not a regular file", "dir": "not a regular file"}
    (tmp_path / "link").mkdir()
    (tmp_path / "link" / "timestamp.txt").symlink_to(tmp_path / "real.txt")
    (tmp_path / "fifo").mkdir()
    os.mkfifo(tmp_path / "fifo" / "timestamp.txt")  # reading it would block forever
    (tmp_path / "dir" / "timestamp.txt").mkdir(parents=True)
    for folder, why in cases.items():
        timestamp, problem = grade.read_timestamp(tmp_path / folder / "timestamp.txt", now=NOW)
        assert timestamp is None and why in problem, folder
    assert grade.read_timestamp(tmp_path / "none" / "timestamp.txt") == (None, None)


def test_a_big_honest_export_is_accepted(tmp_path):
    """1500 students and 210 MB of files: more than the old 200 MB cap on the whole export, every
    member under the cap per file."""
    members = [(_canvas(f"s{i}", i), NB) for i in range(1500)]
    members += [(_canvas(f"big{i}", 10_000 + i), NB + b" " * (70 * 2**20)) for i in range(3)]
    archive = _zip(tmp_path / "export.zip", members)
    intake = grade.unpack_zip(archive, A, grade.DEFAULT_PATTERN, tmp_path / "staging")
    assert len(intake.subs) == 1503 and intake.notes == {} and intake.rejected == []
    assert (intake.subs["big2_10002"] / f"{A}.ipynb").stat().st_size == len(NB) + 70 * 2**20


# ----------------------------------------------------------------------------- rows

def _row(notebook, status="graded", score=10.0, reason=""):
    return grade.Row("s_1", A, notebook, status, score, 10.0, reason, [], {}, 1.0)


def test_input_notes_become_the_notebooks_status():
    result = {"rows": [_row("nb1", "missing", 0.0, "no nb1.ipynb in the submission"), _row("nb2")], "grades": {}}
    notes = [("nb1.ipynb", "zip member 'x/s_1_1_nb1.ipynb' is corrupt (Bad CRC-32)")]
    rows = grade.apply_notes(result, notes)["rows"]
    assert rows[0].status == "invalid_notebook" and rows[0].flags == ["invalid_notebook"]
    assert rows[0].reason == "zip member 'x/s_1_1_nb1.ipynb' is corrupt (Bad CRC-32); no nb1.ipynb in the submission"
    assert rows[1] == _row("nb2")  # the other notebook keeps its grade
    # a missing notebook whose file came under another name that was corrupt
    result = {"rows": [_row("nb1", "missing", 0.0, "no nb1.ipynb")], "grades": {}}
    row, = grade.apply_notes(result, [("nb1-1.ipynb", "zip member 'nb1-1.ipynb' is corrupt")])["rows"]
    assert (row.status, row.reason) == ("invalid_notebook", "zip member 'nb1-1.ipynb' is corrupt; no nb1.ipynb")
    assert grade.apply_notes(result, []) is result


def test_rejected_rows_cover_every_notebook_with_zero():
    rows = grade.rejected_rows("..._3", "student id '..._3' is not valid", A, {"b": 4.0, "a": 6.0},
                               {"a": {"c1": 6.0}, "b": {"c2": 4.0}})
    assert [(r.notebook, r.status, r.score, r.max_score, r.cells) for r in rows] == [
        ("a", "rejected", 0.0, 6.0, {"c1": (0.0, 6.0)}), ("b", "rejected", 0.0, 4.0, {"c2": (0.0, 4.0)})]
    assert all(r.reason == "student id '..._3' is not valid" and r.student == "..._3" for r in rows)
