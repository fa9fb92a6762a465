"""TensorFlow implementation of the backend primitives."""

import contextlib
import functools

import tensorflow as tf


def minimize(model, loss_fn, variables, optimizer, has_aux):
    del model  # TensorFlow variables are written in place.
    with tf.GradientTape() as tape:
        out = loss_fn()
        loss, aux = out if has_aux else (out, None)
        scaled = optimizer.scale_loss(loss)
        # Under a tf.distribute strategy each replica computes the loss (a
        # batch mean) on its shard and optimizer.apply sums the replicas'
        # gradients; dividing by the replica count makes that sum the
        # gradient of the global-batch mean, as Keras' own trainer does
        # (keras.src.losses.loss.scale_loss_for_distribution). The loss
        # returned to the step, and so to its trackers, stays unscaled: each
        # replica's Mean tracker averages its shard's loss and the trainer
        # averages the replicas' logs.
        scaled = _per_replica(scaled)
    grads = tape.gradient(scaled, variables)
    optimizer.apply(grads, variables)
    return loss, aux


def _per_replica(scaled):
    # As in minimize: the gradient of the global-batch mean under a strategy.
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if replicas > 1:
        scaled = scaled * tf.cast(1.0 / replicas, scaled.dtype)
    return scaled


def keep_forward(model, fn, variables):
    del model, variables  # The tape records the variables fn reads.
    # A tape of its own, closed when fn returns: only fn's ops are recorded,
    # and its output, used later by another player's loss under that loss's
    # own tape, carries no gradient to these variables there.
    tape = tf.GradientTape()
    with tape:
        output = fn()
    return tf.stop_gradient(output), (tape, output)


def minimize_kept(model, loss_fn, kept, optimizer, has_aux):
    del model
    tape, output = kept._state
    # The loss's gradient w.r.t. the output only: no other variable is
    # watched, so no weight gradient of the loss's network is computed.
    with tf.GradientTape(watch_accessed_variables=False) as outer:
        outer.watch(output)
        out = loss_fn(output)
        loss, aux = out if has_aux else (out, None)
        scaled = _per_replica(optimizer.scale_loss(loss))
    cotangent = outer.gradient(
        scaled, output, unconnected_gradients=tf.UnconnectedGradients.ZERO
    )
    # The vector-Jacobian product through the kept forward pass.
    grads = tape.gradient(output, kept.variables, output_gradients=cotangent)
    optimizer.apply(grads, kept.variables)
    return loss, aux


def value_and_input_gradient(fn, x):
    x = tf.convert_to_tensor(x)
    # Called inside minimize's tape, this inner tape's gradient computation
    # is itself recorded by the outer tape: a differentiable gradient.
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(x)
        out = fn(x)
        total = tf.reduce_sum(tf.cast(out, "float32"))
    grad = tape.gradient(total, x, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return out, grad


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


# ------------------------------------------------------------ distribution
def data_parallel(devices):
    """A ``tf.distribute.MirroredStrategy`` over ``devices``, as a scope."""
    from keras_gen.backend import _devices

    def parse(kind):
        return [_devices.parse_device(d.name) for d in tf.config.list_logical_devices(kind)]

    gpus, cpus = parse("GPU"), parse("CPU")
    chosen = tuple(_devices.select(devices, gpus + cpus, default=gpus or cpus))
    # One strategy per set of devices per process: two MirroredStrategy
    # objects over the same devices number their collective all-reduces
    # from the same keys, and a model trained under the second then meets
    # the first one's all-reduce (a shape-mismatch abort on CPU devices).
    if chosen not in _STRATEGIES:
        _STRATEGIES[chosen] = tf.distribute.MirroredStrategy(
            devices=[f"/{t}:{i}" for t, i in chosen]
        )
    strategy = _STRATEGIES[chosen]
    return _devices.EngineScope(strategy, strategy.num_replicas_in_sync)


_STRATEGIES = {}


def record_distribution(model):
    del model  # Keras records the strategy on the model (model.distribute_strategy).


def distribution_scope(model):
    del model  # fit() re-enters model.distribute_strategy itself.
    return contextlib.nullcontext()


def _tf_config_cluster():
    # (workers, task index) from TF_CONFIG, which MultiWorkerMirroredStrategy reads.
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    workers = resolver.cluster_spec().as_dict().get("worker", [])
    return len(workers), (resolver.task_id or 0)


def process_index():
    return _tf_config_cluster()[1]


def process_count():
    return max(1, _tf_config_cluster()[0])
