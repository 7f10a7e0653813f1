# %% [markdown]
# # Lesson 1 · Batch normalization by hand
#
# Before any code, we compute batch normalization (BN) for one tiny batch, the way
# Keras does it in training mode. You will:
#
# 1. compute the **batch mean** and the **biased variance** of each feature;
# 2. **normalize** with epsilon *inside* the square root;
# 3. **scale by gamma and shift by beta**;
# 4. follow the **moving averages** Keras keeps for inference, and see what momentum does;
# 5. see when **epsilon** matters.
#
# Each exercise asks for exact Python expressions (`14 / 4`, `np.sqrt(3.5 + 1e-3)`), not
# rounded decimals. Run the check cell under each answer: it tells you what looks wrong.
#
# **Error messages.** The setup cell below (every lesson starts with one) shows errors in
# `Context` mode: an error in your code shows the lines and functions of *your* code that led
# to it, and a failed check shows just its message. For one-line errors, run `%xmode Minimal`
# in a cell; `%xmode Context` switches back. (While a notebook is graded, errors are always
# one line.)

# %% [locked id=setup]
import numpy as np

import bncourse

bncourse.setup_notebook(seed=0)

# %% [markdown]
# ## The formulas
#
# For a batch of $N$ examples, each feature $j$ is normalized with the statistics of
# **that feature over the batch**:
#
# $$\mu_j = \frac{1}{N}\sum_{i=1}^{N} x_{ij} \qquad
#   \sigma_j^2 = \frac{1}{N}\sum_{i=1}^{N} (x_{ij} - \mu_j)^2$$
#
# $$\hat{x}_{ij} = \frac{x_{ij} - \mu_j}{\sqrt{\sigma_j^2 + \epsilon}} \qquad
#   y_{ij} = \gamma_j\, \hat{x}_{ij} + \beta_j$$
#
# Three details matter, and the checks below test each one:
#
# * the variance divides by $N$ (the *biased* variance), not by $N-1$;
# * $\epsilon$ is added to the variance *inside* the square root, not to the standard deviation;
# * $\gamma$ and $\beta$ are learned per feature; they let the network undo the
#   normalization if that helps (with $\gamma_j=\sqrt{\sigma_j^2+\epsilon}$ and $\beta_j=\mu_j$, $y = x$).
#
# Keras's `BatchNormalization` uses $\epsilon = 10^{-3}$ by default (PyTorch uses $10^{-5}$).
#
# Our batch has $N=4$ examples and $D=3$ features. Feature 0 is ordinary, feature 1 is
# constant, and feature 2 barely varies.

# %% [locked id=batch]
X = np.array([
    [1.0, 10.0, 0.00],
    [2.0, 10.0, 0.00],
    [3.0, 10.0, 0.00],
    [6.0, 10.0, 0.04],
])
gamma = np.array([2.0, 0.5, 1.0])
beta = np.array([1.0, -1.0, 0.0])
eps = 1e-3  # the Keras default
N, D = X.shape

# %% [markdown]
# ## Exercise 1 · The batch mean
#
# Compute $\mu$, one value per feature, by hand. Write it as a NumPy array of three
# numbers (`np.array([...])`), using exact expressions such as `(1 + 2 + 3 + 6) / 4`.
#
# Store it in the variable `batch_mean` (the check reads that name).

# %% [answer id=batch_mean]
### BEGIN SOLUTION
batch_mean = np.array([(1 + 2 + 3 + 6) / 4, 10.0, 0.04 / 4])
### END SOLUTION

# %% [tests id=test_batch_mean points=1]
from bncourse.checks import check_value

check_value("batch_mean", batch_mean)

### BEGIN HIDDEN TESTS
from bn_checks import assert_exact

assert_exact("batch_mean", batch_mean, [3.0, 10.0, 0.01])
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2 · The biased variance
#
# Compute $\sigma^2$ per feature: the mean of the squared deviations from `batch_mean`,
# dividing by $N = 4$.
#
# Store it in the variable `batch_var`.

