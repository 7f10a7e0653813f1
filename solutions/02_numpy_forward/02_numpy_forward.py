# %% [markdown]
# # Lesson 2 · A batch normalization layer in NumPy: the forward pass
#
# In Lesson 1 you normalized one tiny batch by hand. Now you turn those formulas into
# the forward half of a NumPy layer that behaves like `keras.layers.BatchNormalization`.
# You will write:
#
# 1. `batchnorm_forward`: training mode, normalizing with the **batch** statistics;
# 2. `update_moving_stats`: the **moving averages** Keras keeps for inference;
# 3. `batchnorm_inference`: inference mode, normalizing with the **moving** statistics;
# 4. `BatchNorm`: a layer object that picks the mode from `training=` like Keras does.
#
# Then you watch the two modes differ, train a small MNIST classifier that uses your
# layer, and compare your layer with Keras. The backward pass is Lesson 3.
#
# Errors show the lines of your own code that led to them, and a failed check shows its
# message; run `%xmode Minimal` in a cell for one-line errors, `%xmode Context` to switch
# back (lesson 1 explains).

# %% [locked id=setup]
import numpy as np

import bncourse

bncourse.setup_notebook(seed=0)

# %% [markdown]
# ## From one feature to a layer
#
# A layer receives a batch `x` of shape $(N, D)$: $N$ examples, $D$ features. Each feature
# (column) $j$ gets the Lesson 1 treatment, all columns at once:
#
# $$\mu_j = \frac{1}{N}\sum_{i} x_{ij} \qquad
#   \sigma_j^2 = \frac{1}{N}\sum_{i} (x_{ij} - \mu_j)^2 \qquad
#   y_{ij} = \gamma_j\, \frac{x_{ij} - \mu_j}{\sqrt{\sigma_j^2 + \epsilon}} + \beta_j$$
#
# In NumPy the statistics are reductions over `axis=0`, which leave arrays of shape
# $(D,)$, and broadcasting applies each of them to every row: `x - mean` subtracts the
# row of $D$ means from each of the $N$ rows.
#
# ### Why the variance takes two passes
#
# Algebra says $\sigma^2 = \mathrm{E}[x^2] - \mathrm{E}[x]^2$, which needs a single pass
# over the data. Do not use it. Keras layers compute in **float32**, which keeps about 7
# significant digits. When a feature has a large mean, for example $10^4$, then
# $x^2 \approx 10^8$ is stored with a spacing of 8, both terms carry errors of several
# units, and their difference, the variance, is lost. Subtracting the mean *first*
# (the second pass) makes the numbers small before they are squared:
# $\sigma^2 = \mathrm{E}[(x - \mu)^2]$. Here are five float32 batches of one feature,
# each with 256 values, mean $10^4$ and variance about 1:

# %% [code]
rng = np.random.default_rng(0)
x32 = (10_000 + rng.normal(size=(5, 256))).astype(np.float32)  # one batch per row
mean32 = x32.mean(axis=1, keepdims=True)
print("one pass,   E[x^2] - E[x]^2:", (x32 ** 2).mean(axis=1) - mean32[:, 0] ** 2)
print("two passes, E[(x - mean)^2]:", ((x32 - mean32) ** 2).mean(axis=1))
print("float64 reference          :", x32.astype(np.float64).var(axis=1))

# %% [markdown]
# The one-pass values are multiples of 8, the spacing of float32 numbers near $10^8$:
# noise, not variance. Some are negative, and then $\sqrt{\sigma^2+\epsilon}$ is NaN. The
# two-pass values agree with float64. Keras with the TensorFlow backend, the one this
# course uses, also computes the variance in two passes, with its default
# `synchronized=False`: `BatchNormalization` then calls `tf.nn.moments`, which subtracts the
# mean before squaring. With `synchronized=True` (batch statistics shared across devices in
# distributed training) the same backend sums $x$ and $x^2$ and uses the one-pass
# $\mathrm{E}[x^2] - \mathrm{E}[x]^2$, clipped at 0. The last section checks both. (Other Keras
# backends may use the one-pass formula.)

