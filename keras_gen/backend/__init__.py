"""The only backend-aware code in keras-gen.

Everything a model needs in order to write its ``train_step`` once lives here:

* :func:`minimize` takes the gradient of a loss with respect to exactly the
  variables given and applies one optimizer step (``tf.GradientTape`` on
  TensorFlow, ``torch.autograd.grad`` on PyTorch, ``jax.value_and_grad`` over
  the variables' values on JAX);
* :func:`input_gradient` (and :func:`value_and_input_gradient`) takes the
  gradient of a network's output with respect to its input, itself
  differentiable, so that a ``loss_fn`` given to :func:`minimize` can contain
  it (gradient penalties: WGAN-GP, R1);
* :func:`adapt_step` turns a one-argument, stateful ``train_step(self, data)``
  or ``test_step(self, data)`` into whatever the backend's trainer calls (on
  JAX the stateless ``(state, data) -> (logs, state)`` protocol);
* :class:`OptimizerGroup` presents several optimizers to the Keras trainer as
  one, so that on JAX the state of every optimizer travels through the
  jitted step;
* :func:`data_parallel` opens the backend's data-parallel engine
  (``keras.distribution.DataParallel`` on JAX, ``tf.distribute.MirroredStrategy``
  on TensorFlow, a ``torch.distributed`` process group on PyTorch, whose
  train steps all-reduce their gradients inside :func:`minimize`);
  :func:`record_distribution` and :func:`distribution_scope` let a model
  created under it train under it after the ``with`` block.

See docs/ARCHITECTURE.md for how the pieces fit together.
"""

import keras

from keras_gen.backend.optimizer_group import OptimizerGroup

_BACKEND = keras.backend.backend()

if _BACKEND == "jax":
    from keras_gen.backend import _jax as _impl
elif _BACKEND == "torch":
    from keras_gen.backend import _torch as _impl
elif _BACKEND == "tensorflow":
    from keras_gen.backend import _tensorflow as _impl
else:  # pragma: no cover - keras refuses other names before we get here
    raise RuntimeError(
        "keras-gen supports the tensorflow, jax and torch Keras backends. "
        f"Received: KERAS_BACKEND={_BACKEND!r}"
    )

__all__ = [
    "KeptForward",
    "OptimizerGroup",
    "adapt_step",
    "after_fit",
    "assign_during_fit",
    "backend_name",
    "compiled_metrics",
    "data_parallel",
    "distribution_scope",
    "fused_batch_normalization",
    "fused_conv",
    "fused_conv_transpose",
    "initialize_processes",
    "input_gradient",
    "keep_forward",
    "keep_state_on_error",
    "minimize",
    "minimize_kept",
    "misplaced_variables",
    "predict",
    "process_count",
    "process_index",
    "record_distribution",
    "registered_optimizers",
    "replica_count",
    "set_shuffle_rng_state",
    "shuffle_rng_state",
    "value_and_input_gradient",
]


def backend_name():
    """Name of the Keras backend this process runs on."""
    return _BACKEND


def feeds_text_tensors():
    """Whether Keras ``fit`` on this backend takes text tensors from ``tf.data``.

    Only TensorFlow's trainer passes string tensors through to the step;
    JAX's and PyTorch's convert every batch to numeric arrays and fail on
    text ("Invalid dtype: str32").
    """
    return _BACKEND == "tensorflow"


