"""The compiled engine: programs shared by the runs that can share them, a seed's result independent
of its group, process and thread count, and equivalence with Keras fit on TensorFlow: the same step
to float32 rounding, and statistically equivalent test accuracies across seeds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from bnclaims import backend, runner
from bnclaims.data import load_dataset
from bnclaims.spec import RunSpec
from conftest import run_python

ROOT = Path(__file__).resolve().parents[1]
TINY = RunSpec(dataset="digits", hidden=(32, 16), epochs=2, batch_size=64, learning_rate=0.1)


def outcome(result) -> dict:
    """Everything a run records except how long it took (and how much of that went to compiling)."""
    data = result.to_json_dict()
    data.pop("wall_seconds")
    data.pop("compile_seconds")
    return data


def test_runs_that_differ_only_in_inputs_share_one_program(engine):
    dataset = load_dataset("digits")
    base = TINY.replace(hidden=(24,))
    sharing = [base, base.replace(seed=7), base.replace(learning_rate=1.0), base.replace(kernel_init="uniform:5"),
               base.replace(input_scaling="raw")]
    assert len({engine.Signature.of(spec, dataset) for spec in sharing}) == 1
    apart = [base.replace(batch_size=32), base.replace(dropout=0.1), base.replace(epochs=3),
             base.replace(record=("train_inference",)), base.replace(momentum=0.9), base.replace(batch_norm="none")]
    assert len({engine.Signature.of(spec, dataset) for spec in [base, *apart]}) == 1 + len(apart)
    before = len(engine._programs)
    results = engine.train_group(sharing, dataset)
    assert len(engine._programs) == before + 1
    assert len({r.test_accuracy for r in results}) > 1, "the inputs reach the program"


def test_runs_that_differ_only_in_their_dropout_or_l2_rate_share_one_program(engine):
    dataset = load_dataset("digits")
    base = TINY.replace(hidden=(24,))
    for rates in ([base.replace(dropout=r) for r in (0.1, 0.3)], [base.replace(l2=r) for r in (1e-4, 1e-2)]):
        assert len({engine.Signature.of(spec, dataset) for spec in rates}) == 1
        results = engine.train_group(rates, dataset)
        assert results[0].test_loss != results[1].test_loss, "the rates reach the program"
    # Probes on the trained model run outside the program, on its template: that keeps the run's rate.
    probed = [base.replace(dropout=r, record=("gradient_ics",)) for r in (0.1, 0.3)]
    assert len({engine.Signature.of(spec, dataset) for spec in probed}) == 2


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5, 0.77])
def test_dropout_with_its_rate_an_input_computes_what_keras_dropout_computes(engine, rate):
    """Bit for bit, output and gradient, under jit: the mask Keras on JAX draws, and its scaling, which
    XLA compiles as a product with the constant's float32 reciprocal."""
    import jax
    import jax.numpy as jnp
    import keras

    x = np.random.default_rng(0).standard_normal((64, 32)).astype(np.float32)
    upstream = np.random.default_rng(1).standard_normal((64, 32)).astype(np.float32)

    def output_and_gradient(layer, keep):
        layer.build(x.shape)
        state = [v.value for v in layer.non_trainable_variables]

        def forward(x, keep):
            with engine._keep_probability([layer] if keep is not None else [], keep):
                return layer.stateless_call([], state, x, training=True)[0]

        output = jax.jit(forward)(x, keep)
        gradient = jax.jit(jax.grad(lambda x, keep: jnp.sum(forward(x, keep) * upstream)))(x, keep)
        return np.asarray(output), np.asarray(gradient)

    keras_output, keras_gradient = output_and_gradient(keras.layers.Dropout(rate, seed=3), None)
    ours = engine._input_rate_dropout(keras)(0.5, seed=3)    # its own rate is a placeholder here
    output, gradient = output_and_gradient(ours, np.float32(1.0 - rate))
    assert 0 < np.mean(keras_output == 0) < 1
    np.testing.assert_array_equal(output, keras_output)
    np.testing.assert_array_equal(gradient, keras_gradient)