# %% [written id=written_one_pass_variance points=3]
# **Written question (3 points, graded by hand).** Explain why the one-pass formula
# $\mathrm{E}[x^2] - \mathrm{E}[x]^2$ loses the variance of a float32 feature with mean $10^4$ and
# variance about 1, and why subtracting the mean first avoids the problem. Would the one-pass
# formula work for the same feature in float64? Use the size of the rounding errors in your
# answer (float32 keeps about 7 significant digits, float64 about 16). Answer in two to four
# sentences, in this cell.
#
# ### BEGIN SOLUTION
# **Model answer.** $x^2$ is about $10^8$, where float32 rounds with a relative error of about
# $6\cdot10^{-8}$ (neighbouring numbers are 8 apart), so $\mathrm{E}[x^2]$ and $\mathrm{E}[x]^2$ each
# carry errors of several units; their difference, the variance of about 1, is smaller than those
# errors and comes out as noise, possibly negative (catastrophic cancellation). Subtracting the mean
# first leaves deviations of order 1, whose squares are small and accurate, and no two large
# numbers are subtracted. In float64 the relative rounding error is about $10^{-16}$, so the errors
# near $10^8$ are about $10^{-8}$, far below the variance: the one-pass formula works there for
# this feature (float64 has the same problem only for a far larger ratio of squared mean to variance).
#
# **Rubric (3 points).**
# - 1 point: float32 cancellation: two nearly equal numbers near $10^8$ whose rounding errors
#   (several units) exceed their difference, the variance.
# - 1 point: two passes: the deviations $x - \mu$ are small before squaring, so nothing large cancels.
# - 1 point: float64 works here, with the numbers: errors about $10^8 \times 10^{-16} = 10^{-8}$,
#   much smaller than the variance 1.
# ### END SOLUTION

# %% [markdown]
# We reuse the Lesson 1 batch, whose statistics you know by hand: batch mean
# $[3, 10, 0.01]$ and biased variance $[3.5, 0, 0.0003]$.

# %% [locked id=batch]
X = np.array([
    [1.0, 10.0, 0.00],
    [2.0, 10.0, 0.00],
    [3.0, 10.0, 0.00],
    [6.0, 10.0, 0.04],
])
gamma = np.array([2.0, 0.5, 1.0])
beta = np.array([1.0, -1.0, 0.0])
N, D = X.shape

# %% [markdown]
# ## Exercise 1 · The training-mode forward pass
#
# Implement `batchnorm_forward`. It returns the output and a `cache` of intermediate
# values. Lesson 3's backward pass will read the cache; the layer you write in Exercise 4
# needs the batch mean and variance from it, so store at least those under the keys `"mean"` and `"var"`. Compute the
# variance in two passes (the cases include a float32 batch with mean $10^4$), and do not modify `x` in place (`x -= mean` would change the
# caller's array).
#
# **What the checks test** (the grader tests the same): any `eps` passed in, not only 1e-3; float64 inputs give float64 results (do not cast to float32) and float32 inputs stay within float32 precision; the caller's arrays are left unchanged. The check cell prints the cases it ran.

# %% [answer id=batchnorm_forward]
def batchnorm_forward(x, gamma, beta, eps=1e-3):
    """Forward pass of batch normalization in training mode.

    Inputs:
    - x: data of shape (N, D)
    - gamma: scale parameter of shape (D,)
    - beta: shift parameter of shape (D,)
    - eps: added to the variance inside the square root (Keras default 1e-3)

    Returns a tuple of:
    - out: gamma * x_hat + beta, of shape (N, D), where x_hat is x normalized
      with the per-feature batch mean and biased batch variance
    - cache: a dict of intermediate values; include the batch "mean" and "var"
      (each of shape (D,)) and whatever else the backward pass will need
    """
    ### BEGIN SOLUTION
    mean = x.mean(axis=0)
    x_centered = x - mean
    var = (x_centered ** 2).mean(axis=0)  # second pass: square the centered values
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = x_centered * inv_std
    out = gamma * x_hat + beta
    cache = {"x_hat": x_hat, "gamma": gamma, "inv_std": inv_std, "mean": mean, "var": var, "eps": eps}
    return out, cache
    ### END SOLUTION

# %% [tests id=test_batchnorm_forward points=3]
from bncourse.checks import check_batchnorm_forward

check_batchnorm_forward(batchnorm_forward)

### BEGIN HIDDEN TESTS
import bn_checks

