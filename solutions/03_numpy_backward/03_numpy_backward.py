# %% [markdown]
# # Lesson 3 · The backward pass of batch normalization
#
# A network learns through the gradients of its loss, so a BN layer must pass gradients
# back to its input $x$ and to its parameters $\gamma$ and $\beta$. In this lesson you:
#
# 1. split the forward pass into small **stages** (a computational graph);
# 2. write `batchnorm_backward`, which walks that graph in reverse, one stage at a time;
# 3. check it against a **numeric gradient**;
# 4. derive a **compact formula** for $dx$, implement it as `batchnorm_backward_alt`, and
#    time both versions;
# 5. compare your gradients with the ones TensorFlow computes for
#    `keras.layers.BatchNormalization`.
#
# Notation: for any array `a` in the forward pass, `da` is the gradient of the loss with
# respect to `a`, with the same shape as `a`. The layer receives `dout` from above.
#
# Errors show the lines of your own code that led to them, and a failed check shows its
# message; run `%xmode Minimal` in a cell for one-line errors, `%xmode Context` to switch
# back (lesson 1 explains).

# %% [locked id=setup]
import numpy as np

import bncourse

bncourse.setup_notebook(seed=0)

# %% [markdown]
# ## The forward pass as a graph
#
# For a batch `x` of shape $(N, D)$, training-mode BN computes, one stage at a time
# (shapes on the right; statistics are per feature, over the batch axis 0):
#
# | stage | forward | shape |
# |---|---|---|
# | 1 | `mu = x.mean(axis=0)` | $(D,)$ |
# | 2 | `xmu = x - mu` | $(N, D)$ |
# | 3 | `sq = xmu ** 2` | $(N, D)$ |
# | 4 | `var = sq.mean(axis=0)` | $(D,)$ |
# | 5 | `sqrtvar = np.sqrt(var + eps)` | $(D,)$ |
# | 6 | `ivar = 1 / sqrtvar` | $(D,)$ |
# | 7 | `x_hat = xmu * ivar` | $(N, D)$ |
# | 8 | `out = gamma * x_hat + beta` | $(N, D)$ |
#
# As a graph, with data flowing downward:
#
# ```text
#     x ──────────────┬─────────────────┐
#                     ▼                 ▼
#              (1) mu = mean(x) ──► (2) xmu = x - mu ──────────────┐
#                                       │                          │
#                                       ▼                          │
#                                  (3) sq = xmu**2                 │
#                                       ▼                          │
#                                  (4) var = mean(sq)              │
#                                       ▼                          │
#                                  (5) sqrtvar = sqrt(var + eps)   │
#                                       ▼                          ▼
#                                  (6) ivar = 1 / sqrtvar ──► (7) x_hat = xmu * ivar
#                                                                  ▼
#                                        gamma, beta ──────► (8) out = gamma * x_hat + beta
# ```
#
# Two values are used twice: `x` feeds both `mu` and `xmu`, and `xmu` feeds both `sq`
# and `x_hat`. The backward pass visits the stages in the order 8, 7, ..., 1.

