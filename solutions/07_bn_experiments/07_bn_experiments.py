# %% [markdown]
# # Lesson 7 · Does batch normalization do what the paper claims?
#
# Ioffe and Szegedy (2015) introduced batch normalization (BN) with a list of claims:
# a BN network trains in fewer steps, tolerates higher learning rates, cares less about
# its initialization, and all of this because BN reduces *internal covariate shift*, the
# drift of each layer's input distribution while the layers below it learn. This lesson
# puts each claim to a small, seeded experiment on MNIST, on a CPU:
#
# | claim | experiment |
# |---|---|
# | BN trains in fewer steps; it keeps sigmoid inputs stable | the paper's Figure 1, at CPU scale |
# | BN allows higher learning rates | a learning-rate sweep, with and without BN |
# | BN makes the net less sensitive to initialization | a weight-scale sweep |
# | (a limit) BN needs large enough batches | batch sizes 2 to 32: BN vs LayerNorm and GroupNorm |
# | (open) BN before or after the activation? | both placements, measured |
# | *why* BN helps | internal covariate shift or a smoother loss landscape? |
#
# You write three small pieces that the analysis uses: a percentile summary of an
# activation over training, the number of steps a net needs to reach a target accuracy,
# and one reading of the main plot. Everything else is given; read it, run it, change it.
#
# **Scale.** Each experiment is a few hundred to a few thousand SGD steps on small
# fully-connected nets, so that the whole notebook runs in minutes: in our runs on a 2-core
# CPU, under a minute when the machine was idle (47 s) and about six (354 s) when other jobs
# shared it (the last cell prints your own time). Small
# experiments give honest answers to small questions: what holds *for these nets, at
# these sizes*. Where the evidence is mixed, the text says so.
#
# Errors show the lines of your own code that led to them, and a failed check shows its
# message; run `%xmode Minimal` in a cell for one-line errors, `%xmode Context` to switch
# back (lesson 1 explains).

# %% [locked id=setup]
import numpy as np

import bncourse

bncourse.setup_notebook(seed=0, keras=True)

# %% [markdown]
# ## Data and run sizes
#
# All of MNIST's 60,000 training images (flattened to 784 pixels in $[0, 1]$) and a fixed
# subset of the test set, on which every net is evaluated. `bncourse.budget(full, fast)`
# picks the run sizes: the full values when you run the notebook, tiny ones while the
# notebook is autograded. Only Exercise 3 reads a run (Figure 1's curves, whatever their
# length); every other experiment is a `%%demo` cell (lesson 1), which grading skips.

# %% [code]
import time

import keras
import matplotlib.pyplot as plt
import tensorflow as tf

from bncourse.plotting import caption

x_train, y_train = bncourse.load_mnist("train", flatten=True)
x_test, y_test = bncourse.load_mnist("test", n=bncourse.budget(5000, 1000), flatten=True)
SEEDS = bncourse.budget((1, 2, 3), (1,))
print(f"train {x_train.shape}, test subset {x_test.shape}, seeds {SEEDS}")

# %% [markdown]
# ## The experiment machinery
#
# One builder makes every net of this lesson: `depth` hidden layers of `Dense(100)`, each
# followed by an optional normalization layer and the activation (or the activation first,
# with `where="after"`), then `Dense(10)` logits. The model has a second output, the input of
# the last hidden activation, which Figure 1 plots. A `Dense` layer right before a **BN**
# layer has no bias: BN subtracts each feature's mean over the batch, which cancels any
# per-feature constant, and BN's `beta` takes over the bias's role (Ioffe and Szegedy, section
# 3.2). LayerNorm and GroupNorm subtract each *example's* mean over its features (or over a
# group of them), which does not cancel a bias that differs from feature to feature, so the
# `Dense` layers before them keep their bias. The cell below checks both on the Keras layers.
#
# Training is plain SGD (optionally with momentum) in a compiled TensorFlow loop. Tracing a
# loop costs about a second, so each architecture is compiled once and every run only
# draws fresh weights with NumPy (`reinitialize`): hidden kernels from
# $\mathcal{N}(0, \text{std}^2)$, or He's $\text{std}=\sqrt{2/\text{fan-in}}$ with
# `std="he"`; the output kernel from Keras's default Glorot-uniform; biases and `beta` 0,
# `gamma` 1, BN's moving mean 0 and moving variance 1 (Keras's initial values). The seed
# fixes both the weights and the order of the mini-batches.
#
# **Where the code is.** The builder, the weight draws and the training loop are given code
# in `bncourse/experiments.py` (read it there, or with `help(train)`, `help(sweep)`,
# `bncourse.experiments.mlp??` in a cell): `mlp(norm, activation, where)` builds a net;
# `train(norm, activation=..., std=..., lr=..., steps=..., seed=...)` trains a fresh one and
# returns its test accuracy (`"acc"`) at the evaluation steps (`"step"`); `sweep(param,
# values, variants, **common)` runs `train` for every variant, value and seed in `SEEDS` and
# returns the final accuracies, one array (values, seeds) per variant; `plot_sweep` draws them.
# The cell below binds them to this lesson's data.
#
# **BN momentum.** Our runs are short. With Keras's default momentum 0.99, BN's moving
# statistics have a half-life of 69 steps (lesson 1), so after 200 steps they still carry
# 13% of their initial values, and the test accuracy would partly measure that lag. All BN
# layers here use momentum 0.9 (half-life 7 steps).

# %% [code]
from bncourse.experiments import Trainer, plot_sweep

cross_entropy = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
bn_default, dense_default = keras.layers.BatchNormalization(), keras.layers.Dense(10)
print(f"Keras defaults: BatchNormalization momentum={bn_default.momentum}, epsilon={bn_default.epsilon}; "
      f"Dense kernel initializer {type(dense_default.kernel_initializer).__name__}")
_h = np.random.default_rng(0).normal(size=(60, 100)).astype("float32")   # a Dense output, batch of 60
_bias = np.random.default_rng(1).normal(size=100).astype("float32")      # a per-feature bias
for _name, _layer in [("BatchNormalization", keras.layers.BatchNormalization()),
                      ("LayerNormalization", keras.layers.LayerNormalization()),
                      ("GroupNormalization(groups=10)", keras.layers.GroupNormalization(groups=10))]:
    _change = np.abs(np.asarray(_layer(_h + _bias, training=True)) - np.asarray(_layer(_h, training=True))).max()
    print(f"{_name:>30}: adding a per-feature bias changes the output by up to {_change:.2g}")

trainer = Trainer(x_train, y_train, x_test, y_test, seeds=SEEDS, loss=cross_entropy)
train, sweep, compiled = trainer.train, trainer.sweep, trainer.compiled  # used by every experiment below

# %% [markdown]
# ## Exercise 1 · Percentiles over training
#
# Figure 1 of the paper follows one sigmoid's input over training by three percentiles of
# its distribution: the 15th, the 50th (the median) and the 85th. For a Gaussian they sit
# near $\mu - \sigma$, $\mu$ and $\mu + \sigma$ (exactly at the 15.9th and 84.1th), so the
# middle line shows where the distribution is and the band around it how wide it is.
#
# Write `percentiles_over_training(activations, q)`. `activations` has shape
# `(steps, samples)`: row `t` holds the unit's values on all probe samples at evaluation
# `t`. Return an array of shape `(steps, len(q))` whose column `k` is the `q[k]`-th
# percentile of each row, with NumPy's default linear interpolation between sorted values.

