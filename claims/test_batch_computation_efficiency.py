"""P2, a batch is computed more efficiently than its examples one by one.

Claim (Ioffe & Szegedy 2015, section 1, quoted in the talk): "computation over a batch can be much more
efficient than m computations for individual examples, due to the parallelism afforded by the modern
computing platforms."

Experiment: the talk's BN model (the engine's model for the base spec: Dense(use_bias=False) -> BN -> relu
x 3, softmax; the session dataset's input size) and one SGD training step (lr 0.01, categorical
cross-entropy) compiled once (jax.jit or tf.function, on the Keras backend the session's engine runs:
bnclaims.steps), so Python and tracing overhead are outside the measurement and what is timed is the
framework running the step's ops. After warm-up (tracing and one call per shape),
each of 7 repeats times, back to back, 256 steps at batch 1 and 16 steps at batch 128 (2,048 examples),
on fixed real training images, and computes the per-example time of each. Interleaving the two inside
every repeat makes a burst of load from other processes hit both. The effect is the ratio
    (seconds per example at batch 1) / (seconds per example at batch 128),
reported as the median over the repeats with the min-max range over repeats as its interval (7 values;
a bootstrap of a median from 7 values would add nothing). The step runs on the CPU threads this pytest
process is given (under xdist: its share of the cores, usually 1); the report records the count.
Note that at batch 1 BN's training-mode output is degenerate (each value equals its batch mean, so
z_norm = 0): the same ops run, so the timing is valid, and it is a reminder that BN needs batches anyway.

Criterion (fixed before measuring): the median ratio >= 5, judged by the distribution-free interval of
the median from the 7 repeats, [min, max], which covers the median with probability 1 - 2 * 2^-7 =
98.4%: supported when its lower end (the smallest ratio) is >= 5, refuted when its upper end (the
largest) is < 5, inconclusive otherwise. Why 5: "much more efficient" means more than a small constant
factor; 5x means batching removes 80% of the per-example cost. On CPU the expected ratio is typically
10-100x (per-step dispatch costs ~0.1-1 ms whatever the batch, while a 128-row matmul vectorizes), so 5 is a
WIDE margin: timing on a shared 2-core CI machine is noisy (other workers train concurrently; single
repeats can be off by 2-3x), and a claim about hardware parallelism should fail only when batching really
stops paying, not when the machine is busy. This is a measurement on this machine and framework version,
not a timing test of the suite's own code.
"""

from __future__ import annotations

import time

import numpy as np

from bnclaims import backend, figures, steps
from bnclaims.catalogue import Claim, declare
from bnclaims.engines.model import build_model

RATIO_THRESHOLD = 5.0
REPEATS = 7
MEDIAN_COVERAGE = 1 - 2 * 0.5 ** REPEATS    # P(min < median < max) for 7 independent repeats
BIG_BATCH, SMALL_BATCH = 128, 1
SMALL_STEPS, BIG_STEPS = 256, 16   # per repeat: 256 examples one by one, 2,048 in batches of 128

CHECKS = declare({"test_batch_is_more_efficient_than_single_examples": {
    "P2.batch128_vs_batch1": Claim(
        statement="Computation over a batch can be much more efficient than m computations for individual "
                  "examples, due to the parallelism afforded by the modern computing platforms.",
        source="Ioffe & Szegedy 2015, section 1 (quoted in the talk)",
        metric="time/example ratio b1:b128",
        test="measured",
        threshold=RATIO_THRESHOLD,
        threshold_reason="'much more efficient' = batching removes >= 80% of the per-example cost; expected "
                         "10-100x on CPU, so 5x is a wide margin against noise on a shared 2-core machine",
        criterion=f"median over {REPEATS} repeats of (s/example at batch {SMALL_BATCH}) / (s/example at batch "
                  f"{BIG_BATCH}) >= {RATIO_THRESHOLD:g}: the smallest of the {REPEATS} ratios (the lower end of "
                  f"the {MEDIAN_COVERAGE:.1%} distribution-free interval of the median) >= {RATIO_THRESHOLD:g}",
        mirror_criterion=f"the largest of the {REPEATS} ratios (the interval's upper end) < {RATIO_THRESHOLD:g}"),
}})


def time_steps(step, x, y, count: int) -> float:
    """Wall seconds for `count` calls of the compiled step, waiting for the last result."""
    started = time.perf_counter()
    for _ in range(count):
        loss = step(x, y)
    float(loss)
    return time.perf_counter() - started


def test_batch_is_more_efficient_than_single_examples(check, lab, verify, figure):
    backend.load(lab.settings.threads)
    spec = lab.base_spec()
    dataset = lab.dataset
    model = build_model(spec, dataset.num_features, dataset.num_classes, seed=0)
    train_step = steps.sgd_step(model, spec.learning_rate)

    images = np.asarray(dataset.x_train[:BIG_BATCH], np.float32) / np.float32(dataset.pixel_max)
    labels = np.eye(dataset.num_classes, dtype=np.float32)[dataset.y_train[:BIG_BATCH]]
    big = (steps.on_device(images), steps.on_device(labels))
    small = (steps.on_device(images[:SMALL_BATCH]), steps.on_device(labels[:SMALL_BATCH]))
    for x, y in (big, small):           # trace each shape once and warm the caches
        time_steps(train_step, x, y, 3)

    per_example_small, per_example_big = [], []
    for _ in range(REPEATS):
        per_example_small.append(time_steps(train_step, *small, SMALL_STEPS) / (SMALL_STEPS * SMALL_BATCH))
        per_example_big.append(time_steps(train_step, *big, BIG_STEPS) / (BIG_STEPS * BIG_BATCH))
    small_t, big_t = np.array(per_example_small), np.array(per_example_big)
    ratios = small_t / big_t
    median = float(np.median(ratios))
    threads = lab.settings.threads or "all"

    figure(figures.sweep("P2: seconds per example of one SGD training step, by batch size", "batch size",
                         "seconds per example", {"talk's BN model": {SMALL_BATCH: small_t.tolist(),
                                                                      BIG_BATCH: big_t.tolist()}},
                         x_log=True, claim_id="P2"))
    figure(figures.table("P2: per-repeat timings", ["repeat", "us/example batch 1", "us/example batch 128",
                                                    "ratio"],
                         [[i, round(s * 1e6, 2), round(b * 1e6, 2), round(r, 2)]
                          for i, (s, b, r) in enumerate(zip(small_t, big_t, ratios))], claim_id="P2"))
    low, high = float(ratios.min()), float(ratios.max())
    outcome = "supported" if low >= RATIO_THRESHOLD else "refuted" if high < RATIO_THRESHOLD else "inconclusive"
    verify.measured(
        check, effect=median, ci=(low, high), ci_method=f"min-max of {REPEATS} repeats ({MEDIAN_COVERAGE:.1%} for the median)",
        outcome=outcome, n=REPEATS, test_name=f"median of {REPEATS} repeats, distribution-free interval",
        observed=f"{np.median(small_t) * 1e6:.1f} us/example at batch 1, {np.median(big_t) * 1e6:.2f} us/example "
                 f"at batch 128 (medians), TensorFlow threads: {threads}",
        details={"seconds_per_example_batch1": small_t.tolist(), "seconds_per_example_batch128": big_t.tolist(),
                 "ratios": ratios.tolist(), "threads": threads, "steps_batch1": SMALL_STEPS,
                 "steps_batch128": BIG_STEPS})