def registered_optimizers(model):
    """The optimizers a model's ``compile`` registered, as a list."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return []
    if isinstance(optimizer, OptimizerGroup):
        return list(optimizer.optimizers)
    return [optimizer]


def _check_registered(model, optimizer):
    registered = registered_optimizers(model)
    if not any(optimizer is o for o in registered):
        raise ValueError(
            "minimize() only accepts an optimizer registered with the model "
            "by `compile()` (on JAX an unregistered optimizer's state would "
            "silently reset at every step). Registered optimizers: "
            f"{[o.name for o in registered]}. Received: optimizer={optimizer!r}"
        )


def minimize(model, loss_fn, variables, optimizer, has_aux=False):
    """One gradient step of ``optimizer`` on ``loss_fn`` w.r.t. ``variables``.

    Args:
        model: the model whose ``train_step`` is running; its non-trainable
            variables (BatchNorm statistics, SeedGenerator state) and metric
            variables may be written by ``loss_fn`` and those writes are kept.
        loss_fn: a function of no arguments that runs the forward pass and
            returns a scalar loss, or ``(loss, aux)`` when ``has_aux``.
        variables: list of trainable ``keras.Variable`` to differentiate and
            update. Gradients are taken with respect to these only, so the
            other player of a GAN never receives gradients.
        optimizer: a ``keras.optimizers.Optimizer`` registered on the model by
            ``compile`` (the model's optimizer or a member of its
            ``OptimizerGroup``).
        has_aux: whether ``loss_fn`` returns ``(loss, aux)``.

    Returns:
        The (unscaled) loss, or ``(loss, aux)`` when ``has_aux``. In a
        train step under PyTorch's multi-process engine the loss is this
        process's (on its share of the batch) while the gradient applied
        is the sum over processes of each one's, weighted by its share:
        that of the global-batch mean loss.
    """
    _check_registered(model, optimizer)
    variables = list(variables)
    if not variables:
        raise ValueError(
            "minimize() needs at least one variable to update. "
            "Received: variables=[]"
        )
    loss, aux = _impl.minimize(model, loss_fn, variables, optimizer, has_aux)
    return (loss, aux) if has_aux else loss



class KeptForward:
    """A forward pass whose backward pass is kept, from :func:`keep_forward`.

    Attributes:
        output: the pass's output as data: a tensor that carries no
            gradient to the pass's variables wherever it is used (so another
            player's loss may read it freely).
        variables: the variables the kept backward pass differentiates.
    """

    def __init__(self, output, variables, state):
        self.output = output
        self.variables = variables
        # Backend-specific: what the backward pass needs (a tape, the
        # autograd graph's output, a jax.vjp function).
        self._state = state
        self._used = False


def keep_forward(model, fn, variables):
    """Run ``fn()`` once and keep its backward pass w.r.t. ``variables`` for later.

    The forward pass of a vector-Jacobian product: :func:`minimize_kept`
    later takes a gradient step on a loss of the output by pulling the
    loss's gradient with respect to the output back through this pass,
    without running ``fn`` again (a GAN's generator step on the fakes its
    discriminator step already made). TensorFlow keeps the
    ``tf.GradientTape`` that recorded ``fn``; PyTorch keeps the autograd
    graph of the output (the model's other trainable parameters are frozen
    while ``fn`` runs, as in :func:`minimize`); JAX runs ``fn`` under
    ``jax.vjp`` over the variables' values inside the train step's
    stateless scope and keeps the returned function.

    Writes ``fn`` makes to the model's other variables (BatchNormalization
    moving statistics in training mode, SeedGenerator states) are kept, as
    in :func:`minimize`.

    Args:
        model: the model whose ``train_step`` is running.
        fn: function of no arguments returning one tensor (e.g. a
            generator's images).
        variables: list of trainable ``keras.Variable`` that the kept
            backward pass differentiates (e.g. the generator's).

    Returns:
        A :class:`KeptForward`; its ``output`` is ``fn()``'s value as data.

    Raises:
        TypeError: if ``fn`` is not callable.
        ValueError: if ``variables`` is empty.
    """
    if not callable(fn):
        raise TypeError(
            "fn must be a function of no arguments returning one tensor. "
            f"Received: fn={fn!r}"
        )
    variables = list(variables)
    if not variables:
        raise ValueError(
            "keep_forward() needs at least one variable to differentiate. "
            "Received: variables=[]"
        )
    output, state = _impl.keep_forward(model, fn, variables)
    return KeptForward(output, variables, state)


def minimize_kept(model, loss_fn, kept, optimizer, has_aux=False):
    """One step of ``optimizer`` on ``loss_fn(kept.output)`` w.r.t. ``kept.variables``.

    The loss's forward and backward pass run now (its gradient with respect
    to the kept output, and to nothing else: the model's other variables
    get no gradient); that gradient is then pulled back through the forward
    pass :func:`keep_forward` kept (a vector-Jacobian product) to the kept
    variables, which ``optimizer`` updates. The result equals
    :func:`minimize` on ``lambda: loss_fn(fn())`` with the variables'
    values at the time of :func:`keep_forward`, except that ``fn`` runs
    once instead of twice (its writes, such as BatchNormalization moving
    statistics, happen once). A loss scaling optimizer
    (``keras.optimizers.LossScaleOptimizer``) scales the loss before the
    pull-back, and under a ``tf.distribute`` strategy the loss is divided
    by the replica count, as in :func:`minimize`.

    Each :class:`KeptForward` is used at most once.

    Args:
        model: the model whose ``train_step`` is running.
        loss_fn: function of one tensor (the kept output) returning a scalar
            loss, or ``(loss, aux)`` when ``has_aux``.
        kept: a :class:`KeptForward` from :func:`keep_forward` in the same
            step.
        optimizer: an optimizer registered on the model by ``compile``.
        has_aux: whether ``loss_fn`` returns ``(loss, aux)``.

    Returns:
        The (unscaled) loss, or ``(loss, aux)`` when ``has_aux``.

    Raises:
        TypeError: if ``kept`` is not a :class:`KeptForward`.
        ValueError: if ``kept`` was used already, or ``optimizer`` is not
            registered with the model.
    """
    if not isinstance(kept, KeptForward):
        raise TypeError(
            "kept must be the KeptForward returned by keep_forward(). "
            f"Received: kept={kept!r}"
        )
    if kept._used:
        raise ValueError(
            "A KeptForward's backward pass can be used once; call keep_forward() "
            f"again. Received: kept={kept!r} (used already)"
        )
    _check_registered(model, optimizer)
    kept._used = True
    loss, aux = _impl.minimize_kept(model, loss_fn, kept, optimizer, has_aux)
    return (loss, aux) if has_aux else loss


def value_and_input_gradient(fn, x):
    """``fn(x)`` and the gradient of ``sum(fn(x))`` with respect to the input ``x``.

    Both results stay differentiable with respect to the variables ``fn``
    reads, so a ``loss_fn`` given to :func:`minimize` may contain them: the
    outer gradient then differentiates through the inner one (a nested
    gradient: a nested ``tf.GradientTape`` on TensorFlow,
    ``torch.autograd.grad(create_graph=True)`` on PyTorch, ``jax.grad``
    inside the ``jax.value_and_grad`` of ``minimize`` on JAX). ``fn`` is
    called once. Writes it makes to variables (BatchNormalization moving
    statistics in training mode, a SeedGenerator's state, a
    ``SpectralNormalization`` power-iteration vector) are kept, as for any
    forward pass, on every backend; on JAX they are read out of the inner
    gradient's trace and written to the enclosing scope, so no tracer leaks.

    The gradient is taken with respect to ``x`` as data: where ``x`` itself
    depends on variables, the outer gradient sees the dependence of the
    input gradient on them only through ``fn``'s variables on JAX and
    TensorFlow, and on PyTorch also through ``x`` when ``x`` requires
    gradients. Pass ``ops.stop_gradient(x)`` to make it data everywhere (what
    the gradient penalties of ``keras_gen.GAN`` do).

    For a network that treats examples independently, the gradient of the sum
    is each example's gradient of its own output. A network that mixes
    examples (BatchNormalization in training mode, a minibatch standard
    deviation layer) gives the gradient of the batch sum, which includes
    the cross-example terms.

    Args:
        fn: function of one tensor returning a tensor (e.g. a discriminator's
            logits ``(batch, 1)``); only its sum is differentiated.
        x: floating-point tensor, the input.

    Returns:
        ``(fn(x), gradient)``; the gradient has the shape and dtype of ``x``
        (zeros where ``fn(x)`` does not depend on ``x``).

    Raises:
        TypeError: if ``fn`` is not callable.

    Example:

    >>> import numpy as np
    >>> from keras import ops
    >>> from keras_gen import backend
    >>> x = ops.convert_to_tensor(np.array([[1.0, 2.0]], "float32"))
    >>> y, g = backend.value_and_input_gradient(lambda t: ops.sum(t ** 2, axis=-1), x)
    >>> [round(float(v), 4) for v in ops.convert_to_numpy(g)[0]]
    [2.0, 4.0]
    """
    if not callable(fn):
        raise TypeError(
            "fn must be a function of one tensor (e.g. a discriminator). "
            f"Received: fn={fn!r}"
        )
    return _impl.value_and_input_gradient(fn, x)


def input_gradient(fn, x):
    """The gradient of ``sum(fn(x))`` with respect to the input ``x``, differentiable again.

    :func:`value_and_input_gradient` without the value: usable inside a
    ``loss_fn`` given to :func:`minimize` on every backend, e.g. the
    gradient penalty of WGAN-GP,

        ``ops.mean((norm(input_gradient(critic, x_hat)) - 1) ** 2)``.

    Args:
        fn: function of one tensor returning a tensor.
        x: floating-point tensor, the input.

    Returns:
        A tensor of the shape of ``x``.

    Raises:
        TypeError: if ``fn`` is not callable.
    """
    return value_and_input_gradient(fn, x)[1]


def adapt_step(step, kind):
    """Adapt a stateful ``step(self, data)`` to the backend's trainer.

    Args:
        step: the function defined as ``train_step`` or ``test_step``.
        kind: ``"train"`` or ``"test"``.
    """
    if kind not in ("train", "test"):
        raise ValueError(f"kind must be 'train' or 'test'. Received: kind={kind!r}")
    return _impl.adapt_step(step, kind)


def compiled_metrics(model):
    """The metrics container built from ``compile(metrics=...)``, as a list.

    Keras keeps it in the private ``_compile_metrics`` attribute; models that
    override the ``metrics`` property need it to keep user metrics working.
    """
    compile_metrics = getattr(model, "_compile_metrics", None)
    return [] if compile_metrics is None else [compile_metrics]


def assign_during_fit(model, variable, value):
    """Assign ``value`` to one of ``model``'s variables from a callback.

    TensorFlow and PyTorch steps read variables live, so a plain ``assign``
    is seen by the next step. JAX's ``fit`` carries every variable's value
    through the jitted step as state and writes it back only at the end of
    the epoch; its public ``model.jax_state_sync()`` writes the state back
    now and makes the next step re-read it, after which the assignment
    sticks. Call this only for values that change (it costs a state sync per
    call on JAX).
    """
    sync = getattr(model, "jax_state_sync", None)
    if sync is not None:
        sync()
    variable.assign(value)


def data_parallel(devices=None):
    """The backend's data-parallel engine over ``devices``, as a context manager.

    See ``keras_gen.distribute.data_parallel`` (the public entry point) for
    the arguments. Devices are checked when this is called, not on entry.
    Entering returns the engine: a ``keras.distribution.DataParallel`` on
    JAX, a ``tf.distribute.MirroredStrategy`` on TensorFlow, a
    ``_torch.ProcessDataParallel`` (one replica per process) on PyTorch.
    """
    if _impl.process_count() == 1:
        from keras_gen.backend import _devices

        launch = _devices.launcher_env()
        if launch is not None and launch["world_size"] > 1:
            # Without initialize() this process would train alone, silently.
            raise RuntimeError(
                "This process is one of several (WORLD_SIZE is set) but has not "
                "joined the others: call keras_gen.distribute.initialize() first, "
                f"at the top of the script. Received: WORLD_SIZE={launch['world_size']}"
            )
    return _impl.data_parallel(devices)


def initialize_processes(launch):
    """Join the backend's multi-process runtime described by ``launch``.

    ``launch`` is what ``_devices.launcher_env()`` returns (never None here).
    The backend's own engine: ``torch.distributed.init_process_group``,
    ``jax.distributed.initialize``, or ``TF_CONFIG`` for TensorFlow's
    ``MultiWorkerMirroredStrategy``. Called once per process by
    ``keras_gen.distribute.initialize``.
    """
    _impl.initialize_processes(launch)


def process_index():
    """This process's rank among the processes training together (0 alone)."""
    return _impl.process_index()


def process_count():
    """The number of processes training together (1 alone)."""
    return _impl.process_count()


def record_distribution(model):
    """Remember on ``model`` the data-parallel distribution active now, if any."""
    _impl.record_distribution(model)


def misplaced_variables(model):
    """``model``'s variables that the data-parallel engine it trains under cannot use.

    Variables created outside ``keras_gen.distribute.data_parallel()`` (a
    network built before the ``with`` block) live on one device: JAX's
    ``DataParallel`` and TensorFlow's strategies need them laid out by the
    engine. Empty without an engine, and on PyTorch (its engine broadcasts
    rank 0's variables wherever they were created).
    """
    return _impl.misplaced_variables(model)


def after_fit(model):
    """Leave ``model`` ready for another ``fit`` after one ended (also by an error).

    JAX only: Keras' ``use_ema`` ends ``fit`` by assigning each moving
    average to its variable, which leaves both holding one buffer, and the
    next ``fit``'s train step, which donates its inputs' buffers, fails on
    it ("Attempt to donate the same buffer twice", then a TypeError from
    the purged variables). Each trainable variable that shares its buffer
    with an optimizer variable gets its own copy. A no-op on TensorFlow and
    PyTorch, whose assign copies.
    """
    _impl.after_fit(model)


def replica_count(model):
    """How many equal shares a batch of ``model``'s is split into: the
    replicas of its TensorFlow strategy or JAX data-parallel mesh, else 1
    (PyTorch's engine takes an uneven last batch)."""
    return _impl.replica_count(model)


def keep_state_on_error(model):
    """A context manager around ``fit`` / ``evaluate`` / ``predict`` of ``model``:
    an error raised inside leaves its variables usable.

    JAX: Keras' loops detach every variable's value while they run (the
    state travels through the jitted step); ``evaluate`` / ``predict``
    attach them again only when they end normally, ``fit`` only once a step
    has run, so an error inside one (a bad batch, a shape error in a
    network, an error in a fresh model's first step) left ``model`` without
    weights ("'NoneType' object is not callable" from then on). Each value
    is kept as Keras detaches it (variables made inside the call, such as a
    first fit's optimizer slots, included); on an error the state of the
    last step that ran is attached again, else the kept value. TensorFlow:
    an error while a step function is traced for the first time leaves it
    half-made, so the model's step functions are dropped and the next call
    traces afresh. PyTorch: a no-op.
    """
    return _impl.keep_state_on_error(model)


def predict(network, x, **kwargs):
    """``network.predict(x, **kwargs)`` under :func:`keep_state_on_error`; a
    ``batch_size`` that is not a positive integer (or None) is an error
    naming it (each trainer failed its own way inside)."""
    from keras_gen import _checks

    kwargs["batch_size"] = _checks.positive_int("batch_size", kwargs.get("batch_size"),
                                                allow_none=True)
    with keep_state_on_error(network):
        return network.predict(x, **kwargs)


def distribution_scope(model):
    """A context manager re-entering the distribution ``model`` was created under.

    A no-op where the backend keeps it itself (TensorFlow's
    ``model.distribute_strategy``), where none was recorded, or where a
    distribution is already active.
    """
    return _impl.distribution_scope(model)


def build_scope(model):
    """A context manager under which variables ``model`` creates outside
    ``fit`` (building from the first batch) get the layout of the distribution
    it was made under: TensorFlow's ``model.distribute_strategy.scope()``
    (which ``fit`` enters only around its own steps), elsewhere
    :func:`distribution_scope`."""
    return _impl.build_scope(model)


def shuffle_rng_state():
    """The state of the generators that ``fit(x, shuffle=True)`` draws orders from, or None.

    Keras shuffles an in-memory array with NumPy's global generator on JAX
    and PyTorch's default generator on PyTorch; on TensorFlow a ``tf.data``
    shuffle draws from op seeds that cannot be read back, so the state is
    None there. The value is JSON-serialisable (lists and numbers); give it
    to :func:`set_shuffle_rng_state` to make the next epoch's order repeat.
    """
    if _BACKEND == "jax":
        import numpy as np

        kind, keys, pos, has_gauss, cached = np.random.get_state()
        return {"numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)]}
    if _BACKEND == "torch":
        import torch

        return {"torch": torch.get_rng_state().tolist()}
    return None


def set_shuffle_rng_state(state):
    """Restore a state returned by :func:`shuffle_rng_state` (None: nothing to do)."""
    if not state:
        return
    if "numpy" in state:
        import numpy as np

        kind, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((kind, np.asarray(keys, dtype="uint32"), pos, has_gauss, cached))
    if "torch" in state:
        import torch

        torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))


