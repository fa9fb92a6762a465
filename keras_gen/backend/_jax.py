"""JAX implementation of the backend primitives.

JAX's Keras trainer calls ``train_step(self, state, data)`` and expects
``(logs, new_state)`` back, where ``state`` is the tuple (trainable,
non-trainable, optimizer, metrics variable values). keras-gen models write a
stateful ``train_step(self, data)`` instead; :func:`adapt_step` bridges the two
by running the stateful step inside a ``keras.StatelessScope`` that maps every
variable in ``state`` to its value and reading each variable's new value back
out of the scope (the approach discussed in keras-team/keras#18881).
"""

import contextlib
import functools
import os

import jax
import keras
import numpy
from keras import tree

# Private Keras API, used here only: the stateless scope that is active while
# a train step runs, so that ``minimize`` can open a child scope that reads
# through to it. There is no public accessor in Keras 3.15.
from keras.src.backend.common.stateless_scope import get_stateless_scope


class _ChildScope(keras.StatelessScope):
    """A stateless scope that falls back to its parent for unmapped values.

    ``minimize`` maps only the variables being differentiated to JAX tracers;
    every other variable must keep the value the enclosing train-step scope
    gives it (the fit loop has freed the variables' own buffers).
    """

    def __init__(self, parent, state_mapping):
        super().__init__(
            state_mapping=state_mapping,
            collect_losses=True,
            initialize_variables=False,
        )
        self.parent = parent
        # Every variable assigned in this scope, by id, in write order.
        self.written = {}

    def add_update(self, update):
        super().add_update(update)
        self.written[id(update[0])] = update[0]

    def get_current_value(self, variable):
        value = super().get_current_value(variable)
        if value is None and self.parent is not None:
            value = self.parent.get_current_value(variable)
        return value


def _writable(model, variables):
    # Variables a forward pass may write: BatchNorm moving statistics,
    # SeedGenerator state, metrics updated inside a loss_fn.
    grad_ids = {id(v) for v in variables}
    return [
        v
        for v in model.non_trainable_variables + model.metrics_variables
        if id(v) not in grad_ids
    ]


def _writes(scope, writable):
    return {
        i: scope.state_mapping[id(v)]
        for i, v in enumerate(writable)
        if id(v) in scope.state_mapping
    }


def _carry_out(writes, writable):
    # Carry a traced function's writes out into the enclosing scope (or
    # onto the variables themselves when no scope is active).
    for i, value in writes.items():
        writable[i].assign(value)


def _scaled_loss(parent, state_mapping, loss_fn, optimizer, has_aux, writable):
    """loss_fn() in a child scope of `parent`: (scaled loss, (loss, aux, writes to carry out))."""
    with _ChildScope(parent, state_mapping) as scope:
        out = loss_fn()
        loss, aux = out if has_aux else (out, None)
        loss = keras.ops.convert_to_tensor(loss)
        scaled = optimizer.scale_loss(loss)
    return scaled, (loss, aux, _writes(scope, writable))


def minimize(model, loss_fn, variables, optimizer, has_aux):
    parent = get_stateless_scope()
    writable = _writable(model, variables)
    values = [v.value for v in variables]

    def scaled_loss(vals):
        return _scaled_loss(parent, zip(variables, vals), loss_fn, optimizer, has_aux, writable)

    (_, (loss, aux, writes)), grads = jax.value_and_grad(
        scaled_loss, has_aux=True
    )(values)
    _carry_out(writes, writable)
    _apply(optimizer, grads, variables)
    return loss, aux


def keep_forward(model, fn, variables):
    # jax.vjp over the variables' values, in a child scope of the train
    # step's as in minimize; the returned function is the kept backward
    # pass, called by minimize_kept inside the same trace.
    parent = get_stateless_scope()
    writable = _writable(model, variables)

    def forward(vals):
        with _ChildScope(parent, zip(variables, vals)) as scope:
            output = keras.ops.convert_to_tensor(fn())
        return output, _writes(scope, writable)

    output, pullback, writes = jax.vjp(
        forward, [v.value for v in variables], has_aux=True
    )
    _carry_out(writes, writable)
    return output, pullback