bn_checks.check_batchnorm_forward(batchnorm_forward)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2 · Moving statistics
#
# At inference time the batch may hold a single example, so its statistics are useless.
# Keras therefore keeps a moving average of the batch statistics seen in training and,
# after every training batch, updates
#
# $$\text{moving} \leftarrow m \cdot \text{moving} + (1 - m) \cdot \text{batch statistic}$$
#
# for the mean and for the (biased) variance, with momentum $m = 0.99$ by default.
# Implement it. Return **new** arrays: `moving_mean *= momentum` would change the
# caller's array.
# The function returns the pair `(moving_mean, moving_var)`, for any `momentum` passed in; float64 inputs give float64 results.

# %% [answer id=update_moving_stats]
def update_moving_stats(moving_mean, moving_var, batch_mean, batch_var, momentum=0.99):
    """One Keras-style update of the moving statistics.

    Inputs:
    - moving_mean, moving_var: current moving statistics, each of shape (D,)
    - batch_mean, batch_var: mean and biased variance of the current batch, shape (D,)
    - momentum: weight of the old moving value (Keras default 0.99)

    Returns a tuple of:
    - moving_mean: momentum * moving_mean + (1 - momentum) * batch_mean, shape (D,)
    - moving_var: momentum * moving_var + (1 - momentum) * batch_var, shape (D,)
    """
    ### BEGIN SOLUTION
    new_mean = momentum * moving_mean + (1.0 - momentum) * batch_mean
    new_var = momentum * moving_var + (1.0 - momentum) * batch_var
    return new_mean, new_var
    ### END SOLUTION

# %% [tests id=test_update_moving_stats points=2]
from bncourse.checks import check_update_moving_stats

check_update_moving_stats(update_moving_stats)

### BEGIN HIDDEN TESTS
import bn_checks

bn_checks.check_update_moving_stats(update_moving_stats)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3 · Inference mode
#
# At inference time the layer normalizes with the moving statistics instead of the batch
# statistics:
#
# $$y_{ij} = \gamma_j\, \frac{x_{ij} - \text{moving\_mean}_j}{\sqrt{\text{moving\_var}_j + \epsilon}} + \beta_j$$
#
# Nothing depends on the other examples in the batch: each row is transformed on its own,
# by a fixed affine map.
#
# The checks use other `eps` values than 1e-3, a batch of one example, and float32 inputs; float64 inputs must give float64 results.

# %% [answer id=batchnorm_inference]
def batchnorm_inference(x, gamma, beta, moving_mean, moving_var, eps=1e-3):
    """Forward pass of batch normalization in inference mode.

    Inputs:
    - x: data of shape (N, D); N may be 1
    - gamma, beta: scale and shift, each of shape (D,)
    - moving_mean, moving_var: moving statistics, each of shape (D,)
    - eps: added to the variance inside the square root (Keras default 1e-3)

    Returns:
    - out: of shape (N, D), x normalized with the moving statistics, scaled and shifted
    """
    ### BEGIN SOLUTION
    return gamma * (x - moving_mean) / np.sqrt(moving_var + eps) + beta
    ### END SOLUTION

# %% [tests id=test_batchnorm_inference points=2]
from bncourse.checks import check_batchnorm_inference

check_batchnorm_inference(batchnorm_inference)

### BEGIN HIDDEN TESTS
import bn_checks

bn_checks.check_batchnorm_inference(batchnorm_inference)
### END HIDDEN TESTS

# %% [markdown]
# The last check is worth a sentence: when the moving statistics equal the batch
# statistics, the two modes agree. They differ exactly as much as the moving averages
# differ from the statistics of the batch at hand.
#
# ## Exercise 4 · A layer object
#
# Now wrap the three functions in a class that mirrors `keras.layers.BatchNormalization`
# for $(N, D)$ inputs. Like the Keras layer, it starts with `gamma` ones, `beta` zeros,
# `moving_mean` zeros and `moving_variance` ones, and it runs in **inference mode unless
# called with `training=True`**. Training mode normalizes with the batch statistics
# (`batchnorm_forward`) and then updates the moving statistics (`update_moving_stats`);
# inference mode uses `batchnorm_inference` and changes nothing. Use the attributes
# (`self.gamma`, `self.momentum`, ...), so that changing them changes the layer. Keep its
# weights float64 (`np.ones(D)`, `np.zeros(D)`): unlike Keras, this layer works in float64.
#
# The layer is graded for what it adds to your three functions (error carried forward): the
# check compares it with *your* `batchnorm_forward`, `update_moving_stats` and
# `batchnorm_inference`, so a mistake in one of them costs points once, in its own check.
# The moving statistics blend in the `"mean"` and `"var"` of your forward's cache.