def test_the_l2_penalty_with_its_rate_an_input_is_what_keras_adds(engine):
    import jax

    dataset = load_dataset("digits")
    spec = TINY.replace(l2=3e-3, record=("gradient_ics",))     # a template that holds the run's rate
    program = engine.program_for(spec, dataset)
    weights, state, _ = program.initial_state(spec)
    x = np.asarray(dataset.x_train[:64], np.float32) / 255.0

    def keras_penalty(weights):
        return sum(program.model.stateless_call(weights, state, x, training=True, return_losses=True)[2])

    ours = jax.jit(lambda weights, rates: program._forward(weights, state, rates, x, training=True)[2])
    theirs = float(jax.jit(keras_penalty)(weights))
    assert theirs > 0
    assert float(ours(weights, program.rates(spec))) == theirs


def test_a_seed_trains_the_same_alone_in_a_group_and_in_another_order(engine):
    dataset = load_dataset("digits")
    seeds = [TINY.replace(seed=s) for s in range(4)]
    group = engine.train_group(seeds, dataset)
    alone = engine.train(seeds[2], dataset)
    reordered = engine.train_group([seeds[3], seeds[2]], dataset)
    engine._programs.clear()     # a fresh compilation, as in a new session
    recompiled = engine.train(seeds[2], dataset)
    assert outcome(alone) == outcome(group[2]) == outcome(reordered[1]) == outcome(recompiled)
    assert outcome(reordered[0]) == outcome(group[3])
    assert outcome(group[0]) != outcome(group[1])


def test_a_run_records_the_part_of_its_time_spent_making_its_program(engine):
    dataset = load_dataset("digits")
    engine._programs.clear()
    first, second = engine.train_group([TINY.replace(seed=s) for s in (11, 12)], dataset)
    assert 0 < first.compile_seconds < first.wall_seconds
    # The second reuses the first's program: a little tracing of Keras's initializers at most.
    assert second.compile_seconds < 0.1 * first.compile_seconds


@pytest.mark.slow
def test_a_run_is_identical_in_other_processes_and_thread_counts(engine):
    dataset = load_dataset("digits")
    specs = [TINY, TINY.replace(seed=1, dropout=0.2, bn_noise=0.3)]
    here = engine.train_group(specs, dataset)
    for threads in (1, 2):
        elsewhere = runner.train(specs, dataset, "compiled", threads=threads, isolated=True)
        assert [outcome(r) for r in elsewhere] == [outcome(r) for r in here], f"{threads} thread(s)"


@pytest.mark.parametrize("diverges", [True, False])
def test_epochs_after_a_divergence_are_skipped_and_read_as_the_frozen_model(engine, diverges):
    """The program stops at the end of the epoch in which a run diverged: every later update is masked,
    so each skipped epoch would have evaluated the same frozen model. A toy epoch whose value grows
    tenfold a pass and diverges past 1e6 gives the same outputs and final carry as lax.scan over every
    epoch, in fewer passes; one that never diverges runs every epoch."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    limit = 1e6 if diverges else float("inf")

    def epoch(carry, order):
        value, passes, diverged_at = carry
        stopped = diverged_at > 0
        grown = jnp.where(stopped, value, value * 10.0 + order.sum())
        diverged_at = jnp.where(stopped | (grown < limit), diverged_at, order[0] + 1)
        return (grown, passes + 1, diverged_at), {"value": grown, "pair": jnp.stack([grown, -grown])}

    orders = jnp.arange(8 * 3, dtype=jnp.int32).reshape(8, 3)
    start = (jnp.float32(1), jnp.int32(0), jnp.int32(0))
    expected_carry, expected = lax.scan(epoch, start, orders)
    carry, outputs = jax.jit(lambda s, o: engine.Program._epochs_until_diverged(None, epoch, s, o))(start, orders)
    for name in expected:
        np.testing.assert_array_equal(outputs[name], expected[name])
    assert float(carry[0]) == float(expected_carry[0]) and int(carry[2]) == int(expected_carry[2])
    assert (int(carry[2]) > 0) is diverges
    assert int(carry[1]) == (6 if diverges else 8)   # passes run: the sixth pass crosses 1e6


def test_the_compiled_engine_does_not_import_tensorflow():
    code = ("import sys; from bnclaims import runner; from bnclaims.data import load_dataset; "
            "from bnclaims.spec import RunSpec; "
            "r = runner.train([RunSpec(dataset='digits', hidden=(8,), epochs=1, record=('gradient_noise', "
            "'bn_input_noise', 'train_inference', 'preactivation_percentiles'))], load_dataset('digits'), "
            "'compiled', threads=1)[0]; "
            "print(r.environment['backend'], 'tensorflow' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("KERAS_BACKEND", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["jax", "False"]


# ---------------------------------------------------------------------------------------------------
# Equivalence with Keras fit on TensorFlow, on the talk table's configurations (mnist5k)

TALK = RunSpec(dataset="mnist5k")
COMPARISONS = {
    "convergence speed": {},
    "big learning rate": {"learning_rate": 1.0, "batch_size": 1024},
    "too big weights": {"kernel_init": "uniform:5"},
    "no data normalization": {"input_scaling": "raw"},
}
ONE_STEP_CASES = {f"{name}, {arm}": TALK.replace(batch_norm=bn, **change)
                  for name, change in COMPARISONS.items() for arm, bn in (("BN", "before"), ("plain", "none"))}

# Kernels drawn from uniform(-5, 5): pre-activations grow about 50-fold a layer, the plain model's loss goes
# from 4e5 to 3e8 in its first step, and a gradient is a float32 sum of terms of up to 1e8 that mostly
# cancel, so its rounding depends on the order each engine sums in. Measured (seeds of bnclaims.streams):
# updates apart by up to 4.3e-4 of the largest (1e-3 on BN's first kernel) and the loss after the step by
# 1.5e-4, against at most 5e-5 and 1e-7 in every other case. These cases are held to 1e-3.
ILL_CONDITIONED = {"too big weights, BN", "too big weights, plain"}
ILL_CONDITIONED_RTOL = 1e-3

FIT_ONE_STEP = """
import json, sys
import numpy as np
from bnclaims import backend
backend.load(threads=1, name="tensorflow")
from bnclaims.spec import RunSpec
from bnclaims.engines.fit import one_step