# %% [answer id=batch_var]
### BEGIN SOLUTION
batch_var = np.array([((1 - 3) ** 2 + (2 - 3) ** 2 + 0 ** 2 + (6 - 3) ** 2) / 4, 0.0, (3 * 0.01**2 + 0.03**2) / 4])
### END SOLUTION

# %% [tests id=test_batch_var points=1]
from bncourse.checks import check_value

check_value("batch_var", batch_var)

### BEGIN HIDDEN TESTS
from bn_checks import assert_exact

assert_exact("batch_var", batch_var, [3.5, 0.0, 3e-4])
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3 · Normalize
#
# Compute $\hat{x}$, a NumPy array of shape $4\times 3$, with `eps = 1e-3` inside the square root. You may
# use `batch_mean` and `batch_var` from above; broadcasting subtracts a row of 3 means
# from every row of `X`. (If one of them is wrong, this exercise still counts: its check
# accepts the `x_hat` your own `batch_mean` and `batch_var` give. The same holds for `y` below
# and your `x_hat`.)
#
# Before you run it: what should the constant feature (column 1) become?
#
# Store it in the variable `x_hat`.

# %% [answer id=x_hat]
### BEGIN SOLUTION
x_hat = (X - batch_mean) / np.sqrt(batch_var + eps)
### END SOLUTION

# %% [tests id=test_x_hat points=2]
from bncourse.checks import check_value

check_value("x_hat", x_hat, batch_mean=batch_mean, batch_var=batch_var)
print("Column 1 (the constant feature):", np.asarray(x_hat)[:, 1])

### BEGIN HIDDEN TESTS
from bn_checks import check_lesson1_value

check_lesson1_value("x_hat", x_hat, batch_mean=batch_mean, batch_var=batch_var)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4 · Scale and shift
#
# Compute $y = \gamma\,\hat{x} + \beta$ (a $4\times 3$ NumPy array) with the `gamma` and `beta` defined above.
#
# Store it in the variable `y`.

# %% [answer id=y]
### BEGIN SOLUTION
y = gamma * x_hat + beta
### END SOLUTION

# %% [tests id=test_y points=1]
from bncourse.checks import check_value

check_value("y", y, x_hat=x_hat)
print("Per-feature mean of y:", np.mean(y, axis=0), " (equals beta)")
print("Per-feature std of y: ", np.std(y, axis=0), " (equals |gamma| only where var >> eps)")

### BEGIN HIDDEN TESTS
from bn_checks import check_lesson1_value

check_lesson1_value("y", y, x_hat=x_hat)
### END HIDDEN TESTS

# %% [written id=written_gamma_beta points=2]
# **Written question (2 points, graded by hand).** With $\gamma_j = \sqrt{\sigma_j^2+\epsilon}$ and
# $\beta_j = \mu_j$ the layer gives back $y = x$: the learned $\gamma$ and $\beta$ can undo the
# normalization. Why does batch norm normalize and then learn parameters that can undo it? What
# would a layer lose without $\gamma$ and $\beta$? Answer in two to four sentences, in this cell.
#
# ### BEGIN SOLUTION
# **Model answer.** Without $\gamma$ and $\beta$ every feature would have mean 0 and variance
# about 1 in every batch, which limits what the layer can represent: Ioffe and Szegedy's example
# is a sigmoid, whose normalized inputs would stay in its nearly linear middle range. With
# $\gamma$ and $\beta$ the layer can represent any mean and scale, the identity included, so it
# loses nothing. Each feature's mean and scale become two parameters that gradient descent sets
# directly ($\beta$ is the mean of $y$ in the batch), not a side effect of all the weights of the
# layers before.
#
# **Rubric (2 points).**
# - 1 point: normalizing alone fixes each feature at mean 0 and variance about 1, which restricts
#   what the layer can represent (the sigmoid kept in its linear range, or any concrete example).
# - 1 point: $\gamma$ and $\beta$ give that back (the identity is possible), with the mean and
#   scale now set by two learned numbers per feature rather than by the earlier layers' weights.
# ### END SOLUTION

