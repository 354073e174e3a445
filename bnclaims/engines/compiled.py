"""The compiled engine: Keras layers on JAX, a whole run as one compiled XLA program.

A run is the talk's model (bnclaims.engines.model, Keras layers and initializers), trained by SGD on categorical
cross-entropy, but instead of Keras `fit` stepping through Python, `model.stateless_call` and the
Keras SGD optimizer's `stateless_apply` run inside a jitted `lax.scan` over the steps of each epoch,
itself inside a loop over epochs (which stops after the epoch in which a run diverged), on the same
epoch orders as the reference engine draws from the seed.
Validation, the step-level record, the pre-activation probe and the test predictions happen inside the
same program. The loss is taken from the logits, as Keras on TensorFlow takes it (see Program).

Programs are shared. Everything that only changes numbers, not shapes, is an input of the program: the
initial weights (so the seed and the kernel initializer), the learning rate, the dropout and L2 rates
(see Signature.of for the one exception), the epochs' orders, the input scaling. Runs that share
architecture, batch size, budget and dataset shape share one compiled program (see Signature),
compiled once per process and kept on disk by JAX's persistent compilation cache for later sessions
(apart from the run cache: bnclaims.lab). The activation stays inside the program, and on a CPU each
seed is one call of its program, not a lane of a vmapped group: a seed's result then depends only on its
spec and data, whichever seeds, order, process or thread count (tests/test_engine.py), and neither
alternative measured faster on a CPU (docs/engines.md, "Design choices, measured").

On an accelerator, where a run's time is set by per-step launch latency, seeds train in canonical blocks
(train_runs, RunContext.seed_block B): seed s trains as one lane of a program vmapped over the seeds
floor(s/B)*B .. floor(s/B)*B + B - 1, whichever of them were asked for. A lane rounds differently from the
same seed alone, so B is in the run key; a block is fixed by the seed alone, so a seed's result depends
only on its spec, its block and its data.

Divergence is an outcome: the first step whose loss is not finite is recorded, its update applied (as
Keras `fit` applies it before TerminateOnNaN stops), and every later update masked, so the weights stay
those a diverged `fit` run ends with. Epochs after it are NaN in the history, as with `fit`.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import math
import time
from dataclasses import dataclass

import numpy as np

from .. import backend
from . import probes
from ..data import Dataset, split_for_run
from .model import build_model
from ..results import HISTORY_KEYS, STEP_VALIDATION_EXAMPLES, RunResult, log_steps
from ..spec import RunContext, RunSpec, fields_with_role, run_key
from .shared import cross_entropy_and_accuracy, epoch_orders, finished_run, prepare_inputs

ENGINE = "compiled"
RATE_INPUT = -1.0   # in a Signature: this rate is an input of the program, not fixed in it
# The rate a template model is built with where the program takes the run's rate as an input: any nonzero
# value, so that the template has the layer (Dropout) or the penalty (L2) for the input to set.
RATE_PLACEHOLDERS = {"dropout": 0.5, "l2": 0.01}
# Records computed inside the compiled program (the others run on the trained model, outside it).
PROGRAM_RECORDS = ("preactivation_percentiles", "train_inference")
# The vmapped axis of a block program (Program.run_block), named so that the program can ask whether any
# of its lanes still trains.
LANES = "lanes"
# Which of a program's data inputs (_host_arrays' order) are a lane's own under the "per_seed" split: all
# but the test split, which no seed redraws.
PER_LANE_DATA = (0, 0, 0, 0, None, None, 0, 0, 0)


@dataclass(frozen=True)
class Signature:
    """What one compiled program is specialised to: every RunSpec field whose role is "shape" or "rate"
    (bnclaims.spec.FIELD_ROLES), the records computed inside the program, and the dataset's sizes.
    Everything else about a run is an input."""

    # (field, value) of every shape and rate field: a rate is RATE_INPUT where it is an input. Not named
    # "architecture": RunSpec has a field of that name, which reads as an attribute like the others.
    fields: tuple[tuple[str, object], ...]
    program_records: tuple[str, ...]               # PROGRAM_RECORDS the run asks for
    num_features: int
    num_classes: int
    n_train: int
    n_val: int
    n_test: int

    @classmethod
    def of(cls, spec: RunSpec, dataset: Dataset) -> "Signature":
        """A nonzero dropout or L2 rate is an input of the program (runs that differ only in their rates
        share it), except for runs that record probes on the trained model: those probes run outside the
        program, on its template model, which then has to hold the run's own rates."""
        rates_inside = probes.asks_for_trained_model_records(spec)
        rates = set(fields_with_role("rate"))

        def value(name: str):
            held = getattr(spec, name)
            return RATE_INPUT if name in rates and held and not rates_inside else held

        return cls(tuple((name, value(name)) for name in fields_with_role("shape", "rate")),
                   tuple(record for record in PROGRAM_RECORDS if record in spec.record),
                   dataset.num_features, dataset.num_classes, len(dataset.y_train), len(dataset.y_val),
                   len(dataset.y_test))

    def __getattr__(self, name: str):
        # The spec's fields read as attributes (signature.momentum, signature.epochs, signature.architecture).
        for field_name, value in object.__getattribute__(self, "fields"):
            if field_name == name:
                return value
        raise AttributeError(name)

    @property
    def percentiles(self) -> bool:
        """The pre-activation probe runs inside the program."""
        return "preactivation_percentiles" in self.program_records

    @property
    def train_inference(self) -> bool:
        return "train_inference" in self.program_records

    def spec(self) -> RunSpec:
        """A spec with this architecture, for building the program's template model. Where a rate is an
        input, the template holds a placeholder (RATE_PLACEHOLDERS) that the program overrides."""
        return RunSpec(**{name: RATE_PLACEHOLDERS[name] if value == RATE_INPUT else value
                          for name, value in self.fields})

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.n_train / self.batch_size)

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch


class Program:
    """One compiled training program and the Keras objects it was traced from."""

    def __init__(self, signature: Signature) -> None:
        _, keras = backend.load(name="jax")
        import jax

        self.signature = signature
        # The program's model ends in logits: Keras on TensorFlow computes the training loss from the
        # logits under a softmax output (its backend finds them on the softmax tensor), while JAX arrays
        # cannot carry them, and Keras on JAX clips the probabilities instead, so gradients vanish where
        # they saturate (large learning rates, raw inputs, big weights: the talk's comparisons 2-4).
        self.model = build_model(signature.spec(), signature.num_features, signature.num_classes, seed=0,
                                 logits=True, dropout_layer=_input_rate_dropout(keras))
        self._dropouts = [layer for layer in self.model.layers if isinstance(layer, keras.layers.Dropout)]
        self._regularized = [i for i, v in enumerate(self.model.trainable_variables) if v.regularizer is not None]
        self.optimizer = keras.optimizers.SGD(learning_rate=0.01, momentum=signature.momentum)
        self.optimizer.build(self.model.trainable_variables)
        self._lr_index = next(i for i, v in enumerate(self.optimizer.variables)
                              if v is self.optimizer._learning_rate)
        self._loss = keras.losses.CategoricalCrossentropy(from_logits=True)
        self._softmax = keras.activations.softmax
        self._probe, self._probe_trainable, self._probe_state = self._percentile_probe(keras)
        self.logged = np.asarray(log_steps(signature.total_steps), dtype=np.int32)
        self._run = jax.jit(self._program)
        self._step = jax.jit(self._training_step)
        self.compiled_seconds: float | None = None
        # Block programs (run_block), compiled once per (lanes, whether each lane has its own data).
        self._blocks: dict[tuple[int, bool], object] = {}

    # ------------------------------------------------------------------ inputs

    def initial_state(self, spec: RunSpec) -> tuple:
        """(weights, state, optimizer variables) at the start of `spec`'s run. The model is built again
        with the run's seed: the same Keras initializers and random layers, seeded explicitly."""
        import jax.numpy as jnp

        fresh = build_model(spec, self.signature.num_features, self.signature.num_classes, seed=spec.seed)
        weights = [v.value for v in fresh.trainable_variables]
        state = [v.value for v in fresh.non_trainable_variables]
        optimizer = [v.value for v in self.optimizer.variables]
        optimizer[self._lr_index] = jnp.asarray(spec.learning_rate, dtype=optimizer[self._lr_index].dtype)
        return weights, state, optimizer

    @staticmethod
    def rates(spec: RunSpec) -> tuple:
        """(dropout's keep probability, the L2 rate) as float32 inputs, computed as Keras computes them
        from the layers' Python floats (1.0 - rate in double precision, then float32)."""
        return np.float32(1.0 - spec.dropout), np.float32(spec.l2)

    # ------------------------------------------------------------------ traced code

    def _forward(self, weights, state, rates, x, training: bool):
        """Logits, the updated state, and the total loss's regularization part, at the run's rates."""
        import jax.numpy as jnp

        keep_probability, l2 = rates
        with _keep_probability(self._dropouts, keep_probability):
            logits, state = self.model.stateless_call(weights, state, x, training=training)
        # What the kernels' keras.regularizers.L2 adds to the model's losses, in the same order and
        # arithmetic, with the rate an input.
        losses = [l2 * jnp.sum(jnp.square(weights[i])) for i in self._regularized]
        penalty = sum(losses) if losses else 0.0
        return logits, state, penalty

    def _loss_of(self, weights, state, rates, x, labels):
        import jax

        logits, state, penalty = self._forward(weights, state, rates, x, training=True)
        targets = jax.nn.one_hot(labels, self.signature.num_classes, dtype=logits.dtype)
        # What Keras `fit` minimises and reports: mean cross-entropy plus the regularization losses.
        return self._loss(targets, logits) + penalty, (logits, state)

    def _training_step(self, weights, state, optimizer, rates, x, labels):
        """One SGD step as Keras `fit` takes it: (loss, logits, weights, state, optimizer)."""
        import jax

        (loss, (logits, state)), gradients = jax.value_and_grad(self._loss_of, has_aux=True)(
            weights, state, rates, x, labels)
        weights, optimizer = self.optimizer.stateless_apply(optimizer, gradients, weights)
        return loss, logits, weights, state, optimizer

    def _evaluate(self, weights, state, rates, x, labels):
        """Inference-mode (loss, accuracy, probabilities) as Keras `evaluate` reports them."""
        import jax
        import jax.numpy as jnp

        logits, _, penalty = self._forward(weights, state, rates, x, training=False)
        targets = jax.nn.one_hot(labels, self.signature.num_classes, dtype=logits.dtype)
        probabilities = self._softmax(logits)
        accuracy = jnp.mean((jnp.argmax(probabilities, axis=1) == labels).astype(jnp.float32))
        return self._loss(targets, logits) + penalty, accuracy, probabilities

    def _step_accuracies(self, weights, state, rates, x, labels):
        """(inference-mode, training-mode) accuracy on the step-validation examples (results.STEP_KEYS).
        The training-mode pass's updated state is dropped: BN's moving statistics and the random layers'
        draws stay as training left them."""
        import jax.numpy as jnp

        logits, _, _ = self._forward(weights, state, rates, x, training=True)
        train_mode = jnp.mean((jnp.argmax(self._softmax(logits), axis=1) == labels).astype(jnp.float32))
        return self._evaluate(weights, state, rates, x, labels)[1], train_mode

    def _percentile_probe(self, keras):
        if not self.signature.percentiles:
            return None, None, None
        activations = [layer for layer in self.model.layers if isinstance(layer, keras.layers.Activation)]
        probe = keras.Model(self.model.inputs[0], activations[-1].input)

        def positions(part, whole):
            return [next(i for i, w in enumerate(whole) if w is v) for v in part]

        return (probe, positions(probe.trainable_variables, self.model.trainable_variables),
                positions(probe.non_trainable_variables, self.model.non_trainable_variables))

    def _preactivations(self, weights, state, rates, x_probe):
        # Training mode, as the network sees its inputs while it learns; the updated state is dropped,
        # so probing changes neither BN's moving statistics nor the random layers' draws.
        with _keep_probability(self._dropouts, rates[0]):
            values, _ = self._probe.stateless_call([weights[i] for i in self._probe_trainable],
                                                   [state[i] for i in self._probe_state], x_probe, training=True)
        return values

    def _program(self, weights, state, optimizer, rates, orders, x_train, y_train, x_val, y_val, x_test, y_test, x_probe,
                 x_steps, y_steps, lanes: str | None = None):
        import jax
        import jax.numpy as jnp
        from jax import lax

        sig = self.signature
        full, remainder = divmod(sig.n_train, sig.batch_size)
        logged = jnp.asarray(self.logged)
        count = len(self.logged)

        def step(carry, indices):
            (weights, state, optimizer), tally, diverged_at, step_number, logged_loss, logged_accuracy, \
                logged_train_mode = carry
            loss, logits, new_weights, new_state, new_optimizer = self._training_step(
                weights, state, optimizer, rates, x_train[indices], y_train[indices])
            step_number = step_number + 1
            stopped = diverged_at > 0   # an earlier step diverged: this one does not count
            kept = jax.tree_util.tree_map(lambda old, new: jnp.where(stopped, old, new),
                                          (weights, state, optimizer), (new_weights, new_state, new_optimizer))
            diverged_at = jnp.where(stopped | jnp.isfinite(loss), diverged_at, step_number)
            labels = y_train[indices]
            size = jnp.float32(indices.shape[0])
            # Of the probabilities, as Keras's accuracy: where they saturate, ties go to the first class.
            correct = jnp.sum((jnp.argmax(self._softmax(logits), axis=1) == labels).astype(jnp.float32))
            tally = tuple(jnp.where(stopped, t, t + v) for t, v in zip(tally, (loss * size, correct, size)))
            slot = jnp.minimum(jnp.searchsorted(logged, step_number), count - 1)
            # The condition depends on the step number alone, so that it stays a branch (and is not
            # evaluated at every step) should the program be vectorized over runs.
            accuracy, train_mode = lax.cond(logged[slot] == step_number,
                                            lambda s: self._step_accuracies(*s, rates, x_steps, y_steps),
                                            lambda s: (jnp.float32(jnp.nan), jnp.float32(jnp.nan)), kept[:2])
            is_logged = (logged[slot] == step_number) & ~stopped
            logged_loss = logged_loss.at[slot].set(jnp.where(is_logged, loss, logged_loss[slot]))
            logged_accuracy = logged_accuracy.at[slot].set(jnp.where(is_logged, accuracy, logged_accuracy[slot]))
            logged_train_mode = logged_train_mode.at[slot].set(
                jnp.where(is_logged, train_mode, logged_train_mode[slot]))
            return (kept, tally, diverged_at, step_number, logged_loss, logged_accuracy, logged_train_mode), None

        def epoch(carry, order):
            zero = jnp.float32(0)
            carry = (carry[0], (zero, zero, zero), *carry[2:])
            carry, _ = lax.scan(step, carry, order[:full * sig.batch_size].reshape(full, sig.batch_size))
            if remainder:   # Keras keeps the last, smaller batch of an epoch
                carry, _ = step(carry, order[full * sig.batch_size:])
            (weights, state, _), (loss_sum, correct, seen) = carry[0], carry[1]
            val_loss, val_accuracy, _ = self._evaluate(weights, state, rates, x_val, y_val)
            outputs = {"train_loss": loss_sum / seen, "train_accuracy": correct / seen,
                       "val_loss": val_loss, "val_accuracy": val_accuracy}
            if sig.percentiles:
                outputs["preactivations"] = self._preactivations(weights, state, rates, x_probe)
            return carry, outputs

        nan_log = jnp.full((count,), jnp.nan, jnp.float32)
        start = ((weights, state, optimizer), (jnp.float32(0),) * 3, jnp.int32(0), jnp.int32(0), nan_log, nan_log,
                 nan_log)
        carry, per_epoch = self._epochs_until_diverged(epoch, start, orders, lanes=lanes)
        (weights, state, optimizer), _, diverged_at, _, logged_loss, logged_accuracy, logged_train_mode = carry
        _, _, test_probabilities = self._evaluate(weights, state, rates, x_test, y_test)
        outputs = {"per_epoch": per_epoch, "diverged_at": diverged_at, "logged_loss": logged_loss,
                   "logged_accuracy": logged_accuracy, "logged_train_mode": logged_train_mode,
                   "test_probabilities": test_probabilities,
                   "weights": weights, "state": state}
        if sig.percentiles:
            outputs["initial_preactivations"] = self._preactivations(*start[0][:2], rates, x_probe)
        if sig.train_inference:
            outputs["train_probabilities"] = self._evaluate(weights, state, rates, x_train, y_train)[2]
        return outputs

    def _epochs_until_diverged(self, epoch, start, orders, *, lanes: str | None = None):
        """lax.scan(epoch, start, orders), but the epochs after the one in which the run diverged are
        not run: every update after divergence is masked, so each of them would evaluate the same frozen
        model as the diverging epoch ended with. Their outputs are that epoch's (bnclaims.engines.compiled's
        results cut the history there). A run that diverges early costs a pass, not its whole budget.
        lanes: the name of the vmapped axis in a block program (_lanes_until_diverged)."""
        import jax
        import jax.numpy as jnp
        from jax import lax

        epochs = orders.shape[0]
        shapes = jax.eval_shape(lambda carry, order: epoch(carry, order)[1], start, orders[0])
        buffers = jax.tree_util.tree_map(lambda s: jnp.zeros((epochs, *s.shape), s.dtype), shapes)
        if lanes is not None:
            return self._lanes_until_diverged(epoch, start, orders, buffers, lanes)

        def running(loop):
            done, carry, _ = loop
            return (done < epochs) & (carry[2] == 0)     # carry[2]: the step the run diverged at, or 0

        def one_epoch(loop):
            done, carry, buffers = loop
            carry, outputs = epoch(carry, orders[done])
            buffers = jax.tree_util.tree_map(lambda b, o: lax.dynamic_update_index_in_dim(b, o, done, 0),
                                             buffers, outputs)
            return done + 1, carry, buffers

        done, carry, buffers = lax.while_loop(running, one_epoch, (jnp.int32(0), start, buffers))
        skipped = jnp.arange(epochs) >= done

        def repeat_last(values):
            return jnp.where(skipped.reshape((epochs,) + (1,) * (values.ndim - 1)), values[done - 1], values)

        return carry, jax.tree_util.tree_map(repeat_last, buffers)

    @staticmethod
    def _lanes_until_diverged(epoch, start, orders, buffers, lanes: str):
        """_epochs_until_diverged for one lane of a block program vmapped over the axis `lanes`: the
        epochs run while any lane still trains, so that the loop's condition, its epoch count and the
        step numbers stay one for all lanes (vmap would otherwise turn the step record's branch into a
        select, evaluated at every step). A lane that diverged keeps its weights through the later
        epochs (its updates are masked) and its outputs are those of its own last epoch, as alone."""
        import jax
        import jax.numpy as jnp
        from jax import lax

        epochs = orders.shape[0]

        def running(loop):
            done, _, carry, _ = loop
            # carry[2]: the step the lane diverged at, or 0
            return (done < epochs) & (lax.psum((carry[2] == 0).astype(jnp.int32), lanes) > 0)

        def one_epoch(loop):
            done, ran, carry, buffers = loop
            going = carry[2] == 0
            carry, outputs = epoch(carry, orders[done])
            buffers = jax.tree_util.tree_map(
                lambda b, o: jnp.where(going, lax.dynamic_update_index_in_dim(b, o, done, 0), b), buffers, outputs)
            return done + 1, ran + going.astype(jnp.int32), carry, buffers

        _, ran, carry, buffers = lax.while_loop(running, one_epoch, (jnp.int32(0), jnp.int32(0), start, buffers))
        skipped = jnp.arange(epochs) >= ran

        def repeat_last(values):
            return jnp.where(skipped.reshape((epochs,) + (1,) * (values.ndim - 1)), values[ran - 1], values)

        return carry, jax.tree_util.tree_map(repeat_last, buffers)

    # ------------------------------------------------------------------ running

    def one_step(self, spec: RunSpec, weights, state, x: np.ndarray, labels: np.ndarray):
        """The training step the program scans, from given weights and state on one batch, for
        equivalence checks (bnclaims.engines.fit.one_step is Keras fit's): (the step's loss, weights
        after, state after, the inference-mode loss on the batch after)."""
        import jax

        optimizer, rates = self.initial_state(spec)[2], self.rates(spec)
        x, labels = np.asarray(x, np.float32), np.asarray(labels, np.int32)
        loss, _, weights, state, _ = self._step(list(weights), list(state), optimizer, rates, x, labels)
        after = jax.jit(self._evaluate)(weights, state, rates, x, labels)[0]
        return (float(loss), [np.asarray(w) for w in weights], [np.asarray(s) for s in state], float(after))

    def run(self, spec: RunSpec, dataset: Dataset, context: RunContext, initial=None) -> RunResult:
        """Train one run. initial: (weights, state) to start from instead of the seed's, for
        equivalence checks."""
        import jax

        started, compiled_before = time.perf_counter(), backend.compile_seconds()
        data = _device_arrays(dataset, spec.input_scaling)
        weights, state, optimizer = self.initial_state(spec)
        if initial is not None:
            weights, state = [np.asarray(w) for w in initial[0]], [np.asarray(s) for s in initial[1]]
        orders = np.stack(list(epoch_orders(spec.seed, self.signature.n_train, self.signature.epochs))).astype(np.int32)
        rates = self.rates(spec)
        if self.compiled_seconds is None:
            before = time.perf_counter()
            self._run = self._run.lower(weights, state, optimizer, rates, orders, *data).compile()
            self.compiled_seconds = time.perf_counter() - before
        outputs = jax.device_get(self._run(weights, state, optimizer, rates, orders, *data))
        return self._result(spec, dataset, context, outputs, data, started, compiled_before)

    def run_block(self, specs: list[RunSpec], datasets: list[Dataset], context: RunContext) -> list[RunResult]:
        """Train specs that differ only in their seed as the lanes of one program vmapped over them, each
        on its own split (datasets, in spec order): under the "per_seed" split each lane has its own
        training and validation arrays, under "fixed" the lanes share the dataset's. The lanes share
        their rates. Results in spec order."""
        import jax
        import jax.numpy as jnp

        started, compiled_before = time.perf_counter(), backend.compile_seconds()
        sig, count = self.signature, len(specs)
        per_lane = specs[0].split != "fixed"
        scaling = specs[0].input_scaling
        if per_lane:
            lane_data = [_host_arrays(dataset, scaling) for dataset in datasets]
            data = tuple(jax.device_put(np.stack(parts) if axis == 0 else parts[0])
                         for parts, axis in zip(zip(*lane_data), PER_LANE_DATA))
        else:
            data = _device_arrays(datasets[0], scaling)
            lane_data = [data] * count
        states = [self.initial_state(spec) for spec in specs]
        stacked = jax.tree_util.tree_map(lambda *lanes: jnp.stack(lanes), *states)
        orders = np.stack([np.stack(list(epoch_orders(spec.seed, sig.n_train, sig.epochs)))
                           for spec in specs]).astype(np.int32)
        rates = self.rates(specs[0])
        if (count, per_lane) not in self._blocks:
            axes = PER_LANE_DATA if per_lane else (None,) * len(data)
            program = jax.vmap(functools.partial(self._program, lanes=LANES), in_axes=(0, 0, 0, None, 0, *axes),
                               axis_name=LANES)
            self._blocks[count, per_lane] = jax.jit(program).lower(*stacked, rates, orders, *data).compile()
        outputs = jax.device_get(self._blocks[count, per_lane](*stacked, rates, orders, *data))
        # The block's time, its compilation on first use included, is shared evenly among its lanes; each
        # lane adds the time of its own results and probes (and of compiling the probes' functions).
        shared_seconds = (time.perf_counter() - started) / count
        shared_compiling = (backend.compile_seconds() - compiled_before) / count
        results = []
        for lane, (spec, dataset) in enumerate(zip(specs, datasets)):
            lane_outputs = jax.tree_util.tree_map(lambda values: values[lane], outputs)
            results.append(self._result(spec, dataset, context, lane_outputs, lane_data[lane],
                                        time.perf_counter() - shared_seconds,
                                        backend.compile_seconds() - shared_compiling))
        return results

    def _result(self, spec, dataset, context, outputs, data, started: float, compiled_before: float) -> RunResult:
        """The run's result; its wall time, and the part of it spent making programs (the run's own on
        first use, the probes'), count from `started` to after the probes."""
        sig = self.signature
        diverged_at = int(outputs["diverged_at"])
        epochs_completed = sig.epochs if not diverged_at else (diverged_at - 1) // sig.steps_per_epoch + 1
        history = {}
        for name in HISTORY_KEYS:
            values = [float(v) for v in outputs["per_epoch"][name]]
            history[name] = values[:epochs_completed] + [float("nan")] * (sig.epochs - epochs_completed)
        ran = [i for i, s in enumerate(self.logged) if not diverged_at or s <= diverged_at]
        steps = {"step": [int(self.logged[i]) for i in ran],
                 "train_loss": [float(outputs["logged_loss"][i]) for i in ran],
                 "val_accuracy": [float(outputs["logged_accuracy"][i]) for i in ran],
                 "val_accuracy_train_mode": [float(outputs["logged_train_mode"][i]) for i in ran]}

        extras = {}
        if sig.train_inference:
            loss, accuracy = cross_entropy_and_accuracy(np.asarray(outputs["train_probabilities"]), dataset.y_train)
            extras["train_inference"] = {"loss": loss if math.isfinite(loss) else None, "accuracy": accuracy}
        if sig.percentiles:
            snapshots = [outputs["initial_preactivations"], *outputs["per_epoch"]["preactivations"]]
            extras["preactivation_percentiles"] = {"percentiles": list(probes.PERCENTILES),
                                                   "snapshots": [probes.percentile_snapshot(s) for s in snapshots]}
        if probes.asks_for_trained_model_records(spec):
            extras.update(self._trained_model_probes(spec, dataset, outputs, data))
        return finished_run(spec, context, dataset, history=history, epochs_completed=epochs_completed,
                            test_probabilities=np.asarray(outputs["test_probabilities"]),
                            diverged_step=diverged_at or None, steps=steps, extras=extras, started=started,
                            compile_seconds=backend.compile_seconds() - compiled_before)

    def _trained_model_probes(self, spec, dataset, outputs, data) -> dict:
        """The probes both engines share (probes.trained_model_records), on the template model holding
        this run's trained weights."""
        for variable, value in zip(self.model.trainable_variables, outputs["weights"]):
            variable.assign(value)
        for variable, value in zip(self.model.non_trainable_variables, outputs["state"]):
            variable.assign(value)
        return probes.trained_model_records(spec, self.model, np.asarray(data[0]), dataset.y_train,
                                            dataset.num_classes, np.asarray(data[4]), dataset.y_test,
                                            self.initial_state(spec)[:2], from_logits=True)


