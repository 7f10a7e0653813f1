# %% [markdown]
# # Lesson 4 · Batch normalization after a convolution
#
# A convolution layer outputs a 4-D tensor. Keras stores it **channels last**, NHWC:
# $(N, H, W, C)$ for $N$ images of height $H$, width $W$ and $C$ channels. In this lesson
# you:
#
# 1. see why BN after a convolution keeps **one mean, one variance, one $\gamma$ and one
#    $\beta$ per channel**;
# 2. write `spatial_batchnorm_forward` and `spatial_batchnorm_backward` by reusing the
#    2-D functions of lessons 2 and 3;
# 3. watch per-channel statistics of real convolution outputs (MNIST) before and after BN;
# 4. compare with `keras.layers.BatchNormalization` on an NHWC tensor and count its
#    parameters.
#
# Errors show the lines of your own code that led to them, and a failed check shows its
# message; run `%xmode Minimal` in a cell for one-line errors, `%xmode Context` to switch
# back (lesson 1 explains).

# %% [locked id=setup]
import numpy as np

import bncourse

bncourse.setup_notebook(seed=0)

# %% [markdown]
# ## The formulas: a channel is a feature
#
# A convolution applies the **same filter at every position** $(h, w)$, so channel $c$
# measures the same thing everywhere in the image. BN therefore treats each channel as one
# feature, and all $N \cdot H \cdot W$ values of that channel in the batch as its samples:
#
# $$\mu_c = \frac{1}{NHW}\sum_{n,h,w} x_{nhwc} \qquad
#   \sigma_c^2 = \frac{1}{NHW}\sum_{n,h,w} (x_{nhwc} - \mu_c)^2$$
#
# $$y_{nhwc} = \gamma_c\,\frac{x_{nhwc} - \mu_c}{\sqrt{\sigma_c^2 + \epsilon}} + \beta_c$$
#
# So `gamma` and `beta` have shape $(C,)$, like the moving mean and variance Keras keeps.
# Statistics per position (over $N$ only) would instead need $H \cdot W \cdot C$ of each,
# each estimated from only $N$ values, and the same pattern would be normalized
# differently depending on where it appears in the image.
#
# ## The reshape trick
#
# In NHWC the channel is the last, fastest-varying axis. `x.reshape(-1, C)` therefore
# turns $(N, H, W, C)$ into an $(N \cdot H \cdot W,\ C)$ matrix: one row per position of
# every image, one column per channel. That is exactly the $(N, D)$ layout of lessons 2
# and 3, with $D = C$. (In PyTorch's NCHW layout you would move the channel axis last
# before reshaping.) A small demonstration:

# %% [code]
a = np.arange(2 * 2 * 3 * 2).reshape(2, 2, 3, 2)    # N=2, H=2, W=3, C=2
rows = a.reshape(-1, 2)
print("rows shape:", rows.shape)
print("column 0 holds channel 0:", np.array_equal(rows[:, 0], a[..., 0].ravel()))
print("back to NHWC unchanged:  ", np.array_equal(rows.reshape(a.shape), a))

# %% [markdown]
# ## The code you are given
#
# Below are lesson 2's `batchnorm_forward` and lesson 3's `batchnorm_backward_alt`, for a
# 2-D input $(N, D)$. Build your spatial functions on top of them.
#
# You may use your own versions from lessons 2 and 3 instead: paste them into a new cell
# right below this one (the backward must read the cache of the forward you use). The
# checks and the grader call whichever definitions come last.

# %% [locked id=given_code]
def batchnorm_forward(x, gamma, beta, eps=1e-3):
    """Training-mode batch norm of x (N, D).

    Returns out (N, D) and a cache dict with "x", "mu", "xmu", "sq", "var",
    "sqrtvar", "ivar", "x_hat", "gamma", "eps".
    """
    mu = x.mean(axis=0)
    xmu = x - mu
    sq = xmu ** 2
    var = sq.mean(axis=0)
    sqrtvar = np.sqrt(var + eps)
    ivar = 1.0 / sqrtvar
    x_hat = xmu * ivar
    out = gamma * x_hat + beta
    cache = {"x": x, "mu": mu, "xmu": xmu, "sq": sq, "var": var, "sqrtvar": sqrtvar,
             "ivar": ivar, "x_hat": x_hat, "gamma": gamma, "eps": eps}
    return out, cache