# %% [markdown]
# ## Four rules for the backward pass
#
# 1. **Local derivative.** If `b = f(a)` elementwise, then `da = db * f'(a)`.
# 2. **Broadcast forward, sum backward.** A $(D,)$ vector used in every row of an
#    $(N, D)$ computation (`gamma`, `beta`, `mu`, `ivar`) collects the sum over the rows:
#    `.sum(axis=0)`.
# 3. **Mean forward, spread backward.** If `m = a.mean(axis=0)`, each of the $N$ rows of
#    `a` receives `dm / N`.
# 4. **Branches add.** A value that feeds two stages gets the sum of the two gradients
#    that come back.
#
# The local derivatives of each stage:
#
# | stage | forward | local derivatives |
# |---|---|---|
# | 8 | `out = gamma * x_hat + beta` | $\partial/\partial\hat{x} = \gamma$, $\ \partial/\partial\gamma = \hat{x}$, $\ \partial/\partial\beta = 1$ |
# | 7 | `x_hat = xmu * ivar` | $\partial/\partial\,\text{xmu} = \text{ivar}$, $\ \partial/\partial\,\text{ivar} = \text{xmu}$ |
# | 6 | `ivar = 1 / sqrtvar` | $-1/\text{sqrtvar}^2$ |
# | 5 | `sqrtvar = sqrt(var + eps)` | $1/(2\,\text{sqrtvar})$ |
# | 4 | `var = mean(sq)` | rule 3 |
# | 3 | `sq = xmu ** 2` | $2\,\text{xmu}$ |
# | 2 | `xmu = x - mu` | $\partial/\partial x = 1$, $\ \partial/\partial\mu = -1$ |
# | 1 | `mu = mean(x)` | rule 3 |
#
# Stage 8, worked out: `gamma` and `beta` are broadcast over the rows (rule 2), so for
# each feature $j$
#
# $$d\beta_j = \sum_i \text{dout}_{ij} \qquad
#   d\gamma_j = \sum_i \text{dout}_{ij}\,\hat{x}_{ij} \qquad
#   d\hat{x}_{ij} = \text{dout}_{ij}\,\gamma_j$$
#
# Stage 7 gives `dxmu` (first branch) and $\text{divar}_j = \sum_i d\hat{x}_{ij}\,\text{xmu}_{ij}$,
# and so on down to `dx`, which also has two branches (stage 2 directly, and stage 1
# through `mu`).

# %% [markdown]
# ## The forward pass you are given
#
# This is lesson 2's `batchnorm_forward`, written stage by stage. Its cache is a dict that
# holds every intermediate value the backward pass needs; the docstring lists the keys.
#
# You may use your own forward from lesson 2 instead: paste it into a new cell right
# below this one. Your backward must then read the cache *your* forward returns. The
# checks and the grader call whichever `batchnorm_forward` is defined last.

# %% [locked id=given_forward]
def batchnorm_forward(x, gamma, beta, eps=1e-3):
    """Training-mode batch norm of x (N, D), stage by stage.

    Returns:
        out: (N, D) array, gamma * x_hat + beta.
        cache: dict with the stages of the graph:
            "x" (N, D), "mu" (D,), "xmu" (N, D), "sq" (N, D), "var" (D,),
            "sqrtvar" (D,), "ivar" (D,), "x_hat" (N, D), "gamma" (D,), "eps" (float).
    """
    mu = x.mean(axis=0)               # 1
    xmu = x - mu                      # 2
    sq = xmu ** 2                     # 3
    var = sq.mean(axis=0)             # 4
    sqrtvar = np.sqrt(var + eps)      # 5
    ivar = 1.0 / sqrtvar              # 6
    x_hat = xmu * ivar                # 7
    out = gamma * x_hat + beta        # 8
    cache = {"x": x, "mu": mu, "xmu": xmu, "sq": sq, "var": var, "sqrtvar": sqrtvar,
             "ivar": ivar, "x_hat": x_hat, "gamma": gamma, "eps": eps}
    return out, cache

# %% [markdown]
# ## Exercise 1 · The staged backward pass
#
# Write `batchnorm_backward(dout, cache)`. Go through the stages in reverse order, one
# line (or two) per stage, and name each gradient after its stage: `dx_hat`, `divar`,
# `dsqrtvar`, `dvar`, `dsq`, `dxmu`, `dmu`, `dx`. Every intermediate gradient has the
# shape of its forward value (the table above): if a shape does not match, a sum over
# axis 0 is missing or extra.
#
# The checks (and the grader) run it on several batches, including `eps` values other than 1e-3 and float32 inputs; float64 inputs must give float64 gradients. It must not modify `dout` or the cache, and calling it twice with the same cache must give the same result. Return the tuple `(dx, dgamma, dbeta)`, not a dict.

