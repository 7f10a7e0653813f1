# %% [markdown]
# # Lesson 5 · BatchNormalization in Keras: Dense networks
#
# You wrote batch normalization in NumPy. Now we open `keras.layers.BatchNormalization`
# and check, number by number, that it computes what your functions compute. You will:
#
# 1. build a Dense network the Keras 3 way, with `keras.Input` first;
# 2. look at the layer's four weights and see which ones training changes;
# 3. reproduce the layer with NumPy: training mode, the moving statistics after `fit`,
#    and inference mode;
# 4. learn when Keras uses batch statistics and when moving statistics (`training=`,
#    `fit`/`evaluate`/`predict`, and frozen layers);
# 5. train an MNIST network with and without BN;
# 6. measure what `momentum`, `epsilon` and the initializers do;
# 7. fold a trained BN layer into the Dense layer before it, for deployment.
#
# It follows examples 1 and 3 of the article this course started from, *How does batch
# normalization work in Keras?* (2025-01-30), and says so where the measurements disagree
# with it. The article makes three errors, each stated below next to the cell that
# disproves it:
#
# 1. it declares the input with `input_shape=` on the first layer (Keras 2 style; Keras 3
#    warns and wants `keras.Input`): section *Keras 3 style*;
# 2. it says a higher `momentum` makes the moving statistics adapt faster (it is slower):
#    section *Momentum*;
# 3. it says epsilon is "typically around 1e-5" (Keras's default is 1e-3): section *Epsilon*.
#
# Importing TensorFlow takes a few seconds.
#
# Every code cell of this lesson except the setup, your answers and the checks starts with `%%demo`
# (lesson 1): it runs as usual in your notebook, and grading skips it. The checks test your
# functions on small layers and networks of their own.
#
# Errors show the lines of your own code that led to them, and a failed check shows its
# message; run `%xmode Minimal` in a cell for one-line errors, `%xmode Context` to switch
# back (lesson 1 explains).

# %% [locked id=setup]
import numpy as np

import bncourse

bncourse.setup_notebook(seed=0, keras=True)

import keras
import matplotlib.pyplot as plt

from bncourse.plotting import plot_traces

# %% [markdown]
# ## The NumPy functions you are given
#
# These are the answers to lessons 2 and 3. To use your own versions, paste them into a new
# cell right below this one: every later cell uses whichever definitions ran last.

# %% [locked id=given_code]
def batchnorm_forward(x, gamma, beta, eps=1e-3):
    """Training-mode batch norm of x (N, D); returns out and a cache."""
    mean = x.mean(axis=0)
    var = ((x - mean) ** 2).mean(axis=0)            # biased variance
    x_hat = (x - mean) / np.sqrt(var + eps)
    return gamma * x_hat + beta, {"x_hat": x_hat, "mean": mean, "var": var, "gamma": gamma, "eps": eps}


def update_moving_stats(moving_mean, moving_var, batch_mean, batch_var, momentum=0.99):
    """One Keras moving-average step: moving = momentum * moving + (1 - momentum) * batch."""
    return (momentum * moving_mean + (1 - momentum) * batch_mean,
            momentum * moving_var + (1 - momentum) * batch_var)


def batchnorm_inference(x, gamma, beta, moving_mean, moving_var, eps=1e-3):
    """Inference-mode batch norm with the moving statistics."""
    return gamma * (x - moving_mean) / np.sqrt(moving_var + eps) + beta

# %% [markdown]
# ## Keras 3 style: `keras.Input` first
#
# **The article's error 1.** It builds its model as
# `Sequential([Dense(64, input_shape=(784,)), ...])`, the Keras 2 style. Keras 3 still
# accepts `input_shape=` on the first layer of a `Sequential`, but warns.
# The cell records the warning instead of letting it scroll by:

# %% [code]
%%demo
import warnings

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    keras.layers.Dense(64, input_shape=(784,))
for w in caught:
    print(f"{w.category.__name__}: {w.message}")

# %% [markdown]
# The input is not a property of a layer but of the model, so Keras 3 wants it declared
# once, as a `keras.Input(shape=...)` object. The same line then works for `Sequential`
# models and for functional models (`keras.Model(inputs, outputs)`), and the model is built
# (its weights exist) as soon as it is defined. Note that `shape` excludes the batch axis.
#
# Here is example 1 of the article in that style: Dense, BatchNormalization, ReLU, and a
# softmax output.

# %% [code]
%%demo
article_model = keras.Sequential([
    keras.Input(shape=(784,)),
    keras.layers.Dense(64),
    keras.layers.BatchNormalization(),
    keras.layers.ReLU(),
    keras.layers.Dense(10, activation="softmax"),
])
article_model.summary()