folder = sys.argv[1]
cases = json.load(open(f"{folder}/cases.json"))
answers = {}
for name, case in cases.items():
    arrays = np.load(f"{folder}/{case['file']}")
    weights = [arrays[f"w{i}"] for i in range(case["weights"])]
    state = [arrays[f"s{i}"] for i in range(case["state"])]
    loss, weights, state, after = one_step(RunSpec.from_dict(case["spec"]), case["features"], case["classes"],
                                           weights, state, arrays["x"], arrays["labels"])
    np.savez(f"{folder}/fit-{case['file']}", **{f"w{i}": w for i, w in enumerate(weights)},
             **{f"s{i}": s for i, s in enumerate(state)})
    answers[name] = {"loss": loss, "after": after}
json.dump(answers, open(f"{folder}/answers.json", "w"))
"""


@pytest.mark.slow
def test_one_step_equals_keras_fit_from_the_same_weights_and_batch(engine, tmp_path):
    """Same initial weights, same batch: the loss fit reports for its first step, the weights and BN
    statistics after it, and the loss after it agree to float32 rounding. Includes the saturating
    comparisons, where Keras on TensorFlow takes the loss from the logits under the softmax."""
    dataset = load_dataset(TALK.dataset)
    cases, ours = {}, {}
    for number, (name, spec) in enumerate(ONE_STEP_CASES.items()):
        program = engine.program_for(spec, dataset)
        weights, state, _ = program.initial_state(spec)
        weights, state = [np.asarray(w) for w in weights], [np.asarray(s) for s in state]
        x = engine._device_arrays(dataset, spec.input_scaling)[0][:spec.batch_size]
        labels = dataset.y_train[:spec.batch_size]
        file = f"case{number}.npz"
        np.savez(tmp_path / file, x=np.asarray(x), labels=labels, **{f"w{i}": w for i, w in enumerate(weights)},
                 **{f"s{i}": s for i, s in enumerate(state)})
        cases[name] = {"file": file, "spec": spec.to_dict(), "weights": len(weights), "state": len(state),
                       "features": dataset.num_features, "classes": dataset.num_classes}
        ours[name] = (weights, program.one_step(spec, weights, state, np.asarray(x), labels))
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("KERAS_BACKEND", None)
    done = subprocess.run([sys.executable, "-c", FIT_ONE_STEP, str(tmp_path)], capture_output=True, text=True,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    answers = json.loads((tmp_path / "answers.json").read_text())
    for name, case in cases.items():
        before, (loss, weights, state, after) = ours[name]
        fit = np.load(tmp_path / f"fit-{case['file']}")
        assert loss == pytest.approx(answers[name]["loss"], rel=1e-5), name
        rtol = ILL_CONDITIONED_RTOL if name in ILL_CONDITIONED else 1e-5
        assert after == pytest.approx(answers[name]["after"], rel=rtol), name
        for i, (w0, w) in enumerate(zip(before, weights)):
            # The update itself (the weights would hide it) agrees to float32 rounding of the gradient,
            # give or take the rounding of the new weight (an ulp of a weight of 5 is 5e-7).
            update, fit_update = w - w0, fit[f"w{i}"] - w0
            update_rtol = ILL_CONDITIONED_RTOL if name in ILL_CONDITIONED else 1e-4
            allowed = update_rtol * float(np.max(np.abs(fit_update))) + 2 * np.spacing(np.abs(w0))
            assert np.all(np.abs(update - fit_update) <= allowed), f"{name}: weight {i}"
        for i, s in enumerate(state):
            np.testing.assert_allclose(s, fit[f"s{i}"], rtol=1e-5, atol=1e-6, err_msg=f"{name}: state {i}")


# Equivalence margin for per-seed test accuracy: one point.
MARGIN = 0.01
EQUIVALENCE_SEEDS = range(10)
EQUIVALENCE_CASES = {f"{name}, {arm}": TALK.replace(batch_norm=bn, **COMPARISONS[name])
                     for name in ("convergence speed", "big learning rate")
                     for arm, bn in (("BN", "before"), ("plain", "none"))}
# Without BN at learning rate 1 the runs are chaotic: from the same weights and batches the two engines'
# losses agree to 0.1% for 12 to 35 steps, then float32 rounding (XLA's and oneDNN's differ by about an
# ulp per operation) grows until the runs part, and test accuracy per seed spreads over 10-60% (sd about
# 14 points on either engine). A one-point equivalence margin would need thousands of seeds there.
CHAOTIC = {"big learning rate, plain"}

FIT_FROM_WEIGHTS = """
import json, sys
import numpy as np
from bnclaims import backend
backend.load(threads=1, name="tensorflow")
from bnclaims.data import load_dataset
from bnclaims.spec import RunSpec
from bnclaims.engines.fit import train