# %% [answer id=batchnorm_layer]
class BatchNorm:
    """Batch normalization for (N, D) inputs, mirroring keras.layers.BatchNormalization.

    Constructor inputs:
    - num_features: D, the number of features
    - momentum: moving = momentum * moving + (1 - momentum) * batch (Keras default 0.99)
    - epsilon: added to the variance inside the square root (Keras default 1e-3)

    Attributes:
    - gamma (ones), beta (zeros): scale and shift, each of shape (D,)
    - moving_mean (zeros), moving_variance (ones): statistics for inference, shape (D,)
    - momentum, epsilon: the constructor arguments
    """

    def __init__(self, num_features, momentum=0.99, epsilon=1e-3):
        self.momentum = momentum
        self.epsilon = epsilon
        ### BEGIN SOLUTION
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.moving_mean = np.zeros(num_features)
        self.moving_variance = np.ones(num_features)
        ### END SOLUTION

    def __call__(self, x, training=False):
        """Normalize x of shape (N, D); return out of shape (N, D).

        training=True: normalize with the batch statistics, then update
        moving_mean and moving_variance. training=False: normalize with the
        moving statistics and update nothing.
        """
        ### BEGIN SOLUTION
        if training:
            out, cache = batchnorm_forward(x, self.gamma, self.beta, self.epsilon)
            self.moving_mean, self.moving_variance = update_moving_stats(
                self.moving_mean, self.moving_variance, cache["mean"], cache["var"], self.momentum)
            return out
        return batchnorm_inference(x, self.gamma, self.beta, self.moving_mean, self.moving_variance, self.epsilon)
        ### END SOLUTION

# %% [tests id=test_batchnorm_layer points=3]
from bncourse.checks import check_batchnorm_layer

check_batchnorm_layer(BatchNorm, batchnorm_forward, update_moving_stats, batchnorm_inference)

### BEGIN HIDDEN TESTS
import bn_checks

bn_checks.check_batchnorm_layer(BatchNorm, batchnorm_forward, update_moving_stats, batchnorm_inference)
### END HIDDEN TESTS

# %% [markdown]
# ## Training mode and inference mode differ
#
# A fresh layer has `moving_mean = 0` and `moving_variance = 1`, so in inference mode it
# barely changes its input ($x/\sqrt{1 + \epsilon}$). In training mode the same batch
# comes out normalized. Same layer, same batch, two different outputs:

# %% [code]
fresh = BatchNorm(3)
print("training mode:\n", fresh(X, training=True))
fresh = BatchNorm(3)
print("inference mode, fresh moving statistics:\n", fresh(X))

# %% [markdown]
# Inference mode only becomes useful once the moving statistics have tracked the data
# for a while. How long that takes depends on the momentum. Below, two layers see the
# same stream of MNIST batches (100 images, 784 pixel features); we follow the moving mean
# of the centre pixel against its mean over the 10,000 images.
#
# Cells that start with `%%demo` are demonstrations, like this experiment and the classifier
# below: they run as usual, and nbgrader skips them while grading, so grading stays fast.
# No exercise depends on them.

# %% [code]
%%demo
import matplotlib.pyplot as plt

from bncourse.plotting import caption, plot_traces

x_train, y_train = bncourse.load_mnist("train", n=10_000, flatten=True)
x_test, y_test = bncourse.load_mnist("test", n=2_000, flatten=True)
x_train, x_test = x_train.astype(np.float64), x_test.astype(np.float64)
centre = 14 * 28 + 14

rng = np.random.default_rng(0)
layers = {m: BatchNorm(784, momentum=m) for m in (0.9, 0.99)}
traces = {m: [] for m in layers}
for _ in range(400):
    batch = x_train[rng.choice(len(x_train), 100, replace=False)]
    for m, layer in layers.items():
        layer(batch, training=True)
        traces[m].append(layer.moving_mean[centre])

target = x_train[:, centre].mean()
plot_traces({f"momentum {m}": traces[m] for m in layers}, target=round(target, 3),
            target_label="mean over 10,000 images", ylabel="moving_mean, centre pixel",
            title="Larger momentum: slower and smoother")
