"""Lesson 7's Figure 1 at the paper's length: both nets, 50,000 SGD steps, three seeds, fast.

    bngrader paper-fig1 --compare-naive 2000    # make paper-fig1: a 2,000-step check against the lesson's
                                                # Trainer, then the full run: bncourse/paper/fig1_50k.json
    bngrader paper-fig1 --steps 4000 --out /tmp/short.json   # a short run elsewhere

The nets, their initial weights and their mini-batches are lesson 7's (``FIG1``: sigmoid,
N(0, 0.05^2) hidden kernels, batch 60, learning rate 0.5, plain SGD; BN momentum 0.9; the first
5,000 test images): the initial weights come from the lesson's own :func:`bncourse.experiments.mlp`
and :func:`~bncourse.experiments.reinitialize`, the mini-batches from the same seeded generator as
:meth:`bncourse.experiments.Trainer.train`, so for the same seed both paths start from the same
weights and see the same batches. What differs is how the steps run: the seeds train together as
one batch of networks (stacked weights, one batched matmul per layer), many steps per call in one
XLA-compiled (``jit_compile=True``) while loop. :func:`main` says what the results file holds.

Nothing here goes to students: the file it writes does (``bncourse/paper/``), and lesson 7 plots it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from bngrader import settings

FIG1 = dict(activation="sigmoid", std=0.05, lr=0.5, batch_size=60)  # lesson 7's FIG1, as the lesson writes it
BN_MOMENTUM = 0.9  # every BN layer of lesson 7 (bncourse.experiments.mlp's default there)
EPSILON = 1e-3  # keras.layers.BatchNormalization's default, which the lesson's nets keep
TEST_N = 5000  # the lesson's test subset: the first 5,000 test images
SEEDS = (1, 2, 3)  # the lesson's SEEDS
STEPS = 50_000  # the paper's length (section 4.1)
OUT = settings.ROOT / "bncourse" / "paper" / "fig1_50k.json"
NETS = {"no_bn": None, "bn": "bn"}  # the lesson's names -> the norm argument of mlp()


def eval_steps(steps: int, dense_until: int = 3000, dense: int = 100, sparse: int = 500) -> np.ndarray:
    """The evaluation steps: every ``dense`` steps up to ``dense_until`` (the lesson's own grid, so the
    first 3,000 steps compare point for point with its short run), then every ``sparse`` steps, and the
    last step."""
    grid = list(range(dense, min(dense_until, steps) + 1, dense))
    grid += list(range((grid[-1] if grid else 0) + sparse, steps + 1, sparse))
    if not grid or grid[-1] != steps:
        grid.append(steps)
    return np.array(grid, dtype=np.int64)


def steps_to_reach(acc_curve, steps, target):
    """The lesson's Exercise 2 (the reference answer): the first step with accuracy >= target, or None."""
    from bngrader import reference

    reference.enable()
    import experiment_checks

    return experiment_checks._ref_steps_to_reach(acc_curve, steps, target)


def step_ratio(acc_bn, acc_nobn, steps, target):
    """Lesson 7's ``step_ratio`` over the evaluation ``steps``: steps the BN net needs to reach ``target``
    / steps the plain net needs, rounded to 3 decimals (None if either never does)."""
    s_bn, s_nobn = steps_to_reach(acc_bn, steps, target), steps_to_reach(acc_nobn, steps, target)
    return None if s_bn is None or s_nobn is None else round(float(s_bn) / float(s_nobn), 3)


