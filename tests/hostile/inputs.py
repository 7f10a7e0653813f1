"""Hostile submissions: inputs (see hostile/__init__.py)."""

from __future__ import annotations

from hostile import Case, Context

CASES: dict[str, Case] = {}


def build(ctx: Context) -> None:
    pass
