"""Benchmark: seconds per training run, Keras fit against the compiled engine, beside the GEMM floor.

    python benchmarks/engine_speed.py                      # mnist5k and Fashion-MNIST (if installed), 250 and 3,750 steps
    python benchmarks/engine_speed.py --budgets 250        # the short budget only
    python benchmarks/engine_speed.py --threads 2
    python benchmarks/engine_speed.py --layouts            # the compiled engine's layout: a program per seed, or vmap
    python benchmarks/engine_speed.py --compilation-cache  # compile time without and with JAX's persistent cache
    python benchmarks/engine_speed.py --parts              # a run against its training steps alone and their products alone
    python benchmarks/engine_speed.py --device-options     # on an accelerator: XLA command buffers, and seeds vectorized
    python benchmarks/engine_speed.py --seed-blocks 1 3 6  # the same 6 seeds trained in seed blocks of 1, 3 and 6
    python benchmarks/engine_speed.py --fashion DIR         # Fashion-MNIST's IDX files from another folder

On a host without TensorFlow (an accelerator host with JAX's CUDA build alone, say) the two Keras `fit`
rows are left out and said to be; on an accelerator the compiled engine runs on the device and the
GEMM floor is the device's float32 rate, which a run of small products does not approach.

Every arm runs in one of two long-lived worker processes (Keras holds one backend per process: one on
TensorFlow, one on JAX), both pinned to the same cores with the same thread count, and the arms are
interleaved repeat by repeat, so that a machine busy with other work slows all of them alike:

  default fit   Keras fit on TensorFlow as the talk writes it: build, compile, fit(x, y, batch_size,
                epochs, validation_data), evaluate on the test split
  reference     the reference engine (bnclaims.engines.fit): fit with the step record, per-epoch orders
  compiled      the compiled engine (bnclaims.engines.compiled), a group of 5 seeds on a fresh program: per run
                (compilation excluded), compilation amortized over the 5, and one run with its compilation
  GEMM floor    the run's matrix-multiply FLOPs (see run_flops: training steps, each epoch's
                validation, the step record's passes and the final test) at the best float32 GEMM rate
                measured in the same run: no engine doing this work runs faster on this CPU

Under each configuration, `ceiling` is default fit's time over the floor (the most any engine doing the
run's work could gain over default fit here) and `target` the engine's target for that budget: at 250
steps 8x default fit per run, at 3,750 steps 60% of the floor's speed, with whether the compiled engine
meets it and, for the speed-up, whether any engine could on this CPU. The speed-up depends on the CPU:
default fit's time is mostly tracing and setup, which vector width does not speed up, while the
compiled engine's is mostly products, which it does.

Short budget: 250 SGD steps at batch 128 (mnist5k: 10 epochs over 3,200 images; Fashion-MNIST: 1 epoch
over the first 32,000 of its 48,000 training images). Talk budget: 3,750 steps (mnist5k: 150 epochs;
Fashion-MNIST: 10 epochs over 48,000, as the talk trains on MNIST). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FASHION_FOLDER = "/usr/share/datasets/fashion-mnist"
GROUP = 5
# The engine's targets, per budget in steps: per run at least SPEEDUP_TARGET times faster than default
# fit where tracing and setup dominate a run (the short budget), at least FLOOR_SHARE_TARGET of the GEMM
# floor's speed where arithmetic does (the talk's).
SPEEDUP_TARGET = {250: 8.0}
FLOOR_SHARE_TARGET = {3750: 0.60}
# Workers' error output (framework logs, and a traceback should one fail) goes here, not to the table.
_ERRORS = tempfile.TemporaryFile("w+")


# ---------------------------------------------------------------------------------------- worker side

def _dataset(request: dict):
    from bnclaims.data import load_dataset

    dataset = load_dataset(request["dataset"])
    if request.get("train"):
        n = request["train"]
        dataset = dataclasses.replace(dataset, name=f"{dataset.name}[:{n}]", x_train=dataset.x_train[:n],
                                      y_train=dataset.y_train[:n])
    return dataset


def _spec(request: dict, seed: int):
    from bnclaims.spec import RunSpec

    return RunSpec.from_dict({**request["spec"], "seed": seed})


def _default_fit(request: dict) -> dict:
    """The talk's script: nothing but Keras."""
    from bnclaims import backend
    from bnclaims.engines.model import build_model

    _, keras = backend.load()
    dataset, spec = _dataset(request), _spec(request, request["seed"])
    started = time.perf_counter()
    keras.utils.set_random_seed(spec.seed)   # op determinism (as the reference runs) needs a seed
    scale = 255.0 if spec.input_scaling == "unit" else 1.0
    x, x_val, x_test = (a.astype("float32") / scale for a in (dataset.x_train, dataset.x_val, dataset.x_test))
    y, y_val = (keras.utils.to_categorical(a, 10) for a in (dataset.y_train, dataset.y_val))
    model = build_model(spec, dataset.num_features, dataset.num_classes)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=spec.learning_rate),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=spec.batch_size, epochs=spec.epochs, validation_data=(x_val, y_val), verbose=0)
    model.evaluate(x_test, keras.utils.to_categorical(dataset.y_test, 10), verbose=0)
    seconds = time.perf_counter() - started
    keras.backend.clear_session()
    return {"seconds": seconds}


