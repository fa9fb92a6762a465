"""TensorFlow implementation of the backend primitives."""

import contextlib
import functools
import json
import os

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
    """A ``tf.distribute.MirroredStrategy`` over ``devices``, as a scope.

    Under several processes (``TF_CONFIG`` lists several tasks) it is this
    process's ``MultiWorkerMirroredStrategy``, created once (see
    :func:`initialize_processes`).
    """
    from keras_gen.backend import _devices

    if process_count() > 1:
        if devices is not None:
            raise ValueError(
                "Under several processes, data_parallel() spans every process's "
                "devices (MultiWorkerMirroredStrategy over TF_CONFIG's workers): "
                "devices must be None (choose a process's devices with the "
                "launcher, e.g. CUDA_VISIBLE_DEVICES). "
                f"Received: devices={devices!r} in process {process_index()} "
                f"of {process_count()}"
            )
        strategy = _multi_worker_strategy()
        return _devices.EngineScope(strategy, strategy.num_replicas_in_sync)

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


def misplaced_variables(model):
    strategy = getattr(model, "_distribute_strategy", None)
    if strategy is None and tf.distribute.has_strategy():
        # Built outside any strategy, trained inside one's scope.
        strategy = tf.distribute.get_strategy()
    if strategy is None:
        return []
    # Keras keeps the tf.Variable (mirrored under a strategy) in `_value`.
    return [v for v in model.variables
            if not strategy.extended.variable_created_in_scope(getattr(v, "_value", v))]


def after_fit(model):
    del model  # tf.Variable.assign copies.


@contextlib.contextmanager
def keep_state_on_error(model):
    # The variables keep their values while fit / predict run. An error while
    # a step function was traced for the first time leaves that tf.function
    # half-made (the next call would create variables on a non-first call):
    # drop the step functions so the next call traces afresh. Without a
    # strategy Keras builds an optimizer inside that first trace; one the
    # failed trace built is unbuilt again (its slots were made from the
    # trace's symbolic shapes, and the next fit failed in Adam's update with
    # "Incompatible shapes").
    unbuilt = [(opt, len(opt._variables)) for opt in _optimizers(model) if not opt.built]
    try:
        yield
    except BaseException:
        for name in ("train_function", "test_function", "predict_function"):
            if hasattr(model, name):
                setattr(model, name, None)
        # only when no step ran: an error after training steps (Ctrl-C, the NaN
        # guard, a callback) keeps the optimizer's state
        if unbuilt and all(int(opt.iterations.numpy()) == 0 for opt, _ in unbuilt):
            for opt, count in unbuilt:
                if opt.built:
                    del opt._variables[count:]
                    opt._trainable_variables = []
                    opt._trainable_variables_indices.clear()
                    opt.built = False
        raise


def _optimizers(model):
    """The model's optimizer, an OptimizerGroup's members, and the optimizers
    a LossScaleOptimizer (mixed float16) wraps."""
    found, stack = [], [getattr(model, "optimizer", None)]
    while stack:
        optimizer = stack.pop()
        if optimizer is None or any(optimizer is seen for seen in found):
            continue
        found.append(optimizer)
        stack.extend(getattr(optimizer, "optimizers", []))
        stack.append(getattr(optimizer, "inner_optimizer", None))
    return found


def replica_count(model):
    strategy = getattr(model, "distribute_strategy", None)
    return int(getattr(strategy, "num_replicas_in_sync", 1) or 1)


def distribution_scope(model):
    del model  # fit() re-enters model.distribute_strategy itself.
    return contextlib.nullcontext()


def build_scope(model):
    strategy = getattr(model, "_distribute_strategy", None)
    return contextlib.nullcontext() if strategy is None else strategy.scope()


# ------------------------------------------------------------ processes
# The multi-worker strategy of this process: one per process, created by
# initialize_processes (or by the first data_parallel() under a TF_CONFIG
# the user set), since its collective ops must be configured before
# TensorFlow's runtime starts.
_MULTI_WORKER = []


def _task_types(config):
    cluster = config.get("cluster") or {}
    return {kind: list(cluster.get(kind) or []) for kind in ("chief", "worker")}


def _read_tf_config(require_task=True):
    raw = os.environ.get("TF_CONFIG", "")
    if not raw.strip():
        return None
    try:
        config = json.loads(raw)
    except ValueError:
        config = None
    if not isinstance(config, dict) or not (
        isinstance(config.get("task"), dict)
        or (not require_task and "task" not in config and isinstance(config.get("cluster"), dict))
    ):
        raise ValueError(
            "TF_CONFIG must be JSON with a 'cluster' and a 'task', e.g. "
            '{"cluster": {"worker": ["host0:12345", "host1:12345"]}, '
            '"task": {"type": "worker", "index": 0}}. '
            f"Received: TF_CONFIG={raw!r}"
        )
    return config