def minimize_kept(model, loss_fn, kept, optimizer, has_aux):
    parent = get_stateless_scope()
    # The loss's gradient w.r.t. the output only (the variables it reads
    # keep the enclosing scope's values, closed over as constants).
    writable = _writable(model, [])

    def scaled_loss(output):
        return _scaled_loss(parent, [], lambda: loss_fn(output), optimizer, has_aux, writable)

    (_, (loss, aux, writes)), cotangent = jax.value_and_grad(
        scaled_loss, has_aux=True
    )(kept.output)
    _carry_out(writes, writable)
    # The vector-Jacobian product through the kept forward pass.
    (grads,) = kept._state(cotangent)
    kept._state = None
    _apply(optimizer, list(grads), kept.variables)
    return loss, aux


def value_and_input_gradient(fn, x):
    # jax.grad over x only, inside whatever trace is active (minimize's
    # value_and_grad over the variables' values): the variables fn reads are
    # the enclosing scope's values (tracers of the outer gradient), closed
    # over, so the result stays differentiable with respect to them.
    parent = get_stateless_scope()
    x = jax.numpy.asarray(x)

    # The written variables are not JAX types: they leave jax.grad through
    # this list; their new values leave it as auxiliary outputs (values, not
    # the inner gradient's tracers).
    written = []

    def summed(x_value):
        with _ChildScope(parent, []) as scope:
            out = fn(x_value)
        written[:] = scope.written.values()
        values = [scope.state_mapping[id(v)] for v in written]
        return jax.numpy.sum(out.astype("float32")), (out, values)

    grad, (out, values) = jax.grad(summed, has_aux=True)(x)
    # Keep the forward pass's writes: into the enclosing scope (minimize's,
    # which carries them out) or onto the variables when none is active.
    for variable, value in zip(written, values):
        variable.assign(value)
    return out, grad


def _apply(optimizer, grads, variables):
    if not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        optimizer.apply(grads, variables)
        return
    # A LossScaleOptimizer's stateful apply assigns variables inside the
    # branches of an ops.cond (finite or not), which leaks tracers under JAX;
    # its stateless_apply is the functional form JAX's own trainer uses. It
    # updates every variable the optimizer was built with, in that order
    # (`_trainable_variables`, private Keras API), so align the gradients
    # with that list, zeros for variables not being minimized (those keep
    # their values; their optimizer slots see a zero gradient).
    if not optimizer.built:
        optimizer.build(variables)
    built = list(optimizer._trainable_variables)
    by_id = {id(v): g for v, g in zip(variables, grads)}
    aligned = [
        by_id[id(v)] if id(v) in by_id else jax.numpy.zeros(v.shape, v.dtype)
        for v in built
    ]
    new_values, new_optimizer_values = optimizer.stateless_apply(
        [v.value for v in optimizer.variables], aligned, [v.value for v in built]
    )
    for v, value in zip(built, new_values):
        if id(v) in by_id:
            v.assign(value)
    for v, value in zip(optimizer.variables, new_optimizer_values):
        v.assign(value)


def _value(x):
    return x.value if isinstance(x, keras.Variable) else x


def adapt_step(step, kind):
    @functools.wraps(step)
    def stateless_step(self, *args):
        if len(args) == 1:
            # Called statefully: by a subclass's super().train_step(data), or
            # by user code outside fit().
            return step(self, *args)
        state, data = args
        if kind == "train":
            groups = [
                self.trainable_variables,
                self.non_trainable_variables,
                self.optimizer.variables if self.optimizer is not None else [],
                self.metrics_variables,
            ]
        else:
            groups = [
                self.trainable_variables,
                self.non_trainable_variables,
                self.metrics_variables,
            ]
        mapping = [
            (var, val)
            for refs, vals in zip(groups, state)
            for var, val in zip(refs, vals)
        ]
        data = _shard_batch(data)
        with keras.StatelessScope(
            state_mapping=mapping, collect_losses=True
        ) as scope:
            logs = step(self, data)
            logs = tree.map_structure(_value, logs)
        new_state = tuple(
            [
                _fresh(scope.get_current_value(var), val)
                for var, val in zip(refs, vals)
            ]
            for refs, vals in zip(groups, state)
        )
        return logs, new_state

    stateless_step._keras_gen_adapted = True
    return stateless_step