# %% [markdown]
# ## The four weights of a BatchNormalization layer
#
# The summary counts 256 parameters for BatchNormalization on 64 features: four vectors of
# 64. Two are **learned by gradient descent** (`gamma` scales, `beta` shifts); two are
# **moving statistics** that training updates by the moving-average rule, not by
# gradients. Keras lists the last two as *non-trainable*; this is where the summary's
# 128 non-trainable parameters come from.

# %% [code]
%%demo
bn_layer = article_model.layers[1]
for variable in bn_layer.weights:
    values = np.asarray(variable)
    print(f"{variable.name:16s} shape {variable.shape}  trainable={variable.trainable!s:5s}  "
          f"initial value {values[0]:g}")
print("layer.get_weights() order:", [v.name for v in bn_layer.weights])
print(f"count_params: {bn_layer.count_params()}  (4 x 64)")

# %% [markdown]
# `gamma` starts at 1 and `beta` at 0, so a fresh layer outputs the plain normalized
# $\hat{x}$; `moving_mean` starts at 0 and `moving_variance` at 1.

# %% [markdown]
# ## The layer computes what your NumPy code computes
#
# ### Training mode
#
# Called with `training=True`, the layer normalizes with the statistics of the batch it
# receives. We give `gamma` and `beta` random values (so a wrong scale or shift would
# show) and compare with `batchnorm_forward`:

# %% [code]
%%demo
rng = np.random.default_rng(0)
x = rng.normal(3.0, 2.0, size=(32, 5)).astype("float32")
layer = keras.layers.BatchNormalization()
layer.build(x.shape)
gamma, beta = rng.uniform(0.5, 2.0, 5), rng.normal(0.0, 1.0, 5)
layer.gamma.assign(gamma)
layer.beta.assign(beta)

y_keras = np.asarray(layer(x, training=True))
y_numpy, _ = batchnorm_forward(x.astype(np.float64), gamma, beta, eps=layer.epsilon)
print(f"training mode: max |Keras - NumPy| = {np.abs(y_keras - y_numpy).max():.1e}")

# %% [markdown]
# Differences around $10^{-6}$ are float32 rounding (Keras computes in float32, NumPy here
# in float64).
#
# ### The moving statistics after `fit`
#
# `fit` runs the model in training mode; after each batch, every BN layer applies
# `update_moving_stats` to its moving statistics. To check that, we train a model
# Input → Dense → BatchNormalization for $k = 5$ steps of 32 examples, in order
# (`shuffle=False`). We **freeze the Dense layer** (`trainable=False`): its output, the BN
# layer's input, then stays the same throughout, so NumPy can recompute every batch's
# statistics. (The optimizer still trains `gamma` and `beta`; the moving statistics do not
# depend on them.)

# %% [code]
%%demo
batch_size, k = 32, 5
x_small, _ = bncourse.load_mnist("train", n=batch_size * k, flatten=True)

keras.utils.set_random_seed(1)
dense = keras.layers.Dense(8, trainable=False)
bn = keras.layers.BatchNormalization()
probe = keras.Sequential([keras.Input(shape=(784,)), dense, bn])
probe.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
targets = np.zeros((len(x_small), 8), "float32")
probe.fit(x_small, targets, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)

kernel, bias = dense.get_weights()
z = x_small.astype(np.float64) @ kernel + bias        # the BN layer's input
moving_mean, moving_var = np.zeros(8), np.ones(8)      # the initial values
for step in range(k):
    zb = z[step * batch_size:(step + 1) * batch_size]
    moving_mean, moving_var = update_moving_stats(
        moving_mean, moving_var, zb.mean(axis=0), zb.var(axis=0), momentum=bn.momentum)

print(f"after {k} fit steps: max |moving_mean     Keras - NumPy| = "
      f"{np.abs(np.asarray(bn.moving_mean) - moving_mean).max():.1e}")
print(f"                   max |moving_variance Keras - NumPy| = "
      f"{np.abs(np.asarray(bn.moving_variance) - moving_var).max():.1e}")
print("moving_mean now:", np.asarray(bn.moving_mean)[:4], "...")

# %% [markdown]
# Five steps with momentum 0.99 moved the moving mean only $1 - 0.99^5 \approx 5\%$ of the
# way from 0 toward the batch means. Keep that in mind for lesson 6.

