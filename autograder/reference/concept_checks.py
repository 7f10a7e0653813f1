"""Hidden checks of the concept questions: the instructor's answer key.

The key is ``concepts/<lesson>.toml`` next to this module, one table per question (see
``bncourse.concepts`` for the format). Hidden test cells call :func:`check_concept`;
``bngrader expected`` copies each lesson's key into ``bncourse/expected/<lesson>.json``
(:func:`lesson_table`), where the visible checks read it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import tomllib

from bncourse.concepts import judge, validate

FOLDER = Path(__file__).resolve().parent / "concepts"


def lessons() -> list[str]:
    """The lessons that have concept questions (file stems)."""
    return sorted(p.stem for p in FOLDER.glob("*.toml"))


def lesson_table(stem: str) -> dict:
    """The questions of one lesson, validated: question id -> question."""
    path = FOLDER / f"{stem}.toml"
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path}: {e}") from None
    for qid, q in table.items():
        validate(qid, q)
    return table


@lru_cache(maxsize=None)
def questions() -> dict[str, dict]:
    """Every lesson's questions by id (ids are unique across the course)."""
    out: dict[str, dict] = {}
    for stem in lessons():
        for qid, q in lesson_table(stem).items():
            if qid in out:
                raise ValueError(f"concept question {qid!r} is in more than one lesson")
            out[qid] = q
    return out


def check_concept(qid: str, value) -> None:
    """Print why the answer is right, or raise AssertionError saying why it is wrong."""
    print(judge(qid, questions()[qid], value))
