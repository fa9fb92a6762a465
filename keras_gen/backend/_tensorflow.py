"""TensorFlow implementation of the backend primitives."""

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
    # The TensorFlow trainer calls train_step(data) statefully.
    return step