plt.show()
caption("the moving mean of the centre pixel against training step for momentum 0.9 (fast, jittery) and "
        "0.99 (slow, smooth), with the pixel's mean over the 10,000 images as a dashed line.")
for m in layers:
    t = np.array(traces[m])
    print(f"momentum {m}: step 20 {t[19]:.3f}, step 400 {t[-1]:.3f}, "
          f"average change per step over the last 100 steps {np.abs(np.diff(t[-100:])).mean():.4f}")

# %% [markdown]
# Each step keeps a fraction $m$ of the remaining gap (Lesson 1). With momentum 0.9 only
# $0.9^{20} \approx 12\,\%$ of the gap is left after 20 steps, but every batch moves the
# moving mean by 10 % of its own deviation, so it jitters. With Keras's 0.99,
# $0.99^{400} \approx 2\,\%$ is still left after 400 steps, and each batch moves it ten
# times less. Until the moving statistics have converged, inference mode normalizes with
# the wrong numbers.

# %% [written id=written_momentum_fine_tune points=3]
# **Written question (3 points, graded by hand).** Why do the moving statistics lag behind the
# statistics of the data? You now fine-tune a trained network for only 50 steps on new data whose
# feature means differ from the old data's. Which momentum would you give its BN layers, Keras's
# 0.99 or 0.9, and what does your choice cost? Answer in two to four sentences, in this cell.
#
# ### BEGIN SOLUTION
# **Model answer.** Each training step moves a moving statistic only a fraction $1 - m$ of the way
# to the current batch's statistic, so after $k$ steps a fraction $m^k$ of the old gap is left: the
# moving statistics average roughly the last $1/(1-m)$ batches. With 0.99, $0.99^{50} \approx 0.61$:
# after the fine-tune 61 % of the gap to the old data's statistics remains, and inference would
# normalize the new data with mostly old numbers; with 0.9, $0.9^{50} \approx 0.005$, so I would pick
# 0.9. The cost is noise: each batch now weighs 10 %, so the moving statistics follow the last ten
# or so batches and jitter from batch to batch, as the momentum-0.9 curve above does.
#
# **Rubric (3 points).**
# - 1 point: the lag: each step closes only $1 - m$ of the gap, $m^k$ of it is left after $k$ steps
#   (or the half-life: about 69 steps for 0.99, 7 for 0.9).
# - 1 point: a choice backed by numbers: 0.9, since $0.99^{50} \approx 0.61$ against
#   $0.9^{50} \approx 0.005$. Keeping 0.99 and re-estimating the statistics on the new data after
#   the fine-tune also earns the point, if the answer says why 0.99 alone is too slow.
# - 1 point: the cost: noisier moving statistics, each batch weighing $1 - m$ (or, for
#   re-estimating, the extra pass over the data).
# ### END SOLUTION

# %% [markdown]
# ## Your layer inside a classifier
#
# A small network for MNIST uses your `BatchNorm` between a linear layer and a ReLU:
#
# $$784 \xrightarrow{W_1} 100 \xrightarrow{\text{BN}} \xrightarrow{\text{ReLU}} \xrightarrow{W_2,\, b_2} 10 \xrightarrow{\text{softmax}}$$
#
# Training every weight needs the gradient *through* batch normalization, which is
# Lesson 3. So here $W_1$ stays at its random initial value (a fixed random feature map),
# $\gamma = 1$ and $\beta = 0$ stay fixed, and SGD trains only $W_2$ and $b_2$. Their
# gradient does not pass through BN: for softmax cross-entropy it is
# $\partial L/\partial \text{logits} = (p - \text{onehot}(y))/N$, then
# $\partial L/\partial W_2 = a^\top\, \partial L/\partial \text{logits}$ with $a$ the ReLU
# output. That code is given and read-only. Every training step calls your layer in
# training mode, so your forward pass and your moving-statistics update run 500 times.

# %% [locked id=mlp_train]
%%demo
rng = np.random.default_rng(0)
W1 = rng.normal(0.0, np.sqrt(2 / 784), size=(784, 100))  # fixed: never trained in this lesson
bn = BatchNorm(100)                                       # your layer, Keras defaults
W2, b2 = np.zeros((100, 10)), np.zeros(10)
h_train, h_test = x_train @ W1, x_test @ W1               # W1 is fixed: compute its output once
lr, batch_size, steps = 0.5, 100, 500