# %% [written id=written_moving_replay points=2]
# **Written question (2 points, graded by hand).** The cell above recomputed Keras's moving
# statistics in NumPy after 5 `fit` steps and matched them to about $10^{-7}$. It froze the
# Dense layer and trained with `shuffle=False`. Why does the check need both? If the Dense
# layer had been trainable, which of the 5 batch statistics would the NumPy replay have got
# wrong, and why? And why do the changes that SGD makes to `gamma` and `beta` not matter?
# Answer in three to five sentences, in this cell.
#
# ### BEGIN SOLUTION
# **Model answer.** The moving statistics are a weighted average of the statistics of the BN
# layer's *input* $z = xW + b$ on the batches `fit` fed it, in order (batch $j = 0, \dots, 4$
# weighs $(1-m)\,m^{4-j}$), so NumPy must know each batch and the $z$ that BN saw for it.
# `shuffle=False` makes the batches the consecutive slices of 32, in the order of the data.
# The frozen Dense layer makes $z$ the same function of $x$ at every step, so $z$ computed
# with the kernel read after `fit` is what BN saw. With a trainable Dense layer, batch $j$
# would have passed through the kernel after $j$ SGD updates, while the replay uses the
# kernel after all 5 updates, which never fed BN during those steps: all five batch
# statistics would be wrong, the first one included. `gamma` and `beta` act after the
# normalization: the batch statistics are computed on BN's input, and the moving-average
# update uses only them.
#
# **Rubric (2 points).**
# - 1 point: `shuffle=False` fixes which examples form each batch and their order (the
#   weights of the average depend on the order); the frozen Dense layer keeps $z = xW + b$
#   fixed, so the kernel read after `fit` gives the $z$ that BN saw. Half a point for one of
#   the two.
# - 1 point: with a trainable Dense layer each batch saw a different kernel, none of them the
#   final one, so the replay gets every batch wrong (half a point for "all but the first");
#   and `gamma`, `beta` do not enter the batch statistics or the moving-average update.
# ### END SOLUTION

# %% [markdown]
# ### Inference mode
#
# `predict` runs the model in inference mode: BN uses the moving statistics and the
# current `gamma` and `beta` (which SGD has changed by now).

# %% [code]
%%demo
out_keras = probe.predict(x_small, verbose=0)
gamma_t, beta_t, mean_t, var_t = bn.get_weights()
out_numpy = batchnorm_inference(z, gamma_t, beta_t, mean_t, var_t, eps=bn.epsilon)
print(f"inference mode: max |Keras - NumPy| = {np.abs(out_keras - out_numpy).max():.1e}")
print(f"gamma after training: {gamma_t[:4]} ...  (no longer 1)")

# %% [markdown]
# ## Exercise 1 · Inference from a layer's weights
#
# Write `bn_inference_from_layer(layer, x)`: the output of a Keras BatchNormalization
# layer in inference mode, computed **in NumPy** from the layer's weights. Read the weights
# with `layer.get_weights()` (the order is printed above) and use the layer's own
# `layer.epsilon`, which need not be the default. Do not call the layer. `x` may be
# $(N, D)$ or $(N, H, W, C)$: the weights belong to the last axis, and NumPy broadcasting
# takes care of the rest.

# %% [answer id=bn_inference_from_layer]
def bn_inference_from_layer(layer, x):
    """Inference-mode output of a keras BatchNormalization layer, in NumPy."""
    ### BEGIN SOLUTION
    gamma, beta, moving_mean, moving_var = layer.get_weights()
    return gamma * (x - moving_mean) / np.sqrt(moving_var + layer.epsilon) + beta
    ### END SOLUTION

# %% [tests id=test_bn_inference_from_layer points=2]
from bncourse.checks import check_bn_inference_from_layer

check_bn_inference_from_layer(bn_inference_from_layer)

### BEGIN HIDDEN TESTS
import keras_checks

keras_checks.check_bn_inference_from_layer(bn_inference_from_layer)
### END HIDDEN TESTS

# %% [markdown]
# ## Which statistics does Keras use, and when?
#
# Every Keras layer takes a `training` argument when called:
#
# * `training=True`: BN normalizes with the **batch** statistics and **updates** the
#   moving statistics;
# * `training=False` (the default when you call a model yourself): BN normalizes with the
#   **moving** statistics and changes nothing.
#
# `fit` calls the model with `training=True`; `evaluate` and `predict` call it with
# `training=False`. The cell checks each claim on `probe`:

# %% [code]
%%demo
def moving_now():
    return np.asarray(bn.moving_mean).copy()

