"""The hidden-test checks of lessons 05-08 catch known mistakes and accept correct variations.

``tests/catalog_keras/wrong/*.py`` and ``tests/catalog_keras/correct/*.py`` use the
format of ``tests/catalog/`` (see its README): a docstring naming the mistake (or
the variation), ``TARGET`` (the function implemented), for wrong ones ``EXPECT``
(a phrase the check's message must contain), then the function. They are run
in-process against ``autograder/reference/keras_checks.py`` (lessons 05 and 06),
``autograder/reference/experiment_checks.py`` (lesson 07) and
``autograder/reference/practice_checks.py`` (lesson 08).

The module also checks the Keras fact lesson 02's ``update_moving_stats`` relies
on: the NumPy update applied k times gives the moving statistics of a
``keras.layers.BatchNormalization`` after k ``fit`` steps, while the PyTorch
direction of the momentum and the unbiased variance do not.
"""

from __future__ import annotations

import os

os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"

import re  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

import experiment_checks  # noqa: E402
import keras_checks  # noqa: E402
import practice_checks  # noqa: E402

import bn_reference  # noqa: E402
from conftest import REPORTS, catalog_table, judge_catalog_entry, load_catalog_file  # noqa: E402

CATALOG = Path(__file__).resolve().parent / "catalog_keras"
WRONG = sorted((CATALOG / "wrong").glob("*.py"))
CORRECT = sorted((CATALOG / "correct").glob("*.py"))

CHECKS = {
    "build_bn_mlp": keras_checks.check_build_bn_mlp,
    "bn_inference_from_layer": keras_checks.check_bn_inference_from_layer,
    "fold_bn_into_dense": keras_checks.check_fold_bn_into_dense,
    "reestimate_bn_statistics": keras_checks.check_reestimate_bn_statistics,
    "accuracy_with_batch_statistics": keras_checks.check_accuracy_with_batch_statistics,
    "percentiles_over_training": experiment_checks.check_percentiles_over_training,
    "steps_to_reach": experiment_checks.check_steps_to_reach,
    "torch_bn_to_keras": practice_checks.check_torch_bn_to_keras,
    "keras_bn_to_torch": practice_checks.check_keras_bn_to_torch,
    "freeze_batchnorm": practice_checks.check_freeze_batchnorm,
    "fold_bn_into_conv": practice_checks.check_fold_bn_into_conv,
}

# minimum (wrong, correct) files per target
MINIMUM = {
    "fold_bn_into_dense": (6, 2),
    "bn_inference_from_layer": (5, 2),
    "build_bn_mlp": (3, 1),
    "reestimate_bn_statistics": (3, 1),
    "accuracy_with_batch_statistics": (2, 1),
    "percentiles_over_training": (2, 1),
    "steps_to_reach": (2, 1),
    "torch_bn_to_keras": (7, 2),
    "keras_bn_to_torch": (6, 2),
    "freeze_batchnorm": (7, 2),
    "fold_bn_into_conv": (8, 3),
}

# the checks' last-resort messages: a wrong file must get a message naming its mistake instead
FALLBACKS = (
    "Compare each step with the inference formula",
    "Expand gamma * (x @ W + b - mean)",
    "Did you set them directly",
    "return the FIRST step whose accuracy",
    "q in percent, with linear interpolation",
    # lesson 08 (bncourse.practicecheck)
    "compare the two update rules",
    "epsilon should be PyTorch's eps",
    "eps should be the layer's epsilon",
    "not the state's values",
    "not the layer's values",
    "Compare each layer's trainable flag",
    "These BatchNormalization layers are still trainable",
    "Expand gamma * (conv(x) + b - mean)",
)

RESULTS: list[tuple[str, str, str, str]] = []


def run_check(path: Path):
    """Run the check that matches the file's TARGET; return (namespace, message or None)."""
    ns = load_catalog_file(path)
    target = ns["TARGET"]
    try:
        CHECKS[target](ns[target])
    except AssertionError as e:
        return ns, str(e)
    return ns, None


def test_catalog_is_large_enough():
    wrong = [load_catalog_file(p)["TARGET"] for p in WRONG]
    correct = [load_catalog_file(p)["TARGET"] for p in CORRECT]
    assert set(wrong) == set(CHECKS) and set(correct) == set(CHECKS)
    for target, (n_wrong, n_correct) in MINIMUM.items():
        assert wrong.count(target) >= n_wrong, f"{target}: {wrong.count(target)} wrong files"
        assert correct.count(target) >= n_correct, f"{target}: {correct.count(target)} correct files"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # wrong formulas may take sqrt of negatives
@pytest.mark.parametrize("path", WRONG, ids=[p.stem for p in WRONG])
def test_wrong_implementation_is_caught(path):
    judge_catalog_entry(RESULTS, path, *run_check(path), generic=FALLBACKS)  # 4+ decimals would be a leak


@pytest.mark.parametrize("path", CORRECT, ids=[p.stem for p in CORRECT])
def test_correct_implementation_passes(path):
    judge_catalog_entry(RESULTS, path, *run_check(path))


@pytest.mark.parametrize("target", sorted(CHECKS))
def test_blank_stub_fails_with_not_implemented(target):
    """What nbgrader's blank learner version gives: ``raise NotImplementedError()``."""
    def stub(*args, **kwargs):
        raise NotImplementedError()
    with pytest.raises(AssertionError, match="not implemented"):
        CHECKS[target](stub)


