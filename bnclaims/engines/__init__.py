"""The engines wing: everything that builds and trains a model.

- compiled:      the compiled engine (a run as one XLA program on JAX), the default
- fit:           the reference engine (Keras `fit` on TensorFlow, as the talk trains)
- shared:        what both engines share: inputs, epoch orders, scoring, the RunResult builder and
                 its one rule for "diverged"
- model, layers: the talk's MLP built from a RunSpec; the custom layers (ghost batches, noise after BN)
- probes, recalibration: what a run records on its trained model
- keras_tools:   general Keras helpers (a model's normalization layers, per-model compiled functions)

Nothing outside this wing imports Keras at module level; the rest of bnclaims sees runs only as
RunSpec in, RunResult out (bnclaims.runner picks the engine).
"""