start = moving_now()
same = lambda a, b: np.allclose(np.asarray(a), np.asarray(b), atol=1e-6)
print("model(x) == model(x, training=False):     ", same(probe(x_small), probe(x_small, training=False)))
print("predict  == model(x, training=False):     ", same(probe.predict(x_small, verbose=0), probe(x_small, training=False)))
probe.evaluate(x_small, targets, verbose=0)
print("evaluate left the moving mean unchanged:  ", np.array_equal(moving_now(), start))
probe(x_small, training=True)
print("model(x, training=True) changed it:       ", not np.array_equal(moving_now(), start))
after_call = moving_now()
probe.fit(x_small, targets, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
print("fit changed it:                           ", not np.array_equal(moving_now(), after_call))

# %% [markdown]
# Note the fourth line: calling a model with `training=True` outside `fit` is a training
# step for the moving statistics. Lesson 6 uses this, carefully.
#
# ### A frozen BN layer runs in inference mode
#
# In Keras 3, setting `trainable = False` on a BatchNormalization layer does more than
# freeze `gamma` and `beta`: the layer then **always runs in inference mode**, even inside
# `fit` or with `training=True`, and its moving statistics stay as they are. This is what
# you want when you fine-tune a pretrained network on a small dataset: the frozen BN layers
# keep the statistics learned on the large dataset instead of re-estimating them from a
# few small batches. (Keras's transfer-learning guide recommends keeping BN layers in
# inference mode even when you later unfreeze the rest of the model.)
#
# We freeze `bn`, unfreeze the Dense layer, recompile (Keras reads `trainable` at
# `compile`), and train:

# %% [code]
%%demo
bn.trainable = False
dense.trainable = True
probe.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
weights_before = [w.copy() for w in bn.get_weights()]
kernel_before = dense.get_weights()[0].copy()
probe.fit(x_small, targets, batch_size=batch_size, epochs=2, shuffle=False, verbose=0)
print("the Dense kernel was trained:                              ",
      not np.array_equal(kernel_before, dense.get_weights()[0]))
print("gamma, beta, moving_mean, moving_variance unchanged by fit:",
      all(np.array_equal(a, b) for a, b in zip(weights_before, bn.get_weights())))

kernel, bias = dense.get_weights()
z = x_small.astype(np.float64) @ kernel + bias                # the BN input after training
out_frozen = np.asarray(probe(x_small, training=True))    # training=True is ignored
out_inference = batchnorm_inference(z, *bn.get_weights(), eps=bn.epsilon)
print(f"frozen layer with training=True: max |out - inference output| = "
      f"{np.abs(out_frozen - out_inference).max():.1e}")
bn.trainable = True

# %% [markdown]
# ## Exercise 2 · A BN network, Keras 3 style
#
# Write `build_bn_mlp(hidden_units=(128, 64), momentum=0.99, epsilon=1e-3)`. It returns an
# **uncompiled** `keras.Model`:
#
# * `keras.Input(shape=(784,))`;
# * for each entry `units` of `hidden_units`:
#   `Dense(units, use_bias=False)` → `BatchNormalization(momentum=momentum, epsilon=epsilon)`
#   → `keras.layers.ReLU()`;
# * `Dense(10, activation="softmax")`.
#
# Two rules of thumb from the BN paper are built in. BN goes **before** the nonlinearity, on
# the Dense layer's linear output. And the Dense layer needs **no bias**: BN subtracts the
# batch mean, which removes any constant the bias adds, and `beta` plays the bias's role
# after normalization. A bias there would only add useless parameters.

# %% [answer id=build_bn_mlp]
def build_bn_mlp(hidden_units=(128, 64), momentum=0.99, epsilon=1e-3):
    """Input(784) -> [Dense(no bias) -> BatchNormalization -> ReLU] per hidden layer -> Dense(10, softmax)."""
    ### BEGIN SOLUTION
    inputs = keras.Input(shape=(784,))
    h = inputs
    for units in hidden_units:
        h = keras.layers.Dense(units, use_bias=False)(h)
        h = keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon)(h)
        h = keras.layers.ReLU()(h)
    outputs = keras.layers.Dense(10, activation="softmax")(h)
    return keras.Model(inputs, outputs)
    ### END SOLUTION

# %% [tests id=test_build_bn_mlp points=2]
from bncourse.checks import check_build_bn_mlp

check_build_bn_mlp(build_bn_mlp)

### BEGIN HIDDEN TESTS
import keras_checks

keras_checks.check_build_bn_mlp(build_bn_mlp)
### END HIDDEN TESTS

# %% [markdown]
# ## MNIST with and without BN
#
# Your network against the same network without BN (Dense layers with bias and ReLU), same
# seed, same data order, Adam with its default learning rate, batch size 128. We monitor
# the test accuracy after each epoch; we do not use it to choose anything.

# %% [code]
%%demo
def build_plain_mlp(hidden_units=(128, 64)):
    """The same network without BN: Dense(units, relu) per hidden layer."""
    inp = keras.Input((784,))
    h = inp
    for n in hidden_units:
        h = keras.layers.Dense(n, activation="relu")(h)
    return keras.Model(inp, keras.layers.Dense(10, activation="softmax")(h))


x_train, y_train = bncourse.load_mnist("train", n=60000, flatten=True)
x_test, y_test = bncourse.load_mnist("test", n=10000, flatten=True)
epochs = 5