# --------------------------------------------------------------------------- lesson 07, exercise 3

STEPS = [100, 200, 300, 400]


@pytest.mark.parametrize("answer, acc_bn, acc_nobn, verdict", [
    ("bn", [0.5, 0.8, 0.9, 0.9], [0.3, 0.5, 0.7, 0.8], "ok"),  # BN reaches 0.8 at step 200, no-BN at 400
    ("no_bn", [0.5, 0.8, 0.9, 0.9], [0.3, 0.5, 0.7, 0.8], "does not match"),
    ("no_bn", [0.2, 0.3, 0.4, 0.5], [0.3, 0.5, 0.7, 0.8], "ok"),  # BN never reaches 0.8
    ("bn", [0.2, 0.3, 0.4, 0.5], [0.3, 0.5, 0.7, 0.8], "does not match"),
    ("bn", [0.3, 0.9, 0.9, 0.9], [0.3, 0.9, 0.7, 0.8], "ok"),  # a tie at step 200: both answers are fine
    ("no_bn", [0.3, 0.9, 0.9, 0.9], [0.3, 0.9, 0.7, 0.8], "ok"),
    ("BN", [0.5, 0.8, 0.9, 0.9], [0.3, 0.5, 0.7, 0.8], 'must be "bn" or "no_bn"'),
])
def test_check_fewer_steps(answer, acc_bn, acc_nobn, verdict):
    """The hidden check, and the visible one (with a right steps_to_reach of the learner's) giving
    the same verdict: the visible message names the same mismatch."""
    from bncourse.checks import CheckFailed, check_fewer_steps

    own = load_catalog_file(CATALOG / "correct" / "steps_argmax.py")["steps_to_reach"]
    curves = np.array(acc_bn), np.array(acc_nobn), np.array(STEPS)
    if verdict == "ok":
        experiment_checks.check_fewer_steps(answer, *curves)
        check_fewer_steps(answer, own, *curves)
        return
    with pytest.raises(AssertionError, match=re.escape(verdict)):
        experiment_checks.check_fewer_steps(answer, *curves)
    visible = "should be the string" if verdict.startswith("must be") else verdict
    with pytest.raises(CheckFailed, match=re.escape(visible)):
        check_fewer_steps(answer, own, *curves)


def test_visible_fewer_steps_waits_for_a_right_steps_to_reach():
    from bncourse.checks import CheckFailed, check_fewer_steps

    wrong = load_catalog_file(CATALOG / "wrong" / "steps_returns_last.py")["steps_to_reach"]
    with pytest.raises(CheckFailed, match="does not pass its check yet"):
        check_fewer_steps("bn", wrong, np.array([0.5, 0.8, 0.9, 0.9]), np.array([0.3, 0.5, 0.7, 0.8]),
                          np.array(STEPS))


# --------------------------------------------------------------------------- NumPy vs Keras moving statistics

def _torch_direction(moving_mean, moving_var, batch_mean, batch_var, momentum=0.99):
    return ((1 - momentum) * moving_mean + momentum * batch_mean,
            (1 - momentum) * moving_var + momentum * batch_var)


@pytest.mark.parametrize("momentum", [0.99, 0.9])
def test_numpy_update_moving_stats_matches_keras_fit(momentum):
    import keras

    keras.utils.set_random_seed(0)
    n_steps, batch_size, features = 6, 16, 5
    x = np.random.default_rng(7).normal(3.0, 2.0, (n_steps * batch_size, features)).astype("float32")
    bn = keras.layers.BatchNormalization(momentum=momentum)
    model = keras.Sequential([keras.Input(shape=(features,)), bn])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse")
    model.fit(x, np.zeros_like(x), batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
    keras_stats = np.concatenate([np.asarray(bn.moving_mean), np.asarray(bn.moving_variance)]).astype(np.float64)

    def replay(update, ddof=0):
        mean, var = np.zeros(features), np.ones(features)
        for k in range(n_steps):
            xb = x[k * batch_size:(k + 1) * batch_size].astype(np.float64)
            mean, var = update(mean, var, xb.mean(axis=0), xb.var(axis=0, ddof=ddof), momentum=momentum)
        return np.abs(np.concatenate([mean, var]) - keras_stats).max()

    gaps = {
        "keras direction (reference)": replay(bn_reference.update_moving_stats),
        "pytorch direction": replay(_torch_direction),
        "unbiased variance": replay(bn_reference.update_moving_stats, ddof=1),
    }
    for name, gap in gaps.items():
        RESULTS.append((f"keras fit vs numpy: {name}", f"momentum={momentum}",
                        "matches" if gap < 1e-5 else "differs", f"max |gap| = {gap:.1e}"))
    assert gaps["keras direction (reference)"] < 1e-5
    assert gaps["pytorch direction"] > 1e-2
    assert gaps["unbiased variance"] > 1e-3


@pytest.fixture(scope="module", autouse=True)
def register_table():
    """Register the summary table; conftest prints it at the end of the run."""
    yield
    if not RESULTS:
        return
    REPORTS["Catalog of lesson 05-08 implementations vs keras_checks / experiment_checks / practice_checks (in-process)"] = catalog_table(RESULTS)