# %% [markdown]
# ## Exercise 5 · Epsilon matters for tiny variances
#
# After normalization every feature "should" have standard deviation 1. With epsilon it
# has $\sqrt{\sigma^2/(\sigma^2+\epsilon)}$, which is close to 1 only when $\sigma^2 \gg \epsilon$.
#
# For feature 2 ($\sigma^2 = 0.0003$), compute the standard deviation of $\hat{x}$ with
# Keras's $\epsilon=10^{-3}$ and with PyTorch's $\epsilon=10^{-5}$ as exact expressions.
#
# Store them in the variables `std_eps_keras` and `std_eps_torch`.

# %% [answer id=eps_std]
### BEGIN SOLUTION
std_eps_keras = np.sqrt(0.0003 / (0.0003 + 1e-3))
std_eps_torch = np.sqrt(0.0003 / (0.0003 + 1e-5))
### END SOLUTION

# %% [tests id=test_eps_std points=1]
from bncourse.checks import check_value

check_value("std_eps_keras", std_eps_keras)
check_value("std_eps_torch", std_eps_torch)
print(f"x_hat std of feature 2: {std_eps_keras:.3f} (Keras eps) vs {std_eps_torch:.3f} (PyTorch eps)")

### BEGIN HIDDEN TESTS
from bn_checks import assert_exact

assert_exact("std_eps_keras", std_eps_keras, (3 / 13) ** 0.5)
assert_exact("std_eps_torch", std_eps_torch, (30 / 31) ** 0.5)
### END HIDDEN TESTS

# %% [markdown]
# The constant feature is where epsilon is indispensable: its variance is exactly 0, so
# without epsilon $\hat{x} = 0/0$.

# %% [code]
with np.errstate(invalid="ignore"):
    print("constant feature, no epsilon:  ", (X[:, 1] - 10.0) / np.sqrt(0.0))
print("constant feature, epsilon 1e-3:", (X[:, 1] - 10.0) / np.sqrt(0.0 + eps))

# %% [written id=written_eps_inside_sqrt points=2]
# **Written question (2 points, graded by hand).** Batch norm divides by $\sqrt{\sigma^2+\epsilon}$.
# Which problem does $\epsilon$ prevent? And since it is added to the variance, inside the square
# root, what does it do to a feature whose variance is much larger than $\epsilon$, and to one
# whose variance is much smaller? Answer in two to four sentences, in this cell.
#
# ### BEGIN SOLUTION
# **Model answer.** A constant feature has batch variance 0, so without $\epsilon$ normalizing
# divides 0 by 0 (NaN, as the cell above shows); with it the denominator is at least
# $\sqrt{\epsilon}$. Inside the root, $\epsilon$ competes with the variance: the normalized feature
# has standard deviation $\sqrt{\sigma^2/(\sigma^2+\epsilon)}$, which is close to 1 when
# $\sigma^2 \gg \epsilon$, so $\epsilon$ barely changes an ordinary feature. When
# $\sigma^2 \ll \epsilon$, the feature is scaled by at most $1/\sqrt{\epsilon}$ and comes out with
# standard deviation well below 1 (0.48 for feature 2 in Exercise 5), so tiny variations are not
# blown up to unit size.
#
# **Rubric (2 points).**
# - 1 point: names division by zero (0/0) for a constant feature, or a near-constant one, and
#   that $\epsilon$ keeps the denominator at least $\sqrt{\epsilon}$.
# - 1 point: compares $\epsilon$ with the variance: negligible when $\sigma^2 \gg \epsilon$, damps
#   the feature (std $\sqrt{\sigma^2/(\sigma^2+\epsilon)}$ below 1) when $\sigma^2$ is comparable to or
#   smaller than $\epsilon$. Also accept: the square root is never taken of 0, so its derivative
#   $1/(2\sqrt{\sigma^2+\epsilon})$ stays finite.
# ### END SOLUTION

