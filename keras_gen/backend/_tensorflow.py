"""TensorFlow implementation of the backend primitives."""

import functools

import tensorflow as tf


def minimize(model, loss_fn, variables, optimizer, has_aux):
    del model  # TensorFlow variables are written in place.
    with tf.GradientTape() as tape:
        out = loss_fn()
        loss, aux = out if has_aux else (out, None)
        scaled = optimizer.scale_loss(loss)
    grads = tape.gradient(scaled, variables)
    optimizer.apply(grads, variables)
    return loss, aux


def adapt_step(step, kind):
    # The TensorFlow trainer calls train_step(data) statefully, but (unlike
    # the JAX and torch trainers) defers building an unbuilt model to the
    # first trace of the step. A step that reads `self.trainable_variables`
    # before its forward pass would then see none, so build first, the way
    # the other trainers do. `_symbolic_build` is private Keras API (3.15);
    # it is the trainers' own build-from-a-data-batch routine.
    @functools.wraps(step)
    def stateful_step(self, data):
        if not self.built:
            self._symbolic_build(data_batch=data)
        return step(self, data)

    return stateful_step
