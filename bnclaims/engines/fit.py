"""The reference engine: one RunSpec trained by Keras `fit`, as the talk trains, and its RunResult.

Runs on whichever Keras backend the process loaded; the Lab gives it TensorFlow (ENGINES["fit"]), the
talk's framework, with op determinism on, so the same seed gives the same run. The compiled engine
(bnclaims.engines.compiled) is trusted only as far as its equivalence with this one is shown (tests/test_engine.py).

Divergence (a non-finite loss) and collapse (one class predicted almost always) are outcomes that
are recorded, never exceptions: the talk's "lr 1" and "raw inputs" runs without BN are exactly that.
"""

from __future__ import annotations

import math
import time

import numpy as np

from .. import backend
from . import probes
from ..data import Dataset
from .shared import cross_entropy_and_accuracy, epoch_orders, finished_run, prepare_inputs
from .model import build_model
from ..results import HISTORY_KEYS, STEP_VALIDATION_EXAMPLES, RunResult, log_steps
from ..spec import RunContext, RunSpec

ENGINE = "fit"
# Inference needs no small batches; a large one only saves time (the numbers do not depend on it).
EVAL_BATCH_SIZE = 2048
def context_here(dataset: Dataset) -> RunContext:
    """The context of a `fit` run in this process: the backend it has loaded, or the preferred one."""
    backend.load()
    name = backend.loaded_name()
    return RunContext(ENGINE, name, backend.platform(name), dataset.fingerprint)


def train(spec: RunSpec, dataset: Dataset, context: RunContext | None = None, initial=None) -> RunResult:
    """Train the spec's model on the dataset's train split; validate each epoch; test at the end.
    initial: (weights, state) to start from instead of the seed's, for equivalence checks."""
    _, keras = backend.load()
    context = context or context_here(dataset)
    if context.engine != ENGINE or context.backend != backend.loaded_name():
        raise ValueError(f"Keras fit runs here on {backend.loaded_name()}, not as {context.engine} on {context.backend}")
    keras.utils.set_random_seed(spec.seed)
    started = time.perf_counter()

    x_train = prepare_inputs(dataset.x_train, spec.input_scaling, dataset)
    x_val = prepare_inputs(dataset.x_val, spec.input_scaling, dataset)
    x_test = prepare_inputs(dataset.x_test, spec.input_scaling, dataset)
    one_hot = lambda y: keras.utils.to_categorical(y, dataset.num_classes)

    model = build_model(spec, dataset.num_features, dataset.num_classes)
    if initial is not None:
        for variable, value in zip(model.trainable_variables + model.non_trainable_variables, [*initial[0], *initial[1]]):
            variable.assign(value)
    # The weights and state training starts from, for the probes measured at the start and the end.
    start = ([keras.ops.convert_to_numpy(v.value) for v in model.trainable_variables],
             [keras.ops.convert_to_numpy(v.value) for v in model.non_trainable_variables])
    steps_per_epoch = math.ceil(len(x_train) / spec.batch_size)
    record = _step_record(keras, log_steps(spec.epochs * steps_per_epoch), len(x_train), spec.batch_size,
                          x_val[:STEP_VALIDATION_EXAMPLES], dataset.y_val[:STEP_VALIDATION_EXAMPLES])
    callbacks = [record, keras.callbacks.TerminateOnNaN()]
    if "preactivation_percentiles" in spec.record:
        percentiles = probes.PreactivationPercentiles(model, x_val)
        percentiles.record()   # before training
        callbacks.append(percentiles.callback)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=spec.learning_rate, momentum=spec.momentum),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    # Keras fit on TensorFlow, given numpy arrays and shuffle=True, draws the epoch's order with a
    # tf.data op whose seed the global seed fixes, and re-creates it each epoch: with a global seed set,
    # every epoch repeats the first epoch's order (without one, as in the talk, each epoch gets a new
    # order, but then no run can be repeated). So each epoch's order is drawn here, from the run's seed,
    # and fit trains one epoch at a time on it.
    y_train = one_hot(dataset.y_train)
    logs: dict[str, list[float]] = {}
    for epoch, permutation in enumerate(epoch_orders(spec.seed, len(x_train), spec.epochs)):
        fitted = model.fit(
            x_train[permutation], y_train[permutation],
            batch_size=spec.batch_size,
            epochs=epoch + 1,
            initial_epoch=epoch,
            validation_data=(x_val, one_hot(dataset.y_val)),
            validation_batch_size=EVAL_BATCH_SIZE,
            shuffle=False,
            verbose=0,
            callbacks=callbacks,
        )
        for name, values in fitted.history.items():
            logs.setdefault(name, []).extend(values)
        if record.diverged_step is not None:   # TerminateOnNaN stopped this epoch
            break
    history = _padded_history(logs, spec.epochs)
    epochs_completed = len(logs.get("loss", []))

    probabilities = np.asarray(model.predict(x_test, batch_size=EVAL_BATCH_SIZE, verbose=0))
    extras = _recordings(spec, model, dataset, x_train, start)
    if "preactivation_percentiles" in spec.record:
        extras["preactivation_percentiles"] = percentiles.result()
    keras.backend.clear_session(free_memory=False)
    return finished_run(spec, context, dataset, history=history, epochs_completed=epochs_completed,
                        test_probabilities=probabilities, diverged_step=record.diverged_step,
                        steps=record.result(), extras=extras, started=started)


