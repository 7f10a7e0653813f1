"""The literal answers the visible checks read (bncourse/expected/*.json) are what the instructor
reference gives now: regenerate them in memory with the maintainer command and compare. One case
per file of ``make_expected.stems()``: lessons 1-4 (bn_checks), the Keras lessons 5-7
(keras_checks, experiment_checks; their tables build small Keras models, so these import TensorFlow),
and every lesson's concept questions (concept_checks)."""

import pytest

from bncourse.casecheck import EXPECTED_DIR
from bngrader import make_expected


@pytest.mark.parametrize("stem", make_expected.stems())
def test_literals_match_the_reference(stem):
    path = EXPECTED_DIR / f"{stem}.json"
    assert path.exists(), f"{path.name} is missing: run bngrader expected"
    assert path.read_text() == make_expected.render(stem), (
        f"{path.name} does not match autograder/reference/: run bngrader expected")


def test_no_stray_literal_files():
    assert {p.stem for p in EXPECTED_DIR.glob("*.json")} == set(make_expected.stems())