# %% [answer id=percentiles]
def percentiles_over_training(activations, q=(15, 50, 85)):
    """Percentiles q (in %) of each row of activations: an array (steps, len(q))."""
    ### BEGIN SOLUTION
    return np.percentile(np.asarray(activations, dtype=float), q, axis=1).T
    ### END SOLUTION

# %% [tests id=test_percentiles points=2]
from bncourse.checks import check_percentiles_over_training

check_percentiles_over_training(percentiles_over_training)

### BEGIN HIDDEN TESTS
import experiment_checks

experiment_checks.check_percentiles_over_training(percentiles_over_training)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2 · Steps to reach a target
#
# "Trains faster" needs a number. Given a test-accuracy curve `acc_curve` measured at the
# training steps `steps`, return the **first** step at which the accuracy is at least
# `target`, or `None` if the curve never gets there. Return the step (an entry of `steps`),
# not its index.

# %% [answer id=steps_to_reach]
def steps_to_reach(acc_curve, steps, target):
    """First entry of steps where acc_curve >= target; None if it never is."""
    ### BEGIN SOLUTION
    reached = np.flatnonzero(np.asarray(acc_curve) >= target)
    return int(steps[reached[0]]) if len(reached) else None
    ### END SOLUTION

# %% [tests id=test_steps_to_reach points=2]
from bncourse.checks import check_steps_to_reach

check_steps_to_reach(steps_to_reach)

### BEGIN HIDDEN TESTS
import experiment_checks

experiment_checks.check_steps_to_reach(steps_to_reach)
### END HIDDEN TESTS

# %% [markdown]
# ## Claim 1 · Figure 1: BN trains faster and keeps the sigmoid inputs stable
#
# The paper's setup (section 4.1): MNIST, three fully-connected hidden layers of 100
# sigmoid units, weights initialized to "small random Gaussian values", mini-batches of 60,
# SGD; the BN net adds BN to every hidden layer, before the sigmoid. The paper trains for
# 50,000 steps on binarized images; we train for 3,000 steps (three epochs) on grayscale
# ones, with $\mathcal{N}(0, 0.05^2)$ weights and learning rate 0.5 (the paper states
# neither), three seeds per net. With the same seed both nets get the same mini-batches.
#
# Every 100 steps we record (a) the test accuracy and (b, c) the input of one unit of the
# last hidden layer (unit 0) on every test image, for the first seed: for the BN net that
# is the BN output fed to the sigmoid, in inference mode.

# %% [code]
FIG1 = dict(activation="sigmoid", std=0.05, lr=0.5, batch_size=60)
FIG1_STEPS, EVAL_EVERY = bncourse.budget((3000, 100), (400, 50))

start = time.time()
bncourse.stopwatch()
fig1 = {}
for name, norm in [("no_bn", None), ("bn", "bn")]:
    fig1[name] = []
    for seed in SEEDS:
        fig1[name].append(train(norm, seed=seed, steps=FIG1_STEPS, eval_every=EVAL_EVERY, **FIG1,
                                probe_unit=0 if seed == SEEDS[0] else None, keep_weights=seed == SEEDS[0]))
        bncourse.progress(f"{name}, seed {seed}: final test accuracy {fig1[name][-1]['acc'][-1]:.3f}")
eval_steps = fig1["bn"][0]["step"]
acc = {name: np.array([run["acc"] for run in runs]) for name, runs in fig1.items()}  # (seeds, evaluations)
mean_acc = {name: a.mean(axis=0) for name, a in acc.items()}
print(f"2 nets x {len(SEEDS)} seeds x {FIG1_STEPS} steps in {time.time() - start:.0f} s")

# %% [code]
%%demo
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), constrained_layout=True)
for name, label in [("no_bn", "without BN"), ("bn", "with BN")]:
    axes[0].plot(eval_steps, mean_acc[name], label=label)
    axes[0].fill_between(eval_steps, acc[name].min(axis=0), acc[name].max(axis=0), alpha=0.25)
axes[0].set(xlabel="training step", ylabel="test accuracy", ylim=(0, 1),
            title=f"(a) test accuracy: mean and range over seeds {SEEDS}")
axes[0].legend(frameon=False)
percentiles = {name: percentiles_over_training(runs[0]["probe"]) for name, runs in fig1.items()}
low = min(p.min() for p in percentiles.values())
high = max(p.max() for p in percentiles.values())
for ax, name, label in [(axes[1], "no_bn", "(b) without BN"), (axes[2], "bn", "(c) with BN")]:
    p = percentiles[name]
    ax.fill_between(eval_steps, p[:, 0], p[:, 2], alpha=0.2)
    ax.plot(eval_steps, p, color="C0")
    ax.set(xlabel="training step", ylabel="sigmoid input (unit 0)", ylim=(low - 0.2, high + 0.2),
           title=f"{label}: 15th, 50th, 85th percentiles")
for ax in axes:
    ax.grid(alpha=0.3)
plt.show()
caption("three panels: (a) test accuracy against training step for the nets with and without BN (mean and "
        "range over seeds); (b, c) the 15th, 50th and 85th percentiles of unit 0's sigmoid input without and "
        "with BN.")

# %% [markdown]
# Two numbers summarize panel (a), computed on the curves averaged over seeds: how many
# steps the BN net needs to reach the **best** test accuracy of the net without BN, relative
# to the steps that net needs itself (in the paper's Figure 1a the BN net is ahead
# throughout); and the same ratio for an earlier milestone, 90%. The per-seed ratios show
# the spread.

# %% [code]
%%demo
def step_ratio(acc_bn, acc_nobn, target):
    """Steps the BN net needs to reach target / steps the plain net needs (None if either never does)."""
    s_bn, s_nobn = steps_to_reach(acc_bn, eval_steps, target), steps_to_reach(acc_nobn, eval_steps, target)
    return None if s_bn is None or s_nobn is None else round(float(s_bn) / float(s_nobn), 3)  # a plain float


best_nobn = mean_acc["no_bn"].max()
for target, label in [(best_nobn, "best without BN"), (0.9, "90%")]:
    print(f"steps to reach {label} ({target:.4f}): without BN {steps_to_reach(mean_acc['no_bn'], eval_steps, target)}, "
          f"with BN {steps_to_reach(mean_acc['bn'], eval_steps, target)}")
print("per-seed ratios (best without BN):", [step_ratio(b, n, n.max()) for b, n in zip(acc["bn"], acc["no_bn"])])
print("per-seed ratios (90%):            ", [step_ratio(b, n, 0.9) for b, n in zip(acc["bn"], acc["no_bn"])])
print(f"fig1_step_ratio (seed-averaged, best without BN): {step_ratio(mean_acc['bn'], mean_acc['no_bn'], best_nobn)}; "
      f"fig1_step_ratio_90pct: {step_ratio(mean_acc['bn'], mean_acc['no_bn'], 0.9)}")
bncourse.record("fig1_step_ratio", step_ratio(mean_acc["bn"], mean_acc["no_bn"], best_nobn))
bncourse.record("fig1_best_acc_bn", round(float(mean_acc["bn"].max()), 4))
bncourse.record("fig1_best_acc_nobn", round(float(best_nobn), 4))
bncourse.record("fig1_step_ratio_90pct", step_ratio(mean_acc["bn"], mean_acc["no_bn"], 0.9))

