"""One compiled SGD training step on a Keras model, on whichever backend this process runs: for
measurements of the step itself (claim P2, batch efficiency), with Python and tracing outside them.

    step = sgd_step(model, learning_rate)
    x, y = on_device(images), on_device(one_hot_labels)
    loss = step(x, y)          # asynchronous on JAX: float(loss) waits for the result
"""

from __future__ import annotations

import numpy as np

from . import backend


def on_device(array: np.ndarray):
    """The array where the backend computes, so that a timed step does not copy its inputs."""
    tf, _ = backend.load()
    if tf is not None:
        return tf.constant(array)
    import jax

    return jax.device_put(np.asarray(array))


def sgd_step(model, learning_rate: float):
    """step(x, y_one_hot) -> loss: one training-mode forward pass, categorical cross-entropy, its
    gradient and an SGD update, compiled once per input shape. On TensorFlow the update goes to the
    model's variables; on JAX to weights the step holds, which start as the model's."""
    tf, keras = backend.load()
    optimizer = keras.optimizers.SGD(learning_rate=learning_rate)
    loss_fn = keras.losses.CategoricalCrossentropy()
    if tf is not None:
        @tf.function
        def train_step(x, y):
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            gradients = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, model.trainable_variables))
            return loss

        return train_step

    import jax

    optimizer.build(model.trainable_variables)
    state = [[v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
             [v.value for v in optimizer.variables]]

    def loss_of(trainable, non_trainable, x, y):
        outputs, non_trainable = model.stateless_call(trainable, non_trainable, x, training=True)
        return loss_fn(y, outputs), non_trainable

    @jax.jit
    def compiled(trainable, non_trainable, optimizer_variables, x, y):
        (loss, non_trainable), gradients = jax.value_and_grad(loss_of, has_aux=True)(trainable, non_trainable, x, y)
        trainable, optimizer_variables = optimizer.stateless_apply(optimizer_variables, gradients, trainable)
        return loss, trainable, non_trainable, optimizer_variables

    def train_step(x, y):
        loss, *state[:] = compiled(*state, x, y)
        return loss

    return train_step