def ratios(acc: dict, steps) -> dict:
    """``fig1_step_ratio`` and ``fig1_step_ratio_90pct`` as lesson 7 computes them, and the per-seed ratios it
    prints. ``acc``: ``{"no_bn": curves, "bn": curves}``, each an array (seeds, evaluations) at ``steps``;
    the ratios use the seed-averaged curves (the lesson's ``mean_acc``), the target is the plain net's best."""
    acc = {name: np.asarray(a, dtype=float) for name, a in acc.items()}
    mean_bn, mean_nobn = acc["bn"].mean(axis=0), acc["no_bn"].mean(axis=0)
    best_nobn = mean_nobn.max()
    per_seed = list(zip(acc["bn"], acc["no_bn"]))
    return {
        "fig1_step_ratio": step_ratio(mean_bn, mean_nobn, steps, best_nobn),
        "fig1_step_ratio_90pct": step_ratio(mean_bn, mean_nobn, steps, 0.9),
        "steps_to_best_nobn": {"no_bn": steps_to_reach(mean_nobn, steps, best_nobn),
                               "bn": steps_to_reach(mean_bn, steps, best_nobn)},
        "steps_to_90pct": {"no_bn": steps_to_reach(mean_nobn, steps, 0.9),
                           "bn": steps_to_reach(mean_bn, steps, 0.9)},
        "per_seed_step_ratio": [step_ratio(b, n, steps, np.max(n)) for b, n in per_seed],
        "per_seed_step_ratio_90pct": [step_ratio(b, n, steps, 0.9) for b, n in per_seed],
    }


# --- the fast trainer -----------------------------------------------------------------------------