def batchnorm_backward_alt(dout, cache):
    """Backward pass of batchnorm_forward: returns dx (N, D), dgamma (D,), dbeta (D,)."""
    x_hat, ivar, gamma = cache["x_hat"], cache["ivar"], cache["gamma"]
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    g = dout * gamma
    dx = ivar / n * (n * g - g.sum(axis=0) - x_hat * (g * x_hat).sum(axis=0))
    return dx, dgamma, dbeta

# %% [markdown]
# ## Exercise 1 · Spatial batch norm, forward
#
# Write `spatial_batchnorm_forward(x, gamma, beta, eps=1e-3)` for `x` of shape
# $(N, H, W, C)$: reshape, call `batchnorm_forward` (pass `eps` on), reshape the output
# back to $(N, H, W, C)$. Return the cache that your backward pass will need.
#
# The checks (and the grader) use several shapes, `eps` values other than 1e-3 and float32 inputs; float64 inputs must give float64 results, and the caller's arrays (and, for the backward pass, `dout` and the cache) must stay unchanged.

# %% [answer id=spatial_batchnorm_forward]
def spatial_batchnorm_forward(x, gamma, beta, eps=1e-3):
    """Batch norm of x (N, H, W, C), each channel normalized over N, H and W.

    Returns:
        out: (N, H, W, C) array.
        cache: whatever spatial_batchnorm_backward needs.
    """
    ### BEGIN SOLUTION
    c = x.shape[-1]
    out, cache = batchnorm_forward(x.reshape(-1, c), gamma, beta, eps)
    return out.reshape(x.shape), cache
    ### END SOLUTION

# %% [markdown]
# The test input has shape $(4, 3, 5, 2)$: every axis has a different length, so
# statistics over the wrong axes cannot pass by accident. Channel 0 has mean about 10 and
# std 5; channel 1 has mean about $-3$ and std 0.05, so its variance is close to
# $\epsilon$.

# %% [locked id=test_input]
rng = np.random.default_rng(11)
N, H, W, C = 4, 3, 5, 2
x = rng.normal(size=(N, H, W, C)) * np.array([5.0, 0.05]) + np.array([10.0, -3.0])
gamma = np.array([2.0, 0.5])
beta = np.array([1.0, -1.0])
dout = rng.normal(size=(N, H, W, C))

# %% [tests id=test_spatial_batchnorm_forward points=3]
from bncourse.checks import check_spatial_batchnorm_forward

check_spatial_batchnorm_forward(spatial_batchnorm_forward)
out, _ = spatial_batchnorm_forward(x, gamma, beta)
print("per-channel mean of x  :", x.mean(axis=(0, 1, 2)), "   of out:", out.mean(axis=(0, 1, 2)) + 0.0)
print("per-channel std  of x  :", x.std(axis=(0, 1, 2)), "   of out:", out.std(axis=(0, 1, 2)))

### BEGIN HIDDEN TESTS
import bn_checks

bn_checks.check_spatial_batchnorm_forward(spatial_batchnorm_forward)
### END HIDDEN TESTS

# %% [markdown]
# The output means equal `beta`. Channel 0's std is `gamma[0] = 2`; channel 1's is
# below `gamma[1] = 0.5` because its variance (about 0.0022) is only about twice
# $\epsilon = 0.001$: the factor is $\sqrt{\sigma^2 / (\sigma^2 + \epsilon)} \approx 0.83$, as in lesson 1.

# %% [markdown]
# ## Exercise 2 · Spatial batch norm, backward
#
# Write `spatial_batchnorm_backward(dout, cache)`: reshape `dout` the way the forward pass
# reshaped `x`, call `batchnorm_backward_alt`, and reshape `dx` back. `dgamma` and `dbeta`
# come out with shape $(C,)$, summed over $N$, $H$ and $W$.
#
# The checks (and the grader) use several shapes, `eps` values other than 1e-3 and float32 inputs; float64 inputs must give float64 results, and the caller's arrays (and, for the backward pass, `dout` and the cache) must stay unchanged.

# %% [answer id=spatial_batchnorm_backward]
def spatial_batchnorm_backward(dout, cache):
    """Backward pass of spatial_batchnorm_forward.

    Returns:
        dx (N, H, W, C), dgamma (C,), dbeta (C,).
    """
    ### BEGIN SOLUTION
    c = dout.shape[-1]
    dx, dgamma, dbeta = batchnorm_backward_alt(dout.reshape(-1, c), cache)
    return dx.reshape(dout.shape), dgamma, dbeta
    ### END SOLUTION