def one_step(spec: RunSpec, num_features: int, num_classes: int, weights, state, x: np.ndarray,
             labels: np.ndarray):
    """Keras `fit`'s first step from given weights and state on one batch, for equivalence checks:
    (the loss fit reports, weights after, state after, the inference-mode loss on the batch after)."""
    _, keras = backend.load()
    model = build_model(spec, num_features, num_classes)
    for variable, value in zip(model.trainable_variables, weights):
        variable.assign(value)
    for variable, value in zip(model.non_trainable_variables, state):
        variable.assign(value)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=spec.learning_rate, momentum=spec.momentum),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    targets = keras.utils.to_categorical(labels, num_classes)
    fitted = model.fit(x, targets, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    after = model.evaluate(x, targets, batch_size=len(x), verbose=0, return_dict=True)["loss"]
    numpy = keras.ops.convert_to_numpy
    return (float(fitted.history["loss"][0]), [numpy(v.value) for v in model.trainable_variables],
            [numpy(v.value) for v in model.non_trainable_variables], float(after))


def _step_record(keras, logged: list[int], n_train: int, batch_size: int, x_val: np.ndarray, y_val: np.ndarray):
    """A callback that keeps the step-level record (results.STEP_KEYS) and the first diverged step."""

    class _StepRecord(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.logged = set(logged)
            self.steps_per_epoch = math.ceil(n_train / batch_size)
            self.record = {"step": [], "train_loss": [], "val_accuracy": [], "val_accuracy_train_mode": []}
            self.diverged_step: int | None = None

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch, self.mean, self.seen = epoch, 0.0, 0

        def on_train_batch_end(self, batch, logs=None):
            # Keras logs the epoch's running mean of the loss; the batch's own loss is the difference
            # of the running sums (exact up to float32 rounding of the sums, 1e-7 of the epoch's total).
            size = min(batch_size, n_train - batch * batch_size)
            mean = float(logs["loss"])
            loss = (mean * (self.seen + size) - self.mean * self.seen) / size if self.seen else mean
            self.mean, self.seen = mean, self.seen + size
            step = self.epoch * self.steps_per_epoch + batch + 1
            if self.diverged_step is None and not math.isfinite(loss):
                self.diverged_step = step
            if step in self.logged and (self.diverged_step is None or step == self.diverged_step):
                # A direct call, not predict(): one forward pass needs no input pipeline.
                probabilities = keras.ops.convert_to_numpy(self.model(x_val, training=False))
                # Stateless, so that the training-mode pass updates neither BN's moving statistics nor
                # the random layers' seeds: the run trains on as if nothing had been recorded.
                train_mode, _ = self.model.stateless_call([v.value for v in self.model.trainable_variables],
                                                          [v.value for v in self.model.non_trainable_variables],
                                                          x_val, training=True)
                train_mode = keras.ops.convert_to_numpy(train_mode)
                self.record["step"].append(step)
                self.record["train_loss"].append(loss)
                self.record["val_accuracy"].append(float(np.mean(np.argmax(probabilities, axis=1) == y_val)))
                self.record["val_accuracy_train_mode"].append(float(np.mean(np.argmax(train_mode, axis=1) == y_val)))

        def result(self) -> dict:
            return self.record

    return _StepRecord()


def _recordings(spec: RunSpec, model, dataset: Dataset, x_train: np.ndarray, start) -> dict:
    """What spec.record asks for, measured on the trained model (see spec.RECORDABLE); start: the
    (weights, state) training started from, for probes also measured there."""
    extras = {}
    if "train_inference" in spec.record:
        train_probabilities = np.asarray(model.predict(x_train, batch_size=EVAL_BATCH_SIZE, verbose=0))
        loss, accuracy = cross_entropy_and_accuracy(train_probabilities, dataset.y_train)
        extras["train_inference"] = {"loss": loss if math.isfinite(loss) else None, "accuracy": accuracy}
    extras.update(probes.trained_model_records(
        spec, model, x_train, dataset.y_train, dataset.num_classes,
        prepare_inputs(dataset.x_test, spec.input_scaling, dataset), dataset.y_test, start, from_logits=False))
    return extras


def _padded_history(keras_history: dict, epochs: int) -> dict[str, list[float]]:
    """Keras's history under the engine's names, NaN-padded when TerminateOnNaN stopped early."""
    names = {"train_loss": "loss", "train_accuracy": "accuracy",
             "val_loss": "val_loss", "val_accuracy": "val_accuracy"}
    padded = {}
    for ours in HISTORY_KEYS:
        values = [float(v) for v in keras_history.get(names[ours], [])]
        padded[ours] = values + [float("nan")] * (epochs - len(values))
    return padded