# %% [answer id=batchnorm_backward]
def batchnorm_backward(dout, cache):
    """Backward pass of batchnorm_forward, stage by stage through the graph.

    Args:
        dout: (N, D) gradient of the loss with respect to out.
        cache: the dict returned by batchnorm_forward.

    Returns:
        dx (N, D), dgamma (D,), dbeta (D,).
    """
    ### BEGIN SOLUTION
    xmu, sqrtvar, ivar, x_hat = cache["xmu"], cache["sqrtvar"], cache["ivar"], cache["x_hat"]
    gamma = cache["gamma"]
    n = dout.shape[0]
    # 8: out = gamma * x_hat + beta
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx_hat = dout * gamma
    # 7: x_hat = xmu * ivar
    divar = (dx_hat * xmu).sum(axis=0)
    dxmu = dx_hat * ivar
    # 6: ivar = 1 / sqrtvar
    dsqrtvar = -divar / sqrtvar**2
    # 5: sqrtvar = sqrt(var + eps)
    dvar = 0.5 * dsqrtvar / sqrtvar
    # 4: var = mean(sq)
    dsq = np.ones_like(dout) * dvar / n
    # 3: sq = xmu ** 2   (second branch into xmu)
    dxmu = dxmu + 2 * xmu * dsq
    # 2: xmu = x - mu
    dx = dxmu.copy()
    dmu = -dxmu.sum(axis=0)
    # 1: mu = mean(x)   (second branch into x)
    dx = dx + dmu / n
    return dx, dgamma, dbeta
    ### END SOLUTION

# %% [markdown]
# ## Checking a gradient numerically
#
# For any function $f$, the centred difference
# $\frac{f(x + h) - f(x - h)}{2h}$ approximates $f'(x)$ with an error of order $h^2$.
# `bncourse.gradcheck.numeric_gradient(f, x, dout)` does this for every entry of `x`
# and returns the gradient of $\sum f(x) \cdot \text{dout}$: exactly what your backward
# computes, but slowly and without any calculus. `bncourse.gradcheck.rel_error(a, b)` is
# the largest elementwise $|a - b| / (|a| + |b|)$. In float64, with $h = 10^{-5}$:
#
# * below $10^{-7}$: the analytic gradient is right;
# * above $10^{-3}$: it is wrong;
# * in between: look closer (often an `eps` handled differently).
#
# `bncourse.checks.expect_gradient(name, analytic, numeric, mistakes)` runs that
# comparison and, when your gradient equals a known wrong variant, says which mistake it
# looks like.

# %% [locked id=check_helpers]
from bncourse.checks import expect_gradient
from bncourse.gradcheck import numeric_gradient

# %% [markdown]
# The test batch: $N = 6$ examples, $D = 4$ features on different scales, and a `gamma`
# far from 1 (so a forgotten `gamma` shows).

# %% [locked id=test_batch]
rng = np.random.default_rng(1)
N, D = 6, 4
x = rng.normal(2.0, 3.0, (N, D)) * np.array([1.0, 0.1, 5.0, 1.0])
gamma = np.array([2.0, 0.5, -1.5, 3.0])
beta = np.array([0.5, -1.0, 0.0, 2.0])
dout = rng.normal(size=(N, D))

dx_num = numeric_gradient(lambda v: batchnorm_forward(v, gamma, beta)[0], x, dout)
dgamma_num = numeric_gradient(lambda g: batchnorm_forward(x, g, beta)[0], gamma.copy(), dout)
dbeta_num = numeric_gradient(lambda b: batchnorm_forward(x, gamma, b)[0], beta.copy(), dout)
dx_num_gamma1 = numeric_gradient(lambda v: batchnorm_forward(v, np.ones(D), beta)[0], x, dout)  # gamma = 1

# %% [tests id=test_batchnorm_backward points=4]
from bncourse.checks import check_batchnorm_backward, expect_gradient

check_batchnorm_backward(batchnorm_backward, batchnorm_forward)
dx, dgamma, dbeta = batchnorm_backward(dout, batchnorm_forward(x, gamma, beta)[1])
for _name, _got, _num in (("dx", dx, dx_num), ("dgamma", dgamma, dgamma_num), ("dbeta", dbeta, dbeta_num)):
    expect_gradient(_name, _got, _num)  # against the numeric gradient of the forward pass above

### BEGIN HIDDEN TESTS
import bn_checks

bn_checks.check_batchnorm_backward(batchnorm_backward, batchnorm_forward)
### END HIDDEN TESTS