# ------------------------------------------------------------ fused layer ops
# Used by keras_gen.layers.BatchNormalization, Conv2D and Conv2DTranspose:
# Keras' function computed with the backend's own fused kernel where keras-gen
# has one (PyTorch), None elsewhere (the layer then runs Keras' computation).


def fused_batch_normalization(x, gamma, beta, moving_mean, moving_variance, axis, epsilon, training):
    """Batch normalization of ``x`` over every axis but ``axis`` in one fused kernel, or None.

    In training (``training=True``) ``x`` is normalized with its batch
    moments; in inference with ``moving_mean`` and ``moving_variance``.
    Either way the result is ``(x - mean) / sqrt(variance + epsilon) * gamma
    + beta`` (``gamma`` or ``beta`` None: 1 or 0), Keras' BatchNormalization.

    Args:
        x: float32 or float64 tensor, at least 2-D.
        gamma, beta: tensors of shape ``(x.shape[axis],)`` or None.
        moving_mean, moving_variance: tensors of that shape (used in inference).
        axis: int, the channel axis.
        epsilon: float added to the variance.
        training: bool.

    Returns:
        ``(outputs, batch_mean, batch_variance)``, the batch moments (the biased
        variance, as Keras' moving variance tracks) carrying no gradient and None
        in inference; or None where this backend has no fused kernel for the
        arguments (TensorFlow, JAX, other dtypes).
    """
    fused = getattr(_impl, "fused_batch_normalization", None)
    if fused is None:
        return None
    return fused(x, gamma, beta, moving_mean, moving_variance, int(axis), float(epsilon), bool(training))


