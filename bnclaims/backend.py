"""TensorFlow and Keras, imported once per process with threads capped and ops deterministic.

Nothing else in the engine imports TensorFlow at module level: importing it costs seconds, and the
thread pools must be sized before TensorFlow runs its first op, which only this module arranges.
"""

from __future__ import annotations

import os
import warnings

_loaded: tuple | None = None


def thread_environment(threads: int) -> dict[str, str]:
    """Variables that size TensorFlow's and OpenMP's pools; safe to set before TensorFlow is imported."""
    value = str(int(threads))
    return {"TF_NUM_INTRAOP_THREADS": value, "TF_NUM_INTEROP_THREADS": value, "OMP_NUM_THREADS": value}


def load(threads: int | None = None):
    """Return (tensorflow, keras), configuring them on the first call of this process.

    threads: the size of TensorFlow's intra- and inter-op pools, or None for TensorFlow's default (all
    cores). Under pytest-xdist every worker passes its share of the cores.
    """
    global _loaded
    if _loaded is not None:
        return _loaded
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # The engine's determinism and thread settings are TensorFlow's; another backend would silently
    # ignore them and give different numbers under the same cache key.
    os.environ["KERAS_BACKEND"] = "tensorflow"
    if threads:
        os.environ.update(thread_environment(threads))
    import tensorflow as tf
    import keras

    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # TensorFlow already ran an op in this process; its pools are fixed now.
            warnings.warn(f"TensorFlow was initialised before its threads could be capped at {threads}")
    tf.config.experimental.enable_op_determinism()
    keras.utils.disable_interactive_logging()
    _loaded = (tf, keras)
    return _loaded


def device_description() -> str:
    """'CPU' or the accelerators TensorFlow sees, for report headers."""
    tf, _ = load()
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU"
    names = []
    for gpu in gpus:
        details = tf.config.experimental.get_device_details(gpu)
        names.append(details.get("device_name", gpu.name))
    return ", ".join(names)
