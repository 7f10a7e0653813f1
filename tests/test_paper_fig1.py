"""Lesson 7's Figure 1 at the paper's length (``bngrader paper-fig1``, ``make paper-fig1``).

The committed results file is well formed and its ratios are the lesson's own (its cells, executed on
the file's curves); the fast trainer trains, is deterministic and gives the lesson's Trainer's curves.
Rerunning the full 50,000 steps (minutes) is a maintainer command, not a test:
``make paper-fig1 PAPER_ARGS="--out /tmp/fig1.json --against bncourse/paper/fig1_50k.json"``.
"""

import ast
import json
import re

import numpy as np
import pytest

from bngrader import nbsource, paper_fig1
from conftest import ROOT

RESULTS = ROOT / "bncourse" / "paper" / "fig1_50k.json"
LESSON = ROOT / "solutions" / "07_bn_experiments" / "07_bn_experiments.py"


def _lesson_cells():
    return nbsource.py_to_notebook(LESSON.read_text()).cells


def _lesson_fig1():
    """The lesson's ``FIG1`` dict, read from its source."""
    line = next(ln for c in _lesson_cells() for ln in c.source.splitlines() if ln.startswith("FIG1 = dict("))
    call = ast.parse(line).body[0].value
    return {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}


def lesson_ratios(steps, per_seed: dict, monkeypatch, tmp_path) -> dict:
    """``fig1_step_ratio`` and ``fig1_step_ratio_90pct`` as lesson 7 records them: its ``steps_to_reach``
    solution cell and its ratio cell, executed on these curves (``per_seed``: net -> (seeds, evaluations))."""
    import bncourse

    cells = _lesson_cells()
    answer = next(c for c in cells if c.metadata.get("nbgrader", {}).get("grade_id") == "steps_to_reach")
    ratio_cell = next(c for c in cells if c.cell_type == "code" and "def step_ratio(" in c.source)
    acc = {name: np.asarray(a, dtype=float) for name, a in per_seed.items()}  # as the Figure 1 cell builds them
    ns = {"np": np, "bncourse": bncourse, "eval_steps": np.asarray(steps), "acc": acc,
          "mean_acc": {name: a.mean(axis=0) for name, a in acc.items()}}
    recorded = tmp_path / "recorded.jsonl"
    monkeypatch.setenv("BNCOURSE_RESULTS", str(recorded))
    recorded.unlink(missing_ok=True)
    exec(answer.source, ns)  # the lesson's own code
    exec(ratio_cell.source.removeprefix("%%demo\n"), ns)  # a demonstration cell: its body is plain Python
    values = {r["name"]: r["value"] for r in map(json.loads, recorded.read_text().splitlines())}
    return {k: values[k] for k in ("fig1_step_ratio", "fig1_step_ratio_90pct")}


def check_results(data: dict, steps: int, seeds) -> None:
    """The shape of a results file of ``bngrader paper-fig1 --steps STEPS --seeds SEEDS``."""
    for key in ("description", "command", "date", "machine", "versions", "settings", "trainer", "step", "acc",
                "best_acc", "ratios", "wall_time_s", "cpu_time_s", "load_average"):
        assert key in data, key
    assert data["command"].startswith("bngrader paper-fig1")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", data["date"])
    assert data["machine"]["cpu"] and data["machine"]["cores"] >= 1
    assert set(data["versions"]) == {"python", "tensorflow", "keras", "numpy"} and all(data["versions"].values())
    assert data["wall_time_s"]["total"] > 0 and set(data["load_average"]) >= {"before", "after", "during_1min_mean"}
    settings = data["settings"]
    assert {k: settings[k] for k in _lesson_fig1()} == _lesson_fig1(), "the run's settings are the lesson's FIG1"
    assert (settings["momentum"], settings["bn_momentum"], settings["test_images"]) == (0.0, 0.9, 5000)
    assert settings["steps"] == steps and settings["seeds"] == list(seeds)
    step = np.array(data["step"])
    assert step[-1] == steps and (np.diff(step) > 0).all() and step[0] > 0
    assert list(step[step <= 3000]) == list(range(100, min(3000, steps) + 1, 100)), "the lesson's grid first"
    assert set(data["acc"]) == {"no_bn", "bn"}
    for name, curves in data["acc"].items():
        per_seed = np.array(curves["per_seed"])
        assert per_seed.shape == (len(seeds), len(step)), name
        assert ((per_seed >= 0) & (per_seed <= 1)).all()
        assert np.allclose(per_seed * 5000, np.round(per_seed * 5000), atol=1e-6), "correct answers / 5,000"
        assert np.allclose(curves["mean"], per_seed.mean(axis=0), atol=1e-6)
        assert data["best_acc"][name] == pytest.approx(max(curves["mean"]), abs=1e-6)
    assert set(data["ratios"]) == {str(min(3000, steps)), str(steps)}