def _fresh(new, old):
    return old if new is None else new


# ------------------------------------------------------------ distribution
def data_parallel(devices):
    """A ``keras.distribution.DataParallel`` over ``devices``, as a scope.

    Under several processes (after ``initialize_processes``) it spans every
    process's devices and reads the data by the keras-gen rule (every
    process passes the same data; see ``_ProcessDataParallel``).
    """
    from keras_gen.backend import _devices

    if process_count() > 1:
        if devices is not None:
            raise ValueError(
                "Under several processes, data_parallel() spans every process's "
                "devices: devices must be None (choose a process's devices with "
                "the launcher, e.g. CUDA_VISIBLE_DEVICES). "
                f"Received: devices={devices!r} in process "
                f"{jax.process_index()} of {jax.process_count()}"
            )
        distribution = _ProcessDataParallel(devices=keras.distribution.list_devices())
        return _devices.EngineScope(distribution, distribution.device_mesh.devices.size)
    available = [_devices.parse_device(d) for d in keras.distribution.list_devices()]
    chosen = _devices.select(devices, available)
    distribution = keras.distribution.DataParallel(
        devices=[f"{t}:{i}" for t, i in chosen]
    )
    return _devices.EngineScope(distribution, distribution.device_mesh.devices.size)


class _ProcessDataParallel(keras.distribution.DataParallel):
    """``DataParallel`` over several processes, every process given the same data.

    keras-gen's rule is that every process passes the same data (arrays or a
    ``tf.data.Dataset``) and ``fit(batch_size=...)`` is the global batch.
    Keras' own multi-process ``DataParallel`` instead expects each process
    to load its share (it shards a ``tf.data.Dataset`` per process and
    refuses arrays). Here each process places every global batch it reads
    replicated on its devices (``get_data_layout``), and keras-gen's train
    and test steps constrain the batch to the ``batch`` mesh axis
    (``_shard_batch``), so that each device computes on its slice of the
    global batch; slicing a replicated array needs no communication. The
    gradients, BatchNorm statistics and logs are then global-batch
    quantities, as on one device.

    The price: the input pipeline runs in full on every process, and each
    device receives the whole global batch. Non-keras-gen models trained
    under it compute every batch whole on each device (correct, not faster).
    """

    def __init__(self, devices):
        super().__init__(devices=devices, auto_shard_dataset=False)

    def get_data_layout(self, data_shape):
        return keras.distribution.TensorLayout([None] * len(data_shape), self.device_mesh)


def _shard_batch(data):
    """Constrain a batch read by ``_ProcessDataParallel`` to the batch mesh axis.

    Called inside the jitted train/test step. A leaf whose batch size is
    not a multiple of the device count (a last, partial batch) stays
    replicated: computed whole on each device, still correct.
    """
    distribution = keras.distribution.distribution()
    if not isinstance(distribution, _ProcessDataParallel):
        return data
    from jax.sharding import NamedSharding, PartitionSpec

    mesh = distribution.device_mesh.backend_mesh
    count = mesh.devices.size
    data = _check_same_batch(data, distribution)

    def shard(x):
        if not isinstance(x, jax.Array) or x.ndim == 0 or x.shape[0] % count:
            return x
        spec = PartitionSpec(distribution.batch_dim_name, *([None] * (x.ndim - 1)))
        return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, spec))

    return tree.map_structure(shard, data)


def batch_fingerprint(leaves):
    """Two uint32 numbers that differ between two different batches (exact).

    The sum of the leaves' bit patterns and a position-weighted sum (which
    changes with the order), in wrapping integer arithmetic, so that equal
    batches give equal numbers on any device or host (a float sum's rounding
    may depend on the hardware).
    """
    total = jax.numpy.zeros(2, "uint32")
    for x in leaves:
        x = jax.numpy.asarray(x)
        if jax.numpy.issubdtype(x.dtype, jax.numpy.floating):
            bits = jax.lax.bitcast_convert_type(x.astype("float32"), "uint32")
        else:
            bits = x.astype("int32").astype("uint32")
        bits = bits.reshape(-1)
        where = (jax.numpy.arange(bits.size, dtype="uint32") % 9973) + 1
        total = total + jax.numpy.stack([bits.sum(dtype="uint32"), (bits * where).sum(dtype="uint32")])
    return total