models, histories = {}, {}
for name, build in [("with BN", build_bn_mlp), ("without BN", build_plain_mlp)]:
    keras.utils.set_random_seed(0)
    models[name] = build()
    models[name].compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    bncourse.stopwatch()
    histories[name] = models[name].fit(x_train, y_train, batch_size=128, epochs=epochs,
                                       validation_data=(x_test, y_test), verbose=0,
                                       callbacks=[bncourse.epoch_lines(name)]).history
    print(f"{name:10s}: test accuracy per epoch {np.round(histories[name]['val_accuracy'], 4)}")

# %% [code]
%%demo
from bncourse.plotting import caption

fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 3.6))
epoch_axis = np.arange(1, epochs + 1)
plot_traces({name: (epoch_axis, h["loss"]) for name, h in histories.items()}, ax=ax_loss,
            xlabel="epoch", ylabel="training loss", title="Training loss")
plot_traces({name: (epoch_axis, h["val_accuracy"]) for name, h in histories.items()}, ax=ax_acc,
            xlabel="epoch", ylabel="test accuracy", title="Test accuracy (inference mode)")
plt.show()
caption("two panels against epoch for the MLP with and without BN: left the training loss, right the test "
        "accuracy in inference mode.")
print(f"final test accuracy: with BN {histories['with BN']['val_accuracy'][-1]:.4f}, "
      f"without BN {histories['without BN']['val_accuracy'][-1]:.4f}")
bncourse.record("mlp_bn_test_accuracy", histories["with BN"]["val_accuracy"][-1], "{:.4f}")
bncourse.record("mlp_plain_test_accuracy", histories["without BN"]["val_accuracy"][-1], "{:.4f}")

# %% [markdown]
# In our run (2-core CPU, 5 epochs on 60,000 images) the network with BN had the lower
# training loss and the higher test accuracy at every epoch, 97.66% against 97.22% at the
# end, about 0.4 percentage points (your figures are printed above): a modest gain, in one
# run, on a network this shallow. BN matters more for deeper networks and higher learning
# rates (lesson 7). Both test accuracies are measured in inference mode, with the moving
# statistics, as `evaluate` does.

# %% [written id=written_mlp_evidence points=2]
# **Written question (2 points, graded by hand).** In our run the network with BN ended at
# 97.66% test accuracy and the one without BN at 97.22%; the BN network was ahead at every
# epoch. How strong is this evidence that BN makes this network more accurate? Say what the
# comparison controls and what it does not, estimate the sampling noise of an accuracy
# measured on 10,000 test images, and say what you would run to make the claim solid. Answer
# in three to six sentences, in this cell.
#
# ### BEGIN SOLUTION
# **Model answer.** The comparison controls a lot: the same seed, data order, optimizer,
# learning rate, batch size, epochs and hidden sizes, and the test set was only watched, never
# used to choose anything. But it is one run per network. An accuracy near 97.5% on 10,000
# images has a standard error of about $\sqrt{0.975 \cdot 0.025 / 10^4} \approx 0.16$ points,
# so the 0.44-point gap is about twice the standard error of a difference
# ($\approx 0.16 \cdot \sqrt{2} \approx 0.22$): unlikely to come from the test set's noise
# alone. What one run cannot show is how much the result varies with the seed (initial
# weights and batch order): if that spread is as large as the gap, another seed could reverse
# the ranking. The BN network's lead at every epoch, in training loss and in test accuracy,
# makes a real effect more likely, but it comes from one seed too. To make the claim solid:
# train both networks with several seeds (say 5 to 10), report the mean and spread of the
# final accuracy and compare them seed by seed; ideally also tune each network's learning
# rate. As it stands: a small gain, suggested, not established.
#
# **Rubric (2 points).**
# - 1 point: a calibrated reading: what is controlled (seed, data order, optimizer, sizes) and
#   that a single seed is the main weakness; the test set's standard error estimated at
#   roughly 0.15 points (0.2 for the difference), so 0.44 points is about two standard errors.
#   Half a point without the estimate.
# - 1 point: what to run (several seeds per network, the mean and spread or a paired
#   comparison; tuning each network's learning rate is a plus) and a conclusion in proportion
#   to the evidence. An answer that calls BN's benefit proven by this run earns no point
#   here.
# ### END SOLUTION

# %% [markdown]
# ## Example 3, measured: momentum, epsilon, initializers
#
# ### Momentum
#
# **The article's error 2.** It says that a higher `momentum` makes the moving statistics
# adapt faster to new batches. **It is the other way round.** Keras updates
# `moving = momentum * moving + (1 - momentum) * batch`: momentum is the weight of the
# *old* value, so a larger momentum moves more slowly (and averages over more batches, so
# it is smoother). We feed the same stream of MNIST batches to two BN layers, one with
# momentum 0.9 and one with 0.99, and follow the moving mean of the centre pixel:

# %% [code]
%%demo
pixel = 14 * 28 + 14
n_steps, stream_batch = 400, 64
population_mean = float(x_train[:, pixel].mean())
traces = {}
for momentum in (0.9, 0.99):
    layer = keras.layers.BatchNormalization(momentum=momentum)
    trace = []
    for step in range(n_steps):
        start = (step * stream_batch) % (len(x_train) - stream_batch)
        layer(x_train[start:start + stream_batch], training=True)
        trace.append(float(layer.moving_mean[pixel]))
    traces[f"momentum {momentum}"] = np.array(trace)

plot_traces(traces, target=round(population_mean, 3), target_label="population mean",
            ylabel="moving_mean of the centre pixel", title="The same batches, two momentums")
plt.show()
caption("the moving mean of the centre pixel against training step for momentum 0.9 and 0.99, with the "
        "pixel's mean over the training images as a dashed line.")
for label, trace in traces.items():
    reached = np.flatnonzero(trace > 0.9 * population_mean)
    print(f"{label}: first within 10% of the population mean after "
          f"{reached[0] + 1 if reached.size else 'more than ' + str(n_steps)} steps")

# %% [markdown]
# Momentum 0.9 reaches the population mean within about 20 steps but jitters with each
# batch; 0.99 is smooth but needs a couple of hundred steps. The default 0.99 suits long
# training runs; after only a few hundred steps the moving statistics can still lag behind
# the network (lesson 6 measures what that costs).
#
# ### Epsilon
#
# **The article's error 3.** It says epsilon is "typically around 1e-5". That is PyTorch's
# default (lesson 1), and Keras's own ResNet uses 1.001e-5, but Keras's `BatchNormalization`
# defaults to $10^{-3}$, a hundred times larger. Read from the layer:

# %% [code]
%%demo
print("BatchNormalization().epsilon =", keras.layers.BatchNormalization().epsilon)

# %% [markdown]
# $10^{-3}$, added to the variance inside the square root (lesson 1). It only matters for
# features whose variance is not much larger than $10^{-3}$.
#
# ### Initializers
#
# Each of the four weights has an initializer argument. `gamma_initializer` and
# `beta_initializer` set the starting scale and shift of the **training-mode** output;
# `moving_mean_initializer` and `moving_variance_initializer` set what **inference** uses
# before any training. Here are the defaults and three changes, on a batch with mean 5 and
# std 3 (`Constant(c)` fills a weight with `c`):

# %% [code]
%%demo
x_init = np.random.default_rng(2).normal(5.0, 3.0, size=(512, 2)).astype("float32")
C = keras.initializers.Constant
for label, kwargs in [
    ("defaults", {}),
    ("gamma_initializer='zeros'", {"gamma_initializer": "zeros"}),
    ("beta_initializer=Constant(2)", {"beta_initializer": C(2.0)}),
    ("moving_mean=Constant(5), moving_variance=Constant(9)",
     {"moving_mean_initializer": C(5.0), "moving_variance_initializer": C(9.0)}),
]:
    layer = keras.layers.BatchNormalization(**kwargs)
    layer.build(x_init.shape)
    print(f"{label}")
    print("    initial weights: " + ", ".join(f"{v.name}={float(v[0]):g}" for v in layer.weights))
    y_inf = np.asarray(layer(x_init, training=False))
    y_train = np.asarray(layer(x_init, training=True))
    print(f"    training mode:  mean {y_train.mean():6.3f}  std {y_train.std():6.3f}   "
          f"inference mode: mean {y_inf.mean():6.3f}  std {y_inf.std():6.3f}")

from keras.src.applications import resnet  # the code behind keras.applications.ResNet50

block_input = keras.Input((8, 8, 64))
block = keras.Model(block_input, resnet.residual_block_v1(block_input, 16, name="block"))
print("Keras's ResNet50 residual block, gamma initializer of each BN layer:",
      [lay.get_config()["gamma_initializer"]["class_name"] for lay in block.layers
       if isinstance(lay, keras.layers.BatchNormalization)])