def _as_tuple(value, rank):
    return tuple(value) if isinstance(value, (list, tuple)) else (value,) * rank


def _spatial(shape, data_format):
    return tuple(shape[1:-1]) if data_format == "channels_last" else tuple(shape[2:])


def fused_conv(x, kernel, bias, strides, padding, dilation_rate, data_format, groups=1):
    """Keras' ``ops.conv`` (plus ``bias``) as one backend convolution call, or None.

    Computes what ``keras.layers.Conv{1,2,3}D`` computes before its activation:
    ``ops.conv(x, kernel, strides, padding, data_format, dilation_rate)`` plus
    ``bias`` on the channel axis, with the "same" padding given to the
    convolution itself (no padded copy of ``x``) and channels-last tensors
    passed as views.

    Args:
        x: tensor ``(batch, *spatial, channels)`` or ``(batch, channels, *spatial)``.
        kernel: Keras kernel ``(*kernel_size, channels / groups, filters)``.
        bias: tensor ``(filters,)`` or None.
        strides, dilation_rate: int or one per spatial axis.
        padding: "valid" or "same".
        data_format: "channels_last" or "channels_first".
        groups: int.

    Returns:
        The output tensor, or None where this backend has no fused kernel or
        the padding is not one PyTorch's convolution takes (asymmetric "same",
        "causal").
    """
    fused = getattr(_impl, "fused_conv", None)
    if fused is None or padding not in ("valid", "same"):
        return None
    rank = len(x.shape) - 2
    strides, dilation = _as_tuple(strides, rank), _as_tuple(dilation_rate, rank)
    sizes, kernel_size = _spatial(x.shape, data_format), tuple(kernel.shape[:rank])
    paddings = []
    for n, k, s, d in zip(sizes, kernel_size, strides, dilation):
        if padding == "valid":
            paddings.append(0)
            continue
        if n is None:
            return None
        k_eff = (k - 1) * d + 1
        total = max(0, (-(-n // s) - 1) * s + k_eff - n)  # Keras' "same": the extra pixel on the right
        if total % 2:
            return None
        paddings.append(total // 2)
    return fused(x, kernel, bias, strides, paddings, dilation, data_format == "channels_last", int(groups))


def _conv_transpose_crops(size, k, s, d, padding, output_padding):
    """Pixels cropped left and right from the full transposed convolution, Keras' shapes."""
    k_eff = (k - 1) * d + 1
    if padding == "valid":
        extra = max(k_eff, s) - k_eff if output_padding is None else output_padding
        left, right = k_eff - 1, k_eff - 1 + extra
    else:
        if output_padding is None:
            total = s + k_eff - 2
        else:
            total = k_eff + k_eff % 2 - 2 + output_padding
        left = min(total // 2 + total % 2, k_eff - 1)
        right = total - left
    return k_eff - 1 - left, k_eff - 1 - right


def fused_conv_transpose(x, kernel, bias, strides, padding, output_padding, dilation_rate, data_format):
    """Keras' ``ops.conv_transpose`` (plus ``bias``) as one backend call, or None.

    Computes what ``keras.layers.Conv{1,2,3}DTranspose`` computes before its
    activation, with Keras' output shape given to the transposed convolution
    as its padding and output padding, instead of computing the full output
    and cropping it.

    Args:
        x: tensor ``(batch, *spatial, channels)`` or ``(batch, channels, *spatial)``.
        kernel: Keras kernel ``(*kernel_size, filters, channels)``.
        bias: tensor ``(filters,)`` or None.
        strides, dilation_rate: int or one per spatial axis.
        padding: "valid" or "same".
        output_padding: None, int or one per spatial axis.
        data_format: "channels_last" or "channels_first".

    Returns:
        The output tensor, or None where this backend has no fused kernel or
        the output needs zeros beyond the full transposed convolution.
    """
    fused = getattr(_impl, "fused_conv_transpose", None)
    if fused is None or padding not in ("valid", "same"):
        return None
    rank = len(x.shape) - 2
    strides, dilation = _as_tuple(strides, rank), _as_tuple(dilation_rate, rank)
    out_pads = _as_tuple(output_padding, rank)
    kernel_size = tuple(kernel.shape[:rank])
    paddings, output_paddings, crops_right = [], [], []
    for size, k, s, d, op in zip(_spatial(x.shape, data_format), kernel_size, strides, dilation, out_pads):
        crop_left, crop_right = _conv_transpose_crops(size, k, s, d, padding, op)
        if crop_left < 0 or crop_right < 0:
            return None
        # PyTorch crops `padding` on both sides, then adds `output_padding`
        # (less than the stride or the dilation) back on the right.
        paddings.append(crop_left)
        if crop_left >= crop_right:
            if crop_left - crop_right >= max(s, d):
                return None
            output_paddings.append(crop_left - crop_right)
            crops_right.append(0)
        else:
            output_paddings.append(0)
            crops_right.append(crop_right - crop_left)
    return fused(x, kernel, bias, strides, paddings, output_paddings, crops_right, dilation,
                 data_format == "channels_last")