# ---------------------------------------------------------------------- module level

@functools.cache
def _input_rate_dropout(keras):
    """keras.layers.Dropout, whose keep probability a program gives while it traces (so that runs that
    differ only in their dropout rate share one program). It draws its mask as Keras on JAX draws it
    (keras.src.backend.jax.random.dropout), with the keep probability a traced float32 value instead of
    a Python float; outside a program's tracing it is Keras's Dropout, with its own rate."""
    import jax
    from keras.src.backend.jax.random import jax_draw_seed

    class InputRateDropout(keras.layers.Dropout):
        keep_probability = None

        def call(self, inputs, training=False):
            keep = self.keep_probability
            if keep is None or not training:
                return super().call(inputs, training=training)
            mask = jax.random.bernoulli(jax_draw_seed(self.seed_generator), p=keep, shape=inputs.shape)
            # Keras divides by a constant, which XLA compiles as a product with its float32 reciprocal.
            return jax.lax.select(mask, inputs * (1.0 / keep), jax.numpy.zeros_like(inputs))

    return InputRateDropout


@contextlib.contextmanager
def _keep_probability(layers, keep):
    """Gives the Dropout layers a keep probability for the duration of a traced call."""
    for layer in layers:
        layer.keep_probability = keep
    try:
        yield
    finally:
        for layer in layers:
            layer.keep_probability = None