# %% [markdown]
# ## Exercise 3 · Read the plot
#
# From panel (a) and the numbers above: which net needs fewer steps to reach the best
# (seed-averaged) test accuracy of the net *without* BN? Set `fewer_steps` to `"bn"` or
# `"no_bn"`. The check reads this run's curves with your `steps_to_reach` from Exercise 2, so
# it can judge your answer once that function passes its own check.

# %% [answer id=fewer_steps]
### BEGIN SOLUTION
fewer_steps = "bn"
### END SOLUTION

# %% [tests id=test_fewer_steps points=1]
from bncourse.checks import check_fewer_steps

check_fewer_steps(fewer_steps, steps_to_reach, mean_acc["bn"], mean_acc["no_bn"], eval_steps)

### BEGIN HIDDEN TESTS
from experiment_checks import check_fewer_steps

check_fewer_steps(fewer_steps, mean_acc["bn"], mean_acc["no_bn"], eval_steps)
### END HIDDEN TESTS

# %% [written id=written_figure1_percentiles points=2]
# **Written question (2 points, graded by hand).** Answer from your own Figure 1 before you read
# on. What do the three lines of panels (b) and (c) measure? Describe how the distribution of
# the sigmoid's input changes over training without BN (during the plateau of panel (a) and
# after it) and with BN. What does this tell you about internal covariate shift, and what does
# it not tell you? Answer in three to six sentences, in this cell.
#
# ### BEGIN SOLUTION
# **Model answer** (figures of our run, seed 1). The lines are the 15th, 50th and 85th
# percentiles of unit 0's sigmoid input over the test images, at every evaluation step. The
# median shows where the distribution sits; the band between the 15th and 85th percentiles
# shows how wide it is (about $\mu \pm \sigma$ for a Gaussian). For the BN net the input is
# the BN output in inference mode.
#
# Without BN, during the plateau (the first few hundred steps) the band is very narrow
# (width below 0.1) while its median drifts, from about $-0.9$ to $-1.5$: the unit's input is
# almost the same for every image, so it carries almost no information, which fits an
# accuracy near chance. Once the net starts to learn, the band widens within a few hundred
# steps to about 2.2 and the median moves between about $-1.0$ and $-0.3$. This layer's
# input distribution changes a lot while the layers below learn: internal covariate shift,
# as Ioffe and Szegedy define it. With BN the median stays within about 0.25 of 0 and the
# band is about 2.5 to 3.3 wide from the first evaluation on, changing slowly through
# $\gamma$ and $\beta$.
#
# So BN reduces internal covariate shift in this distributional sense, as the paper's
# Figure 1 (b, c) shows. It does not tell us that this is *why* the BN net trains faster:
# BN pins these distributions by construction, so any BN net shows it, whatever the cause of
# its speed. It is one unit of one seed, and a correlation, not a cause.
#
# **Rubric (2 points).**
#
# - 1 point: what the lines measure (percentiles of one unit's input over the test images
#   at each step: location and spread), and a correct description of both panels (without
#   BN the median moves and the width changes a lot, for example narrow during the plateau
#   then wide; with BN median and width stay roughly fixed). Half a point for only one of
#   the two.
# - 1 point: BN stabilizes these distributions (less internal covariate shift in the
#   paper's sense), but this alone does not show that the stability causes the faster
#   training (it holds by construction; a correlation). Half a point for the first half
#   only.
# ### END SOLUTION

# %% [markdown]
# **What we see.** Panel (a): the BN net passes 85% within a few hundred steps, while the
# plain sigmoid net first sits on a plateau near chance, then catches up. By the end of our
# three epochs the curves are close. In our run (2-core CPU, three seeds) the BN net reached
# the plain net's *best* accuracy only about a third sooner (`fig1_step_ratio` 0.63), while it
# reached 90% about twice as fast (`fig1_step_ratio_90pct` 0.46), in every seed; your
# ratios are printed above the exercise. The paper's 50,000 steps show a gap that
# persists; three epochs mostly show the early speed-up.
#
# Panels (b, c) reproduce the paper's observation: without BN the distribution of the
# sigmoid's input moves (its median shifts and its spread grows) as the layers below
# learn; with BN it stays roughly where it started, changing only slowly through `gamma`
# and `beta`. BN does stabilize these distributions; whether that is *why* it trains faster
# is a different question (last section).
#
# The plateau of the plain net depends on our choices: smaller initial weights or a smaller
# learning rate lengthen it, larger ones shorten it. The next two sections vary exactly
# these two knobs.

# %% [markdown]
# ### Figure 1 at the paper's length
#
# Does the gap last? The paper trains for 50,000 steps, which takes minutes even with a fast
# trainer, so the course ships one such run, made by its maintainers (`make paper-fig1` in the
# course repository): the same two nets, settings (`FIG1`), seeds, initial weights and
# mini-batches as your run, trained for 50,000 steps and evaluated on the same 5,000 test images,
# every 100 steps up to step 3,000 and every 500 after. Its first 3,000 steps are therefore your
# run; on our machine the lesson's own trainer gave exactly the same curves. The cell below loads
# the run (`bncourse/paper/fig1_50k.json`: the curves, the ratios, the date, machine, versions and
# wall time) and draws it next to yours. It trains nothing.

# %% [code]
%%demo
import json
from pathlib import Path

paper = json.loads((Path(bncourse.__file__).parent / "paper" / "fig1_50k.json").read_text())
paper_steps = np.array(paper["step"])
paper_acc = {name: np.array(curves["per_seed"]) for name, curves in paper["acc"].items()}  # (seeds, evaluations)

fig, axes = plt.subplots(1, 2, figsize=(13, 3.8), sharey=True, constrained_layout=True)
for ax, steps, runs, title in [
        (axes[0], eval_steps, acc, f"your run: {FIG1_STEPS:,} steps, seeds {SEEDS}"),
        (axes[1], paper_steps, paper_acc, f"50,000 steps, committed run of {paper['date']}\n"
                                          f"{paper['machine']['cpu']} ({paper['machine']['cores']} cores), "
                                          f"seeds {tuple(paper['settings']['seeds'])}")]:
    for name, label in [("no_bn", "without BN"), ("bn", "with BN")]:
        ax.plot(steps, runs[name].mean(axis=0), label=label)
        ax.fill_between(steps, runs[name].min(axis=0), runs[name].max(axis=0), alpha=0.25)
    ax.axhline(runs["no_bn"].mean(axis=0).max(), color="gray", linestyle=":", linewidth=1, label="best without BN")
    ax.set(xlabel="training step", title=title)
    ax.grid(alpha=0.3)
axes[1].axvline(FIG1_STEPS, color="black", linestyle="--", linewidth=1, label="where your run ends")
axes[0].set(ylabel="test accuracy", ylim=(0.85, 0.985))
for ax in axes:
    ax.legend(frameon=False, loc="lower right")
plt.show()
caption(f"two panels of test accuracy against training step for the nets with and without BN (mean and range over "
        f"seeds): left, your run of {FIG1_STEPS:,} steps; right, the committed run of 50,000 steps, a dashed line "
        f"where your run ends; in each, a dotted line at the best seed-averaged accuracy without BN.")