# %% [written id=written_variance_branch points=2]
# **Written question (2 points, graded by hand).** Stages 3 to 6 (`sq`, `var`, `sqrtvar`, `ivar`)
# form the graph's variance branch. What does the gradient that flows back along this branch
# stand for, and why is what it adds to $dx_i$ proportional to $x_i - \mu$ (zero for an example
# at the batch mean)? Answer in two to four sentences, in this cell.
#
# ### BEGIN SOLUTION
# **Model answer.** Moving one input $x_i$ changes the batch variance, and through `ivar` that
# rescales every normalized value $\hat{x}_k$ of the batch, not only $\hat{x}_i$; the branch carries
# this effect back, and `dvar` $= -\tfrac12\,\text{ivar}^3\sum_k g_k\,\text{xmu}_k$ says how the
# loss changes when the batch's spread grows. Since $\sigma^2 = \frac1N\sum_k (x_k-\mu)^2$ and
# $\sum_k (x_k - \mu) = 0$, $\partial\sigma^2/\partial x_i = \frac2N (x_i - \mu)$, so the branch adds
# $\frac2N\,\text{xmu}_i\,\text{dvar} = -\frac{\text{ivar}}{N}\,\hat{x}_i\sum_k g_k\hat{x}_k$ to
# $dx_i$: an example at the mean does not change the spread (to first order), and the examples
# farthest from the mean change it most.
#
# **Rubric (2 points).**
# - 1 point: the branch carries how the loss depends on the batch variance: $x_i$ changes
#   $\sigma^2$, which rescales all the $\hat{x}_k$ (`dvar` sums that up).
# - 1 point: $\partial\sigma^2/\partial x_i = \frac2N(x_i-\mu)$ (the mean's own change drops out
#   because the deviations sum to 0), so the contribution is proportional to $x_i - \mu$.
# ### END SOLUTION

# %% [markdown]
# ## The compact formula
#
# The staged pass stores and revisits eight intermediate arrays. Collapsing the chain by
# hand gives one expression. Write $g = \text{dout}\cdot\gamma$ (that is `dx_hat`) and work
# on one feature (drop the index $j$); sums run over the batch, $k = 1 \ldots N$.
#
# Following the stages back from `x_hat`:
#
# $$\text{dvar} = -\tfrac12\,\text{ivar}^3 \sum_k g_k\,\text{xmu}_k \qquad
#   \text{dxmu}_i = \text{ivar}\, g_i + \tfrac{2}{N}\,\text{xmu}_i\,\text{dvar}$$
#
# $$\text{dmu} = -\sum_k \text{dxmu}_k = -\text{ivar}\sum_k g_k
#   \quad\text{(the dvar term vanishes because } \textstyle\sum_k \text{xmu}_k = 0)$$
#
# $$dx_i = \text{dxmu}_i + \frac{\text{dmu}}{N}
#   = \text{ivar}\, g_i - \frac{\text{ivar}}{N}\sum_k g_k
#     - \frac{\text{ivar}^3}{N}\,\text{xmu}_i \sum_k g_k\,\text{xmu}_k$$
#
# With $\hat{x} = \text{xmu}\cdot\text{ivar}$ the last term is
# $\frac{\text{ivar}}{N}\hat{x}_i\sum_k g_k\hat{x}_k$, so
#
# $$\boxed{\;dx = \frac{\text{ivar}}{N}\Big(N\,g - \sum_k g_k - \hat{x}\sum_k g_k\,\hat{x}_k\Big),
#   \qquad g = \text{dout}\cdot\gamma\;}$$
#
# In words: take $g$, remove its batch mean and (nearly) its component along $\hat{x}$, and
# scale by ivar. The first removal is exact: $\sum_i dx_i = 0$ for every feature, because
# shifting the whole batch by a constant does not change BN's output, so the gradient has
# no component in that direction. The second is an exact projection only when
# $\epsilon \ll \sigma^2$: the formula subtracts $\hat{x}\,\frac{1}{N}\sum_k g_k\hat{x}_k$, while
# the projection onto $\hat{x}$ divides by $\sum_k \hat{x}_k^2 = N\,\frac{\sigma^2}{\sigma^2+\epsilon}$,
# which is $N$ only when epsilon is negligible. For a feature with $\sigma^2$ near
# $\epsilon$, $\sum_i dx_i\,\hat{x}_i = \frac{\epsilon}{\sigma^2+\epsilon}\,\text{ivar}\sum_k g_k\hat{x}_k$
# is not zero, and it should not be: epsilon makes BN's output depend a little on the
# scale of its input.
#
# ## Exercise 2 · The compact backward pass
#
# Write `batchnorm_backward_alt(dout, cache)` with the boxed formula, in a few lines.
# `dgamma` and `dbeta` are the same as before.
#
# The checks (and the grader) run it on several batches, including `eps` values other than 1e-3 and float32 inputs; float64 inputs must give float64 gradients. It must not modify `dout` or the cache, and calling it twice with the same cache must give the same result. Return the tuple `(dx, dgamma, dbeta)`, not a dict.

