"""General Keras helpers that the probes and recalibration share: a model's normalization layers, the
values of its variables, and functions compiled once per model."""

from __future__ import annotations

import weakref

from .. import backend


def normalization_layers(model) -> list:
    """The model's BN layers (Keras BatchNormalization and GhostBatchNormalization), in order."""
    from .layers import GhostBatchNormalization

    _, keras = backend.load()
    return [layer for layer in model.layers
            if isinstance(layer, (keras.layers.BatchNormalization, GhostBatchNormalization))]


# Compiled functions, kept per model: on JAX they take the model's weights as arguments, so each
# compiles once per model and input shape in a process, not once per run (an engine keeps one template
# model per program and loads each run's trained weights into it).
_compiled: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def per_model(model, key, build):
    """build(), made once per (model, key) and kept while the model lives."""
    functions = _compiled.setdefault(model, {})
    if key not in functions:
        functions[key] = build()
    return functions[key]


def variable_values(variables) -> list:
    """The current values of Keras variables (what stateless calls take)."""
    return [v.value for v in variables]