def _position(config):
    """(process index, process count) of a TF_CONFIG: a chief first, then the workers."""
    tasks = _task_types(config)
    count = len(tasks["chief"]) + len(tasks["worker"])
    task = config["task"]
    kind, index = task.get("type"), task.get("index", 0)
    if kind not in ("chief", "worker") or not isinstance(index, int) or not (
        0 <= index < len(tasks[kind])
    ):
        raise ValueError(
            "TF_CONFIG's task must be a 'chief' or a 'worker' listed in its "
            f"cluster (MultiWorkerMirroredStrategy). Received: TF_CONFIG task={task!r}, "
            f"cluster={config.get('cluster')!r}"
        )
    return (index if kind == "chief" else len(tasks["chief"]) + index), max(1, count)


def worker_addresses(launch, environ=None):
    """The ``TF_CONFIG`` workers keras-gen derives from a single-host launch.

    Worker ``i`` listens on ``MASTER_ADDR:MASTER_PORT + 1 + i`` (the
    launcher's own port, which torchrun's agent may hold, is left alone).
    Several hosts cannot be derived (each process would need every other
    host's address): set ``TF_CONFIG`` there.

    Raises:
        ValueError: the launch spans several hosts (``LOCAL_RANK`` differs
            from ``RANK``, or ``LOCAL_WORLD_SIZE`` from ``WORLD_SIZE``), or
            a port would pass 65535.
    """
    environ = os.environ if environ is None else environ
    world = launch["world_size"]
    local_world = environ.get("LOCAL_WORLD_SIZE", "")
    if launch["local_rank"] != launch["rank"] or local_world not in ("", str(world)):
        raise ValueError(
            "TensorFlow's MultiWorkerMirroredStrategy needs every worker's "
            "address in TF_CONFIG; keras-gen derives it only for processes on "
            "one host. Set TF_CONFIG on every host (see the README, 'Several "
            f"hosts'). Received: RANK={launch['rank']}, "
            f"LOCAL_RANK={launch['local_rank']}, WORLD_SIZE={world}, "
            f"LOCAL_WORLD_SIZE={local_world or None}"
        )
    if launch["port"] + world > 65535:
        raise ValueError(
            "TensorFlow's workers listen on MASTER_PORT + 1 ... MASTER_PORT + "
            f"WORLD_SIZE, which passes 65535. Received: MASTER_PORT={launch['port']}, "
            f"WORLD_SIZE={world}"
        )
    addr = launch["addr"]
    if ":" in addr and not addr.startswith("["):
        addr = f"[{addr}]"  # an IPv6 address
    return [f"{addr}:{launch['port'] + 1 + i}" for i in range(world)]


def initialize_processes(launch):
    """Describe the launch in ``TF_CONFIG`` and create the multi-worker strategy.

    A ``TF_CONFIG`` already set (by the user or a cluster manager) is kept
    and must agree with ``launch`` (as many tasks as ``WORLD_SIZE``, this
    one at ``RANK``); one with a ``cluster`` and no ``task`` (the same
    string for every process, the workers listed in rank order) gets task
    ``{"type": "worker", "index": RANK}``; without one, it is derived by
    :func:`worker_addresses` (one host only).
    With several processes and GPUs per host, each process sees one GPU
    (:func:`local_gpu`). The ``MultiWorkerMirroredStrategy`` is created now:
    it configures TensorFlow's collective ops, which is possible only
    before TensorFlow runs its first operation. It waits for every worker
    to start. Then, unless ``keras.utils.set_random_seed`` was called,
    every worker takes one common seed (:func:`_seed_alike`), so that
    shuffles cut the same global batches everywhere.
    """
    config = _read_tf_config(require_task=False)
    if config is None:
        config = {
            "cluster": {"worker": worker_addresses(launch)},
            "task": {"type": "worker", "index": launch["rank"]},
        }
        os.environ["TF_CONFIG"] = json.dumps(config)
    elif "task" not in config:
        # One TF_CONFIG for every process (the cluster only, workers in
        # rank order): this process is worker RANK.
        config = dict(config, task={"type": "worker", "index": launch["rank"]})
        os.environ["TF_CONFIG"] = json.dumps(config)
    index, count = _position(config)
    if (index, count) != (launch["rank"], launch["world_size"]):
        raise ValueError(
            f"TF_CONFIG describes process {index} of {count}, but the launcher "
            f"says process {launch['rank']} of {launch['world_size']} (RANK, "
            "WORLD_SIZE). Make them agree, or unset TF_CONFIG to let keras-gen "
            f"derive it. Received: TF_CONFIG={os.environ['TF_CONFIG']!r}"
        )
    if count > 1:
        gpus = tf.config.list_physical_devices("GPU")  # does not start TensorFlow
        chosen = local_gpu(launch, len(gpus))
        if chosen is not None:
            try:
                tf.config.set_visible_devices([gpus[chosen]], "GPU")
            except RuntimeError:
                pass  # TensorFlow started already: the strategy says so below
        _seed_alike(_multi_worker_strategy())


