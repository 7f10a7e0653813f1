"""The learner-facing helper package."""

import random

import numpy as np
import pytest

import bncourse
from bncourse.checks import CheckFailed, expect_close
from bncourse.gradcheck import numeric_gradient, rel_error


def test_numeric_gradient_matches_an_analytic_gradient():
    rng = np.random.default_rng(0)
    x, w, dout = rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=(4, 2))
    f = lambda x: np.tanh(x @ w)  # noqa: E731
    analytic = ((1 - np.tanh(x @ w) ** 2) * dout) @ w.T
    assert rel_error(numeric_gradient(f, x.copy(), dout), analytic) < 1e-8
    assert rel_error(numeric_gradient(f, x.copy(), dout), 2 * analytic) > 0.3


def test_rel_error_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="shapes differ"):
        rel_error(np.zeros(3), np.zeros(4))


def test_setup_notebook_seeds_python_and_numpy():
    bncourse.setup_notebook(seed=7)
    a = (random.random(), np.random.rand())
    bncourse.setup_notebook(seed=7)
    assert (random.random(), np.random.rand()) == a


def test_expect_close_names_the_matching_mistake():
    expect_close("v", [1.0, 2.0], np.array([1.0, 2.0]), quiet=True)
    with pytest.raises(CheckFailed, match="N-1"):
        expect_close("v", [2.0], [1.0], mistakes=[([2.0], "divides by N-1")])
    with pytest.raises(CheckFailed, match="shape"):
        expect_close("v", [1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(CheckFailed, match="rounded"):
        expect_close("v", 0.4804, np.sqrt(3 / 13))
    with pytest.raises(CheckFailed, match="NaN"):
        expect_close("v", [np.nan], [0.0])
    with pytest.raises(CheckFailed, match="not right yet"):
        expect_close("v", 5.0, 1.0)


def test_budget_follows_the_grading_environment(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("BNCOURSE_FAST", raising=False)
    assert bncourse.budget(100, 2) == 100
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert bncourse.budget(100, 2) == 2


def test_helper_package_holds_no_reference_solution():
    import pathlib

    src = "\n".join(p.read_text() for p in pathlib.Path(bncourse.__file__).parent.glob("*.py"))
    for name in ("def batchnorm_forward", "def batchnorm_backward", "def update_moving_stats",
                 "def batchnorm_inference", "def spatial_batchnorm", "bn_reference"):
        assert name not in src


def test_importing_bncourse_and_keras_compare_does_not_import_tensorflow():
    """The NumPy lessons import bncourse while graded; TensorFlow loads only when a demo cell calls it."""
    import subprocess
    import sys

    code = ("import sys, bncourse, bncourse.keras_compare, bncourse.checks; "
            "print('tensorflow' in sys.modules or 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_keras_batchnorm_returns_output_and_the_three_gradients():
    pytest.importorskip("tensorflow")
    from bncourse.keras_compare import keras_batchnorm

    rng = np.random.default_rng(0)
    x, dout = rng.normal(2.0, 3.0, (6, 3)), rng.normal(size=(6, 3))
    gamma, beta = np.array([1.0, 2.0, 0.5]), np.array([0.0, -1.0, 1.0])
    got = keras_batchnorm(x, gamma, beta, dout, epsilon=1e-3, dtype="float64")
    xhat = (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3)
    np.testing.assert_allclose(got.out, gamma * xhat + beta, rtol=1e-10)
    np.testing.assert_allclose(got.dbeta, dout.sum(0), rtol=1e-10)
    np.testing.assert_allclose(got.dgamma, (dout * xhat).sum(0), rtol=1e-10)
    assert got.dx.shape == x.shape and got.out.dtype == np.float64
    np.testing.assert_allclose(got.layer.moving_mean.numpy(), 0.01 * x.mean(0), rtol=1e-10)
    assert keras_batchnorm(x, gamma, beta, dout).dx.dtype == np.float32  # Keras's default dtype


def test_experiments_nets_and_seeded_runs():
    """Lesson 7's machinery: no bias before BN only; a seed fixes weights and mini-batches."""
    pytest.importorskip("tensorflow")
    from bncourse.experiments import Trainer, mlp

    def hidden_biases(model):
        return [lyr.use_bias for lyr in model.layers if lyr.__class__.__name__ == "Dense"][:-1]

    assert hidden_biases(mlp("bn")) == [False] * 3
    assert hidden_biases(mlp("bn", where="after")) == hidden_biases(mlp("ln")) == [True] * 3
    logits, pre = mlp("gn", activation="relu", depth=2)(np.zeros((5, 784), "float32"))
    assert logits.shape == (5, 10) and pre.shape == (5, 100)
    rng = np.random.default_rng(0)
    x, y = rng.uniform(size=(40, 784)).astype("float32"), rng.integers(0, 10, 40)
    trainer = Trainer(x, y, x[:10], y[:10], seeds=(1, 2))
    runs = [trainer.train("bn", steps=4, batch_size=8, eval_every=2, seed=3, keep_weights=True) for _ in range(2)]
    assert list(runs[0]["step"]) == [2, 4]
    for a, b in zip(runs[0]["weights"][-1], runs[1]["weights"][-1]):
        np.testing.assert_array_equal(a, b)
    assert len(trainer._compiled) == 1  # traced once, re-initialized per run
    assert trainer.sweep("lr", [0.1, 1.0], {"bn": dict(norm="bn")}, steps=2, batch_size=8)["bn"].shape == (2, 2)


def test_demo_cells_run_normally_and_are_skipped_while_grading(monkeypatch):
    from IPython.testing.globalipapp import start_ipython

    ip = start_ipython()
    bncourse.setup_notebook()
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("BNCOURSE_FAST", raising=False)
    ip.run_cell("%%demo\ndemo_value = 42")
    assert ip.user_ns.get("demo_value") == 42
    assert ip.run_cell("%%demo\n1 / 0").error_in_exec is not None, "errors in a demo must fail the cell"
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    ip.run_cell("%%demo\nskipped_value = 1")
    assert "skipped_value" not in ip.user_ns


def test_expect_gradient_passes_close_gradients_and_names_mistakes():
    from bncourse.checks import expect_gradient

    g = np.array([1.0, -2.0, 3.0])
    expect_gradient("dx", g * (1 + 1e-9), g)
    with pytest.raises(CheckFailed, match="dbeta as a mean"):
        expect_gradient("dbeta", g / 4, g, mistakes=[(g / 4, "dbeta as a mean")])
    with pytest.raises(CheckFailed, match="eps"):
        expect_gradient("dx", g * (1 + 1e-4), g)
    with pytest.raises(CheckFailed, match="shape"):
        expect_gradient("dx", g[:2], g)


def test_tracebacks_show_learner_frames_except_while_grading(monkeypatch, capsys):
    """Learner's kernel: Context mode (the learner's own lines), a failed check shows only its
    message; while grading (NBGRADER_EXECUTION): Minimal mode, no code at all."""
    from IPython import get_ipython
    from IPython.testing.globalipapp import start_ipython

    ip = start_ipython() or get_ipython()  # the test session's one IPython
    failing = "def mine(a):\n    return a + np.ones(3)  # learner's line\nmine(np.ones(2))"
    check = "from bncourse.checks import CheckFailed\nraise CheckFailed('your variance divides by N-1')"
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    bncourse.setup_notebook()
    ip.run_cell("import numpy as np")
    capsys.readouterr()
    assert ip.run_cell(failing).error_in_exec is not None
    shown = capsys.readouterr()
    assert "learner's line" in shown.out + shown.err and "mine" in shown.out + shown.err
    assert ip.run_cell(check).error_in_exec is not None, "a failed check must still fail its cell"
    shown = capsys.readouterr().out
    assert "CheckFailed: your variance divides by N-1" in shown and "checks.py" not in shown
    assert "raise CheckFailed" not in shown
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    bncourse.setup_notebook()
    capsys.readouterr()
    assert ip.run_cell(failing).error_in_exec is not None
    shown = capsys.readouterr()
    assert "learner's line" not in shown.out + shown.err and "ValueError" in shown.out + shown.err
    monkeypatch.delenv("NBGRADER_EXECUTION")
    bncourse.setup_notebook()


def test_record_writes_the_results_file_and_prints_nothing(tmp_path, monkeypatch, capsys):
    out = tmp_path / "r.jsonl"
    monkeypatch.setenv("BNCOURSE_RESULTS", str(out))
    bncourse.record("acc", 0.99, "{:.1%}")
    assert capsys.readouterr().out == ""
    assert '"name": "acc"' in out.read_text() and '"value": 0.99' in out.read_text()


def test_progress_lines_are_one_line_with_seconds(capsys):
    bncourse.stopwatch()
    bncourse.progress("lr 0.1: accuracy 0.91")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].strip().startswith("lr 0.1: accuracy 0.91") and lines[0].endswith(" s]")


def test_explorer_prints_its_figure_description_and_full_labels(capsys):
    import matplotlib

    matplotlib.use("Agg")
    from bncourse.widgets import bn_explorer

    box = bn_explorer(lambda x, g, b, e: g * (x - x.mean()) / np.sqrt(x.var() + e) + b)
    assert "Figure: two histograms" in capsys.readouterr().out
    sliders = [s for row in box.children for s in row.children]
    assert {s.description for s in sliders} >= {"feature mean", "feature std", "epsilon"}
    assert all(s.style.description_width == "initial" for s in sliders), "labels would be cut off"