def _reference(request: dict) -> dict:
    from bnclaims.engines.fit import train

    started = time.perf_counter()
    result = train(_spec(request, request["seed"]), _dataset(request))
    return {"seconds": time.perf_counter() - started, "accuracy": result.test_accuracy}


def _compiled_group(request: dict) -> dict:
    """A fresh program (compiled again), then one run per seed."""
    from bnclaims import backend
    from bnclaims.engines import compiled as engine
    from bnclaims.spec import RunContext

    dataset = _dataset(request)
    context = RunContext("compiled", "jax", backend.platform("jax"), dataset.fingerprint)
    specs = [_spec(request, seed) for seed in request["seeds"]]
    engine._programs.clear()
    seconds, accuracies = [], []
    for spec in specs:
        started = time.perf_counter()
        accuracies.append(engine.program_for(spec, dataset).run(spec, dataset, context).test_accuracy)
        seconds.append(time.perf_counter() - started)
    compiled = engine.program_for(specs[0], dataset).compiled_seconds
    return {"seconds": seconds, "compile": compiled, "accuracies": accuracies}


def _vmapped_group(request: dict) -> dict:
    """The same program vectorized over the group's seeds with jax.vmap; and whether a seed trained
    in the group is bit-identical to the same seed trained alone."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from bnclaims.engines import compiled as engine
    from bnclaims.engines.shared import epoch_orders

    dataset = _dataset(request)
    specs = [_spec(request, seed) for seed in request["seeds"]]
    engine._programs.clear()
    program = engine.program_for(specs[0], dataset)
    data = engine._device_arrays(dataset, specs[0].input_scaling)
    started = time.perf_counter()
    states = [program.initial_state(spec) for spec in specs]
    stacked = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *states)
    orders = np.stack([np.stack(list(epoch_orders(s.seed, len(dataset.y_train), s.epochs))) for s in specs])
    rates = program.rates(specs[0])   # the group's seeds share their rates
    vmapped = jax.jit(jax.vmap(program._program, in_axes=(0, 0, 0, None, 0) + (None,) * len(data)))
    compiled = vmapped.lower(*stacked, rates, orders.astype(np.int32), *data).compile()
    compile_seconds = time.perf_counter() - started
    outputs = jax.block_until_ready(compiled(*stacked, rates, orders.astype(np.int32), *data))
    total = time.perf_counter() - started
    alone = jax.device_get(jax.jit(program._program)(*states[1], rates, orders[1].astype(np.int32), *data))
    identical = bool(np.array_equal(np.asarray(outputs["test_probabilities"][1]), alone["test_probabilities"]))
    return {"total": total, "compile": compile_seconds, "identical_to_alone": identical}


def _seed_blocks(request: dict) -> dict:
    """The request's seeds trained by the engine in seed blocks of request["block"] (bnclaims.engines.compiled.
    train_runs): once with whatever compiling that needs, then again with the programs kept (the block
    results' memo cleared), and the compilation the first pass recorded."""
    from bnclaims import backend, runner
    from bnclaims.engines import compiled as engine

    dataset = _dataset(request)
    specs = [_spec(request, seed) for seed in request["seeds"]]
    context = runner.context("compiled", dataset, request["block"])
    seconds, made = [], []
    for _ in range(2):
        engine._block_results.clear()
        started, compiled_before = time.perf_counter(), backend.compile_seconds()
        results = engine.train_runs(specs, dataset, context)
        seconds.append(time.perf_counter() - started)
        made.append(backend.compile_seconds() - compiled_before)
    return {"first": seconds[0], "seconds": seconds[1], "compile": made[0], "compile_again": made[1],
            "accuracies": [r.test_accuracy for r in results]}


def _gemm(request: dict) -> dict:
    """The best float32 GEMM rate on this process's threads: XLA on the model's largest training
    shapes and on 1024^3, and numpy's BLAS."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    rates = {}
    on_cpu = jax.devices()[0].platform == "cpu"
    for m, k, n, repeats in ((128, 784, 256, 400), (784, 128, 256, 400), (1024, 1024, 1024, 40)):
        a, b = jnp.ones((m, k), jnp.float32), jnp.ones((k, n), jnp.float32)
        # The product depends on the loop carry, so XLA cannot hoist it out of the loop.
        chain = jax.jit(lambda a, b: jax.lax.fori_loop(0, repeats, lambda i, c: c + ((a + c) @ b)[0, 0] * 1e-9, 0.0))
        chain(a, b).block_until_ready()
        best = min(_timed(lambda: chain(a, b).block_until_ready()) for _ in range(3))
        rates[f"xla {m}x{k}x{n}"] = 2 * m * k * n * repeats / best / 1e9
        if not on_cpu:   # numpy's BLAS is the host's, not the device's that runs the engine
            continue
        x, y = np.ones((m, k), np.float32), np.ones((k, n), np.float32)
        best = min(_timed(lambda: [x @ y for _ in range(repeats // 4)]) for _ in range(3))
        rates[f"numpy {m}x{k}x{n}"] = 2 * m * k * n * (repeats // 4) / best / 1e9
    return {"gflops": max(rates.values()), "rates": rates, "device": str(jax.devices()[0].device_kind)}


def _compile_once(request: dict) -> dict:
    from bnclaims import backend
    from bnclaims.engines import compiled as engine
    from bnclaims.spec import RunContext

    backend.use_compilation_cache(request["cache"])
    dataset = _dataset(request)
    spec = _spec(request, 0)
    started = time.perf_counter()
    context = RunContext("compiled", "jax", backend.platform("jax"), dataset.fingerprint)
    engine.program_for(spec, dataset).run(spec, dataset, context)
    return {"compile": engine.program_for(spec, dataset).compiled_seconds, "first_run": time.perf_counter() - started}


def _parts(request: dict) -> dict:
    """Seconds of one compiled run (the BN model's program, records included), of the same training
    steps scanned alone (no validation, step record or test), and of those steps' matrix products
    alone (forward, kernel gradients, input gradients but the first layer's: what run_flops counts for
    a step), each the fastest of `repeats`, compilation excluded."""
    import jax

    from bnclaims.engines import compiled as engine

    dataset, spec = _dataset(request), _spec(request, 0)
    program = engine.program_for(spec, dataset)
    data = engine._device_arrays(dataset, spec.input_scaling)
    weights, state, optimizer = program.initial_state(spec)
    rates = program.rates(spec)
    orders, batches = _orders_and_whole_batches(program.signature, 0)

    def steps_alone(weights, state, optimizer, batches, x, y):
        def step(carry, indices):
            loss, _, *carry = program._training_step(*carry, rates, x[indices], y[indices])
            return tuple(carry), loss
        return jax.lax.scan(step, (weights, state, optimizer), batches)

    kernels = tuple(w for w in weights if w.ndim == 2)

    def products_alone(kernels, batches, x):
        def step(kernels, indices):
            outputs = [x[indices]]
            for kernel in kernels:
                outputs.append(outputs[-1] @ kernel)
            error, updated = outputs[-1] * 1e-3, []
            for depth in reversed(range(len(kernels))):
                updated.append(kernels[depth] - 1e-9 * (outputs[depth].T @ error))
                if depth:
                    error = error @ kernels[depth].T
            return tuple(reversed(updated)), outputs[-1][0, 0]
        return jax.lax.scan(step, kernels, batches)

    arms = {"whole run": (program._program, (weights, state, optimizer, rates, orders, *data)),
            "training steps alone": (steps_alone, (weights, state, optimizer, batches, data[0], data[1])),
            "their products alone": (products_alone, (kernels, batches, data[0]))}
    compiled = {name: jax.jit(f).lower(*args).compile() for name, (f, args) in arms.items()}
    best = {name: float("inf") for name in arms}
    for _ in range(request["repeats"]):   # interleaved, so that a busy moment slows every arm alike
        for name, (_, args) in arms.items():
            best[name] = min(best[name], _timed(lambda: jax.block_until_ready(compiled[name](*args))))
    return {"seconds": best, "steps": int(batches.shape[0])}


def _lean(request: dict) -> dict:
    """Seconds that the leanest engine built on XLA spends on these runs (suite_timing.py --lean): each
    signature's training steps alone (whole batches, no record, no masking after divergence) and its
    inference-mode forward pass, each compiled once, without the persistent compilation cache; then for
    each run its own initial weights, the training steps of the passes it completed, and as many forward
    passes over the validation split as its record's inference-mode examples fill (each pass's
    validation, the step record's inference half, the test), rounded down. Left out, so that this stays
    a lower bound: the step record's training-mode half, the last smaller batch of a pass, the probes on
    trained models, train_inference, the cache and the statistics."""
    import jax
    import numpy as np

    from bnclaims.engines import compiled as engine
    from bnclaims.results import STEP_VALIDATION_EXAMPLES, log_steps
    from bnclaims.spec import RunSpec

    dataset = _dataset(request)
    started, compiling, compiled = time.perf_counter(), 0.0, {}
    for run in request["runs"]:
        spec = RunSpec.from_dict(run["spec"])
        signature = engine.Signature.of(spec, dataset)
        before = time.perf_counter()
        program = engine.program_for(spec, dataset)   # its Keras model, built once per signature
        x_train, y_train, x_val, y_val = engine._device_arrays(dataset, spec.input_scaling)[:4]
        weights, state, optimizer = program.initial_state(spec)
        rates = program.rates(spec)
        _, batches = _orders_and_whole_batches(signature, spec.seed)
        whole = signature.n_train // signature.batch_size
        steps_args = (weights, state, optimizer, rates, batches, np.int32(run["epochs_completed"] * whole),
                      x_train, y_train)
        if signature not in compiled:
            compiled[signature] = (jax.jit(_training_steps(program)).lower(*steps_args).compile(),
                                   jax.jit(program._evaluate).lower(weights, state, rates, x_val, y_val).compile())
            compiling += time.perf_counter() - before
        steps, forward = compiled[signature]
        weights, state, _ = steps(*steps_args)
        ran = run["epochs_completed"] * signature.steps_per_epoch
        logged = [s for s in log_steps(signature.total_steps) if s <= ran]
        examples = (run["epochs_completed"] * signature.n_val + signature.n_test
                    + len(logged) * min(signature.n_val, STEP_VALIDATION_EXAMPLES))
        for _ in range(examples // signature.n_val):
            jax.block_until_ready(forward(weights, state, rates, x_val, y_val))
    return {"seconds": time.perf_counter() - started, "compiling": compiling, "programs": len(compiled),
            "runs": len(request["runs"])}


def _training_steps(program):
    """The program's training step alone, in a loop over the first `count` of `batches`."""
    import jax

    def steps(weights, state, optimizer, rates, batches, count, x, y):
        def step(i, carry):
            _, _, *carry = program._training_step(*carry, rates, x[batches[i]], y[batches[i]])
            return tuple(carry)
        return jax.lax.fori_loop(0, count, step, (weights, state, optimizer))

    return steps


def _orders_and_whole_batches(signature, seed: int) -> tuple:
    """The run's epoch orders, as the engine draws them, and its whole batches of them, pass after pass
    (the last smaller batch of each pass left out)."""
    import numpy as np

    from bnclaims.engines.shared import epoch_orders

    orders = np.stack(list(epoch_orders(seed, signature.n_train, signature.epochs))).astype(np.int32)
    whole = signature.n_train // signature.batch_size * signature.batch_size
    return orders, orders[:, :whole].reshape(-1, signature.batch_size)


def _timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


ARMS = {"default_fit": _default_fit, "reference": _reference, "compiled_group": _compiled_group,
        "vmapped_group": _vmapped_group, "gemm": _gemm, "compile_once": _compile_once,
        "parts": _parts, "lean": _lean, "seed_blocks": _seed_blocks}


def worker(backend_name: str, threads: int) -> None:
    from bnclaims import backend

    backend.load(threads, name=backend_name)
    print("READY", flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        print("RESULT " + json.dumps(ARMS[request["arm"]](request)), flush=True)


# ---------------------------------------------------------------------------------------- orchestrator

class Worker:
    def __init__(self, backend_name: str, threads: int, cores: list[int], env: dict | None = None) -> None:
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        environment = {**os.environ, "PYTHONPATH": path, **(env or {})}
        environment.pop("KERAS_BACKEND", None)
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--worker", backend_name, "--threads", str(threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=_ERRORS, text=True, env=environment,
            preexec_fn=lambda: os.sched_setaffinity(0, cores))
        self._read()

    def _read(self) -> dict | None:
        for line in self.process.stdout:
            if line.startswith("READY"):
                return None
            if line.startswith("RESULT "):
                return json.loads(line[len("RESULT "):])
        _ERRORS.seek(0)
        raise RuntimeError("benchmark worker stopped: " + "".join(_ERRORS.read().splitlines(True)[-5:]))

    def ask(self, **request) -> dict:
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def run_flops(spec: dict, n_train: int, n_val: int, n_test: int, features: int = 784,
              epochs_run: int | None = None) -> float:
    """Matrix-multiply FLOPs of the work one compiled run does, each product counted once:
    a training step is the forward pass, the kernels' gradients (as much again) and the inputs'
    gradients of every layer but the first (whose input needs none); each epoch's validation and the
    final test are a forward pass; at each logged step (results.log_steps) the step record runs the
    validation examples forward in inference mode and again in training mode, where the first layer's
    product is the same and is not counted twice. epochs_run: the epochs the program ran, where a
    diverged run stopped early (the epoch it diverged in runs whole, its later steps masked)."""
    from bnclaims.results import STEP_VALIDATION_EXAMPLES, log_steps

    epochs = spec["epochs"] if epochs_run is None else epochs_run
    products = _products(spec, features)
    forward, after_first = sum(products), sum(products[1:])
    steps_per_epoch = -(-n_train // spec.get("batch_size", 128))
    logged = [s for s in log_steps(spec["epochs"] * steps_per_epoch) if s <= epochs * steps_per_epoch]
    step_examples = min(n_val, STEP_VALIDATION_EXAMPLES) * len(logged)
    return ((2 * forward + after_first) * n_train * epochs + forward * (n_val * epochs + n_test)
            + (forward + after_first) * step_examples)


def probe_flops(spec: dict, n_train: int, features: int = 784) -> float:
    """Matrix-multiply FLOPs, at least, of what a run records on its trained model (bnclaims.engines.probes), by
    the probes' own sizes: a gradient is counted as a training step's products, a forward pass to the BN
    layers without the output layer's product. The train_inference record is a forward pass over the
    training split. Left out, so that this stays a lower bound: the recalibration records, the
    pre-activation percentiles, and the first layer's product the noise probes take once per split."""
    from bnclaims.engines import probes

    products = _products(spec, features)
    forward, after_first, last = sum(products), sum(products[1:]), products[-1]
    gradient = 2 * forward + after_first
    wanted, flops = set(spec["record"]), 0.0
    if "train_inference" in wanted:
        flops += forward * n_train
    if "bn_input_noise" in wanted:
        flops += (forward - last) * n_train
    if "gradient_noise" in wanted:
        flops += gradient * (sum(probes.BATCH_SIZES) * probes.GRADIENT_BATCHES_PER_SIZE + n_train)
    if "gradient_ics" in wanted:
        # At the start and at the end: per batch one gradient, and one more per Dense layer after the first.
        per_batch = (1 + len(spec["hidden"])) * min(spec["batch_size"], n_train)
        flops += 2 * gradient * per_batch * probes.ICS_BATCHES
    if "fixed_example_noise" in wanted:
        batches = probes.FIXED_EXAMPLES * probes.BATCHES_PER_EXAMPLE * sum(probes.NOISE_BATCH_SIZES)
        flops += (after_first - last) * batches
    return flops


def _products(spec: dict, features: int) -> list[int]:
    """The FLOPs per example of each layer's matrix product in a forward pass, first layer first."""
    widths = [features, *spec["hidden"], 10]
    return [2 * a * b for a, b in zip(widths, widths[1:])]


def configurations(budgets: list[int], fashion_folder: str) -> list[dict]:
    from bnclaims.data import load_dataset

    found = []
    fashion = Path(fashion_folder).is_dir()
    fashion_name = f"idx:{fashion_folder}"
    for budget in budgets:
        found.append({"label": f"mnist5k, {budget} steps", "budget": budget, "dataset": "mnist5k", "train": None,
                      "epochs": budget // 25, "sizes": (3200, 800, 1000)})
        if fashion:
            full = load_dataset(fashion_name)
            n_val, n_test = len(full.y_val), len(full.y_test)
            if budget == 250:
                found.append({"label": "Fashion-MNIST 32k, 250 steps", "budget": budget, "dataset": fashion_name,
                              "train": 32000,
                              "epochs": 1, "sizes": (32000, n_val, n_test)})
            else:
                epochs = budget * 128 // len(full.y_train)
                found.append({"label": f"Fashion-MNIST 48k, {budget} steps", "budget": budget, "dataset": fashion_name,
                              "train": None,
                              "epochs": epochs, "sizes": (len(full.y_train), n_val, n_test)})
    return found


def target_text(budget: int, default: float | None, compiled: float, floor: float) -> str:
    """The budget's target against the compiled engine's best time per run, and whether any engine
    could meet it on this CPU (a speed-up target whose time lies below the GEMM floor cannot be met)."""
    if budget in FLOOR_SHARE_TARGET:
        share = FLOOR_SHARE_TARGET[budget]
        return (f"{share:.0%} of the floor's speed: compiled at {floor / compiled:.0%}, "
                f"{'met' if floor / compiled >= share else 'missed'}")
    if budget in SPEEDUP_TARGET and default:
        factor = SPEEDUP_TARGET[budget]
        needed = default / factor
        verdict = "met" if compiled <= needed else "missed"
        reach = (f"{floor / needed:.0%} of the floor's speed" if needed >= floor
                 else "faster than the floor: no engine doing this work reaches it on this CPU")
        return f"{factor:g}x default fit, {needed:.2f} s per run ({reach}): compiled {default / compiled:.1f}x, {verdict}"
    return ""


def speed(options) -> None:
    cores = sorted(os.sched_getaffinity(0))[-options.threads:]
    print(f"threads {options.threads}, pinned to cores {cores}; seconds per run (min / median of repeats)")
    with_fit = importlib.util.find_spec("tensorflow") is not None
    tf_worker = Worker("tensorflow", options.threads, cores) if with_fit else None
    if not with_fit:
        print("TensorFlow is not installed here: the default fit and reference rows are not measured")
    jax_worker = Worker("jax", options.threads, cores)
    gemm = jax_worker.ask(arm="gemm")
    print(f"float32 GEMM on {gemm['device']}, best measured: {gemm['gflops']:.0f} GFLOP/s "
          f"({', '.join(f'{k} {v:.0f}' for k, v in gemm['rates'].items())})")
    rows = []
    for config in configurations(options.budgets, options.fashion):
        spec = {"dataset": "mnist5k", "epochs": config["epochs"], "hidden": [256, 128, 64]}
        base = {"dataset": config["dataset"], "train": config["train"], "spec": spec}
        repeats = options.repeats if config["epochs"] * config["sizes"][0] <= 40000 else 1
        times = {k: [] for k in ("default fit", "reference", "compiled per run", "compiled, 5 amortized",
                                 "compiled incl. compile")}
        if not with_fit:
            del times["default fit"], times["reference"]
        for repeat in range(repeats):
            if with_fit:
                times["default fit"].append(tf_worker.ask(arm="default_fit", seed=repeat, **base)["seconds"])
                times["reference"].append(tf_worker.ask(arm="reference", seed=repeat, **base)["seconds"])
            group = jax_worker.ask(arm="compiled_group", seeds=list(range(repeat * GROUP, (repeat + 1) * GROUP)), **base)
            times["compiled per run"].append(statistics.median(group["seconds"][1:]))
            times["compiled, 5 amortized"].append(sum(group["seconds"]) / len(group["seconds"]))
            times["compiled incl. compile"].append(group["seconds"][0])
        floor = run_flops(spec, *config["sizes"]) / (gemm["gflops"] * 1e9)
        rows.append((config["label"], times, floor))
        print(f"\n{config['label']} (BN model, batch 128; {repeats} repeat(s)); GEMM floor {floor:.2f} s")
        default = min(times["default fit"]) if with_fit else None
        for name, values in times.items():
            best = min(values)
            versus = f"{default / best:5.1f}x default fit" if default else ""
            print(f"  {name:24s} {best:7.2f} / {statistics.median(values):7.2f} s   "
                  f"{versus}   {floor / best:4.0%} of floor")
        if default:
            # The most any engine doing this run's work (records included) could gain over default fit here.
            print(f"  {'ceiling':24s} {floor:7.2f} s at the floor: {default / floor:.1f}x default fit")
        target = target_text(config["budget"], default, min(times["compiled per run"]), floor)
        if target:
            print(f"  {'target':24s} {target}")
    if tf_worker:
        tf_worker.close()
    jax_worker.close()


def layouts(options) -> None:
    """One program per seed, or jax.vmap over a group of seeds, on mnist5k at 250 steps, 1 and 2 threads."""
    spec = {"dataset": "mnist5k", "epochs": 10, "hidden": [256, 128, 64]}
    all_cores = sorted(os.sched_getaffinity(0))
    for threads in (1, 2):
        if threads > len(all_cores):
            continue
        jax_worker = Worker("jax", threads, all_cores[-threads:])
        seeds = list(range(GROUP))
        for repeat in range(options.repeats):
            base = {"dataset": "mnist5k", "train": None, "spec": spec}
            print(f"{threads} thread(s), {GROUP} seeds: {_two_layouts(jax_worker, seeds, seeds, base)}")
        jax_worker.close()


def _two_layouts(jax_worker: Worker, loop_seeds: list[int], vmap_seeds: list[int], base: dict) -> str:
    """The same runs laid out as one program per seed, then as one program vmapped over the seeds."""
    loop = jax_worker.ask(arm="compiled_group", seeds=loop_seeds, **base)
    vmap = jax_worker.ask(arm="vmapped_group", seeds=vmap_seeds, **base)
    executing = (vmap["total"] - vmap["compile"]) / len(vmap_seeds)
    return (f"program per seed: compile {loop['compile']:.2f} s, {statistics.median(loop['seconds'][1:]):.3f} s per "
            f"run, {sum(loop['seconds']):.2f} s in all; test accuracy, seeds {loop_seeds[0]}-{loop_seeds[-1]}: "
            f"{', '.join(f'{a:.4f}' for a in loop['accuracies'])}\n"
            f"  vmap over {len(vmap_seeds)} seeds: compile {vmap['compile']:.2f} s, {vmap['total']:.2f} s in all, "
            f"{executing:.3f} s per run besides compiling; a seed bit-identical to the same seed alone: "
            f"{'yes' if vmap['identical_to_alone'] else 'no'}")


def compilation_cache(options) -> None:
    """Compile time of the base program in fresh processes: no persistent cache, then cold and warm."""
    spec = {"dataset": "mnist5k", "epochs": 10, "hidden": [256, 128, 64]}
    cores = sorted(os.sched_getaffinity(0))[-options.threads:]
    with tempfile.TemporaryDirectory() as folder:
        for label in ("cold cache", "warm cache", "warm cache"):
            jax_worker = Worker("jax", options.threads, cores)
            answer = jax_worker.ask(arm="compile_once", cache=folder, dataset="mnist5k", train=None, spec=spec)
            jax_worker.close()
            print(f"{label}: compile {answer['compile']:.2f} s, first run with it {answer['first_run']:.2f} s")


def parts(options) -> None:
    """Where a compiled run's time goes at each budget: the whole run, its training steps alone, and
    their matrix products alone, on mnist5k with the BN model."""
    cores = sorted(os.sched_getaffinity(0))[-options.threads:]
    jax_worker = Worker("jax", options.threads, cores)
    print(f"threads {options.threads}; mnist5k, BN model, batch 128; seconds per run, best of {options.repeats}")
    for budget in options.budgets:
        spec = {"dataset": "mnist5k", "epochs": budget // 25, "hidden": [256, 128, 64]}
        answer = jax_worker.ask(arm="parts", repeats=options.repeats, dataset="mnist5k", train=None, spec=spec)
        seconds = answer["seconds"]
        whole = seconds["whole run"]
        print(f"{answer['steps']} steps: " + ", ".join(f"{name} {value:.3f} s ({value / whole:.0%})"
                                                    for name, value in seconds.items()))
    jax_worker.close()


# XLA options tried beside the engine's own on an accelerator (the engine adds its GPU flags to each).
DEVICE_OPTIONS = {
    "the engine's flags": "",
    "and command buffers capturing WHILE and CONDITIONAL":
        "--xla_gpu_enable_command_buffer=FUSION,CUBLAS,CUBLASLT,CUSTOM_CALL,CUDNN,CONDITIONAL,WHILE",
}


def device_options(options) -> None:
    """Ways to fill an accelerator: one BN run per seed under each set of XLA options (with the test
    accuracies, which show whether the options change a run), and ten seeds vectorized in one program."""
    cores = sorted(os.sched_getaffinity(0))[-options.threads:]
    steps = options.budgets[-1]
    base = {"dataset": "mnist5k", "train": None,
            "spec": {"dataset": "mnist5k", "epochs": steps // 25, "hidden": [256, 128, 64]}}
    print(f"mnist5k, BN model, batch 128, {steps} steps; threads {options.threads}")
    for label, flags in DEVICE_OPTIONS.items():
        env = {"XLA_FLAGS": " ".join(filter(None, [os.environ.get("XLA_FLAGS", ""), flags]))}
        jax_worker = Worker("jax", options.threads, cores, env)
        print(f"{label} ({flags or 'XLA_FLAGS as set'}):\n  {_two_layouts(jax_worker, [0, 1, 2], list(range(10)), base)}")
        jax_worker.close()


def seed_blocks(options) -> None:
    """The compiled engine's seed blocks: the same seeds of one spec (the BN model on mnist5k with its
    per-seed split, as the claims train it) trained in blocks of each size, interleaved repeat by repeat
    in one worker; seconds per run with the programs compiled, and the first pass with its compiling."""
    cores = sorted(os.sched_getaffinity(0))[-options.threads:]
    seeds = list(range(max(options.seed_blocks)))
    jax_worker = Worker("jax", options.threads, cores)
    for budget in options.budgets:
        base = {"dataset": "mnist5k", "train": None,
                "spec": {"dataset": "mnist5k", "epochs": budget // 25, "hidden": [256, 128, 64], "split": "per_seed"}}
        answers = {block: [] for block in options.seed_blocks}
        for _ in range(options.repeats):
            for block in options.seed_blocks:
                answers[block].append(jax_worker.ask(arm="seed_blocks", seeds=seeds, block=block, **base))
        print(f"mnist5k (per-seed split), BN model, batch 128, {budget} steps; seeds {seeds[0]}-{seeds[-1]}; "
              f"threads {options.threads}; {options.repeats} repeat(s)")
        for block, runs in answers.items():
            per_run = [answer["seconds"] / len(seeds) for answer in runs]
            accuracy = statistics.mean(runs[0]["accuracies"])
            print(f"  block {block}: {min(per_run):.3f} / {statistics.median(per_run):.3f} s per run (min / median), "
                  f"compiled ({runs[-1]['compile_again']:.2f} s compiling); first pass {runs[0]['first']:.2f} s with "
                  f"{runs[0]['compile']:.2f} s compiling; "
                  f"mean test accuracy {accuracy:.4f}")
    jax_worker.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budgets", type=int, nargs="+", default=[250, 3750])
    parser.add_argument("--layouts", action="store_true")
    parser.add_argument("--compilation-cache", action="store_true")
    parser.add_argument("--parts", action="store_true")
    parser.add_argument("--device-options", action="store_true",
                        help="on an accelerator: XLA's command buffers and seeds vectorized, beside the engine")
    parser.add_argument("--seed-blocks", type=int, nargs="+", metavar="B",
                        help="the compiled engine's seed blocks of these sizes on the same seeds")
    parser.add_argument("--fashion", default=FASHION_FOLDER, help="folder of Fashion-MNIST's IDX files")
    parser.add_argument("--worker", choices=["jax", "tensorflow"], help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.worker:
        worker(options.worker, options.threads)
    elif options.layouts:
        layouts(options)
    elif options.compilation_cache:
        compilation_cache(options)
    elif options.parts:
        parts(options)
    elif options.device_options:
        device_options(options)
    elif options.seed_blocks:
        seed_blocks(options)
    else:
        speed(options)


if __name__ == "__main__":
    main()