# %% [markdown]
# ## Exercise 6 · Moving averages for inference
#
# At inference time a batch may hold one example, so Keras normalizes with **moving
# averages** of the batch statistics gathered during training. After every training
# batch it updates
#
# $$\text{moving} \leftarrow m \cdot \text{moving} + (1 - m)\cdot \text{batch statistic}$$
#
# with momentum $m = 0.99$ by default. `moving_mean` starts at 0 and `moving_variance`
# at 1.
#
# Suppose every training batch has mean 3 for feature 0. By hand, compute `moving_mean`
# after steps 1, 2 and 3, once with $m = 0.99$ and once with $m = 0.9$. Write each as a
# list of three exact expressions (you may reuse earlier entries, e.g. `0.99 * a + 0.01 * 3`).
#
# Store the two lists in the variables `moving_099` (momentum 0.99) and `moving_09` (momentum 0.9).

# %% [answer id=moving]
### BEGIN SOLUTION
m1 = 0.99 * 0 + 0.01 * 3
m2 = 0.99 * m1 + 0.01 * 3
m3 = 0.99 * m2 + 0.01 * 3
moving_099 = [m1, m2, m3]
n1 = 0.9 * 0 + 0.1 * 3
n2 = 0.9 * n1 + 0.1 * 3
n3 = 0.9 * n2 + 0.1 * 3
moving_09 = [n1, n2, n3]
### END SOLUTION

# %% [tests id=test_moving points=2]
from bncourse.checks import check_value

check_value("moving_099", moving_099)
check_value("moving_09", moving_09)

### BEGIN HIDDEN TESTS
from bn_checks import assert_exact

assert_exact("moving_099", moving_099, [0.03, 0.0597, 0.089103])
assert_exact("moving_09", moving_09, [0.3, 0.57, 0.813])
### END HIDDEN TESTS

# %% [markdown]
# Which momentum moves toward the batch mean faster? After $k$ steps the moving mean is
# $3\,(1 - m^k)$: a **larger** momentum keeps more of the old value each step, so the
# moving statistics change **more slowly**. The remaining gap halves every
# $\ln 0.5 / \ln m$ steps: about 69 steps for 0.99, 7 for 0.9. (Some tutorials state the
# opposite; the formula settles it.)
#
# Cells that start with `%%demo` are demonstrations, like the plot below: they run as usual,
# and nbgrader skips them while grading, so grading stays fast. No exercise depends on them.

# %% [code]
%%demo
import matplotlib.pyplot as plt

from bncourse.plotting import caption, plot_traces

steps = np.arange(1, 301)
plot_traces({f"momentum {m}": (steps, 3 * (1 - m**steps)) for m in (0.9, 0.99)},
            target=3.0, target_label="batch mean", ylabel="moving_mean",
            title="Larger momentum = slower moving statistics")
plt.show()
caption("moving_mean against training step for momentum 0.9 and 0.99, rising from 0 toward the batch "
        "mean 3 (dashed); the 0.9 curve gets there within about 30 steps, the 0.99 curve needs hundreds.")
for m in (0.9, 0.99):
    print(f"momentum {m}: half-life {np.log(0.5) / np.log(m):.1f} steps")

# %% [markdown]
# ## Exercise 7 · From hand computation to code
#
# Write the whole training-mode computation for **one feature** as a function: `x` is a
# 1-D array (the batch), `gamma`, `beta` and `eps` are numbers. Lesson 2 extends it to
# many features, backward passes and inference.
#
# Name the function `normalize(x, gamma, beta, eps=1e-3)`; the checks call it with other `eps` values than 1e-3 too, and it must not modify `x`.

# %% [answer id=normalize]
def normalize(x, gamma, beta, eps=1e-3):
    """Batch-normalize a 1-D batch x; return gamma * x_hat + beta."""
    ### BEGIN SOLUTION
    mean = x.mean()
    var = ((x - mean) ** 2).mean()
    return gamma * (x - mean) / np.sqrt(var + eps) + beta
    ### END SOLUTION