# %% [markdown]
# * Defaults: training mode gives mean 0 and std 1. Inference mode with the initial moving
#   statistics (0 and 1) divides by $\sqrt{1 + \epsilon}$ and changes almost nothing: an
#   untrained BN layer in inference mode is close to the identity.
# * `gamma_initializer="zeros"` makes the layer output `beta` (0) at first. It is a
#   training trick, not standard practice: some ResNet recipes ("zero-γ": Goyal et al.
#   2017, *Accurate, Large Minibatch SGD*; He et al. 2019, *Bag of Tricks*) put it on the last
#   BN of each residual block, so each block starts as the identity. Keras's own ResNet keeps
#   every γ at 1, as the last line of the cell shows.
# * `beta_initializer` shifts the output; `Constant(2)` gives mean 2.
# * The moving initializers only change inference before training: with mean 5 and
#   variance 9 (the true values here) inference already normalizes correctly.
#
# ## Exercise 3 · Fold BN into the Dense layer for deployment
#
# In inference mode BN is a fixed affine map per feature, and so is a Dense layer. Two
# affine maps in a row are one affine map, so a trained Dense → BN pair can be replaced by
# a single Dense layer: one matrix product instead of a product plus four vector
# operations. Deployment tools do this ("BN folding").
#
# Write `fold_bn_into_dense(dense_kernel, dense_bias, gamma, beta, moving_mean, moving_var,
# epsilon)` returning `(kernel, bias)` such that, for every input `x`,
#
# $$x\,W' + b' = \gamma\,\frac{x\,W + b - \mu_{\text{moving}}}{\sqrt{\sigma^2_{\text{moving}} + \epsilon}} + \beta .$$
#
# `dense_kernel` has shape $(D_{in}, D_{out})$; the BN vectors have shape $(D_{out},)$.
# `dense_bias=None` means the Dense layer has no bias (`use_bias=False`, as in your
# network): treat it as zeros. Write the right-hand side as $x\,(\ldots) + (\ldots)$ and
# read off $W'$ and $b'$.

# %% [answer id=fold_bn_into_dense]
def fold_bn_into_dense(dense_kernel, dense_bias, gamma, beta, moving_mean, moving_var, epsilon):
    """Kernel and bias of one Dense layer equal to Dense(dense_kernel, dense_bias) -> BN (inference)."""
    ### BEGIN SOLUTION
    scale = gamma / np.sqrt(moving_var + epsilon)
    if dense_bias is None:
        dense_bias = np.zeros_like(moving_mean)
    return dense_kernel * scale, (dense_bias - moving_mean) * scale + beta
    ### END SOLUTION

# %% [tests id=test_fold_bn_into_dense points=3]
from bncourse.checks import check_fold_bn_into_dense

check_fold_bn_into_dense(fold_bn_into_dense)

### BEGIN HIDDEN TESTS
import keras_checks

keras_checks.check_fold_bn_into_dense(fold_bn_into_dense)
### END HIDDEN TESTS

# %% [markdown]
# Now fold your trained MNIST network. Each hidden Dense → BN → ReLU block becomes
# one `Dense(units, activation="relu")`; the output layer is copied as it is.

# %% [code]
%%demo
trained = models["with BN"]
blocks = [lay for lay in trained.layers if not isinstance(lay, keras.layers.InputLayer)]
folded_in = keras.Input((784,))
h = folded_in
for dense_layer, bn_layer_t in zip(blocks[0:-1:3], blocks[1:-1:3]):
    kernel_f, bias_f = fold_bn_into_dense(dense_layer.get_weights()[0], None, *bn_layer_t.get_weights(),
                                          bn_layer_t.epsilon)
    folded_dense = keras.layers.Dense(kernel_f.shape[1], activation="relu")
    h = folded_dense(h)
    folded_dense.set_weights([kernel_f, bias_f])
output_layer = keras.layers.Dense(10, activation="softmax")
folded = keras.Model(folded_in, output_layer(h))
output_layer.set_weights(blocks[-1].get_weights())

p_trained = trained.predict(x_test, verbose=0)
p_folded = folded.predict(x_test, verbose=0)
print(f"parameters: {trained.count_params()} -> {folded.count_params()}")
print(f"max |probability difference| {np.abs(p_trained - p_folded).max():.1e}, "
      f"same predicted class for {(p_trained.argmax(1) == p_folded.argmax(1)).mean():.2%} of the test images")
bncourse.record("fold_max_abs_prob_diff", float(np.abs(p_trained - p_folded).max()), "{:.1e}")
bncourse.record("fold_argmax_agreement", float((p_trained.argmax(1) == p_folded.argmax(1)).mean()), "{:.4f}")

# %% [markdown]
# The folded network predicts the same classes, with probabilities equal to float32
# rounding. Folding is only valid in inference mode: during training BN uses batch
# statistics, which change with every batch and cannot be baked into a kernel.
#
# ## Summary
#
# * `keras.layers.BatchNormalization` is your NumPy code: batch statistics and the
#   moving-average update in training mode, moving statistics in inference mode, with
#   `epsilon=1e-3` and `momentum=0.99` by default.
# * `fit` trains (batch statistics, updates); `evaluate`, `predict` and a plain
#   `model(x)` infer (moving statistics). A BN layer with `trainable=False` always infers.
# * A **larger** momentum makes the moving statistics **slower**, not faster.
# * After training, BN can be folded into the preceding Dense layer.
#
# Lesson 6 moves to convolutions, and to what happens when the moving statistics are not
# ready by the end of training.