for _ in range(steps):
    idx = rng.choice(len(x_train), batch_size, replace=False)
    a = np.maximum(bn(h_train[idx], training=True), 0.0)       # your layer, training mode
    logits = a @ W2 + b2
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    dlogits = p
    dlogits[np.arange(batch_size), y_train[idx]] -= 1.0
    dlogits /= batch_size                                       # given: softmax cross-entropy gradient
    W2 -= lr * a.T @ dlogits
    b2 -= lr * dlogits.sum(axis=0)

# %% [markdown]
# Now the accuracy in both modes. "Training mode" evaluates batches of 100 with their own
# statistics (calling your `batchnorm_forward` directly, so the moving statistics stay
# untouched); "inference mode" calls `bn(x)` with the moving statistics. Two more rows show
# what goes wrong without moving statistics: training mode on batches of **one** example
# and inference mode with statistics that were never updated.

# %% [locked id=mlp_eval]
%%demo
def accuracy(h, y, normalize):
    h = normalize(h)
    return np.mean(np.argmax(np.maximum(h, 0.0) @ W2 + b2, axis=1) == y)


def batch_stats(size):
    return lambda h: np.concatenate([batchnorm_forward(h[i:i + size], bn.gamma, bn.beta, bn.epsilon)[0]
                                     for i in range(0, len(h), size)])


never_updated = lambda h: batchnorm_inference(h, bn.gamma, bn.beta, np.zeros(100), np.ones(100), bn.epsilon)
rows = [("training mode, batches of 100", batch_stats(100)), ("inference mode, moving statistics", bn),
        ("training mode, batches of 1", batch_stats(1)), ("inference mode, never-updated statistics", never_updated)]
print(f"{'':42s} train   test")
for label, normalize in rows:
    print(f"{label:42s} {accuracy(h_train, y_train, normalize):.3f}  {accuracy(h_test, y_test, normalize):.3f}")

# %% [markdown]
# The first two rows agree because, after 500 steps, the moving statistics are close to
# the statistics of the data. Since $W_1$ is fixed, we can check that directly against the
# mean and biased variance of $x W_1$ over all 10,000 training images:

# %% [code]
%%demo
true_mean, true_var = h_train.mean(axis=0), h_train.var(axis=0)
print(f"true variances range from {true_var.min():.2f} to {true_var.max():.2f}; moving_variance started at 1")
print(f"largest |moving_mean - mean| : {np.abs(bn.moving_mean - true_mean).max():.3f} "
      f"(smallest feature std {np.sqrt(true_var.min()):.2f})")
print(f"largest moving_variance error: {100 * np.abs(bn.moving_variance / true_var - 1).max():.1f} %")

# %% [markdown]
# Most of the variance error is what is left of the starting value 1: after 500 steps with
# momentum 0.99, a fraction $0.99^{500} \approx 0.007$ of the initial gap remains, and
# $0.007 \times (1 - 0.08)$ is 8 % of the smallest true variance, 0.08.
#
# A batch of one example is normalized to $\hat{x} = 0$ in training mode, so every image
# gets the same prediction: about 10 % accuracy. That is why inference needs the moving
# statistics. A layer whose moving statistics were never updated normalizes with numbers
# that do not fit the data, and its accuracy drops. The classifier itself is weak (82 % on
# the test set in our run on a 2-core CPU; your figure is in the table above) because its
# first layer is random: training $W_1$ needs the
# gradient through batch normalization, the subject of Lesson 3.
#
# ## What this means in Keras
#
# The same computations in `keras.layers.BatchNormalization`, with its weights set to ours
# through `.assign`. Keras computes in float32, so differences around $10^{-6}$ are expected.
# The cell checks the training-mode output, the moving statistics after five training
# calls, the inference-mode output, and the float32 batch with mean $10^4$.
# (Importing TensorFlow takes a few seconds.)

# %% [code]
%%demo
import keras

rng = np.random.default_rng(3)
batches = [rng.normal(2.0, 3.0, size=(32, 5)) for _ in range(5)]
g, b = rng.normal(size=5), rng.normal(size=5)
layer, mine = keras.layers.BatchNormalization(), BatchNorm(5)
layer.build((None, 5))
layer.gamma.assign(g.astype("float32"))
layer.beta.assign(b.astype("float32"))
mine.gamma, mine.beta = g, b
print(f"Keras {keras.__version__}: momentum={layer.momentum}, epsilon={layer.epsilon}")