# %% [markdown]
# The check compares your gradients with the right ones on several inputs, then with
# centred-difference numeric gradients of your own `spatial_batchnorm_forward` through
# `bncourse.checks.expect_gradient`, as in lesson 3: a relative error below $10^{-7}$ is
# right, above $10^{-3}$ is wrong. If your forward pass is still wrong, your backward pass
# is graded on its own: with the cache the given `batchnorm_forward` makes for
# `x.reshape(-1, C)`, or against numeric gradients of your forward. A mistake in Exercise 1
# costs points in Exercise 1 only.

# %% [locked id=check_helpers]
from bncourse.checks import expect_gradient

# %% [tests id=test_spatial_batchnorm_backward points=3]
from bncourse.checks import check_spatial_batchnorm_backward

check_spatial_batchnorm_backward(spatial_batchnorm_backward, spatial_batchnorm_forward)

### BEGIN HIDDEN TESTS
import bn_checks

bn_checks.check_spatial_batchnorm_backward(spatial_batchnorm_backward, spatial_batchnorm_forward)
### END HIDDEN TESTS

# %% [markdown]
# ## Per-channel statistics of a real convolution
#
# 256 MNIST digits go through a fixed random $3\times3$ convolution with 4 output channels
# (computed in NumPy; the filters are scaled by 0.3, 1, 3 and 10 and get different biases,
# so the channels live on very different scales). Then your `spatial_batchnorm_forward`
# with $\gamma = 1$, $\beta = 0$. The figure shows each channel's mean and standard
# deviation (the bar spans mean ± std) before and after. Cells that start with `%%demo` are
# demonstrations, like this one: they run as usual, and nbgrader skips them while grading.

# %% [code]
%%demo
import matplotlib.pyplot as plt

images, _ = bncourse.load_mnist("train", n=256)                  # (256, 28, 28, 1)
rng_conv = np.random.default_rng(4)
kernels = rng_conv.normal(size=(3, 3, 4)) * np.array([0.3, 1.0, 3.0, 10.0])
bias = np.array([-1.0, 0.0, 2.0, 5.0])
patches = np.lib.stride_tricks.sliding_window_view(images[..., 0], (3, 3), axis=(1, 2))
features = np.einsum("nhwij,ijk->nhwk", patches, kernels, optimize=True) + bias   # (256, 26, 26, 4)
normalized, _ = spatial_batchnorm_forward(features, np.ones(4), np.zeros(4))

fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True, constrained_layout=True)
for ax, arr, title in zip(axes, [features, normalized], ["conv output", "after spatial batch norm"]):
    mean, std = arr.mean(axis=(0, 1, 2)), arr.std(axis=(0, 1, 2))
    ax.errorbar(np.arange(4), mean, yerr=std, fmt="o", capsize=6)
    ax.axhline(0, color="gray", linewidth=0.8)
    ax.set_xticks(np.arange(4), [f"channel {c}" for c in range(4)])
    ax.set_title(title)
    ax.grid(alpha=0.3)
axes[0].set_ylabel("mean ± std")
plt.show()
print("Figure: per-channel mean (dot) and std (bar) of the 4 channels, left before and right after spatial "
      "batch norm; after it every channel has mean 0 and std close to 1.")
print("shape:", features.shape)
print("before: mean", np.round(features.mean(axis=(0, 1, 2)), 2), " std", np.round(features.std(axis=(0, 1, 2)), 2))
print("after:  mean", np.round(normalized.mean(axis=(0, 1, 2)), 2) + 0.0, " std", np.round(normalized.std(axis=(0, 1, 2)), 2))

# %% [markdown]
# Before BN, the channels differ in mean and in spread by an order of magnitude; the next
# layer would see inputs on four different scales. After BN each channel has mean 0 and
# std 1 (here $\gamma = 1$, $\beta = 0$, and every variance is much larger than
# $\epsilon$).