# %% [markdown]
# ## Concept checks
#
# Five short questions on this lesson, one point each. Store each answer in the variable the
# question names: the letter of your choice as a string (for example `"c"`), or a number. The
# check under it says whether it is right, and why each choice is right or wrong.
#
# **Concept check 1.** A model is `keras.Input(shape=(784,))`, `Dense(200, use_bias=False)`,
# `BatchNormalization()`, `ReLU()`, `Dense(10)`. How many of its parameters does Keras count
# as **non-trainable** (the summary's *Non-trainable params*)? Store the number in
# `concept_bn_nontrainable`.

# %% [answer id=concept_bn_nontrainable]
### BEGIN SOLUTION
concept_bn_nontrainable = 2 * 200
### END SOLUTION

# %% [tests id=test_concept_bn_nontrainable points=1]
from bncourse.checks import check_concept

check_concept("concept_bn_nontrainable", concept_bn_nontrainable)

### BEGIN HIDDEN TESTS
import concept_checks

concept_checks.check_concept("concept_bn_nontrainable", concept_bn_nontrainable)
### END HIDDEN TESTS

# %% [markdown]
# **Concept check 2.** You build a model with a BatchNormalization layer, keep Keras's default
# initializers, and before any training call `model.predict` on images where one of the
# layer's input features has mean 5 and standard deviation 3. What does the BN layer output
# for that feature? Store the letter in `concept_untrained_inference`.
#
# - (a) about its input: mean about 5, standard deviation about 3
# - (b) mean 0 and standard deviation 1
# - (c) zeros
# - (d) mean 5 and standard deviation 1

# %% [answer id=concept_untrained_inference]
### BEGIN SOLUTION
concept_untrained_inference = "a"
### END SOLUTION

# %% [tests id=test_concept_untrained_inference points=1]
from bncourse.checks import check_concept

check_concept("concept_untrained_inference", concept_untrained_inference)

### BEGIN HIDDEN TESTS
import concept_checks

concept_checks.check_concept("concept_untrained_inference", concept_untrained_inference)
### END HIDDEN TESTS

# %% [markdown]
# **Concept check 3.** `model` contains a trainable BatchNormalization layer. Which call
# normalizes with the statistics of the batch it receives **and** updates the layer's moving
# statistics? Store the letter in `concept_batch_statistics_call`.
#
# - (a) `model.predict(x)`
# - (b) `model(x)`
# - (c) `model.evaluate(x, y)`
# - (d) `model(x, training=True)`

# %% [answer id=concept_batch_statistics_call]
### BEGIN SOLUTION
concept_batch_statistics_call = "d"
### END SOLUTION

# %% [tests id=test_concept_batch_statistics_call points=1]
from bncourse.checks import check_concept

check_concept("concept_batch_statistics_call", concept_batch_statistics_call)

### BEGIN HIDDEN TESTS
import concept_checks

concept_checks.check_concept("concept_batch_statistics_call", concept_batch_statistics_call)
### END HIDDEN TESTS

# %% [markdown]
# **Concept check 4.** A Dense layer with one output has bias $b = 0.5$. The BN layer after
# it has $\gamma = 1.2$, $\beta = 0.1$, moving mean $0.8$, moving variance $0.035$ and Keras's
# default epsilon. You fold the BN layer into the Dense layer as in Exercise 3. What is the
# folded bias $b'$? Store the number (three significant digits are enough) in
# `concept_merged_bias`.

# %% [answer id=concept_merged_bias]
### BEGIN SOLUTION
concept_merged_bias = (0.5 - 0.8) * 1.2 / (0.035 + 1e-3) ** 0.5 + 0.1
### END SOLUTION

# %% [tests id=test_concept_merged_bias points=1]
from bncourse.checks import check_concept

check_concept("concept_merged_bias", concept_merged_bias)

### BEGIN HIDDEN TESTS
import concept_checks

concept_checks.check_concept("concept_merged_bias", concept_merged_bias)
### END HIDDEN TESTS

# %% [markdown]
# **Concept check 5.** You train `build_bn_mlp(hidden_units=(256, 128, 64))` and fold it the
# way the last section folds your network: each Dense → BN pair becomes one Dense layer with a
# bias, and the output layer stays as it is. How many **fewer** parameters does the folded
# network have? Store the number in `concept_merged_params`.

# %% [answer id=concept_merged_params]
### BEGIN SOLUTION
concept_merged_params = (4 - 1) * (256 + 128 + 64)
### END SOLUTION

# %% [tests id=test_concept_merged_params points=1]
from bncourse.checks import check_concept

check_concept("concept_merged_params", concept_merged_params)

### BEGIN HIDDEN TESTS
import concept_checks

concept_checks.check_concept("concept_merged_params", concept_merged_params)
### END HIDDEN TESTS