short, full = paper["ratios"]["3000"], paper["ratios"]["50000"]
print(f"fig1_step_ratio: your run {step_ratio(mean_acc['bn'], mean_acc['no_bn'], best_nobn)}; committed run "
      f"{short['fig1_step_ratio']} at 3,000 steps, {full['fig1_step_ratio']} at 50,000 "
      f"(per seed {full['per_seed_step_ratio']})")
print(f"fig1_step_ratio_90pct: your run {step_ratio(mean_acc['bn'], mean_acc['no_bn'], 0.9)}; committed run "
      f"{short['fig1_step_ratio_90pct']} at 3,000 steps, {full['fig1_step_ratio_90pct']} at 50,000")
print(f"committed run, 50,000 steps: best without BN {paper['best_acc']['no_bn']:.4f}, first at step "
      f"{full['steps_to_best_nobn']['no_bn']:,}; the BN net reaches it at step {full['steps_to_best_nobn']['bn']:,} "
      f"and peaks at {paper['best_acc']['bn']:.4f}; trained in {paper['wall_time_s']['total']:.0f} s")

# %% [markdown]
# **What the longer run shows.** For Figure 1 the paper reports no step count: its caption says
# that BN "helps the network train faster and achieve higher accuracy", and the text that the BN
# net "enjoys the higher test accuracy" (section 4.1). Counting steps to a target is how the paper
# measures speed on ImageNet (section 4.2.2, Figure 3): the steps each net needs to reach the plain
# Inception's best accuracy, 72.2%, are 13.3 million with BN against 31.0 million without ("less
# than half"), and 14 times fewer with BN plus a learning rate 5 times higher and other changes
# (BN-x5). `fig1_step_ratio` is that measure, on our MNIST nets.
#
# In the committed run (2-core CPU, three seeds) the ratio falls from 0.633 at 3,000 steps to
# 0.299 at 50,000: the plain net first reaches its best seed-averaged accuracy, 96.95%, at step
# 43,500, and the BN net reaches it at step 13,000, in 3.3 times fewer steps. The 90% milestone
# falls within the first 3,000 steps, so that ratio stays 0.455. The BN net is ahead at 123 of
# the 124 evaluations and ends higher in every seed, by 0.2 to 0.7 points (its best
# seed-averaged accuracy is 97.36%). So the gap lasts, as in the paper's Figure 1, and it is small.
#
# Read the 0.299 with care. Over its last 30,000 steps the plain net gains less than 0.3 points,
# so the step at which it first touches its best, and with it the ratio, moves with small
# fluctuations: per seed the ratio is 0.525, 0.271 and 0.486, and for a target 0.25 points lower
# (96.7%, reached at step 18,500 without BN and 11,000 with BN) it is 0.59. And the run shows
# nothing beyond its setting: one 3 × 100 sigmoid net on grayscale MNIST, one learning rate and
# one initialization (ours; the paper states neither), three seeds, 5,000 test images (one image
# is 0.02 points). The paper's ImageNet speed-ups came from BN together with higher learning rates
# and other changes that BN made possible; this experiment does not test those.

# %% [markdown]
# ## Claim 2 · BN allows higher learning rates
#
# The paper argues that BN stops small parameter changes from amplifying through the layers,
# so larger learning rates become safe. We train ReLU nets of the same shape (3 × 100, the
# modern default activation) for 200 steps at six learning rates, three seeds each. The plain
# net gets He initialization, the standard choice for ReLU without BN, so it starts from its
# best footing.

# %% [code]
%%demo
LRS = [0.03, 0.1, 0.3, 1.0, 3.0, 10.0]
SWEEP_STEPS = 200

start = time.time()
lr_acc = sweep("lr", LRS, {"without BN": dict(norm=None), "with BN": dict(norm="bn")},
               activation="relu", std="he", steps=SWEEP_STEPS)
print(f"{2 * len(LRS) * len(SEEDS)} runs in {time.time() - start:.0f} s")

fig, ax = plt.subplots(figsize=(6.4, 3.6))
plot_sweep(ax, LRS, lr_acc, "learning rate (SGD)", f"ReLU 3x100, {SWEEP_STEPS} steps, batch 60")
plt.show()
caption("final test accuracy against the SGD learning rate (log scale, 0.03 to 10) for ReLU nets with and "
        "without BN; lines are means over seeds, dots single seeds, the dotted line chance level.")


def usable(results, label, tolerance=0.05):
    """How many settings get, on average over seeds, within `tolerance` of the sweep's best mean accuracy."""
    best = max(acc.mean(axis=1).max() for acc in results.values())
    return int((results[label].mean(axis=1) >= best - tolerance).sum())


for label, acc in lr_acc.items():
    print(f"{label:>10}: mean accuracy per learning rate {np.round(acc.mean(axis=1), 3)}")
print(f"learning rates within 5 points of the best mean: with BN {usable(lr_acc, 'with BN')} of {len(LRS)}, "
      f"without BN {usable(lr_acc, 'without BN')} of {len(LRS)}")
bncourse.record("lr_sweep_usable_lrs_bn", usable(lr_acc, "with BN"))
bncourse.record("lr_sweep_usable_lrs_nobn", usable(lr_acc, "without BN"))

# %% [markdown]
# **What we see.** Counting the learning rates whose mean accuracy gets within 5 points of
# the best mean of the sweep, in our run (2-core CPU, three seeds): five of the six (0.03 to
# 3) with BN, two (0.1 and 0.3) without (your counts are printed above). The BN net's best runs use learning rates at which the plain net diverges to
# chance level. BN widens the range; it does not remove the limit: at learning rate 10 both
# fail. Three seeds and 200 steps measure early training only.
#
# ### Explore: learning rate and momentum
#
# The sliders re-train the two Figure 1 nets (sigmoid, $\mathcal{N}(0, 0.05^2)$ weights) for a
# few hundred steps with SGD at the chosen learning rate and momentum, and redraw their test
# accuracy. Try momentum 0.9 with learning rate 0.5, then lower the learning rate. (Without
# a browser you see the figure for the default values.)

# %% [code]
%%demo
import ipywidgets as widgets
from IPython.display import display

EXPLORE_STEPS = 300