def _seed_alike(strategy):
    """Seed every worker alike unless ``keras.utils.set_random_seed`` was called.

    As ``keras.distribution.initialize`` does on JAX: Keras shuffles arrays
    with TensorFlow's random ops, and unseeded workers would each shuffle
    their own way, each then taking its part of a different global batch
    (some examples used twice in an epoch, others never), silently. The
    workers add up their random seeds (one collective) and all call
    ``keras.utils.set_random_seed`` with the sum, so initial weights,
    SeedGenerators and shuffles start equal everywhere.
    """
    import keras

    if _seeded():
        return
    import random

    local = random.SystemRandom().randrange(2**31)
    per_replica = strategy.run(lambda: tf.constant(local, tf.int64))
    total = strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
    keras.utils.set_random_seed(int(total.numpy()) % 2**31)


def _seeded():
    # Private Keras API (3.15): the seed keras.utils.set_random_seed stored.
    from keras.src.utils import rng_utils

    return rng_utils.get_random_seed() is not None


def local_gpu(launch, gpu_count, environ=None):
    """The GPU this process takes on its host: ``LOCAL_RANK``, or None (every visible GPU).

    With several processes per host (torchrun's ``LOCAL_WORLD_SIZE`` > 1)
    and several visible GPUs, process ``LOCAL_RANK`` takes GPU
    ``LOCAL_RANK``, as on PyTorch and JAX; one process per host, or one
    visible GPU (``CUDA_VISIBLE_DEVICES`` set per process), keeps them all.
    """
    environ = os.environ if environ is None else environ
    try:
        per_host = int(environ.get("LOCAL_WORLD_SIZE", "1"))
    except ValueError:
        per_host = 1
    if per_host > 1 and gpu_count > 1 and launch["local_rank"] < gpu_count:
        return launch["local_rank"]
    return None


class _MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """``MultiWorkerMirroredStrategy`` with a ``reduce`` that Keras 3 can call.

    Keras' TensorFlow trainer (3.15) calls ``strategy.reduce`` in two ways
    that ``MultiWorkerMirroredStrategy`` with several workers refuses
    (keras-team/keras#20585, tensorflow/tensorflow#72388), though
    ``MirroredStrategy`` accepts both:

    * on a whole distributed data batch (a tuple) before the first step
      (``_maybe_symbolic_build``): "Attempt to convert a value
      (PerReplica...) ... to a Tensor". Here each leaf is reduced alone.
    * on every scalar log with ``axis=0`` (``reduce_per_replica``):
      "Invalid reduction dimension 0 for input with 0 dimensions". A scalar
      has no axis to reduce within a replica; it is reduced across the
      replicas only (``axis=None``), as ``MirroredStrategy``'s path does.

    A non-scalar value reduced with ``axis=None`` (Keras' build batch) is
    this replica's own value: tracing needs only its shapes, and the
    workers' shares of an uneven batch cannot be all-reduced.
    """

    def reduce(self, reduce_op, value, axis=None):
        parent = super(_MultiWorkerMirroredStrategy, self)

        def leaf(v):
            leaf_axis = axis
            local = self.experimental_local_results(v)[0]
            rank = getattr(getattr(local, "shape", None), "rank", None)
            if axis is not None and rank == 0:
                leaf_axis = None
            elif axis is None and rank:
                # The build batch (Keras' _maybe_symbolic_build reduces the
                # first data batch with axis=None only to trace with it):
                # the workers' shares of an uneven batch differ in size, and
                # an all-reduce of them aborts every worker ("Shape mismatch
                # in the collective"), so this replica's share is used.
                return local
            return parent.reduce(reduce_op, v, leaf_axis)

        if isinstance(value, (tuple, list, dict)):
            return tf.nest.map_structure(leaf, value)
        return leaf(value)


def _multi_worker_strategy():
    if not _MULTI_WORKER:
        try:
            strategy = _MultiWorkerMirroredStrategy()
        except RuntimeError as err:
            if "program startup" not in str(err):
                raise
            raise RuntimeError(
                "TensorFlow's MultiWorkerMirroredStrategy must be created before "
                "TensorFlow runs any operation: call keras_gen.distribute.initialize() "
                "first thing in the script, before building models or making "
                f"tensors. Received: TF_CONFIG={os.environ.get('TF_CONFIG')!r} "
                "after TensorFlow had started"
            ) from err
        _MULTI_WORKER.append(strategy)
    return _MULTI_WORKER[0]


def _lenient_position():
    # For process_index/process_count, which is_chief() asks anywhere: a
    # TF_CONFIG for another strategy (a 'ps' or 'evaluator' task) gives its
    # task index among the chief and workers instead of an error.
    try:
        config = _read_tf_config()
        return (0, 1) if config is None else _position(config)
    except ValueError:
        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
        spec = resolver.cluster_spec().as_dict()
        count = len(spec.get("chief", [])) + len(spec.get("worker", []))
        return resolver.task_id or 0, max(1, count)


def process_index():
    return _lenient_position()[0]


def process_count():
    return _lenient_position()[1]