diffs = {"training output": np.abs(np.asarray(layer(batches[0].astype("float32"), training=True))
                                   - batchnorm_forward(batches[0], g, b)[0]).max()}
mine(batches[0], training=True)
for xb in batches[1:]:
    layer(xb.astype("float32"), training=True)
    mine(xb, training=True)
diffs["moving_mean after 5 calls"] = np.abs(np.asarray(layer.moving_mean) - mine.moving_mean).max()
diffs["moving_variance after 5 calls"] = np.abs(np.asarray(layer.moving_variance) - mine.moving_variance).max()
x_new = rng.normal(2.0, 3.0, size=(8, 5))
mine_inference = batchnorm_inference(x_new, g, b, mine.moving_mean, mine.moving_variance)
diffs["inference output"] = np.abs(np.asarray(layer(x_new.astype("float32"), training=False)) - mine_inference).max()
for name, d in diffs.items():
    print(f"max |keras - yours|, {name:30s}: {d:.1e}")
assert max(diffs.values()) < 1e-4, "your layer and Keras disagree beyond float32 precision"

# %% [code]
%%demo
x_big = (1e4 + np.random.default_rng(2).normal(size=(256, 3))).astype(np.float32)
v_big = x_big.astype(np.float64).var(axis=0)
v_one_pass = (x_big ** 2).mean(axis=0) - x_big.mean(axis=0) ** 2  # float32, one pass
std_keras = np.asarray(keras.layers.BatchNormalization()(x_big, training=True)).std(axis=0)
std_sync = np.asarray(keras.layers.BatchNormalization(synchronized=True)(x_big, training=True)).std(axis=0)
print("float32 batch with mean 1e4, output std per feature:")
print("  Keras                          :", std_keras)
print("  Keras, synchronized=True       :", std_sync, "(one pass: sums of x and x**2)")
print("  two-pass variance (expected)   :", np.sqrt(v_big / (v_big + 1e-3)))
with np.errstate(invalid="ignore"):
    print("  one-pass E[x^2]-E[x]^2, float32:", np.sqrt(v_big / (v_one_pass + 1e-3)))

# %% [markdown]
# Your functions and the Keras layer agree to float32 precision in both modes and in
# their moving statistics, and Keras's standard deviations on the large-mean batch show
# that it (with the TensorFlow backend and the default `synchronized=False`) also computes
# the variance in two passes. With `synchronized=True` the one-pass variance loses the
# variance of this batch, as in the first cell of this lesson: the output std is far from 1.
#
# Keras, like your `update_moving_stats`, averages the **biased** batch variance into its
# moving variance. PyTorch averages the unbiased one, and so does the paper's Algorithm 2
# for its inference statistics, $\frac{m}{m-1}\,\mathrm{E}_B[\sigma_B^2]$ (lesson 1).
#
# With `fit`, Keras passes `training=` for you: `model.fit` calls the layers in training
# mode, `model.evaluate` and `model.predict` in inference mode, the two branches of your
# `__call__`. In a custom training loop you pass `training=True` yourself, and a BN layer
# set to `trainable=False` runs in inference mode even then (lesson 5 shows it). The
# cell below checks it on a one-layer model (learning rate 0, so only the moving
# statistics can change).

# %% [code]
%%demo
model = keras.Sequential([keras.Input((5,)), keras.layers.BatchNormalization()])
model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse")
model.fit(batches[0], batches[0], batch_size=32, epochs=1, verbose=0)   # one training step
bn_keras = model.layers[0]
print("fit:     moving_mean =", np.asarray(bn_keras.moving_mean), " 0.01 * batch mean =", 0.01 * batches[0].mean(axis=0))
before = np.asarray(bn_keras.moving_mean).copy()
pred = model.predict(x_new, verbose=0)
expected = batchnorm_inference(x_new, np.ones(5), np.zeros(5), before, np.asarray(bn_keras.moving_variance))
print("predict: moving_mean unchanged:", np.array_equal(before, np.asarray(bn_keras.moving_mean)))
print(f"predict: max |output - your batchnorm_inference| = {np.abs(pred - expected).max():.1e}")

# %% [markdown]
#
# Next lesson: the backward pass, the gradient that training $W_1$, $\gamma$ and $\beta$ needs.