def explore_figure(lr, momentum):
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    for norm, label in [(None, "without BN"), ("bn", "with BN")]:
        run = train(norm, activation="sigmoid", std=0.05, lr=lr, momentum=momentum, seed=1,
                    steps=EXPLORE_STEPS, eval_every=EXPLORE_STEPS // 10)
        ax.plot(run["step"], run["acc"], marker=".", label=label)
    ax.set(xlabel="training step", ylabel="test accuracy", ylim=(0, 1),
           title=f"sigmoid 3x100, SGD lr={lr:.3g}, momentum={momentum:.2f}")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    plt.close(fig)
    return fig


wide = {"description_width": "initial"}  # full labels, not truncated
lr_slider = widgets.FloatLogSlider(value=0.5, base=10, min=-2, max=1.3, step=0.1,
                                   description="learning rate", continuous_update=False, style=wide)
momentum_slider = widgets.FloatSlider(value=0.5, min=0.0, max=0.95, step=0.05,
                                      description="momentum", continuous_update=False, style=wide)
explorer = display(explore_figure(lr_slider.value, momentum_slider.value), display_id=True)


def redraw(_change):
    explorer.update(explore_figure(lr_slider.value, momentum_slider.value))


for slider in (lr_slider, momentum_slider):
    slider.observe(redraw, names="value")
display(widgets.HBox([lr_slider, momentum_slider]))
caption("test accuracy against training step of the sigmoid nets with and without BN, re-trained at the "
        "sliders' learning rate and momentum.")

# %% [markdown]
# ## Claim 3 · BN makes the net less sensitive to initialization
#
# First, a property of the Keras layer: in training mode BN's output does not change when
# its input is multiplied by a constant $a > 0$, because the mean and the standard deviation
# scale by $a$ too. Epsilon breaks this when $a^2\sigma^2$ becomes comparable to
# $\epsilon = 10^{-3}$ (lesson 1).

# %% [code]
%%demo
z = np.random.default_rng(0).normal(0.0, 1.0, size=(256, 8)).astype("float32")
bn_layer = keras.layers.BatchNormalization()
reference = np.asarray(bn_layer(z, training=True))
for a in (1e-3, 1e-2, 1e-1, 10.0, 1000.0):
    change = np.abs(np.asarray(bn_layer(a * z, training=True)) - reference).max()
    print(f"scale input by {a:>6g}: max |BN(a z) - BN(z)| = {change:.2g}")

# %% [markdown]
# So the hidden layers of a BN net compute the same function whatever the scale of their
# weights, as long as the pre-activations' variance stays well above epsilon. What the scale
# still changes is the *effective learning rate*, as the paper notes itself (section 3.3):
# the gradient with respect to a scale-invariant weight shrinks like $1/a$, so an SGD step
# turns the weight's *direction* by an amount proportional to $\text{lr}/a^2$.
#
# The sweep draws the hidden kernels from $\mathcal{N}(0, \text{std}^2)$ over four orders of
# magnitude (the output layer keeps Keras's default initialization), ReLU nets, learning
# rate 0.1, 200 steps, three seeds. He initialization corresponds to std 0.05 for the first
# layer and 0.14 for the others.

# %% [code]
%%demo
STDS = [1e-3, 1e-2, 1e-1, 1.0, 10.0]

start = time.time()
init_acc = sweep("std", STDS, {"without BN": dict(norm=None), "with BN": dict(norm="bn")},
                 activation="relu", lr=0.1, steps=SWEEP_STEPS)
print(f"{2 * len(STDS) * len(SEEDS)} runs in {time.time() - start:.0f} s")

fig, ax = plt.subplots(figsize=(6.4, 3.6))
plot_sweep(ax, STDS, init_acc, "std of the hidden kernels at initialization",
           f"ReLU 3x100, lr 0.1, {SWEEP_STEPS} steps")
plt.show()
caption("final test accuracy against the std of the hidden kernels at initialization (log scale, 0.001 to 10) "
        "for ReLU nets with and without BN; lines are means over seeds, dots single seeds.")
for label, acc in init_acc.items():
    print(f"{label:>10}: mean accuracy per std {np.round(acc.mean(axis=1), 3)}")
bncourse.record("init_sweep_worst_acc_bn", round(float(init_acc["with BN"].mean(axis=1).min()), 4))
bncourse.record("init_sweep_worst_acc_nobn", round(float(init_acc["without BN"].mean(axis=1).min()), 4))
bncourse.record("init_sweep_stds_above_80pct_bn", int((init_acc["with BN"].mean(axis=1) >= 0.8).sum()))
bncourse.record("init_sweep_stds_above_80pct_nobn", int((init_acc["without BN"].mean(axis=1) >= 0.8).sum()))

# %% [markdown]
# Why does BN still lose accuracy at large std? The gradient of a scale-invariant weight is
# orthogonal to the weight (the loss does not change along it), so every plain SGD step
# *lengthens* the weight vector: $\|w - \eta g\|^2 = \|w\|^2 + \eta^2\|g\|^2$. Tiny weights
# therefore grow until their effective learning rate is moderate, while large weights keep
# their tiny effective learning rate. The cell measures the norm of the first hidden kernel
# of a BN net before and after the sweep's 200 steps (a $784\times 100$ Gaussian matrix
# starts with norm $\approx 280\,\text{std}$).

# %% [code]
%%demo
for std in (1e-3, 10.0):
    run = train("bn", activation="relu", std=std, lr=0.1, steps=SWEEP_STEPS, seed=1, keep_weights=True)
    kernel = run["weights"][-1][0]  # the first Dense layer's kernel, (784, 100)
    print(f"std {std:>5g}: |W1| at init ~ {280 * std:.3g}, after {SWEEP_STEPS} steps {np.linalg.norm(kernel):.3g}")

# %% [markdown]
# **What we see.** Without BN only the scale near He's works: smaller weights make the
# signal vanish layer by layer, larger ones make it explode. With BN the net learns from
# std 0.001 to 0.1 alike: a first kernel started at std 0.001 grows more than tenfold
# within 200 steps, as the formula predicts, while one started at std 10 keeps its norm.
# At std 1 and 10 the hidden kernels barely move relative to their size, so mostly the
# output layer (and BN's `gamma`, `beta`) learns, and the accuracy stays well below the
# others. "Be less careful about initialization" holds, within limits you can compute.

# %% [markdown]
# ## A limit · Small batches hurt BN; LayerNorm and GroupNorm do not care
#
# BN normalizes each feature with statistics of the *current batch*, so every example's
# output depends on the other examples in its batch. `LayerNormalization` normalizes each
# example over its own features, `GroupNormalization` over groups of its features; neither
# looks at the rest of the batch. (GroupNormalization needs the number of features to be
# divisible by `groups`: we use 10 groups of 10 units; Keras's error message words the
# condition the other way round.) The cell checks this on the Keras layers, and shows what BN does to a batch of **two**: the two examples get opposite values,
# $\pm\sqrt{\sigma^2/(\sigma^2+\epsilon)}$, which is $\pm 1$ unless their values nearly coincide.

# %% [code]
%%demo
rng = np.random.default_rng(1)
batch = rng.normal(size=(4, 100)).astype("float32")
other = batch.copy()
other[1:] = rng.normal(size=(3, 100))  # same first example, different companions
for name, layer in [("BatchNormalization", keras.layers.BatchNormalization()),
                    ("LayerNormalization", keras.layers.LayerNormalization()),
                    ("GroupNormalization(groups=10)", keras.layers.GroupNormalization(groups=10))]:
    change = np.abs(np.asarray(layer(batch, training=True))[0] - np.asarray(layer(other, training=True))[0]).max()
    print(f"{name:>30}: example 0's output changes by up to {change:.3f} when its batch-mates change")
try:
    keras.layers.GroupNormalization(groups=32)(batch)
except ValueError as err:
    print("GroupNormalization(groups=32) on 100 features:", err)
pair = np.asarray(keras.layers.BatchNormalization()(batch[:2], training=True))
print("BN on a batch of 2, first 6 features:\n", pair[:, :6])

# %% [markdown]
# The sweep trains ReLU nets with BN, LayerNorm, GroupNorm or no normalization for 300
# steps at batch sizes 2 to 32 (learning rate 0.05, three seeds). A fixed number of steps
# means smaller batches see fewer examples, so compare the *methods* at each batch size,
# not the batch sizes. (BN's momentum is 0.9 as everywhere here; in our run (2-core CPU), Keras's
# 0.99 did slightly worse at batch sizes 2 to 8 on this net.)

# %% [code]
%%demo
BATCH_SIZES = [2, 4, 8, 32]
NORMS = {"no normalization": dict(norm=None), "BatchNorm": dict(norm="bn"),
         "LayerNorm": dict(norm="ln"), "GroupNorm (10 groups)": dict(norm="gn")}

start = time.time()
batch_acc = sweep("batch_size", BATCH_SIZES, NORMS, activation="relu", std="he", lr=0.05,
                  steps=300)
print(f"{len(NORMS) * len(BATCH_SIZES) * len(SEEDS)} runs in {time.time() - start:.0f} s")

fig, ax = plt.subplots(figsize=(6.4, 3.6))
plot_sweep(ax, BATCH_SIZES, batch_acc, "batch size", "ReLU 3x100, lr 0.05, same number of steps", base=2)
plt.show()
caption("final test accuracy against the batch size (2 to 32, log scale) for ReLU nets with BatchNorm, "
        "LayerNorm, GroupNorm or no normalization; lines are means over seeds, dots single seeds.")
for label, acc in batch_acc.items():
    print(f"{label:>22}: mean accuracy per batch size {np.round(acc.mean(axis=1), 3)}")
bncourse.record("batch2_acc_bn", round(float(batch_acc["BatchNorm"][0].mean()), 4))
bncourse.record("batch2_acc_ln", round(float(batch_acc["LayerNorm"][0].mean()), 4))
bncourse.record("batch2_acc_gn", round(float(batch_acc["GroupNorm (10 groups)"][0].mean()), 4))

# %% [markdown]
# **What we see.** In our run (2-core CPU, three seeds; your figures are printed above), at
# batch size 2 BN collapses to 38% test accuracy: in training every feature is reduced to
# about $\pm 1$, while at test time the moving statistics give the next layer quite
# different inputs. The gap shrinks as the batch grows: at 4 BN is still behind (74% against
# 75-76% for the others), from 8 on it is ahead (85% and 90% at 8 and 32). LayerNorm and
# GroupNorm pay no such penalty: at batch size 2 they reach 65% and 68%, ahead of the net
# without normalization (60%), and at 32 they are a point or two above it (89% against 87%),
# behind BN. (Their `Dense` layers keep their bias, see *The experiment machinery*. An
# earlier version of this lesson dropped it; in our runs that changed these figures by at
# most 5 points, most at batch size 2 for GroupNorm, 63% without the bias against 68% with it,
# and not always in the same direction, so the conclusions stand either way.) Their
# advantage is that they
# *work* where BN cannot (a few examples per device, or per-example computation), which is
# why Wu and He (2018) proposed GroupNorm for detection and segmentation, where batches are
# small, and why LayerNorm (Ba et al., 2016) is the norm in sequence models.

# %% [markdown]
# ## An open question · BN before or after the activation?
#
# The paper puts BN between the linear layer and the nonlinearity, arguing that the linear
# output is "more Gaussian" than the activation. Many practitioners put it after the
# activation, and benchmarks disagree about which is better. We measure both placements on
# the ReLU net (500 steps, three seeds, two learning rates). This settles nothing in general;
# it tells you what happens here.

# %% [code]
%%demo
start = time.time()
where_acc = sweep("lr", [0.1, 1.0], {"BN before ReLU": dict(where="before"), "BN after ReLU": dict(where="after")},
                  norm="bn", activation="relu", std="he", steps=500)
print(f"{2 * 2 * len(SEEDS)} runs in {time.time() - start:.0f} s")

fig, ax = plt.subplots(figsize=(6.4, 3.4))
for k, (label, acc) in enumerate(where_acc.items()):
    for i in range(2):  # lr 0.1, lr 1.0
        x = i + (k - 0.5) * 0.3
        ax.bar(x, acc[i].mean(), width=0.28, color=f"C{k}", alpha=0.6, label=label if i == 0 else None)
        ax.scatter(np.full(acc.shape[1], x), acc[i], color="black", s=12, zorder=3)
ax.set_xticks([0, 1], ["lr 0.1", "lr 1.0"])
low = min(a.min() for a in where_acc.values())
ax.set(ylabel="test accuracy", ylim=(max(0.0, low - 0.02), 1.0),
       title="ReLU 3x100, bars: mean over seeds, dots: seeds")
ax.legend(frameon=False, loc="upper left", ncols=2)
ax.grid(alpha=0.3, axis="y")
plt.show()
caption("bar chart of the test accuracy of BN before and BN after the ReLU at learning rates 0.1 and 1.0; "
        "bars are means over seeds, black dots single seeds.")
difference = where_acc["BN before ReLU"] - where_acc["BN after ReLU"]
print("accuracy difference before - after, per learning rate (rows) and seed (columns):\n", np.round(difference, 4))
bncourse.record("bn_before_minus_after_acc", round(float(difference.mean()), 4))

# %% [markdown]
# **What we see.** With the same seed both placements start from the same kernels and see
# the same mini-batches, so the differences above are paired. At learning rate 0.1 the two
# placements are indistinguishable; at 1.0 BN before the ReLU (the paper's choice) is ahead
# on average, in our run (2-core CPU) by 0.8 points, but not in every seed (one seed was 0.3
# points behind): your paired differences are printed above. That is a statement about this net, these learning
# rates and 500 steps. Elsewhere the answer can flip. D. Mishkin's ImageNet benchmark
# (CaffeNet-style net, images resized to 128 pixels, LSUV initialization) compares the two
# placements like for like and finds BN *after* the ReLU better: top-1 accuracy 49.9% vs
# 47.4% without BN's scale-and-bias layer, and 49.3% vs 47.8% with it. Its GoogLeNet runs
# favour BN *before* the ReLU, but they compare BN before *with* the scale-and-bias layer and
# orthogonal initialization against BN after *without* it and with LSUV, so they are not like
# for like and we do not quote them as a measurement of the placement. It remains an empirical question: if it matters for your
# model, measure it there.

# %% [markdown]
# ## Why does BN help?
#
# **The original explanation.** Ioffe and Szegedy attribute BN's speed to reducing internal
# covariate shift: each layer keeps receiving inputs with a stable distribution, so it does
# not have to keep re-adapting to the layers below. Figure 1 (b, c) shows that BN does
# stabilize the distributions of a layer's inputs, by construction.
#
# **The challenge.** Santurkar et al. (2018) tested whether that stability is what matters.
# They injected random noise with a non-zero mean and non-unit variance, changing at every
# step, right after each BN layer, so that the distributions became *less* stable than
# without BN, and such nets still trained about as fast as ordinary BN nets. Measuring
# internal covariate shift through how much a layer's gradient changes when the layers
# below update, they found that BN does not reduce it and can even increase it. Their
# explanation: BN makes the loss landscape smoother (the loss and its gradient change more
# slowly as the weights move), so the gradient stays predictive over longer steps and larger
# learning rates become safe.
#
# We can measure a small version of their Figure 4 on our Figure 1 nets. At saved points of
# training, take the gradient $g$ of the loss on a fixed batch of 500 training images, step
# to $w - \eta g$ for $\eta$ from 0.25 to 4 times the training learning rate, and record
# (a) the loss there, relative to the loss at $w$, and (b) how far the gradient moved,
# $\|\nabla L(w - \eta g) - g\| / \|g\|$. A narrow band means the landscape is smooth along
# the direction SGD takes.

# %% [code]
%%demo
probe_x, probe_y = tf.constant(x_train[:500]), tf.constant(y_train[:500])
ETA_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)