# %% [written id=written_spatial_statistics points=3]
# **Written question (3 points, graded by hand).** Spatial batch norm keeps one mean and one
# variance per channel, computed over $N$, $H$ and $W$. Why share them over the positions
# $(h, w)$, instead of keeping one mean and variance per position and channel, as batch norm on
# the flattened feature map would? And what changes when a training batch holds a single image
# ($N = 1$)? Answer in two to four sentences, in this cell.
#
# ### BEGIN SOLUTION
# **Model answer.** A convolution applies the same filter at every position, so a channel
# measures the same feature everywhere; shared statistics normalize a pattern the same way
# wherever it appears (Ioffe and Szegedy's "convolutional property"), while per-position
# statistics would treat it differently at each place. Shared statistics are also estimated from
# $N \cdot H \cdot W$ values each, instead of $H \cdot W \cdot C$ pairs estimated from only $N$ values
# each. With $N = 1$ each channel still has $H \cdot W$ values (676 for a 26×26 map), so training
# mode still normalizes (unlike a dense layer's batch of one, where $\hat{x} = 0$), but the
# statistics are those of one image: they are noisier, remove that image's own per-channel mean
# and contrast, and can differ from the moving statistics used at inference.
#
# **Rubric (3 points).**
# - 1 point: same filter at every position, so one channel is one feature, normalized the same way
#   at every position.
# - 1 point: estimation: each statistic from $N \cdot H \cdot W$ values (and only $C$ of each), where
#   per-position statistics would rest on $N$ values each.
# - 1 point: $N = 1$: it still works ($H \cdot W$ values per channel, $\hat{x}$ not all 0), but the
#   statistics describe a single image: noisy, and a mismatch with the moving statistics at
#   inference (also accept: it becomes a per-image normalization).
# ### END SOLUTION

# %% [markdown]
# ## What this means in Keras
#
# `keras.layers.BatchNormalization` takes an `axis` argument, the **feature axis**
# (default $-1$, the channel axis in NHWC); it averages over all the other axes. Below:
# the same input `x` through the layer in training mode, compared with your function
# (`bncourse.keras_compare.keras_batchnorm` runs the layer under a `tf.GradientTape`, as in
# lesson 3); the axes its moving mean was computed over; and its variables.

# %% [code]
%%demo
import keras

from bncourse.keras_compare import keras_batchnorm

y_keras, dx_keras, _, _, layer = keras_batchnorm(x, gamma, beta, dout, axis=-1)  # float32, via a GradientTape

y_ours, cache_ours = spatial_batchnorm_forward(x, gamma, beta)
dx_ours = spatial_batchnorm_backward(dout, cache_ours)[0]
print(f"layer.axis = {layer.axis}")
print(f"max |y_keras - y_ours|   = {np.abs(np.asarray(y_keras) - y_ours).max():.1e}  (float32)")
print(f"max |dx_keras - dx_ours| = {np.abs(np.asarray(dx_keras) - dx_ours).max():.1e}  (float32)")
print("moving_mean after one step equals 0.01 * x.mean(axis=(0, 1, 2)):",
      bool(np.allclose(layer.moving_mean, 0.01 * x.mean(axis=(0, 1, 2)), rtol=1e-5)))

# %% [markdown]
# The layer's parameters, per channel:

# %% [code]
%%demo
for v in layer.weights:
    print(f"{v.path:40s} shape {tuple(v.shape)}  {'trainable' if v.trainable else 'non-trainable'}")
n_trainable = sum(int(np.prod(v.shape)) for v in layer.trainable_weights)
print(f"{layer.count_params()} parameters for C = {C} channels: "
      f"{layer.count_params() // C} per channel, {n_trainable // C} of them trainable")

model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3), keras.layers.BatchNormalization()])
for lyr in model.layers:
    print(f"{lyr.name:22s} output {str(lyr.output.shape):22s} parameters {lyr.count_params()}")

# %% [markdown]
# Each channel has 4 numbers: `gamma` and `beta`, learned by gradient descent, and
# `moving_mean` and `moving_variance`, updated by the moving average during training and
# used at inference. After a 4-filter convolution, BN adds $4 \times 4 = 16$ parameters,
# 8 of them trainable, whatever the image size: the cost of BN grows with the number of
# channels, not with $H \times W$.

# %% [written id=written_conv_bias points=2]
# **Written question (2 points, graded by hand).** The convolution in this lesson's figure of
# per-channel statistics adds a bias per channel (`bias = [-1, 0, 2, 5]`), yet after spatial batch
# norm every channel has mean 0. Why is a convolution's bias redundant in front of batch norm in
# training mode, and what gradient does it receive? Which parameter of batch norm takes over its
# role? Answer in two to four sentences, in this cell.
#
# ### BEGIN SOLUTION
# **Model answer.** Adding $b_c$ to every value of channel $c$ adds $b_c$ to that channel's batch
# mean and leaves its variance unchanged, so $x - \mu_c$, and with it the output, does not depend
# on $b_c$. Its gradient is therefore 0: $db_c = \sum_{n,h,w} dx_{nhwc}$, and $dx$ sums to 0 over
# the values of a channel (lesson 3). The shift $\beta_c$ takes over the bias's role, as Ioffe and
# Szegedy note, so `Conv2D(..., use_bias=False)` before `BatchNormalization` loses nothing.
#
# **Rubric (2 points).**
# - 1 point: the bias shifts the channel's mean by the same amount and not its variance, so the
#   mean subtraction cancels it.
# - 1 point: its gradient is 0 (the sum of $dx$ over a channel), or: $\beta$ takes over its role.
# ### END SOLUTION