def _tf():
    """TensorFlow, imported the way lesson 7's setup cell imports it (oneDNN off, quiet start-up)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from bncourse.setup import _quiet_stderr_fd

    with _quiet_stderr_fd():  # TensorFlow's C++ start-up notices bypass Python's sys.stderr
        import tensorflow as tf

    return tf


def initial_weights(norm, seeds, std=FIG1["std"], activation=FIG1["activation"]):
    """The lesson's initial weights for each seed, stacked: a list of arrays, in the order of
    ``model.get_weights()`` of :func:`bncourse.experiments.mlp` (BN's moving statistics included),
    kernels (S, fan_in, units), vectors (S, 1, units) so that they broadcast over a batch."""
    from bncourse.experiments import mlp, reinitialize

    model = mlp(norm, activation, bn_momentum=BN_MOMENTUM)
    per_seed = []
    for seed in seeds:
        reinitialize(model, std, seed)
        per_seed.append(model.get_weights())
    stacked = [np.stack(ws).astype(np.float32) for ws in zip(*per_seed)]
    return [w[:, None, :] if w.ndim == 2 else w for w in stacked]


def batch_indices(seed: int, steps: int, batch_size: int, n_train: int) -> np.ndarray:
    """The mini-batches :meth:`bncourse.experiments.Trainer.train` draws for ``seed``: (steps, batch_size)."""
    return np.random.default_rng([seed, 1]).integers(0, n_train, size=(steps, batch_size))


class FastFig1:
    """Both of lesson 7's Figure 1 nets (one at a time) for S seeds at once, trained by XLA-compiled SGD.

    A net's weights are a list of tensors with a leading seed axis: per hidden layer the kernel
    (S, fan_in, 100) and, without BN, the bias (S, 1, 100); with BN, ``gamma`` and ``beta`` (S, 1, 100)
    and the moving mean and variance (state, not trained); then the output kernel (S, 100, 10) and
    bias (S, 1, 10). One step is the lesson's: softmax cross-entropy averaged over each seed's batch
    of 60, its gradient, ``w <- w - lr * g`` (SGD, momentum 0); BN normalizes with the batch mean and
    biased variance (``tf.nn.moments``, as Keras does), epsilon 1e-3, and moves its statistics by
    ``moving <- 0.9 moving + 0.1 batch``. Evaluation is in inference mode (moving statistics).
    """

    def __init__(self, x_train, y_train, x_test, y_test, jit_compile=True):
        tf = self.tf = _tf()
        self.n_train = len(x_train)
        self.x_train, self.y_train = tf.constant(x_train, tf.float32), tf.constant(y_train, tf.int32)
        self.x_test, self.y_test = tf.constant(x_test, tf.float32), tf.constant(y_test, tf.int32)
        self.jit_compile = jit_compile
        self._fns = {}

    # the nets, written with stacked weights (S leading) ----------------------------------------
    @staticmethod
    def _layout(norm):
        """Per hidden layer, the names of its weights in ``get_weights()`` order; then the output layer's."""
        hidden = ["kernel", "gamma", "beta", "moving_mean", "moving_variance"] if norm == "bn" else ["kernel", "bias"]
        return [hidden] * 3 + [["kernel", "bias"]]

    def _forward(self, weights, norm, x, training, shared_input=False):
        """Logits (S, N, 10) and, in training with BN, the new moving statistics (list)."""
        tf = self.tf
        h, moving, k = x, [], 0
        for layer in self._layout(norm)[:-1]:
            w = dict(zip(layer, weights[k:k + len(layer)]))
            k += len(layer)
            z = tf.einsum("nd,sdk->snk", h, w["kernel"]) if h is x and shared_input else tf.matmul(h, w["kernel"])
            if norm == "bn":
                if training:
                    mean, var = tf.nn.moments(z, axes=[1], keepdims=True)
                    moving += [w["moving_mean"] * BN_MOMENTUM + mean * (1.0 - BN_MOMENTUM),
                               w["moving_variance"] * BN_MOMENTUM + var * (1.0 - BN_MOMENTUM)]
                else:
                    mean, var = w["moving_mean"], w["moving_variance"]
                z = tf.nn.batch_normalization(z, mean, var, w["beta"], w["gamma"], EPSILON)
            else:
                z = z + w["bias"]
            h = tf.sigmoid(z)
        logits = tf.matmul(h, weights[k]) + weights[k + 1]
        return logits, moving

    def _functions(self, norm, lr):
        """The traced (and XLA-compiled) ``train(weights, batches)`` and ``accuracy(weights)`` of one net."""
        key = (norm, float(lr))
        if key in self._fns:
            return self._fns[key]
        tf = self.tf
        names = [n for layer in self._layout(norm) for n in layer]
        trained = [i for i, n in enumerate(names) if not n.startswith("moving_")]
        stats = [i for i, n in enumerate(names) if n.startswith("moving_")]
        lr = tf.constant(lr, tf.float32)

        def step(weights, batch):
            x, y = tf.gather(self.x_train, batch), tf.gather(self.y_train, batch)  # (S, N, 784), (S, N)
            params = [weights[i] for i in trained]
            with tf.GradientTape() as tape:
                tape.watch(params)
                logits, moving = self._forward(weights, norm, x, training=True)
                ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)  # (S, N)
                loss = tf.reduce_sum(tf.reduce_mean(ce, axis=1))  # each seed's mean: its own gradient
            grads = tape.gradient(loss, params)
            new = list(weights)
            for i, p, g in zip(trained, params, grads):
                new[i] = p - lr * g
            for i, m in zip(stats, moving):
                new[i] = m
            return new

        @tf.function(jit_compile=self.jit_compile)
        def train(weights, batches, n):
            """One SGD step per row of ``batches[:n]`` ((K, S, N) training-set indices; the rows after ``n``
            are padding, so that every interval runs in the same compiled program): n steps, all seeds."""
            def body(i, ws):
                return i + 1, step(ws, batches[i])

            _, weights = tf.while_loop(lambda i, ws: i < n, body, (tf.constant(0), weights))
            return weights

        @tf.function(jit_compile=self.jit_compile)
        def accuracy(weights):
            logits, _ = self._forward(weights, norm, self.x_test, training=False, shared_input=True)
            hits = tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), self.y_test[None, :])
            return tf.reduce_mean(tf.cast(hits, tf.float64), axis=1)  # (S,)

        self._fns[key] = (train, accuracy)
        return self._fns[key]

    def run(self, norm, seeds, steps, evals, lr=FIG1["lr"], batch_size=FIG1["batch_size"], on_eval=None,
            compile_only=False):
        """Train net ``norm`` (None or ``"bn"``) for ``steps`` steps, one copy per seed; returns the test
        accuracy at each step of ``evals`` (ascending, last = ``steps``) as an array (S, E).
        ``on_eval(step, acc)`` is called after each evaluation. ``compile_only``: run no step, only compile
        (XLA compiles at the first call) what the same call without it runs."""
        tf = self.tf
        train, accuracy = self._functions(norm, lr)
        weights = [tf.constant(w) for w in initial_weights(norm, seeds)]
        batches = np.stack([batch_indices(s, steps, batch_size, self.n_train) for s in seeds], axis=1)
        bounds = np.concatenate([[0], evals]).astype(int)
        chunk = np.zeros((np.diff(bounds).max(), *batches.shape[1:]), np.int32)  # (K, S, N): one shape, one program
        if compile_only:  # zero steps, one evaluation
            accuracy(train(weights, tf.constant(chunk), tf.constant(0, tf.int32)))
            return None
        acc = []
        for start, stop in zip(bounds[:-1], bounds[1:]):
            chunk[:stop - start] = batches[start:stop]
            weights = train(weights, tf.constant(chunk), tf.constant(stop - start, tf.int32))
            acc.append(accuracy(weights).numpy())
            if on_eval:
                on_eval(int(stop), acc[-1])
        return np.array(acc).T