def landscape_probe(norm, snapshots, lr):
    """Per weight snapshot and step size: loss ratio L(w - eta g) / L(w) and gradient change |g' - g| / |g|."""
    model = compiled(norm, "sigmoid", "before", 0.9)[0]

    @tf.function
    def along_gradient(weights, state):
        def loss_and_grad(w):
            with tf.GradientTape() as tape:
                tape.watch(w)
                (logits, _), _ = model.stateless_call(w, state, probe_x, training=True)
                loss = cross_entropy(probe_y, logits)
            return loss, tape.gradient(loss, w)

        loss_here, g = loss_and_grad(weights)
        g_norm = tf.linalg.global_norm(g)
        losses, changes = [], []
        for factor in ETA_FACTORS:
            loss, g_new = loss_and_grad([w - factor * lr * gi for w, gi in zip(weights, g)])
            losses.append(loss)
            changes.append(tf.linalg.global_norm([a - b for a, b in zip(g_new, g)]) / g_norm)
        return tf.stack(losses) / loss_here, tf.stack(changes)

    results = []
    for snapshot in snapshots:
        model.set_weights(snapshot)
        weights = [tf.constant(v.numpy()) for v in model.trainable_variables]
        state = [tf.constant(v.numpy()) for v in model.non_trainable_variables]
        results.append([r.numpy() for r in along_gradient(weights, state)])
    return np.array([r[0] for r in results]), np.array([r[1] for r in results])