# %% [markdown]
# ## Concept checks
#
# Four short questions on this lesson, one point each. Store each answer in the variable the
# question names: the letter of your choice as a string (for example `"c"`), or a number. The
# check under it says whether it is right, and why each choice is right or wrong.
#
# **Concept check 1.** Your `BatchNorm` layer, in training mode, receives a batch of a single
# example, of shape $(1, D)$. What does it output? Store the letter in
# `concept_training_batch_of_one`.
#
# - (a) the input, unchanged
# - (b) NaN, because the batch variance is 0
# - (c) $\beta$ for every feature, whatever the input
# - (d) the same as in inference mode

# %% [answer id=concept_training_batch_of_one]
### BEGIN SOLUTION
concept_training_batch_of_one = "c"
### END SOLUTION

# %% [tests id=test_concept_training_batch_of_one points=1]
from bncourse.checks import check_concept

check_concept("concept_training_batch_of_one", concept_training_batch_of_one)

### BEGIN HIDDEN TESTS
import concept_checks

concept_checks.check_concept("concept_training_batch_of_one", concept_training_batch_of_one)
### END HIDDEN TESTS

# %% [markdown]
# **Concept check 2.** After training, one feature of a Keras-style layer has `moving_mean` 0.5
# and `moving_variance` 0.003, with $\gamma = 2$, $\beta = 1$ and $\epsilon = 10^{-3}$. In inference
# mode, what does the layer output for the input value $x = 0.6$? Store the number (three
# significant digits are enough) in `concept_inference_output`.

# %% [answer id=concept_inference_output]
### BEGIN SOLUTION
concept_inference_output = 2 * (0.6 - 0.5) / (0.003 + 1e-3) ** 0.5 + 1
### END SOLUTION

# %% [tests id=test_concept_inference_output points=1]
from bncourse.checks import check_concept

check_concept("concept_inference_output", concept_inference_output)

### BEGIN HIDDEN TESTS
import concept_checks

concept_checks.check_concept("concept_inference_output", concept_inference_output)
### END HIDDEN TESTS

# %% [markdown]
# **Concept check 3.** A fresh Keras `BatchNormalization` layer (momentum 0.99, `moving_variance`
# starting at 1) is trained on batches whose biased variance is always 5 for one feature. What is
# that feature's `moving_variance` after 100 training steps? Store the number (three significant
# digits are enough) in `concept_moving_variance_after_100`.

# %% [answer id=concept_moving_variance_after_100]
### BEGIN SOLUTION
concept_moving_variance_after_100 = 5 - 4 * 0.99**100
### END SOLUTION

# %% [tests id=test_concept_moving_variance_after_100 points=1]
from bncourse.checks import check_concept

check_concept("concept_moving_variance_after_100", concept_moving_variance_after_100)

### BEGIN HIDDEN TESTS
import concept_checks

concept_checks.check_concept("concept_moving_variance_after_100", concept_moving_variance_after_100)
### END HIDDEN TESTS

# %% [markdown]
# **Concept check 4.** Why does `batchnorm_forward` compute the variance as the mean of
# $(x-\mu)^2$ rather than as $\mathrm{E}[x^2] - \mathrm{E}[x]^2$? Store the letter in
# `concept_two_pass_variance`.
#
# - (a) the two formulas differ in exact arithmetic: $\mathrm{E}[x^2] - \mathrm{E}[x]^2$ is the
#   unbiased variance
# - (b) the two-pass formula is faster
# - (c) Keras computes $\mathrm{E}[x^2] - \mathrm{E}[x]^2$ by default, and the layer must match Keras
# - (d) in float32, when a feature's mean is large compared with its standard deviation,
#   $\mathrm{E}[x^2]$ and $\mathrm{E}[x]^2$ are two large, nearly equal numbers whose rounding
#   errors can exceed the variance

# %% [answer id=concept_two_pass_variance]
### BEGIN SOLUTION
concept_two_pass_variance = "d"
### END SOLUTION

# %% [tests id=test_concept_two_pass_variance points=1]
from bncourse.checks import check_concept

check_concept("concept_two_pass_variance", concept_two_pass_variance)

### BEGIN HIDDEN TESTS
import concept_checks

concept_checks.check_concept("concept_two_pass_variance", concept_two_pass_variance)
### END HIDDEN TESTS