def _raise_if_batches_differ(fingerprints):
    fingerprints = [list(map(int, row)) for row in numpy.asarray(fingerprints)]
    if any(row != fingerprints[0] for row in fingerprints):
        raise ValueError(
            "Every process must train on the same global batches, but the "
            "processes' batches differ: pass the same data in the same order to "
            "fit() and evaluate() on every process (seed shuffles alike: "
            "keras.utils.set_random_seed(seed) with the same seed everywhere, or "
            "none at all). Received: batch fingerprints "
            f"{fingerprints} (one row per device)"
        )
    return numpy.zeros((), "uint32")


def _check_same_batch(data, distribution):
    """``data`` once every process's copy is known to be the same (else all raise).

    ``_ProcessDataParallel`` declares each process's batch a replicated array
    without comparing the copies; different data (or differently seeded
    shuffles) would train silently on a mix of them. Inside the jitted step,
    each device fingerprints its copy (:func:`batch_fingerprint`), the
    fingerprints are all-gathered (2 integers per device) and a host
    callback on every device raises ``ValueError`` when they differ. The
    returned batch depends on that callback's result, so no device reaches
    the step's next collective before its check ran: every process stops
    at the same step (the error reaches ``fit`` as a ``JaxRuntimeError``
    whose message holds the ``ValueError``).
    """
    from jax.sharding import PartitionSpec

    flat = tree.flatten(data)
    where = [i for i, x in enumerate(flat) if isinstance(x, jax.Array) and x.ndim > 0]
    if not where:
        return data
    axis = distribution.batch_dim_name

    def per_device(*local):
        fingerprints = jax.lax.all_gather(batch_fingerprint(local), axis)
        return jax.pure_callback(
            _raise_if_batches_differ, jax.ShapeDtypeStruct((), "uint32"), fingerprints
        )

    checked = jax.shard_map(
        per_device,
        mesh=distribution.device_mesh.backend_mesh,
        in_specs=tuple(PartitionSpec() for _ in where),
        out_specs=PartitionSpec(),
        check_vma=False,
    )(*[flat[i] for i in where])
    for i in where:
        # + 0 (the callback's result): the batch depends on the check.
        leaf = flat[i]
        if leaf.dtype == bool:
            flat[i] = jax.numpy.logical_or(leaf, checked.astype(bool))
        else:
            flat[i] = leaf + checked.astype(leaf.dtype)
    return tree.pack_sequence_as(data, flat)


# A model remembers the distribution it was created (or compiled) under, so
# that fit()/evaluate()/predict() called after the `with` block still shard
# the data and lay out the variables they create (optimizer slots, built on
# the first fit) the same way, as a TensorFlow model keeps its strategy.
_ATTR = "_keras_gen_distribution"


def record_distribution(model):
    distribution = keras.distribution.distribution()
    if distribution is not None:
        object.__setattr__(model, _ATTR, distribution)


def misplaced_variables(model):
    distribution = getattr(model, _ATTR, None) or keras.distribution.distribution()
    if distribution is None:
        return []
    devices = int(numpy.size(distribution.device_mesh.devices))
    # DataParallel replicates every variable on every device of its mesh;
    # one created outside the distribution lives on one device.
    return [v for v in model.variables
            if getattr(v.value, "sharding", None) is not None
            and len(v.value.sharding.device_set) != devices]


def after_fit(model):
    optimizer = getattr(model, "optimizer", None)
    held = {id(v._value) for v in getattr(optimizer, "variables", ()) if v._value is not None}
    for variable in model.trainable_variables:
        value = variable._value
        if value is not None and id(value) in held:  # None: purged by an interrupted fit
            variable.assign(jax.numpy.array(value, copy=True))  # same devices and sharding