# %% [tests id=test_normalize points=2]
from bncourse.checks import check_normalize

check_normalize(normalize)

### BEGIN HIDDEN TESTS
from bn_checks import check_normalize_1d

check_normalize_1d(normalize)
### END HIDDEN TESTS

# %% [markdown]
# ## Explore
#
# Move the sliders: batch size, the feature's mean and spread, gamma, beta and epsilon.
# The figure uses your `normalize`. Try a feature std of 0.01 with epsilon 1e-3: the
# output std drops to about 0.3, and with a feature std of 0.001 to about 0.03, as in
# Exercise 5. (When this notebook runs without a
# browser, you see the figure for the default values.)

# %% [code]
%%demo
from bncourse.widgets import bn_explorer

bn_explorer(normalize);

# %% [markdown]
# ## What this means in Keras
#
# The same batch through `keras.layers.BatchNormalization` in training mode. The cell
# prints the defaults of the installed Keras and compares the layer's output and its
# moving statistics with your hand computation. (Importing TensorFlow takes a few seconds.)

# %% [code]
%%demo
import keras

layer = keras.layers.BatchNormalization()
layer.build(X.shape)
layer.gamma.assign(gamma)
layer.beta.assign(beta)
print(f"Keras {keras.__version__}: epsilon={layer.epsilon}, momentum={layer.momentum}")

y_keras = np.asarray(layer(X.astype("float32"), training=True))
print("max |y_keras - y| =", float(np.abs(y_keras - y).max()), "(float32 vs float64)")
print("moving_mean     after one step:", np.asarray(layer.moving_mean))
print("moving_variance after one step:", np.asarray(layer.moving_variance))
print("0.99 * 1 + 0.01 * batch_var    :", 0.99 * 1 + 0.01 * batch_var, "(biased variance: no N/(N-1) correction)")
unbiased = batch_var * N / (N - 1)  # 14/3 for feature 0
print("PyTorch's documented rule, momentum 0.1, unbiased variance: 0.9 * 1 + 0.1 * N/(N-1) * batch_var =",
      0.9 * 1 + 0.1 * unbiased)

# %% [markdown]
# And the momentum direction, checked on the layer itself: three training steps on our
# batch (feature 0 has mean 3, as in Exercise 6) with each momentum.

# %% [code]
%%demo
import keras

for m, by_hand in [(0.99, moving_099), (0.9, moving_09)]:
    bn = keras.layers.BatchNormalization(momentum=m)
    trace = []
    for _ in range(3):
        bn(X.astype("float32"), training=True)
        trace.append(float(bn.moving_mean[0]))
    print(f"momentum {m}: Keras", ", ".join(f"{v:.6f}" for v in trace),
          "| by hand", ", ".join(f"{v:.6f}" for v in by_hand))

# %% [markdown]
# The layer matches your numbers to float32 precision, its epsilon is `1e-3`, and its
# moving variance moved toward the **biased** batch variance 3.5: after one step it holds
# $0.99 \cdot 1 + 0.01 \cdot 3.5 = 1.025$ for feature 0.
#
# Not every implementation does this. PyTorch's `BatchNorm` normalizes with the biased batch
# variance too, but averages the **unbiased** one, $\frac{N}{N-1}\sigma^2 = 14/3$, into its
# running variance (its documentation: the running variance is computed with the unbiased
# estimator, `torch.var(input, correction=1)`); with its momentum 0.1 that
# means $0.9 \cdot 1 + 0.1 \cdot 14/3 \approx 1.367$ after one step, not $14/3$ itself. The
# original paper does the same for its inference statistics: Ioffe and Szegedy's
# Algorithm 2 sets $\mathrm{Var}[x] = \frac{m}{m-1}\,\mathrm{E}_B[\sigma_B^2]$ for batches of
# size $m$ (section 3.1), where Keras keeps the biased average. Next lesson: the same
# computation for a whole layer in NumPy, with its backward pass.