# --- runs in worker processes (TensorFlow is never imported by the process that starts them) ------

_WORKER = {}


def _init_worker(threads: int | None) -> None:
    """A worker's TensorFlow: ``threads`` threads per operation (None: TensorFlow's default, as in the
    lesson), and the lesson's data (all training images, the first 5,000 test images)."""
    import bncourse

    tf = _tf()
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    _WORKER["data"] = (*bncourse.load_mnist("train", flatten=True), *bncourse.load_mnist("test", n=TEST_N, flatten=True))


def _cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _fast_net(name: str, seeds, steps: int, evals, every: int, started: float) -> dict:
    """Train net ``name`` for all seeds with :class:`FastFig1`; prints one line every ``every`` steps."""
    trainer = _WORKER.get("fast") or _WORKER.setdefault("fast", FastFig1(*_WORKER["data"]))

    def line(step, acc):
        if step % every == 0 or step == steps:
            print(f"  {name:>5}: step {step:>6,} of {steps:,}, test accuracy {np.mean(acc):.4f} "
                  f"(mean of {len(seeds)} seeds)  [{time.time() - started:.0f} s]", flush=True)

    trainer.run(NETS[name], seeds, steps, evals, compile_only=True)  # as the lesson's Trainer traces before it is timed
    t0, c0 = time.perf_counter(), _cpu_seconds()
    acc = trainer.run(NETS[name], seeds, steps, evals, on_eval=line)
    return {"acc": acc, "wall_s": time.perf_counter() - t0, "cpu_s": _cpu_seconds() - c0, "versions": versions()}


def _naive_net(name: str, seeds, steps: int) -> dict:
    """Train net ``name`` seed by seed with the lesson's own :class:`bncourse.experiments.Trainer`, evaluating
    every 100 steps as the lesson does; the time of the steps only (its SGD loop is traced first)."""
    from bncourse.experiments import Trainer

    trainer = Trainer(*_WORKER["data"], seeds=seeds)
    net = dict(FIG1, norm=NETS[name], bn_momentum=BN_MOMENTUM)
    trainer.train(**net, steps=100, eval_every=100)  # trace the loop, as the lesson's first run does
    t0, c0 = time.perf_counter(), _cpu_seconds()
    acc = [trainer.train(**net, seed=seed, steps=steps, eval_every=100)["acc"] for seed in seeds]
    return {"acc": np.array(acc), "wall_s": time.perf_counter() - t0, "cpu_s": _cpu_seconds() - c0}