# %% [answer id=batchnorm_backward_alt]
def batchnorm_backward_alt(dout, cache):
    """Backward pass of batchnorm_forward with the compact formula for dx.

    Returns:
        dx (N, D), dgamma (D,), dbeta (D,).
    """
    ### BEGIN SOLUTION
    x_hat, ivar, gamma = cache["x_hat"], cache["ivar"], cache["gamma"]
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    g = dout * gamma
    dx = ivar / n * (n * g - g.sum(axis=0) - x_hat * (g * x_hat).sum(axis=0))
    return dx, dgamma, dbeta
    ### END SOLUTION

# %% [tests id=test_batchnorm_backward_alt points=3]
from bncourse.checks import check_batchnorm_backward, expect_gradient

check_batchnorm_backward(batchnorm_backward_alt, batchnorm_forward, name="batchnorm_backward_alt")
dx_alt, dgamma_alt, dbeta_alt = batchnorm_backward_alt(dout, batchnorm_forward(x, gamma, beta)[1])
for _name, _got, _num in (("dx (alt)", dx_alt, dx_num), ("dgamma (alt)", dgamma_alt, dgamma_num),
                          ("dbeta (alt)", dbeta_alt, dbeta_num)):
    expect_gradient(_name, _got, _num)  # against the numeric gradient of the forward pass above

### BEGIN HIDDEN TESTS
import bn_checks

bn_checks.check_batchnorm_backward_alt(batchnorm_backward_alt, batchnorm_forward)
### END HIDDEN TESTS

# %% [written id=written_statistics_as_constants points=2]
# **Written question (2 points, graded by hand).** A classmate writes
# $dx = \text{dout}\cdot\gamma/\sqrt{\sigma^2+\epsilon}$, treating the batch mean and variance as
# constants. Why is that wrong for the training-mode forward pass? In which mode of the layer is
# a gradient of this form right, and with which variance? Answer in two to four sentences, in this
# cell.
#
# ### BEGIN SOLUTION
# **Model answer.** In training mode $\mu$ and $\sigma^2$ are computed from the batch, so every
# input $x_i$ reaches every output through them, and the chain rule adds the two paths the
# classmate dropped: through the mean, $-\frac{\text{ivar}}{N}\sum_k g_k$, and through the variance,
# $-\frac{\text{ivar}}{N}\,\hat{x}_i\sum_k g_k\hat{x}_k$, the last two terms of the boxed formula. (A
# symptom: the right $dx$ sums to 0 over the batch, the classmate's in general does not.) In inference mode
# the layer normalizes with the moving statistics, which are constants for the batch, so there
# $dx = \text{dout}\cdot\gamma/\sqrt{\text{moving\_variance}+\epsilon}$ is exact, with the moving
# variance instead of the batch's.
#
# **Rubric (2 points).**
# - 1 point: in training mode the statistics depend on the whole batch, so $dx$ also has the paths
#   through the mean and through the variance (naming them, or the two missing terms).
# - 1 point: right in inference mode (or for a Keras layer with `trainable=False`), where the moving
#   statistics are constants, with $\sqrt{\text{moving\_variance}+\epsilon}$.
# ### END SOLUTION