_programs: dict[Signature, Program] = {}
_arrays: dict[tuple[str, str], tuple] = {}


def program_for(spec: RunSpec, dataset: Dataset) -> Program:
    """The process's compiled program for the spec's signature, created on first use."""
    signature = Signature.of(spec, dataset)
    if signature not in _programs:
        _programs[signature] = Program(signature)
    return _programs[signature]


def _host_arrays(dataset: Dataset, scaling: str) -> tuple:
    """The dataset as the program's inputs, in host memory."""
    x_val = prepare_inputs(dataset.x_val, scaling, dataset)
    y_val = dataset.y_val.astype(np.int32)
    return (prepare_inputs(dataset.x_train, scaling, dataset), dataset.y_train.astype(np.int32),
            x_val, y_val, prepare_inputs(dataset.x_test, scaling, dataset), dataset.y_test.astype(np.int32),
            x_val[:probes.PERCENTILE_EXAMPLES], x_val[:STEP_VALIDATION_EXAMPLES], y_val[:STEP_VALIDATION_EXAMPLES])


def _device_arrays(dataset: Dataset, scaling: str) -> tuple:
    """The dataset as the program's inputs, placed on the device once per dataset and scaling."""
    import jax

    cache_key = (dataset.fingerprint, scaling)
    if cache_key not in _arrays:
        _arrays[cache_key] = tuple(jax.device_put(a) for a in _host_arrays(dataset, scaling))
    return _arrays[cache_key]