def test_committed_results_are_well_formed_and_the_lessons_ratios(monkeypatch, tmp_path):
    assert RESULTS.stat().st_size < 100_000
    data = json.loads(RESULTS.read_text())
    check_results(data, 50_000, (1, 2, 3))
    step = np.array(data["step"])
    for length, stored in data["ratios"].items():
        keep = step <= int(length)
        per_seed = {name: np.array(c["per_seed"])[:, keep] for name, c in data["acc"].items()}
        assert lesson_ratios(step[keep], per_seed, monkeypatch, tmp_path) == {
            k: stored[k] for k in ("fig1_step_ratio", "fig1_step_ratio_90pct")}, length
    check = data["naive_check"]  # make paper-fig1 checks the fast trainer against the lesson's first
    assert check["evaluations_identical"] == check["evaluations"] or max(
        check["max_abs_acc_difference_per_seed"].values()) <= 0.01


@pytest.fixture(scope="module")
def fast():
    import bncourse

    x_train, y_train = bncourse.load_mnist("train", flatten=True)
    return paper_fig1.FastFig1(x_train, y_train, *bncourse.load_mnist("test", n=1000, flatten=True))


def test_fast_trainer_trains_and_is_deterministic(fast):
    bn = fast.run("bn", (1, 2), 400, np.array([200, 400]))
    no_bn = fast.run(None, (1, 2), 1000, np.array([500, 1000]))  # the plain net first sits near chance
    assert bn.shape == no_bn.shape == (2, 2)
    assert (bn[:, -1] > 0.8).all() and (no_bn[:, -1] > 0.5).all(), (bn, no_bn)  # chance is 0.1
    assert np.array_equal(bn, fast.run("bn", (1, 2), 400, np.array([200, 400])))
    assert np.array_equal(no_bn, fast.run(None, (1, 2), 1000, np.array([500, 1000])))


def test_fast_trainer_gives_the_lessons_trainer_curves(fast):
    from bncourse.experiments import Trainer

    trainer = Trainer(fast.x_train.numpy(), fast.y_train.numpy(), fast.x_test.numpy(), fast.y_test.numpy(),
                      seeds=(1,))
    for name, norm in paper_fig1.NETS.items():
        lesson = trainer.train(norm, seed=1, steps=300, eval_every=100, **paper_fig1.FIG1)["acc"]
        ours = fast.run(norm, (1,), 300, np.array([100, 200, 300]))[0]
        assert np.abs(lesson - ours).max() <= 0.002, (name, lesson, ours)  # in our runs: equal


def test_compare_accepts_round_off_and_refuses_other_curves(capsys):
    """--against: what a rerun of the full length (make paper-fig1 PAPER_ARGS="--out x --against
    bncourse/paper/fig1_50k.json") is judged by."""
    committed = json.loads(RESULTS.read_text())
    same = json.loads(RESULTS.read_text())
    same["acc"]["bn"]["mean"][5] += 0.004  # round-off on another CPU
    assert paper_fig1.compare(same, committed, "the committed file") == 0
    other = json.loads(RESULTS.read_text())
    other["acc"]["no_bn"]["mean"][-1] -= 0.05
    assert paper_fig1.compare(other, committed, "the committed file") == 1
    assert "no_bn 0.0500" in capsys.readouterr().out
    other["step"] = other["step"][:-1]
    assert paper_fig1.compare(other, committed, "the committed file") == 1