# %% [markdown]
# ## Staged versus compact: same numbers, different speed
#
# On a batch of $N = 256$ examples with $D = 512$ features, both versions must agree to
# rounding error; then `timeit` runs each 20 times, five times over, and keeps the best
# run. Timings depend on the machine and its load, so this cell is not graded.
# Cells that start with `%%demo` are demonstrations: they run as usual, and nbgrader
# skips them while grading.

# %% [code]
%%demo
import timeit

from bncourse.checks import CheckFailed

rng_big = np.random.default_rng(2)
x_big = rng_big.normal(size=(256, 512))
dout_big = rng_big.normal(size=(256, 512))
_, cache_big = batchnorm_forward(x_big, rng_big.uniform(0.5, 2.0, 512), rng_big.normal(size=512))

staged = batchnorm_backward(dout_big, cache_big)
compact = batchnorm_backward_alt(dout_big, cache_big)
for name, a, b in zip(["dx", "dgamma", "dbeta"], compact, staged):
    if not np.allclose(a, b, rtol=1e-8, atol=1e-10):
        raise CheckFailed(f"the two versions disagree on {name}: first make both pass their checks above.")
print("compact and staged agree on dx, dgamma and dbeta")
print("compact dx sums to zero over the batch:", bool(np.allclose(compact[0].sum(axis=0), 0, atol=1e-10)))

t_staged = min(timeit.repeat(lambda: batchnorm_backward(dout_big, cache_big), number=20, repeat=5)) / 20
t_compact = min(timeit.repeat(lambda: batchnorm_backward_alt(dout_big, cache_big), number=20, repeat=5)) / 20
print(f"staged : {t_staged * 1e3:.2f} ms per call")
print(f"compact: {t_compact * 1e3:.2f} ms per call")
print(f"speed-up: {t_staged / t_compact:.1f}x")
if t_staged / t_compact >= 1.2:
    print("here the compact version is faster: fewer passes over (N, D) arrays and fewer temporaries.")
else:
    print("here the two are about as fast: your staged version already makes few passes over (N, D) arrays.")

# %% [markdown]
# The compact version makes fewer passes over $(N, D)$ arrays and allocates fewer
# temporaries. In our run (2-core CPU) with the staged version of the solution, that made it
# about 4 times faster (4.1x); the cell above prints your figure. A staged version written with few
# temporaries can be as fast (a speed-up near 1, or even 0.9x): the timing measures your code
# and this machine, not a law. The staged version is the one you can derive mechanically and
# debug stage by stage; the compact one is what you ship once the staged one has checked it.

# %% [markdown]
# ## What this means in Keras
#
# Keras users never write a backward pass: `tf.GradientTape` records the operations a
# layer runs and applies the chain rule to them, exactly the staged procedure of
# Exercise 1. Below, the same batch goes through `keras.layers.BatchNormalization` in
# training mode with your `gamma` and `beta`, and we compare the gradients of
# $\sum \text{out}\cdot\text{dout}$ with yours. `bncourse.keras_compare.keras_batchnorm`
# does the Keras side (about ten lines: build the layer, run it under a `tf.GradientTape`,
# ask the tape for the three gradients); `help(keras_batchnorm)` describes it. Keras computes in float32, so agreement
# to about $10^{-6}$ relative is the most we can expect.

# %% [code]
%%demo
from bncourse.keras_compare import keras_batchnorm

rng_k = np.random.default_rng(3)
x_k = rng_k.normal(1.0, 2.0, (16, 5))
gamma_k = rng_k.uniform(0.5, 2.0, 5)
beta_k = rng_k.normal(size=5)
dout_k = rng_k.normal(size=(16, 5))

keras_k = keras_batchnorm(x_k, gamma_k, beta_k, dout_k)  # Keras's default float32; a GradientTape inside
grads_keras = (keras_k.dx, keras_k.dgamma, keras_k.dbeta)

_, cache_k = batchnorm_forward(x_k, gamma_k, beta_k)
grads_ours = batchnorm_backward(dout_k, cache_k)
for name, ours, theirs in zip(["dx", "dgamma", "dbeta"], grads_ours, grads_keras):
    theirs = np.asarray(theirs, dtype=np.float64)
    print(f"{name:6s}: max |keras - ours| = {np.abs(theirs - ours).max():.1e}   "
          f"(largest entry {np.abs(ours).max():.1f})")