# %% [markdown]
# ## Concept checks
#
# Four short questions on this lesson, one point each. Store each answer in the variable the
# question names: the letter of your choice as a string (for example `"c"`), or a number. The
# check under it says whether it is right, and why each choice is right or wrong.
#
# **Concept check 1.** Keras updates its moving statistics with
# $\text{moving} \leftarrow m\cdot\text{moving} + (1-m)\cdot\text{batch statistic}$.
# The data shifts, and every batch now has a new mean. With which momentum does `moving_mean`
# follow the new mean faster? Store the letter in `concept_faster_momentum`.
#
# - (a) $m = 0.99$
# - (b) $m = 0.9$
# - (c) both equally fast: the momentum only matters for the moving variance
# - (d) it depends on epsilon

# %% [answer id=concept_faster_momentum]
### BEGIN SOLUTION
concept_faster_momentum = "b"
### END SOLUTION

# %% [tests id=test_concept_faster_momentum points=1]
from bncourse.checks import check_concept

check_concept("concept_faster_momentum", concept_faster_momentum)

### BEGIN HIDDEN TESTS
import concept_checks

concept_checks.check_concept("concept_faster_momentum", concept_faster_momentum)
### END HIDDEN TESTS

# %% [markdown]
# **Concept check 2.** `moving_mean` starts at 0, every training batch has mean 3, and the
# momentum is 0.9. What is `moving_mean` after **10** steps? Store the number (three
# significant digits are enough) in `concept_moving_after_ten`.

# %% [answer id=concept_moving_after_ten]
### BEGIN SOLUTION
concept_moving_after_ten = 3 * (1 - 0.9**10)
### END SOLUTION

# %% [tests id=test_concept_moving_after_ten points=1]
from bncourse.checks import check_concept

check_concept("concept_moving_after_ten", concept_moving_after_ten)

### BEGIN HIDDEN TESTS
import concept_checks

concept_checks.check_concept("concept_moving_after_ten", concept_moving_after_ten)
### END HIDDEN TESTS

# %% [markdown]
# **Concept check 3.** A feature has batch standard deviation 0.01 (variance $10^{-4}$).
# Keras normalizes it with its default epsilon, $10^{-3}$. About what is the standard
# deviation of $\hat{x}$ over the batch? Store the letter in `concept_small_std`.
#
# - (a) 1, as for every normalized feature
# - (b) about 0.3
# - (c) 0.01, unchanged
# - (d) 0

# %% [answer id=concept_small_std]
### BEGIN SOLUTION
concept_small_std = "b"
### END SOLUTION

# %% [tests id=test_concept_small_std points=1]
from bncourse.checks import check_concept

check_concept("concept_small_std", concept_small_std)

### BEGIN HIDDEN TESTS
import concept_checks

concept_checks.check_concept("concept_small_std", concept_small_std)
### END HIDDEN TESTS

# %% [markdown]
# **Concept check 4.** In training mode, which variance does Keras's `BatchNormalization`
# normalize the batch with, and which does it average into `moving_variance`? Store the letter
# in `concept_which_variance`.
#
# - (a) the biased variance (divide by $N$) for both
# - (b) the biased variance to normalize, the unbiased one (divide by $N-1$) for `moving_variance`
# - (c) the unbiased variance for both
# - (d) the unbiased variance to normalize, the biased one for `moving_variance`

# %% [answer id=concept_which_variance]
### BEGIN SOLUTION
concept_which_variance = "a"
### END SOLUTION

# %% [tests id=test_concept_which_variance points=1]
from bncourse.checks import check_concept

check_concept("concept_which_variance", concept_which_variance)

### BEGIN HIDDEN TESTS
import concept_checks

concept_checks.check_concept("concept_which_variance", concept_which_variance)
### END HIDDEN TESTS