# %% [markdown]
# ## Concept checks
#
# Four short questions on this lesson, one point each. Store each answer in the variable the
# question names: the letter of your choice as a string (for example `"c"`), or a number. The
# check under it says whether it is right, and why each choice is right or wrong.
#
# **Concept check 1.** How many parameters (`count_params()`, trainable and non-trainable) does
# the `BatchNormalization` layer of this model have?
#
# ```python
# keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(32, 3), keras.layers.BatchNormalization()])
# ```
#
# Store the number in `concept_bn_params_after_conv`.

# %% [answer id=concept_bn_params_after_conv]
### BEGIN SOLUTION
concept_bn_params_after_conv = 4 * 32
### END SOLUTION

# %% [tests id=test_concept_bn_params_after_conv points=1]
from bncourse.checks import check_concept

check_concept("concept_bn_params_after_conv", concept_bn_params_after_conv)

### BEGIN HIDDEN TESTS
import concept_checks

concept_checks.check_concept("concept_bn_params_after_conv", concept_bn_params_after_conv)
### END HIDDEN TESTS

# %% [markdown]
# **Concept check 2.** A convolution's output has shape $(8, 26, 26, 32)$, in NHWC. Spatial batch
# norm computes each channel's batch mean as the average of how many values? Store the number in
# `concept_values_per_mean`.

# %% [answer id=concept_values_per_mean]
### BEGIN SOLUTION
concept_values_per_mean = 8 * 26 * 26
### END SOLUTION

# %% [tests id=test_concept_values_per_mean points=1]
from bncourse.checks import check_concept

check_concept("concept_values_per_mean", concept_values_per_mean)

### BEGIN HIDDEN TESTS
import concept_checks

concept_checks.check_concept("concept_values_per_mean", concept_values_per_mean)
### END HIDDEN TESTS

# %% [markdown]
# **Concept check 3.** A tensor in PyTorch's NCHW layout, of shape $(N, C, H, W)$, goes through
# `keras.layers.BatchNormalization` in training mode. Which layer normalizes each channel over
# $N$, $H$ and $W$? Store the letter in `concept_channels_first_axis`.
#
# - (a) `BatchNormalization()`, with the default `axis=-1`
# - (b) `BatchNormalization(axis=1)`
# - (c) `BatchNormalization(axis=(0, 2, 3))`
# - (d) none of them: first reshape the tensor with `x.reshape(-1, C)`

# %% [answer id=concept_channels_first_axis]
### BEGIN SOLUTION
concept_channels_first_axis = "b"
### END SOLUTION

# %% [tests id=test_concept_channels_first_axis points=1]
from bncourse.checks import check_concept

check_concept("concept_channels_first_axis", concept_channels_first_axis)

### BEGIN HIDDEN TESTS
import concept_checks

concept_checks.check_concept("concept_channels_first_axis", concept_channels_first_axis)
### END HIDDEN TESTS

# %% [markdown]
# **Concept check 4.** For `x` of shape $(N, H, W, C)$, which NumPy expression gives the
# per-channel batch means that spatial batch norm uses? Store the letter in
# `concept_nhwc_mean_axes`.
#
# - (a) `x.mean(axis=0)`
# - (b) `x.mean(axis=(1, 2))`
# - (c) `x.mean(axis=-1)`
# - (d) `x.mean(axis=(0, 1, 2))`

# %% [answer id=concept_nhwc_mean_axes]
### BEGIN SOLUTION
concept_nhwc_mean_axes = "d"
### END SOLUTION

# %% [tests id=test_concept_nhwc_mean_axes points=1]
from bncourse.checks import check_concept

check_concept("concept_nhwc_mean_axes", concept_nhwc_mean_axes)

### BEGIN HIDDEN TESTS
import concept_checks

concept_checks.check_concept("concept_nhwc_mean_axes", concept_nhwc_mean_axes)
### END HIDDEN TESTS