# %% [markdown]
# The differences are float32 rounding: your NumPy backward and TensorFlow's automatic
# differentiation compute the same gradient. Next lesson: batch normalization after a
# convolution, where each channel is one feature.

# %% [markdown]
# ## Concept checks
#
# Four short questions on this lesson, one point each. Store each answer in the variable the
# question names: the letter of your choice as a string (for example `"c"`), or a number. The
# check under it says whether it is right, and why each choice is right or wrong.
#
# **Concept check 1.** In the staged graph, which values feed two stages, so that the two
# gradients coming back to each of them add up (rule 4)? Store the letter in
# `concept_two_branch_values`.
#
# - (a) `mu` and `var`
# - (b) `x` and `xmu`
# - (c) `x_hat` and `ivar`
# - (d) only `x`

# %% [answer id=concept_two_branch_values]
### BEGIN SOLUTION
concept_two_branch_values = "b"
### END SOLUTION

# %% [tests id=test_concept_two_branch_values points=1]
from bncourse.checks import check_concept

check_concept("concept_two_branch_values", concept_two_branch_values)

### BEGIN HIDDEN TESTS
import concept_checks

concept_checks.check_concept("concept_two_branch_values", concept_two_branch_values)
### END HIDDEN TESTS

# %% [markdown]
# **Concept check 2.** One feature of a batch is $x = [1, 2, 3, 6]$ (lesson 1's feature 0: mean 3,
# biased variance 3.5), $\epsilon = 10^{-3}$, and the gradient from above is
# $\text{dout} = [1, 0, 0, 1]$. What is $d\gamma$ for this feature? Store the number (three
# significant digits are enough) in `concept_dgamma_value`.

# %% [answer id=concept_dgamma_value]
### BEGIN SOLUTION
concept_dgamma_value = (-2 + 3) / (3.5 + 1e-3) ** 0.5
### END SOLUTION

# %% [tests id=test_concept_dgamma_value points=1]
from bncourse.checks import check_concept

check_concept("concept_dgamma_value", concept_dgamma_value)

### BEGIN HIDDEN TESTS
import concept_checks

concept_checks.check_concept("concept_dgamma_value", concept_dgamma_value)
### END HIDDEN TESTS

# %% [markdown]
# **Concept check 3.** For one feature in training mode, what is $\sum_i dx_i$, the sum of `dx`
# over the batch? Store the letter in `concept_dx_sum`.
#
# - (a) 0, but only when $\epsilon \ll \sigma^2$
# - (b) $\gamma\, d\beta / \sqrt{\sigma^2+\epsilon}$
# - (c) 0, for every `dout`, $\gamma$ and $\epsilon$
# - (d) it depends on `dout`: there is no general rule

# %% [answer id=concept_dx_sum]
### BEGIN SOLUTION
concept_dx_sum = "c"
### END SOLUTION

# %% [tests id=test_concept_dx_sum points=1]
from bncourse.checks import check_concept

check_concept("concept_dx_sum", concept_dx_sum)

### BEGIN HIDDEN TESTS
import concept_checks

concept_checks.check_concept("concept_dx_sum", concept_dx_sum)
### END HIDDEN TESTS

# %% [markdown]
# **Concept check 4.** A batch of one example, $x = [[4.0]]$, goes through the layer in training
# mode with $\gamma = 2$, $\beta = 0$ and $\epsilon = 10^{-3}$; the gradient from above is
# $\text{dout} = [[1.0]]$. What is `dx`? Store the number in `concept_dx_batch_of_one`.

# %% [answer id=concept_dx_batch_of_one]
### BEGIN SOLUTION
concept_dx_batch_of_one = 0.0
### END SOLUTION

# %% [tests id=test_concept_dx_batch_of_one points=1]
from bncourse.checks import check_concept

check_concept("concept_dx_batch_of_one", concept_dx_batch_of_one)

### BEGIN HIDDEN TESTS
import concept_checks

concept_checks.check_concept("concept_dx_batch_of_one", concept_dx_batch_of_one)
### END HIDDEN TESTS
