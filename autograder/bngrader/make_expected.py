"""Maintainer command: write the literal answers the visible checks compare with.

    bngrader expected          # rewrite bncourse/expected/*.json
    bngrader expected --check  # exit 1 if a file is out of date

Each file holds, per check, the fixed inputs, the instructor reference's output for them and the
outputs of known-wrong variants with their hints (the case tables of
``autograder/reference/bn_checks.py`` for lessons 1-4, ``keras_checks.py`` and
``experiment_checks.py`` for lessons 5-7, ``practice_checks.py`` for lesson 8; those build small Keras models, so this command
imports TensorFlow), and the lesson's concept questions (the answer key
``autograder/reference/concepts/<lesson>.toml``, read by ``concept_checks.py``). The visible checks (``bncourse.casecheck``) read them, so
a learner's notebook never computes an answer with the lesson's formula. ``tests/test_expected.py``
proves the files match the reference.
"""

from __future__ import annotations

import json
import os
import sys

from bncourse.casecheck import EXPECTED_DIR, encode
from bngrader import reference
from bngrader.settings import ROOT

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # lessons 5-7's tables build small Keras models
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

reference.enable()  # maintainer tool: the instructor reference
import experiment_checks  # noqa: E402
import keras_checks  # noqa: E402
import practice_checks  # noqa: E402

import bn_checks  # noqa: E402
import concept_checks  # noqa: E402

#: file stem -> check name -> table builder
TABLES = {
    "01_formulas_by_hand": {"values": bn_checks.lesson1_table, "inputs": bn_checks.lesson1_inputs,
                            "normalize": bn_checks.normalize_table},
    "02_numpy_forward": {
        "batchnorm_forward": bn_checks.batchnorm_forward_table,
        "update_moving_stats": bn_checks.update_moving_stats_table,
        "batchnorm_inference": bn_checks.batchnorm_inference_table,
    },
    "03_numpy_backward": {"batchnorm_backward": lambda: bn_checks.backward_table(False)},
    "04_conv_batchnorm": {
        "spatial_batchnorm_forward": bn_checks.spatial_batchnorm_forward_table,
        "spatial_batchnorm_backward": lambda: bn_checks.backward_table(True),
    },
    "05_keras_dense": {
        "bn_inference_from_layer": keras_checks.bn_inference_table,
        "build_bn_mlp": keras_checks.build_bn_mlp_table,
        "fold_bn_into_dense": keras_checks.fold_table,
    },
    "06_keras_cnn": {
        "accuracy_with_batch_statistics": keras_checks.accuracy_table,
        "reestimate_bn_statistics": keras_checks.reestimate_table,
    },
    "07_bn_experiments": {
        "percentiles_over_training": experiment_checks.percentiles_table,
        "steps_to_reach": experiment_checks.steps_table,
    },
    "08_bn_in_practice": {
        "torch_bn_to_keras": practice_checks.torch_to_keras_table,
        "keras_bn_to_torch": practice_checks.keras_to_torch_table,
        "freeze_batchnorm": practice_checks.freeze_table,
        "fold_bn_into_conv": practice_checks.fold_conv_table,
    },
}


def stems() -> list[str]:
    """Every lesson with a file in ``bncourse/expected/``: case tables, concept questions or both."""
    return sorted(set(TABLES) | set(concept_checks.lessons()))


def render(stem: str) -> str:
    """The text of ``bncourse/expected/<stem>.json``, built from the reference now (with the
    lesson's concept questions, if it has any)."""
    data = {name: encode(build()) for name, build in TABLES.get(stem, {}).items()}
    if stem in concept_checks.lessons():
        data["concepts"] = concept_checks.lesson_table(stem)
    return json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n"


def main(argv: list[str]) -> int:
    stale = []
    for stem in stems():
        path = EXPECTED_DIR / f"{stem}.json"
        text = render(stem)
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)} ({len(text) // 1024} KiB)")
    if stale:
        print("out of date (run bngrader expected):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