def _variables(model):
    found, seen = [], set()
    optimizer = getattr(model, "optimizer", None)
    for variable in list(model.variables) + list(getattr(optimizer, "variables", ()) or ()):
        if id(variable) not in seen:
            seen.add(id(variable))
            found.append(variable)
    return found


@contextlib.contextmanager
def keep_state_on_error(model):
    kept = {id(variable): (variable, variable._value) for variable in _variables(model)}
    purge = getattr(model, "_purge_model_variables", None)
    # nested (fit's validation runs evaluate): put back the caller's wrapper
    outer = model.__dict__.get("_purge_model_variables")

    def keeping_purge(*args, **kwargs):
        # Keras detaches the values here (also of variables made inside the
        # call, such as the optimizer's on a first fit): keep them first.
        for variable in _variables(model):
            if variable._value is not None:
                kept[id(variable)] = (variable, variable._value)
        return purge(*args, **kwargs)

    if purge is not None:
        object.__setattr__(model, "_purge_model_variables", keeping_purge)
    try:
        yield
    except BaseException:
        try:
            model.jax_state_sync()  # the last step that ran (fit) or the state it read
        except Exception:  # noqa: BLE001  (the original error is the one to raise)
            pass
        for variable, value in kept.values():
            if variable._value is None and value is not None:
                variable._value = value
        model._jax_state = None
        raise
    finally:
        if purge is not None:
            if outer is not None:
                object.__setattr__(model, "_purge_model_variables", outer)
            else:
                object.__delattr__(model, "_purge_model_variables")


def replica_count(model):
    distribution = getattr(model, _ATTR, None) or keras.distribution.distribution()
    if distribution is None:
        return 1
    return int(numpy.size(distribution.device_mesh.devices))


def distribution_scope(model):
    distribution = getattr(model, _ATTR, None)
    if distribution is None or keras.distribution.distribution() is not None:
        return contextlib.nullcontext()
    return distribution.scope()


build_scope = distribution_scope


# ------------------------------------------------------------ processes
# The launch this process joined, once initialize_processes succeeded.
_LAUNCH = None

# jax.distributed's coordination service declares a process dead after this
# many seconds without its heartbeat (JAX's default, 100 s, kept a survivor
# of a killed peer hanging that long at exit before it aborted).
HEARTBEAT_TIMEOUT_S = 10
# How long a process that finished waits at exit for the others to finish
# (JAX's default is 300 s: too short for a chief's long final export).
SHUTDOWN_TIMEOUT_S = 3600


def coordinator_address(launch):
    """Where JAX's coordinator listens: rank 0's host (``MASTER_ADDR``), ``MASTER_PORT + 1``.

    ``MASTER_PORT`` itself is the launcher's: torchrun's agent holds it
    (its rendezvous store) while the processes run, so JAX's coordinator
    takes the next port.

    Raises:
        ValueError: ``MASTER_PORT + 1`` passes 65535.
    """
    port = launch["port"] + 1
    if port > 65535:
        raise ValueError(
            "JAX's coordinator listens on MASTER_PORT + 1, which passes 65535. "
            f"Received: MASTER_PORT={launch['port']}"
        )
    addr = launch["addr"]
    if ":" in addr and not addr.startswith("["):
        addr = f"[{addr}]"  # an IPv6 address
    return f"{addr}:{port}"


def local_device_ids(launch, environ=None):
    """The accelerators this process takes on its host: ``[LOCAL_RANK]`` or None (all).

    With several processes per host (torchrun's ``LOCAL_WORLD_SIZE`` > 1,
    e.g. ``--nproc-per-node 4`` on a 4-GPU host) process ``LOCAL_RANK``
    takes GPU ``LOCAL_RANK``, as on PyTorch; with one process per host (or
    ``LOCAL_WORLD_SIZE`` unset) it takes every local GPU (None: JAX's
    default). ``JAX_LOCAL_DEVICE_IDS``, if set, is left to JAX. CPU devices
    are not affected.
    """
    environ = os.environ if environ is None else environ
    if environ.get("JAX_LOCAL_DEVICE_IDS"):
        return None
    try:
        per_host = int(environ.get("LOCAL_WORLD_SIZE", "1"))
    except ValueError:
        per_host = 1
    return [launch["local_rank"]] if per_host > 1 else None