start = time.time()
every = max(1, len(eval_steps) // 10)
probe_steps = eval_steps[every - 1::every]
landscape = {name: landscape_probe(norm, fig1[name][0]["weights"][every - 1::every], FIG1["lr"])
             for name, norm in [("no_bn", None), ("bn", "bn")]}
print(f"{len(probe_steps)} snapshots per net in {time.time() - start:.0f} s")

fig, axes = plt.subplots(1, 2, figsize=(12, 3.6), constrained_layout=True)
for name, label in [("no_bn", "without BN"), ("bn", "with BN")]:
    losses, changes = landscape[name]
    for ax, values in zip(axes, (losses, changes)):
        ax.fill_between(probe_steps, values.min(axis=1), values.max(axis=1), alpha=0.3, label=label)
axes[0].axhline(1.0, color="gray", linestyle="--", linewidth=1)
axes[0].set(xlabel="training step", ylabel="L(w - eta g) / L(w)", yscale="log",
            title="(a) loss along the gradient, relative to the loss at w")
axes[1].set(xlabel="training step", ylabel="|grad(w - eta g) - g| / |g|", title="(b) gradient change along the gradient")
for ax in axes:
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
plt.show()
caption("two panels against training step, each a band (min to max over the step sizes) for the nets with "
        "and without BN: (a) the loss after a step along the gradient relative to the loss before (log scale), "
        "(b) how far the gradient moved along that step, relative to its size.")
for name, (ratios, changes) in landscape.items():
    worst, largest_change = np.median(ratios.max(axis=1)), np.median(changes.max(axis=1))
    print(f"{name:>5}, median over snapshots: worst loss ratio {worst:.3f}, largest gradient change {largest_change:.2f}")
    bncourse.record(f"landscape_worst_loss_ratio_{name.replace('_', '')}", round(float(worst), 3))
    bncourse.record(f"landscape_grad_change_{name.replace('_', '')}", round(float(largest_change), 3))
_change_ratio = np.median(landscape["bn"][1].max(axis=1)) / np.median(landscape["no_bn"][1].max(axis=1))
print(f"largest gradient change with BN / without BN: {_change_ratio:.2f}")
print(f"this notebook so far: {bncourse.elapsed():.0f} s")

# %% [markdown]
# **What we see.** With BN, after the first few hundred steps every step along the
# gradient, up to four times the training learning rate, lowers the loss (panel a stays
# below 1), and the gradient changes less along the way than without BN (panel b), but it
# does change: in our run (2-core CPU) the median largest change was 1.01 times the
# gradient's size with BN against 2.51 without, a ratio of 0.40 (your ratio is printed
# above). Without BN, the
# longer steps often *raise* the loss, mostly in the first half of training, and the
# gradient at the end of a step can differ from the starting gradient by several times its
# own size. This is what Santurkar et al. call a smoother landscape with more predictive
# gradients. Two caveats: one net, one seed, one direction (the gradient's) per snapshot;
# and at equal training steps the two nets are at different losses, so the comparison is
# not at equal progress.

# %% [written id=written_why_bn_helps points=3]
# **Written question (3 points, graded by hand).** Answer before you read the next section.
# Which explanation of BN's benefit does this lesson's evidence support: reduced internal
# covariate shift (Ioffe and Szegedy), or a smoother loss landscape (Santurkar et al., 2018)?
# How strongly? Cite at least two measurements from your run and say what each can and cannot
# tell apart. Name one experiment this lesson did not run that would separate the two
# explanations. Answer in four to eight sentences, in this cell.
#
# ### BEGIN SOLUTION
# **Model answer** (figures of our run). The evidence is consistent with the smoother
# landscape, but it does not prove it, and it does not rule out a role for stable
# distributions.
#
# - *Figure 1 (b, c).* With BN the sigmoid input keeps its median near 0 and its width;
#   without BN both change a lot. So BN does reduce internal covariate shift in the
#   distributional sense. But every BN net pins these distributions by construction, so the
#   figure cannot tell whether that stability is what makes it train faster (panel a:
#   `fig1_step_ratio` 0.63, 0.46 for the 90% milestone).
# - *The landscape probe.* Along the gradient, with steps up to 4 times the training learning
#   rate, the BN net's median worst loss ratio was 0.956 (the steps lowered the loss) against
#   1.052 without BN, and its gradient changed less: 1.01 against 2.51 times its size, a
#   ratio of 0.40. That is what a smoother landscape with more predictive gradients looks
#   like. Limits: one net, one seed, one direction per snapshot, and at equal steps the two
#   nets are at different losses. And it shows that the BN net's landscape is smoother, not
#   that the smoothness causes the speed-up.
# - *The learning-rate sweep.* 5 of 6 learning rates were usable with BN against 2 of 6
#   without. This fits the smoother landscape (the gradient stays predictive over longer
#   steps), but Ioffe and Szegedy predicted higher usable learning rates too, so it does not
#   separate the two explanations.
#
# Not run here: Santurkar et al.'s noisy-BN experiment (add noise whose mean and variance
# change at every step after each BN layer, so that distributions are *unstable*, and see
# whether training stays fast), or a measurement of internal covariate shift in their
# gradient-based sense. Their published result, that the noisy nets trained about as fast,
# is what tips the balance toward the landscape explanation; our own run only agrees with
# it. Other mechanisms fit what we saw as well, for example the scale invariance of the
# initialization sweep, which adapts the effective learning rate (Arora et al., 2019).
# Strength: suggestive, not conclusive.
#
# **Rubric (3 points).**
#
# - 1 point: Figure 1 (b, c) read as stabilized distributions, with the point that this
#   holds by construction (or is only a correlation) and so does not show that stability
#   causes the speed-up.
# - 1 point: the landscape probe (or the learning-rate sweep) cited in the right direction
#   with a figure from the run, and at least one of its limits (one net, seed or direction;
#   unequal progress; a learning-rate tolerance both explanations predict). Half a point
#   without a limit.
# - 1 point: a calibrated conclusion (consistent with the smoother landscape, not a proof,
#   a role for stability not ruled out) and a separating experiment not run here (noise
#   injected after BN, or internal covariate shift measured in Santurkar et al.'s gradient
#   sense). An answer claiming that this lesson proves either explanation gets no point
#   here; half a point without a separating experiment.
# ### END SOLUTION

# %% [markdown]
# **What the evidence says.**
#
# * BN does what it was designed to do: it pins the mean and variance of each unit's input
#   (Figure 1 b, c). That is a fact about BN, not yet an explanation of its speed.
# * Our experiments agree with the paper's *practical* claims at this scale: faster early
#   training, a wider range of usable learning rates and of initial weight scales. They
#   also show the limits: the gap in Figure 1 narrows with training, very large learning
#   rates and weight scales still fail, and BN breaks down with tiny batches.
# * Santurkar et al. showed that stable distributions are not necessary for BN's speed (the
#   noisy-BN nets trained well) and that BN does not reduce internal covariate shift in
#   their gradient-based sense. Our probe agrees with their alternative on a small scale:
#   along the gradient, the BN net's loss and gradient behave more smoothly. This is
#   consistent with their explanation; it does not prove it, and it does not show that the
#   distribution stability in Figure 1 (c) plays no role in our net.
# * Other mechanisms are also documented: the scale invariance you saw in the initialization
#   sweep makes the effective learning rate adapt to the weights' norm (Arora et al., 2019),
#   and BN's tolerance to large learning rates has been linked to both faster training and
#   better generalization (Bjorck et al., 2018). Why BN helps is still researched; no single
#   explanation is settled.

# %% [markdown]
# ## Concept checks
#
# Four short questions on this lesson, one point each. Store each answer in the variable the
# question names: the letter of your choice as a string (for example `"c"`), or a number. The
# check under it says whether it is right, and why each choice is right or wrong.
#
# **Concept check 1.** In training mode, BN receives a batch of **two** examples. One feature
# has the values 3 and 7 (Keras's epsilon, $10^{-3}$). What are its normalized values
# $\hat{x}$, before $\gamma$ and $\beta$? Store the letter in `concept_batch_of_two`.
#
# - (a) about $-1$ and $+1$
# - (b) $-2$ and $+2$
# - (c) about $-0.71$ and $+0.71$
# - (d) 0 and 0

# %% [answer id=concept_batch_of_two]
### BEGIN SOLUTION
concept_batch_of_two = "a"
### END SOLUTION

# %% [tests id=test_concept_batch_of_two points=1]
from bncourse.checks import check_concept

check_concept("concept_batch_of_two", concept_batch_of_two)

### BEGIN HIDDEN TESTS
import concept_checks

concept_checks.check_concept("concept_batch_of_two", concept_batch_of_two)
### END HIDDEN TESTS

# %% [markdown]
# **Concept check 2.** This lesson's builder drops the bias of a `Dense` layer placed right
# before a BN layer, but keeps it before LayerNorm and GroupNorm. Why? Store the letter in
# `concept_bias_before_norm`.
#
# - (a) BN subtracts each feature's mean over the batch, which cancels any per-feature
#   constant; LayerNorm and GroupNorm subtract each example's mean over its features (or a
#   group of them), which does not cancel a bias that differs from feature to feature.
# - (b) LayerNorm and GroupNorm have no $\beta$ that could take over the bias's role.
# - (c) A bias before BN would distort its moving variance.
# - (d) LayerNorm and GroupNorm divide by zero without a bias.

# %% [answer id=concept_bias_before_norm]
### BEGIN SOLUTION
concept_bias_before_norm = "a"
### END SOLUTION

# %% [tests id=test_concept_bias_before_norm points=1]
from bncourse.checks import check_concept

check_concept("concept_bias_before_norm", concept_bias_before_norm)

### BEGIN HIDDEN TESTS
import concept_checks

concept_checks.check_concept("concept_bias_before_norm", concept_bias_before_norm)
### END HIDDEN TESTS

# %% [markdown]
# **Concept check 3.** Santurkar et al. (2018) added random noise right after each BN layer,
# with a non-zero mean and a non-unit variance that changed at every step. Which of these did
# they find? Store the letter in `concept_noisy_bn`.
#
# - (a) The noisy nets lost BN's speed-up, so stable layer inputs are what makes BN work.
# - (b) The noisy nets trained about as fast as ordinary BN nets, so stable layer inputs are
#   not necessary for BN's benefit.
# - (c) The noise made the loss landscape smoother than BN alone.
# - (d) BN nets showed less internal covariate shift than plain nets, in their gradient-based
#   measure.

# %% [answer id=concept_noisy_bn]
### BEGIN SOLUTION
concept_noisy_bn = "b"
### END SOLUTION

# %% [tests id=test_concept_noisy_bn points=1]
from bncourse.checks import check_concept

check_concept("concept_noisy_bn", concept_noisy_bn)

### BEGIN HIDDEN TESTS
import concept_checks

concept_checks.check_concept("concept_noisy_bn", concept_noisy_bn)
### END HIDDEN TESTS

# %% [markdown]
# **Concept check 4.** A hidden layer's kernel feeds a BN layer, so in training mode the loss
# does not change when the kernel is multiplied by $a > 0$ (as long as epsilon is
# negligible). You multiply it by $a = 10$. By what factor must plain SGD's learning rate
# change so that one step turns the kernel's direction by the same angle as before? Store
# the number in `concept_lr_factor`.

# %% [answer id=concept_lr_factor]
### BEGIN SOLUTION
concept_lr_factor = 10**2
### END SOLUTION

# %% [tests id=test_concept_lr_factor points=1]
from bncourse.checks import check_concept

check_concept("concept_lr_factor", concept_lr_factor)

### BEGIN HIDDEN TESTS
import concept_checks

concept_checks.check_concept("concept_lr_factor", concept_lr_factor)
### END HIDDEN TESTS

# %% [markdown]
# ## References
#
# * S. Ioffe and C. Szegedy. *Batch Normalization: Accelerating Deep Network Training by
#   Reducing Internal Covariate Shift.* ICML 2015, PMLR 37:448-456. arXiv:1502.03167.
# * S. Santurkar, D. Tsipras, A. Ilyas and A. Mądry. *How Does Batch Normalization Help
#   Optimization?* NeurIPS 2018. arXiv:1805.11604.
# * J. L. Ba, J. R. Kiros and G. E. Hinton. *Layer Normalization.* arXiv:1607.06450, 2016.
# * Y. Wu and K. He. *Group Normalization.* ECCV 2018. arXiv:1803.08494.
# * S. Arora, Z. Li and K. Lyu. *Theoretical Analysis of Auto Rate-Tuning by Batch
#   Normalization.* ICLR 2019. arXiv:1812.03981.
# * J. Bjorck, C. Gomes, B. Selman and K. Q. Weinberger. *Understanding Batch
#   Normalization.* NeurIPS 2018. arXiv:1806.02375.
# * D. Mishkin. *CaffeNet benchmark: BatchNorm.*
#   https://github.com/ducha-aiki/caffenet-benchmark/blob/master/batchnorm.md