folder = sys.argv[1]
cases = json.load(open(f"{folder}/cases.json"))
answers = {}
for name, case in cases.items():
    arrays = np.load(f"{folder}/{case['file']}")
    initial = ([arrays[f"w{i}"] for i in range(case["weights"])], [arrays[f"s{i}"] for i in range(case["state"])])
    spec = RunSpec.from_dict(case["spec"])
    answers[name] = train(spec, load_dataset(spec.dataset), initial=initial).test_accuracy
json.dump(answers, open(f"{folder}/answers.json", "w"))
"""


def paired_tost(differences, margin: float) -> tuple[float, float, tuple[float, float]]:
    """Two one-sided t-tests of |mean difference| < margin on paired differences:
    (mean difference, p, 90% interval). All differences equal: the mean is exact, p is 0 inside the
    margin and 1 outside."""
    d = np.asarray(differences, float)
    mean = float(d.mean())
    if np.all(d == d[0]):
        return mean, float(abs(mean) >= margin), (mean, mean)
    lower = stats.ttest_1samp(d + margin, 0.0, alternative="greater").pvalue
    upper = stats.ttest_1samp(d - margin, 0.0, alternative="less").pvalue
    interval = stats.ttest_1samp(d, 0.0).confidence_interval(0.90)
    return mean, float(max(lower, upper)), (float(interval.low), float(interval.high))


@pytest.fixture(scope="module")
def paired_accuracies(engine, tmp_path_factory):
    """Per seed, the compiled engine's test accuracy and Keras fit's from the same initial weights (the
    compiled engine's, drawn from the seed by the Keras initializers on JAX) and the same epoch orders."""
    folder = tmp_path_factory.mktemp("paired")
    dataset = load_dataset(TALK.dataset)
    cases, ours = {}, {}
    for name, base in EQUIVALENCE_CASES.items():
        for seed in EQUIVALENCE_SEEDS:
            spec = base.replace(seed=seed)
            program = engine.program_for(spec, dataset)
            weights, state, _ = program.initial_state(spec)
            weights, state = [np.asarray(w) for w in weights], [np.asarray(s) for s in state]
            ours[name, seed] = engine.train(spec, dataset).test_accuracy
            file = f"case{len(cases)}.npz"
            np.savez(folder / file, **{f"w{i}": w for i, w in enumerate(weights)},
                     **{f"s{i}": s for i, s in enumerate(state)})
            cases[f"{name}|{seed}"] = {"file": file, "spec": spec.to_dict(), "weights": len(weights),
                                       "state": len(state)}
    (folder / "cases.json").write_text(json.dumps(cases))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("KERAS_BACKEND", None)
    done = subprocess.run([sys.executable, "-c", FIT_FROM_WEIGHTS, str(folder)], capture_output=True, text=True,
                          env=env, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    answers = json.loads((folder / "answers.json").read_text())
    return {key: (ours[key], answers[f"{key[0]}|{key[1]}"]) for key in ours}


@pytest.mark.slow
@pytest.mark.parametrize("case", [pytest.param(name, marks=pytest.mark.xfail(
    strict=True, reason="chaotic runs: a one-point margin needs thousands of seeds (see CHAOTIC)"))
    if name in CHAOTIC else name for name in EQUIVALENCE_CASES])
def test_test_accuracies_are_equivalent_to_keras_fit(paired_accuracies, case):
    """Per seed, from the same initial weights and mini-batches: TOST at level 0.05 that the mean
    difference of test accuracy (compiled - fit) lies within one point, over ten seeds."""
    pairs = [paired_accuracies[case, seed] for seed in EQUIVALENCE_SEEDS]
    ours, theirs = np.array(pairs).T
    mean, p, (low, high) = paired_tost(ours - theirs, MARGIN)
    print(f"{case}: compiled {ours.mean():.4f} fit {theirs.mean():.4f} difference {mean:+.4f} "
          f"90% CI [{low:+.4f}, {high:+.4f}] TOST p={p:.3g} n={len(pairs)}")
    assert p < 0.05, (f"{case}: difference {mean:+.4f}, 90% CI [{low:+.4f}, {high:+.4f}], TOST p={p:.3g}, "
                      f"n={len(pairs)} seeds")


def test_paired_tost_accepts_small_differences_and_rejects_shifted_ones():
    rng = np.random.default_rng(0)
    small = 0.003 * rng.standard_normal(10)
    assert paired_tost(small, MARGIN)[1] < 0.05
    assert paired_tost(small + 0.02, MARGIN)[1] > 0.5
    assert paired_tost(0.05 * rng.standard_normal(10), MARGIN)[1] > 0.05, "too noisy to show equivalence"
    assert paired_tost([0.0] * 10, MARGIN) == (0.0, 0.0, (0.0, 0.0))
    assert paired_tost([0.02] * 10, MARGIN)[1] == 1.0
    # Hand-computable: differences +-0.001 alternating, mean 0, sd 0.00105: t = 0.01 / 0.000333 = 30.
    assert paired_tost([0.001, -0.001] * 5, MARGIN)[1] < 1e-8


CAPPED = """
import os, resource, sys, time
from bnclaims import backend
os.environ.update(backend.thread_environment(int(sys.argv[1])))
backend.load(name="jax")
import jax, jax.numpy as jnp
product = jax.jit(lambda a, b: (a @ b).sum())
a = jnp.ones((1024, 1024))
product(a, a).block_until_ready()
before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
for _ in range(40):
    product(a, a).block_until_ready()
after, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - started
print((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) / wall)
"""


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one core: nothing to cap")
def test_thread_environment_caps_xla_on_cpu():
    """The variables the plugin sets in each xdist worker before JAX starts hold XLA to one core."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in ("NPROC", "KERAS_BACKEND"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-c", CAPPED, "1"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    cores_busy = float(done.stdout.split()[-1])
    assert cores_busy <= 1.15, f"CPU time / wall time {cores_busy:.2f} with one thread"


HIDDEN_WHILE_KERAS_IMPORTS = """
import sys
from bnclaims import backend
backend.load(name="jax")
pulled_in = [name for name in backend.KERAS_OPTIONAL_PACKAGES if name in sys.modules]
import matplotlib, pandas, sklearn   # afterwards they import as usual
from keras.src.trainers.data_adapters import array_slicing
print(pulled_in, array_slicing.pandas is None, pandas.__name__)
"""


def test_keras_starts_without_its_optional_packages_which_import_normally_afterwards():
    """Keras imports matplotlib, pandas and scikit-learn at start-up when they are installed (mlxtend brings
    them); backend.load hides them while it imports Keras, so that no worker pays for them, and leaves them
    importable. Controls: without the hiding Keras pulls them in, and then its DataFrame support is on."""
    assert run_python(HIDDEN_WHILE_KERAS_IMPORTS, unset=("KERAS_BACKEND",)) == "[] True pandas"
    unhidden = HIDDEN_WHILE_KERAS_IMPORTS.replace("backend.load(name=\"jax\")",
                                                  "import os; os.environ['KERAS_BACKEND'] = 'jax'; import keras")
    assert run_python(unhidden, unset=("KERAS_BACKEND",)) == "['matplotlib', 'pandas', 'sklearn'] False pandas"


def test_the_gpu_flags_for_reproducible_programs_are_added_unless_the_user_set_them():
    """Autotuning picks kernels by timing them, so two processes can round differently on a GPU: the
    engine turns it off, but a value the user gave for the same flag wins."""
    ours = " ".join(backend.GPU_XLA_FLAGS)
    assert backend.xla_flags_with_ours("") == ours
    assert backend.xla_flags_with_ours("--xla_dump_to=/tmp/x") == f"--xla_dump_to=/tmp/x {ours}"
    assert backend.xla_flags_with_ours("--xla_gpu_autotune_level=4") == \
        "--xla_gpu_autotune_level=4 --xla_gpu_enable_triton_gemm=false"
    assert backend.xla_flags_with_ours(ours) == ours


ZEN4_CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
flags\t\t: fpu vme sse sse2 ht constant_tsc pni ssse3 fma sse4_1 sse4_2 avx f16c hypervisor avx2 smep avx512f avx512bw

processor\t: 1
vendor_id\t: AuthenticAMD
"""


def test_the_cpu_is_named_by_its_model_and_vector_instruction_sets():
    """The same program rounds differently on different CPUs, so the platform names the CPU: model,
    maker's family and model numbers, and the vector instruction sets kernels are chosen by, not the
    flags that change nothing (smep, hypervisor, ...)."""
    assert backend.cpu_identity(ZEN4_CPUINFO) == (
        "AMD EPYC (AuthenticAMD family 25 model 17; avx avx2 avx512bw avx512f f16c fma sse sse2 sse4_1 sse4_2 ssse3)")
    arm = "processor\t: 0\nFeatures\t: fp asimd aes fphp asimdhp asimddp sve\nCPU implementer\t: 0x41\nCPU part\t: 0xd0c\n"
    assert backend.cpu_identity(arm).endswith("(implementer 0x41 part 0xd0c; asimd asimddp asimdhp fphp sve)")


def test_runs_on_cpus_that_differ_in_one_instruction_set_have_different_keys():
    from bnclaims.spec import RunContext, run_key

    without_avx512 = ZEN4_CPUINFO.replace(" avx512f avx512bw", "")
    keys = {run_key(RunSpec(), RunContext("compiled", "jax", f"cpu:{backend.cpu_identity(info)}", "d" * 64))
            for info in (ZEN4_CPUINFO, without_avx512)}
    assert len(keys) == 2


def test_this_machines_platform_names_its_cpu():
    if not backend.platform("jax").startswith("cpu"):
        pytest.skip("JAX runs on an accelerator here")
    assert backend.platform("jax").startswith(f"cpu:{backend.cpu_identity()}")
    assert backend.device_description().startswith("CPU (")


def test_the_platform_names_the_xla_flags_that_apply_there():
    """XLA flags can change a run's numbers, so the platform (part of every run key) names them; the
    GPU compiler's flags do nothing on the CPU and leave a CPU run's key alone."""
    ours = " ".join(backend.GPU_XLA_FLAGS)
    assert backend.xla_flags_that_apply("cpu", ours) == ""
    assert backend.xla_flags_that_apply("cpu", f"{ours} --xla_cpu_enable_fast_math=true") == "--xla_cpu_enable_fast_math=true"
    assert backend.xla_flags_that_apply("gpu", ours) == ours