def train(spec: RunSpec, dataset: Dataset, context: RunContext | None = None) -> RunResult:
    """Train one spec (its group's program compiled on first use)."""
    return train_group([spec], dataset, context)[0]


def train_group(specs, dataset: Dataset, context: RunContext | None = None) -> list[RunResult]:
    """Train specs on one dataset, each by its signature's program, one seed a call; a result never
    depends on the other specs of the group or on their order."""
    context = _checked(context, dataset)
    if context.seed_block != 1:
        raise ValueError(f"train_group trains one seed a program; train_runs trains blocks of {context.seed_block}")
    return [program_for(spec, dataset).run(spec, dataset, context) for spec in specs]


def _checked(context: RunContext | None, dataset: Dataset) -> RunContext:
    if context is None:
        context = RunContext(ENGINE, "jax", backend.platform("jax"), dataset.fingerprint)
    if context.engine != ENGINE or context.backend != "jax":
        raise ValueError(f"the compiled engine runs on JAX, not as {context.engine} on {context.backend}")
    return context


# The results of the block lanes this process trained, by run key: a block trains once, whichever of its
# seeds were asked for, and its other seeds are served from here when they are asked for later.
_block_results: dict[str, RunResult] = {}


def block_seeds(seed: int, size: int) -> range:
    """The seeds of `seed`'s canonical block of `size`: fixed by the seed alone."""
    first = seed // size * size
    return range(first, first + size)