def _pool(workers: int, threads: int | None):
    """``workers`` fresh processes (spawned: TensorFlow never forked), each set up by :func:`_init_worker`."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                               initargs=(threads,))


# --- the command ------------------------------------------------------------------------------------

def machine() -> dict:
    """The CPU model (``/proc/cpuinfo``), its cores (``os.cpu_count()``), the cores this process may use."""
    cpu = platform.processor() or platform.machine()
    try:
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu, "cores": os.cpu_count(), "usable_cores": usable, "platform": platform.platform()}


def versions() -> dict:
    """Python's, TensorFlow's, Keras's and NumPy's versions, as this process imports them."""
    import keras

    return {"python": platform.python_version(), "tensorflow": _tf().__version__, "keras": keras.__version__,
            "numpy": np.__version__}


class LoadSampler:
    """The 1-minute load average, sampled every ``every`` seconds in a background thread."""

    def __init__(self, every: float = 5.0):
        import threading

        self.samples, self.every = [os.getloadavg()[0]], every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(self.every):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self):
        self.before = [round(x, 2) for x in os.getloadavg()]
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.after = [round(x, 2) for x in os.getloadavg()]

    def summary(self) -> dict:
        """Load averages (1, 5, 15 minutes) before and after, the 1-minute one's mean and maximum during the
        run: every process's, this command's own workers included."""
        return {"before": self.before, "after": self.after, "during_1min_mean": round(float(np.mean(self.samples)), 2),
                "during_1min_max": round(float(np.max(self.samples)), 2), "samples": len(self.samples)}


def curves(acc_by_net: dict) -> dict:
    """``{net: {"mean": seed-averaged curve, "per_seed": one curve per seed}}``, accuracies on 5,000 test
    images (multiples of 0.0002, so 4 decimals are exact; the mean to 6)."""
    return {name: {"mean": [round(float(v), 6) for v in np.asarray(acc).mean(axis=0)],
                   "per_seed": [[round(float(v), 4) for v in row] for row in np.asarray(acc)]}
            for name, acc in acc_by_net.items()}


def ratios_by_length(data: dict, lengths) -> dict:
    """The lesson's ratios on the curves cut at each length (the lesson's own run: 3,000 steps)."""
    steps = np.asarray(data["step"])
    out = {}
    for length in lengths:
        keep = steps <= length
        out[str(int(length))] = ratios({n: np.asarray(c["per_seed"])[:, keep] for n, c in data["acc"].items()},
                                       steps[keep])
    return out


def naive_check(seeds, steps: int) -> dict:
    """Both nets for ``steps`` steps with the lesson's Trainer (one process, TensorFlow's default threads,
    as the lesson runs) and with the fast trainer (one process, one thread, the two nets in turn):
    wall and CPU time per 1,000 steps of both nets and all seeds, and how far the curves differ."""
    evals = np.arange(100, steps + 1, 100)
    with _pool(1, None) as naive_pool:
        naive = {name: naive_pool.submit(_naive_net, name, seeds, steps).result() for name in NETS}
    with _pool(1, 1) as fast_pool:
        fast = {name: fast_pool.submit(_fast_net, name, seeds, steps, evals, 10**9, time.time()).result()
                for name in NETS}
    per_1000 = {kind: {t: round(sum(r[t] for r in runs.values()) * 1000 / steps, 2) for t in ("wall_s", "cpu_s")}
                for kind, runs in (("lesson_trainer", naive), ("fast", fast))}
    for r in (*naive.values(), *fast.values()):
        r["acc"] = np.round(r["acc"], 4)  # k / 5000: the same float whichever way the mean was summed
    diff = {name: np.abs(naive[name]["acc"] - fast[name]["acc"]) for name in NETS}
    mean_diff = {name: np.abs(naive[name]["acc"].mean(0) - fast[name]["acc"].mean(0)) for name in NETS}
    both = {kind: {"step": evals.tolist(), "acc": curves({n: r[n]["acc"] for n in NETS})} for kind, r in
            (("lesson_trainer", naive), ("fast", fast))}
    return {
        "steps": steps, "seeds": list(seeds), "eval_every": 100,
        "time_per_1000_steps": per_1000,
        "speedup_wall": round(per_1000["lesson_trainer"]["wall_s"] / per_1000["fast"]["wall_s"], 2),
        "speedup_cpu": round(per_1000["lesson_trainer"]["cpu_s"] / per_1000["fast"]["cpu_s"], 2),
        "max_abs_acc_difference_per_seed": {n: round(float(d.max()), 4) for n, d in diff.items()},
        "max_abs_acc_difference_seed_mean": {n: round(float(d.max()), 6) for n, d in mean_diff.items()},
        "evaluations_identical": {n: int((d == 0).sum()) for n, d in diff.items()},
        "evaluations": {n: int(d.size) for n, d in diff.items()},
        "ratios": {kind: ratios({n: r[n]["acc"] for n in NETS}, evals) for kind, r in
                   (("lesson_trainer", naive), ("fast", fast))},
        "curves": both,
    }


def run(seeds, steps: int, jobs: int, every: int) -> dict:
    """Both nets for ``steps`` steps, ``jobs`` worker processes (one thread each)."""
    evals = eval_steps(steps)
    started = time.time()
    with _pool(jobs, 1) as workers:
        futures = {name: workers.submit(_fast_net, name, seeds, steps, evals, every, started) for name in NETS}
        results = {name: f.result() for name, f in futures.items()}
    return {"step": evals.tolist(), "acc": curves({n: r["acc"] for n, r in results.items()}),
            "versions": results["bn"]["versions"],
            "wall_s": round(time.time() - started, 1),
            "per_net": {n: {"wall_s": round(r["wall_s"], 1), "cpu_s": round(r["cpu_s"], 1)} for n, r in results.items()}}


def main(argv: list[str] | None = None) -> int:
    """Train, then write the results file (JSON, about 24 kB for 50,000 steps): ``step`` (the evaluation
    steps) and ``acc`` (per net, ``"mean"`` and ``"per_seed"`` test-accuracy curves at those steps);
    ``best_acc``; ``ratios`` (per length, 3,000 steps and the full run: the lesson's ratios, from
    :func:`ratios`); ``settings``, ``trainer``, ``command``, ``date``, ``machine``, ``versions``,
    ``wall_time_s``, ``cpu_time_s``, ``load_average``; with ``--compare-naive``, ``naive_check``
    (:func:`naive_check`). One progress line per net every 5,000 steps."""
    argv = sys.argv[1:] if argv is None else list(argv)
    p = argparse.ArgumentParser(prog="bngrader paper-fig1", description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=STEPS, help="SGD steps per net (default: the paper's 50,000)")
    p.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS), help="seeds (default: the lesson's 1 2 3)")
    p.add_argument("--out", type=Path, default=OUT, help="the results file (default: %(default)s)")
    p.add_argument("--jobs", type=int, default=min(2, machine()["usable_cores"] or 1),
                   help="worker processes, one net each, one thread each (default: 2 if 2 cores are usable)")
    p.add_argument("--compare-naive", type=int, metavar="STEPS", default=0,
                   help="first train both nets STEPS steps with the lesson's Trainer and with the fast trainer: "
                        "time per 1,000 steps and the largest difference of their curves (in the results file)")
    p.add_argument("--progress-every", type=int, default=5000, help="one progress line per net every N steps")
    p.add_argument("--against", type=Path, metavar="FILE",
                   help="then compare the seed-averaged curves with FILE's (e.g. the committed results, with --out "
                        "elsewhere): exit status 1 if they differ by more than 0.01 anywhere or at other steps")
    args = p.parse_args(argv)
    if args.steps < 100 or args.compare_naive % 100:
        p.error("--steps must be at least 100 and --compare-naive a multiple of 100")
    out = {"description": "Lesson 7's Figure 1 (Ioffe & Szegedy 2015, section 4.1) at the paper's length: "
                          "test accuracy of the sigmoid MLP without and with BN, written by bngrader paper-fig1",
           "command": shlex.join(["bngrader", "paper-fig1", *argv]),
           "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
           "machine": machine(), "versions": None,  # the workers' (TensorFlow is imported there only)
           "settings": {**FIG1, "momentum": 0.0, "bn_momentum": BN_MOMENTUM, "epsilon": EPSILON,
                        "train_images": 60000, "test_images": TEST_N, "seeds": list(args.seeds), "steps": args.steps,
                        "eval": "every 100 steps up to 3,000 (the lesson's grid), then every 500"},
           "trainer": {"kind": "seeds vectorized (stacked weights, batched matmuls), XLA (jit_compile=True), "
                               "one while loop per evaluation interval", "jobs": args.jobs, "threads_per_job": 1}}
    if args.compare_naive:
        print(f"Checking the fast trainer against the lesson's Trainer: {args.compare_naive:,} steps, 2 nets x "
              f"{len(args.seeds)} seeds each way ...", flush=True)
        with LoadSampler() as load:
            out["naive_check"] = naive_check(args.seeds, args.compare_naive)
        out["naive_check"]["load_average"] = load.summary()
        check = out["naive_check"]
        print(f"  per 1,000 steps (2 nets x {len(args.seeds)} seeds): lesson's Trainer "
              f"{check['time_per_1000_steps']['lesson_trainer']['wall_s']} s, fast "
              f"{check['time_per_1000_steps']['fast']['wall_s']} s (wall; {check['speedup_wall']}x); largest "
              f"accuracy difference per seed {check['max_abs_acc_difference_per_seed']}", flush=True)
    print(f"Training both nets for {args.steps:,} steps, seeds {args.seeds}, {args.jobs} process(es) ...", flush=True)
    with LoadSampler() as load:
        result = run(args.seeds, args.steps, args.jobs, args.progress_every)
    out.update(versions=result["versions"], step=result["step"], acc=result["acc"])
    out["best_acc"] = {name: round(float(max(c["mean"])), 6) for name, c in out["acc"].items()}
    out["ratios"] = ratios_by_length(out, sorted({min(3000, args.steps), args.steps}))
    out["wall_time_s"] = {"total": result["wall_s"], **{n: r["wall_s"] for n, r in result["per_net"].items()}}
    out["cpu_time_s"] = {n: r["cpu_s"] for n, r in result["per_net"].items()}
    out["load_average"] = load.summary()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    r = out["ratios"][str(args.steps)]
    print(f"fig1_step_ratio {r['fig1_step_ratio']}, fig1_step_ratio_90pct {r['fig1_step_ratio_90pct']} at "
          f"{args.steps:,} steps; {result['wall_s']:.0f} s, load average {out['load_average']['during_1min_mean']} "
          f"(1-minute, mean during the run); wrote {args.out}")
    return compare(out, json.loads(args.against.read_text()), args.against) if args.against else 0


def compare(fresh: dict, committed: dict, name, tolerance: float = 0.01) -> int:
    """0 if ``fresh``'s seed-averaged curves are those of ``committed`` (same steps, each point
    within ``tolerance``: round-off may differ on another CPU), else 1; prints the differences."""
    if fresh["step"] != committed["step"]:
        print(f"the evaluation steps differ from {name}'s")
        return 1
    worst = {n: float(np.abs(np.array(fresh["acc"][n]["mean"]) - np.array(committed["acc"][n]["mean"])).max())
             for n in committed["acc"]}
    print(f"largest difference of the seed-averaged curves from {name}: "
          + ", ".join(f"{n} {d:.4f}" for n, d in worst.items()))
    return int(max(worst.values()) > tolerance)


if __name__ == "__main__":
    sys.exit(main())