def initialize_processes(launch):
    """``jax.distributed.initialize`` for ``launch``, with CPU collectives.

    The coordinator listens at :func:`coordinator_address`; the process
    takes the accelerators :func:`local_device_ids` names. A process whose
    peer dies (killed, out of memory) learns it within
    ``HEARTBEAT_TIMEOUT_S`` (10 s) and stops instead of hanging; a process
    that finishes first waits up to ``SHUTDOWN_TIMEOUT_S`` (an hour) at
    exit for the others (the chief's final export). Then, as
    ``keras.distribution.initialize`` does, every process takes one random
    seed unless ``keras.utils.set_random_seed`` was called, so that
    variables, SeedGenerators and shuffles start equal everywhere. On CPU
    the processes exchange data through gloo (JAX's default CPU
    collectives; set here where a JAX version has none by default).
    """
    global _LAUNCH
    launch = dict(launch)
    if _LAUNCH is not None:
        if _LAUNCH == launch:
            return
        raise ValueError(
            "This process already joined another launch; initialize() cannot "
            f"join a second one. Joined: {_LAUNCH}. Received: launch={launch}"
        )
    if jax.distributed.is_initialized():
        # The user called jax.distributed.initialize themselves: accept it
        # when it describes this launch.
        if (jax.process_count(), jax.process_index()) != (launch["world_size"], launch["rank"]):
            raise ValueError(
                "jax.distributed.initialize() already ran with "
                f"{jax.process_count()} processes (this one {jax.process_index()}), "
                "which is not the launch in WORLD_SIZE/RANK. "
                f"Received: launch={launch}"
            )
        _LAUNCH = launch
        return
    if getattr(jax.config, "jax_cpu_collectives_implementation", None) is None:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(
            coordinator_address=coordinator_address(launch),
            num_processes=launch["world_size"],
            process_id=launch["rank"],
            local_device_ids=local_device_ids(launch),
            heartbeat_timeout_seconds=HEARTBEAT_TIMEOUT_S,
            shutdown_timeout_seconds=SHUTDOWN_TIMEOUT_S,
        )
    except RuntimeError as err:
        if "must be called before" not in str(err):
            raise
        raise RuntimeError(
            "keras_gen.distribute.initialize() must run before JAX computes "
            "anything (JAX fixes its devices on first use): call it first "
            "thing in the script, before building models or touching arrays. "
            f"Received: launch={launch} after JAX had started"
        ) from err
    # What keras.distribution.initialize does after jax.distributed.initialize
    # (which it would call with JAX's default timeouts): unless
    # keras.utils.set_random_seed was called, every process seeds Keras,
    # NumPy and Python alike from the processes' summed random seeds. Private
    # Keras API (3.15); there is no public entry to this step alone.
    from keras.src.backend.jax.distribution_lib import initialize_rng

    initialize_rng()
    _LAUNCH = launch
    if launch["world_size"] > 1:
        _exit_at_once_on_uncaught_errors()


def _exit_at_once_on_uncaught_errors():
    """An uncaught exception ends this process at once (exit status 1).

    Python's normal exit runs ``jax.distributed``'s shutdown barrier, which
    waits up to ``SHUTDOWN_TIMEOUT_S`` (an hour) for every other process; a
    process that failed alone (a callback's error, a data check failing in
    one process) would wait there, alive, while the others wait for it in
    their next collective: both hang for the hour. Here the traceback is
    printed as usual and the process leaves without the barrier; the others'
    collective then fails (the peer closed its connection) and they stop
    the same way.
    """
    import sys

    previous = sys.excepthook
    if getattr(previous, "_keras_gen_exit_at_once", False):
        return

    def excepthook(kind, value, traceback):
        try:
            previous(kind, value, traceback)
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(1)

    excepthook._keras_gen_exit_at_once = True
    sys.excepthook = excepthook


# Asked before initialize (is_chief() in a script's setup), jax.process_*
# would start JAX's backends, after which jax.distributed.initialize fails.
def process_index():
    return jax.process_index() if jax.distributed.is_initialized() else 0


def process_count():
    return jax.process_count() if jax.distributed.is_initialized() else 1