def train_runs(specs, dataset: Dataset, context: RunContext | None = None) -> list[RunResult]:
    """Train specs, each on its own split of `dataset` (bnclaims.data.split_for_run; the context's data
    fingerprint is the dataset's), in the context's seed blocks; results in spec order.

    A block of 1 is a program call per seed. A larger block B trains each spec as one lane of its block:
    the specs alike but for the seed, seeds floor(s/B)*B .. floor(s/B)*B + B - 1, trained once together
    (the seeds not asked for too), so that a seed's result does not depend on which seeds were asked for
    or on their order."""
    context = _checked(context, dataset)
    size = context.seed_block
    if size == 1:
        return [train_group([spec], split_for_run(dataset, spec.split, spec.seed), context)[0] for spec in specs]
    keys = [run_key(spec, context) for spec in specs]
    blocks = {spec.replace(seed=block_seeds(spec.seed, size)[0]): None
              for spec, key in zip(specs, keys) if key not in _block_results}
    for first in blocks:
        lanes = [first.replace(seed=seed) for seed in block_seeds(first.seed, size)]
        datasets = [split_for_run(dataset, spec.split, spec.seed) for spec in lanes]
        program = program_for(first, datasets[0])
        for result in program.run_block(lanes, datasets, context):
            _block_results[result.key] = result
    return [copy.deepcopy(_block_results[key]) for key in keys]
