"""PyTorch implementation of the backend primitives."""

import atexit
import contextlib
import functools

import torch


def _run_with_others_frozen(model, fn, variables):
    # The model's other trainable parameters (a GAN's other player) stop
    # requiring gradients while fn runs, so autograd records no graph
    # for them: no backward graph through G in the D step, no weight-gradient
    # nodes for D in the G step, and none of G's saved activations (the
    # time saved: docs/evaluation.md, "Measurements behind the defaults").
    # Gradients still flow through them to `variables`.
    ids = {id(v) for v in variables}
    frozen = [
        v.value
        for v in model.trainable_variables
        if id(v) not in ids and v.value.requires_grad
    ]
    for param in frozen:
        param.requires_grad_(False)
    try:
        return fn()
    finally:
        for param in frozen:
            param.requires_grad_(True)


def minimize(model, loss_fn, variables, optimizer, has_aux):
    out = _run_with_others_frozen(model, loss_fn, variables)
    loss, aux = out if has_aux else (out, None)
    scaled = optimizer.scale_loss(loss)
    # torch.autograd.grad (not loss.backward()) so that gradients flow to
    # exactly these variables and never accumulate in another player's .grad.
    grads = torch.autograd.grad(
        scaled, [v.value for v in variables], allow_unused=True
    )
    if _STEP is not None:
        # A data-parallel step: every process applies the gradient of the
        # global-batch mean loss (each process's weighted by its share).
        grads = _STEP.all_reduce_gradients(grads)
    with torch.no_grad():
        optimizer.apply(list(grads), variables)
    return loss, aux


def keep_forward(model, fn, variables):
    # The output's autograd graph reaches `variables` only (the rest of the
    # model is frozen while fn runs) and is kept alive by the output until
    # minimize_kept runs backward through it; the detached output is what
    # everyone else sees, so another player's loss never reaches it.
    output = _run_with_others_frozen(model, fn, variables)
    return output.detach(), output


def minimize_kept(model, loss_fn, kept, optimizer, has_aux):
    output = kept._state
    kept._state = None  # the graph is freed by the backward pass below
    variables = kept.variables
    # loss_fn reads the graph-connected output with the rest of the model
    # frozen: one backward pass goes through the loss's network to its
    # input and on through the kept graph to `variables`, without running
    # the kept forward pass again.
    return minimize(model, lambda: loss_fn(output), variables, optimizer, has_aux)


def value_and_input_gradient(fn, x):
    if not isinstance(x, torch.Tensor):
        import keras

        x = keras.ops.convert_to_tensor(x)
    # enable_grad: the Keras torch trainer runs test steps under no_grad.
    with torch.enable_grad():
        if not x.requires_grad:
            x = x.detach().requires_grad_(True)
        out = fn(x)
        total = out.float().sum()
        # create_graph: the gradient is a function of fn's parameters that
        # minimize's torch.autograd.grad differentiates again.
        if not total.requires_grad:  # fn(x) does not depend on x
            return out, torch.zeros_like(x)
        (grad,) = torch.autograd.grad(total, [x], create_graph=True, allow_unused=True)
    if grad is None:
        grad = torch.zeros_like(x)
    return out, grad


def adapt_step(step, kind):
    # The torch trainer calls train_step(data) statefully. Under a
    # multi-process engine a train step runs on this process's share of the
    # global batch and ends with the processes' state averaged (see
    # ProcessDataParallel); test steps run unchanged on the whole batch.
    if kind != "train":
        return step

    @functools.wraps(step)
    def train_step(self, data):
        engine = _engine_for(self)
        if engine is None or engine.num_replicas == 1 or _STEP is not None:
            # Alone, or a subclass's step calling super().train_step.
            return step(self, data)
        return engine.run_train_step(step, self, data)

    return train_step


# ------------------------------------------------------------ distribution
# A model remembers the engine it was created (or compiled) under, as on JAX.
_ATTR = "_keras_gen_distribution"
# Set once per model when its state was broadcast from rank 0.
_SYNCED = "_keras_gen_ddp_synced"
_ACTIVE = []  # engines entered, innermost last
_STEP = None  # the _Step of the data-parallel train step running now


def _dist():
    import torch.distributed as dist

    return dist if dist.is_available() else None


def _initialized():
    dist = _dist()
    return dist is not None and dist.is_initialized()


def process_index():
    return _dist().get_rank() if _initialized() else 0


def process_count():
    return _dist().get_world_size() if _initialized() else 1


def initialize_processes(launch):
    """``torch.distributed.init_process_group`` for ``launch`` (idempotent)."""
    dist = _dist()
    world, rank, local = launch["world_size"], launch["rank"], launch["local_rank"]
    if dist is None:
        raise RuntimeError(
            "This PyTorch build has no torch.distributed, so it cannot train "
            f"across processes. Received: WORLD_SIZE={world}"
        )
    if dist.is_initialized():
        if (dist.get_world_size(), dist.get_rank()) != (world, rank):
            raise ValueError(
                "torch.distributed is already initialized as rank "
                f"{dist.get_rank()} of {dist.get_world_size()}, not as the launch "
                f"asks. Received: RANK={rank}, WORLD_SIZE={world}"
            )
        return
    if _on_cuda():
        count = torch.cuda.device_count()
        if local >= count:
            raise ValueError(
                f"LOCAL_RANK must be below the number of GPUs on this host ({count}): "
                "each process trains on the GPU of its local rank (start at most "
                f"one process per GPU). Received: LOCAL_RANK={local}"
            )
        torch.cuda.set_device(local)
        kind = "nccl"
    else:
        kind = "gloo"
    addr, port = launch["addr"], launch["port"]
    host = f"[{addr}]" if ":" in addr and not addr.startswith("[") else addr
    try:
        dist.init_process_group(
            kind, init_method=f"tcp://{host}:{port}", world_size=world, rank=rank
        )
    except (RuntimeError, ValueError) as err:
        raise RuntimeError(
            f"Could not join the {world} processes as rank {rank} through "
            f"{addr}:{port} ({kind}): {err}. Received: MASTER_ADDR={addr!r}, "
            f"MASTER_PORT={port}, RANK={rank}, WORLD_SIZE={world}"
        ) from err
    # Without destroy_process_group, Gloo's worker threads may outlive the
    # interpreter and abort the process at exit ("terminate called without
    # an active exception", SIGABRT; pytorch/pytorch#190489): take the group
    # down while Python is still whole. A no-op when the script already did.
    atexit.register(_destroy_process_group)
    # Keras shuffles arrays with torch's global generator: start every
    # process from rank 0's state so that they cut the same global batches.
    state = torch.get_rng_state()
    _broadcast([state], _device())
    torch.set_rng_state(state)


def _destroy_process_group():
    dist = _dist()
    if dist is not None and dist.is_initialized():
        dist.destroy_process_group()


def _on_cuda():
    """Whether Keras computes on CUDA here (``KERAS_TORCH_DEVICE`` may say cpu)."""
    from keras.src.backend.torch.core import get_device

    return str(get_device()).startswith("cuda")


def _device():
    """The device this process computes (and communicates) on."""
    if _on_cuda():
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _device_name():
    return f"gpu:{torch.cuda.current_device()}" if _on_cuda() else "cpu:0"


def data_parallel(devices):
    from keras_gen.backend import _devices

    world = process_count()
    here = _device_name()
    if world == 1:
        gpus = torch.cuda.device_count() if _on_cuda() else 0
        wants_more = devices is None or (
            not isinstance(devices, bool) and isinstance(devices, int) and devices > 1
        ) or (isinstance(devices, (list, tuple)) and len(devices) > 1)
        if gpus > 1 and wants_more:
            raise NotImplementedError(
                "On PyTorch, data-parallel training runs one process per device: "
                f"start {gpus} processes with `torchrun --nproc-per-node {gpus} "
                "script.py` and call keras_gen.distribute.initialize() first. This "
                f"process is alone and sees {gpus} GPUs. Received: devices={devices!r}"
            )
        _devices.select(devices, [_devices.parse_device(here)])
    elif not (devices is None or (
        isinstance(devices, int) and not isinstance(devices, bool) and devices == world
    )):
        raise ValueError(
            f"On PyTorch each of the {world} processes trains on its own device "
            f"(here {here}), so devices must be None or {world} (the number of "
            f"processes). Received: devices={devices!r}"
        )
    engine = ProcessDataParallel(world, process_index(), _device())
    if world > 1:
        _install_global_draws()
    return _devices.EngineScope(engine, engine.num_replicas)


class ProcessDataParallel:
    """Data parallelism over the processes of a ``torch.distributed`` launch.

    One process per device (the GPU of its local rank, else the CPU); the
    processes run the same script on the same data. Under it a keras-gen
    model's train step runs on this process's share of each global batch
    (contiguous, the first ``batch % world_size`` processes one example
    more), its gradients are all-reduced inside ``backend.minimize``, and
    its non-trainable state and loss trackers are averaged after the step,
    each process weighted by its share (compiled metrics' sums and counts
    are added up). Only keras-gen models (``GenerativeModel``) train this
    way; a plain ``keras.Model`` under it trains alone in each process.
    Noise drawn per example through ``keras.random`` with a
    ``SeedGenerator`` (a GAN's z, a VAE's eps, DiffAugment's parameters)
    is drawn for the whole global batch on every process and sliced, as
    on one process.

    Attributes:
        num_replicas: the number of processes (``world_size``).
        rank: this process's rank.
        device: the ``torch.device`` this process trains on.
    """

    def __init__(self, world_size, rank, device):
        self.num_replicas = int(world_size)
        self.world_size = int(world_size)
        self.rank = int(rank)
        self.device = device
        self.steps = 0

    def __repr__(self):
        return (
            f"<ProcessDataParallel rank {self.rank} of {self.world_size} "
            f"on {self.device}>"
        )

    @contextlib.contextmanager
    def scope(self):
        _ACTIVE.append(self)
        try:
            yield self
        finally:
            _ACTIVE.pop()

    # One train step of `model` on this process's share of `data`.
    def run_train_step(self, step, model, data):
        global _STEP
        import keras

        leaves = [t for t in keras.tree.flatten(data) if t is not None]
        total = int(leaves[0].shape[0])
        base, extra = divmod(total, self.world_size)
        count = base + (self.rank < extra)
        start = self.rank * base + min(self.rank, extra) if count else 0
        # A process with no example of a small last batch runs the step on
        # one example with weight 0 (every process must join the collectives).
        rows = max(count, 1)
        local = keras.tree.map_structure(
            lambda t: None if t is None else t[start : start + rows], data
        )
        ctx = _Step(self, total, start, rows, count / total, _fingerprint(leaves))
        if not getattr(model, _SYNCED, False):
            _broadcast_model(model, self.device)
            object.__setattr__(model, _SYNCED, True)
        # Draws from torch's global generator inside the step (Keras's
        # unseeded Dropout) get a stream of their own per process and step;
        # the global state is put back afterwards, so the next epoch's
        # shuffle is cut the same way everywhere (and as on one process).
        state = torch.get_rng_state()
        seeder = torch.Generator()
        seeder.set_state(state)
        seed = int(torch.randint(0, 2**62, (1,), generator=seeder))
        torch.manual_seed((seed + self.steps * self.world_size + self.rank) % 2**63)
        self.steps += 1
        before = {id(v): v.value.clone() for v in _compiled_metric_variables(model)}
        _STEP = ctx
        try:
            logs = step(model, local)
            logs = ctx.average_state(model, logs, before)
        finally:
            _STEP = None
            torch.set_rng_state(state)
        return logs


def _fingerprint(leaves):
    # Two numbers that differ between two different global batches (their
    # sum, and a position-weighted sum that changes with the order).
    parts = []
    for t in leaves:
        flat = torch.nan_to_num(torch.as_tensor(t).detach().reshape(-1).to(torch.float64))
        where = torch.arange(flat.numel(), dtype=torch.float64, device=flat.device)
        parts.append(torch.stack([flat.sum(), (flat * (where % 9973 + 1)).sum()]))
    return torch.stack(parts).sum(dim=0)


class _Step:
    """What a data-parallel train step needs while it runs."""

    def __init__(self, engine, total, start, rows, weight, fingerprint):
        self.engine = engine
        self.total = total  # examples in the global batch
        self.start = start  # this process's first example
        self.rows = rows  # examples it runs the step on
        self.weight = weight  # its share of the global batch (0 for a stand-in)
        self._fingerprint = fingerprint  # checked in the step's first all-reduce

    def _all_reduce(self, parts, dtype, summed=0):
        """Sum over processes of ``weight * parts`` (and check the batches once).

        The last ``summed`` parts are summed as they are (counts and sums
        over examples), the others weighted by this process's share; a
        stand-in process contributes zeros.
        """
        device = self.engine.device
        flat = [p.detach().reshape(-1).to(device=device, dtype=dtype) for p in parts]
        weighted = len(flat) - summed
        flat = [p * self.weight for p in flat[:weighted]] + flat[weighted:]
        flat = torch.cat(flat) if flat else torch.zeros(0, dtype=dtype, device=device)
        if not self.weight:
            flat = torch.zeros_like(flat)
        check = None
        if self._fingerprint is not None:
            # Slot r holds rank r's fingerprint: after the sum every process
            # sees every fingerprint and all raise (or none), so none waits.
            check = torch.zeros((self.engine.world_size, 2), dtype=dtype, device=device)
            check[self.engine.rank] = self._fingerprint.to(device=device, dtype=dtype)
            self._fingerprint = None
            flat = torch.cat([flat, check.reshape(-1)])
        _dist().all_reduce(flat)
        if check is not None:
            n = check.numel()
            check, flat = flat[-n:].reshape(check.shape), flat[:-n]
            if not bool(torch.all(check == check[0])):
                raise ValueError(
                    "Every process must train on the same global batches, but at "
                    f"step {self.engine.steps} the processes' batches differ: pass the "
                    "same data in the same order to fit() on every process (Keras "
                    "shuffles arrays with torch's global generator: call "
                    "keras.utils.set_random_seed(seed) with the same seed everywhere, "
                    "or fit(..., shuffle=False)). Received: batch fingerprints "
                    f"{check.tolist()} (one row per rank)"
                )
        return flat

    def all_reduce_gradients(self, grads):
        present = [g for g in grads if g is not None]
        flat = self._all_reduce(present, torch.float32)
        out, i = [], 0
        for g in grads:
            if g is None:
                out.append(None)
                continue
            n = g.numel()
            out.append(flat[i : i + n].view(g.shape).to(g.dtype))
            i += n
        return out

    def average_state(self, model, logs, before):
        """Combine the processes' float state after the step; the logs from it.

        The variables of ``compile(metrics=...)`` metrics (sums and counts
        over examples) get every process's change since ``before`` (their
        values by id before the step); the other float non-trainable and
        metric variables (BatchNorm statistics, the models' loss trackers,
        fed one batch mean per step) become the processes' average,
        weighted by share.
        """
        compiled = {id(v) for v in _compiled_metric_variables(model)}
        seen, variables, deltas = set(), [], []
        for v in list(model.non_trainable_variables) + list(model.metrics_variables):
            if id(v) not in seen and v.value.is_floating_point():
                seen.add(id(v))
                (deltas if id(v) in compiled else variables).append(v)
        from_metrics = set()
        for metric in model.metrics:
            result = metric.result()
            from_metrics.update(result if isinstance(result, dict) else [metric.name])
        logs = dict(logs) if isinstance(logs, dict) else logs
        scalars = []
        if isinstance(logs, dict):
            scalars = [
                k for k, v in logs.items()
                if k not in from_metrics and _is_scalar(v)
            ]
        olds = [before.get(id(v)) for v in deltas]
        olds = [torch.zeros_like(v.value) if o is None else o for v, o in zip(deltas, olds)]
        parts = [v.value for v in variables] + [
            torch.as_tensor(logs[k], dtype=torch.float64) for k in scalars
        ] + [v.value.to(torch.float64) - o.to(torch.float64) for v, o in zip(deltas, olds)]
        flat = self._all_reduce(parts, torch.float64, summed=len(deltas))
        i = 0
        with torch.no_grad():
            for v in variables:
                n = v.value.numel()
                v.assign(flat[i : i + n].view(v.value.shape).to(v.value.dtype))
                i += n
            for k in scalars:
                logs[k] = flat[i].to(torch.float32)
                i += 1
            for v, old in zip(deltas, olds):
                n = v.value.numel()
                change = flat[i : i + n].view(v.value.shape).to(old.device)
                new = old.to(torch.float64) + change
                v.assign(new.to(v.value.dtype))
                i += n
        if isinstance(logs, dict):
            for metric in model.metrics:
                result = metric.result()
                if not isinstance(result, dict):
                    result = {metric.name: result}
                logs.update({k: r for k, r in result.items() if k in logs})
        return logs


def _compiled_metric_variables(model):
    from keras_gen import backend

    return [
        v for metric in backend.compiled_metrics(model) for v in metric.variables
        if v.value.is_floating_point()
    ]


def _is_scalar(value):
    if isinstance(value, torch.Tensor):
        return value.numel() == 1 and value.dtype != torch.bool
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _broadcast(tensors, device):
    """Overwrite ``tensors`` in place with rank 0's values (one message per dtype)."""
    by_dtype = {}
    for t in tensors:
        by_dtype.setdefault(t.dtype, []).append(t)
    for dtype, group in by_dtype.items():
        carried = torch.uint8 if dtype == torch.bool else dtype
        flat = torch.cat(
            [t.detach().reshape(-1).to(device=device, dtype=carried) for t in group]
        )
        _dist().broadcast(flat, src=0)
        i = 0
        with torch.no_grad():
            for t in group:
                n = t.numel()
                t.copy_(flat[i : i + n].view(t.shape).to(device=t.device, dtype=dtype))
                i += n


def _broadcast_model(model, device):
    """Give every process rank 0's weights, optimizer, seed and metric state."""
    from keras_gen import backend

    seen, tensors = set(), []
    variables = list(model.variables) + list(model.metrics_variables)
    for optimizer in backend.registered_optimizers(model):
        variables += list(optimizer.variables)
    for v in variables:
        if id(v) not in seen:
            seen.add(id(v))
            tensors.append(v.value)
    _broadcast(tensors, device)


def _engine_for(model):
    engine = getattr(model, _ATTR, None)
    if engine is None and _ACTIVE:
        engine = _ACTIVE[-1]
    return engine


def record_distribution(model):
    if _ACTIVE:
        object.__setattr__(model, _ATTR, _ACTIVE[-1])


def misplaced_variables(model):
    del model  # The engine broadcasts rank 0's variables wherever they were made.
    return []


def after_fit(model):
    del model  # the torch backend's assign copies into the variable's own tensor.


def keep_state_on_error(model):
    del model  # the variables keep their values while fit / predict run
    return contextlib.nullcontext()


def replica_count(model):
    del model  # the engine takes an uneven last batch
    return 1


def distribution_scope(model):
    engine = getattr(model, _ATTR, None)
    if engine is None or _ACTIVE:
        return contextlib.nullcontext()
    return engine.scope()


build_scope = distribution_scope


# Per-example noise drawn for the global batch: while a data-parallel train
# step runs, a keras.random normal / uniform / randint draw whose leading
# dimension is this process's number of examples is drawn for the whole
# global batch (the same numbers on every process: the SeedGenerator states
# are equal) and this process's rows are kept. truncated_normal draws
# through normal. Installed once, when the first multi-process engine is made.
def _install_global_draws():
    from keras.src.backend.torch import random as torch_random

    if getattr(torch_random, "_keras_gen_global_draws", False):
        return
    for name in ("normal", "uniform", "randint"):
        setattr(torch_random, name, _global_draw(getattr(torch_random, name)))
    torch_random._keras_gen_global_draws = True


def _global_draw(draw):
    @functools.wraps(draw)
    def wrapped(shape, *args, **kwargs):
        ctx = _STEP
        if ctx is None or ctx.rows == ctx.total:
            return draw(shape, *args, **kwargs)
        dims = tuple(shape)
        if not dims or not isinstance(dims[0], int) or dims[0] != ctx.rows:
            return draw(shape, *args, **kwargs)
        whole = draw((ctx.total,) + dims[1:], *args, **kwargs)
        return whole[ctx.start : ctx.start + ctx.rows]

    return wrapped


# ----------------------------------------------------------- fused layer ops
# keras_gen.layers' BatchNormalization, Conv2D and Conv2DTranspose call these
# (through keras_gen.backend) to compute Keras' function with one PyTorch op
# each. They return None where they do not apply, and the layer then computes
# Keras' own way. Channels-last tensors are handed to PyTorch as permuted
# views (an NHWC tensor permuted to NCHW is channels_last-contiguous, which
# PyTorch's CPU kernels take as is) instead of Keras' contiguous copies.


def _to_channels_first(x, channels_last):
    if not channels_last:
        return x
    return x.permute(0, x.ndim - 1, *range(1, x.ndim - 1))


def _from_channels_first(x, channels_last):
    if not channels_last:
        return x
    return x.permute(0, *range(2, x.ndim), 1)


def _tensor(value):
    # A Keras variable's current value (the stateless scope's, autocast), as is otherwise.
    if value is None or isinstance(value, torch.Tensor):
        return value
    import keras

    return keras.ops.convert_to_tensor(value)


def _same_dtype(*tensors):
    dtypes = {t.dtype for t in tensors if t is not None}
    return len(dtypes) == 1 and dtypes.pop() in (torch.float32, torch.float64)


def fused_batch_normalization(x, gamma, beta, mean, variance, axis, epsilon, training):
    x, gamma, beta, mean, variance = map(_tensor, (x, gamma, beta, mean, variance))
    if not _same_dtype(x, gamma, beta, *(() if training else (mean, variance))) or x.ndim < 2:
        return None
    axis = axis % x.ndim
    # Channels on dim 1 as a view: the last axis permuted there (channels_last
    # memory, which PyTorch's kernels take), any other moved there.
    if axis == x.ndim - 1 and x.ndim > 2:
        xc = _to_channels_first(x, True)
    else:
        xc = torch.movedim(x, axis, 1)
    if training:
        out, batch_mean, invstd = torch.native_batch_norm(
            xc, gamma, beta, None, None, True, 0.0, epsilon
        )
        with torch.no_grad():
            # The biased batch variance (Keras' moving-variance convention),
            # from the 1 / sqrt(var + eps) the kernel saved.
            batch_var = torch.clamp(invstd.pow(-2) - epsilon, min=0.0).to(x.dtype)
            batch_mean = batch_mean.detach()
    else:
        out = torch.batch_norm(
            xc, gamma, beta, mean, variance, False, 0.0, epsilon, False
        )
        batch_mean = batch_var = None
    if axis == x.ndim - 1 and x.ndim > 2:
        out = _from_channels_first(out, True)
    else:
        out = torch.movedim(out, 1, axis)
    return out, batch_mean, batch_var


class _ChannelsLastKernel(torch.autograd.Function):
    """Keras' 2-D kernel ``(kh, kw, a, b)`` as PyTorch's ``(b, a, kh, kw)`` in channels_last memory.

    Both directions are one 2-D transpose, ``(kh * kw * a, b) <-> (b, kh * kw * a)``
    (PyTorch's fast copy kernel for it is several times quicker than a
    4-D permuted copy), and the gradient comes back contiguous in Keras'
    layout, so that the optimizer's element-wise updates run on contiguous
    memory. Written in the ``setup_context`` form, with a forward-mode rule
    and a generated vmap rule, so that ``torch.func`` transforms (``jacrev``,
    ``jvp``, ``vmap``, ``hessian``) go through it as they go through Keras'
    permuted kernel.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(kernel):
        kh, kw, a, b = kernel.shape
        flat = kernel.reshape(kh * kw * a, b).t().contiguous()  # (b, kh * kw * a)
        return flat.reshape(b, kh, kw, a).permute(0, 3, 1, 2)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass  # the transform is linear and shape-only: nothing to save

    @staticmethod
    def backward(ctx, grad):
        b, a, kh, kw = grad.shape
        flat = grad.permute(0, 2, 3, 1).reshape(b, kh * kw * a)
        return flat.t().contiguous().reshape(kh, kw, a, b)

    @staticmethod
    def jvp(ctx, tangent):
        return _ChannelsLastKernel.forward(tangent)


def _weight(kernel, channels_last):
    # Keras' (spatial..., a, b) kernel as PyTorch's (b, a, spatial...): copied
    # once into the memory format the convolution runs in, so that autograd
    # saves that copy for the backward pass (a permuted view would be copied
    # again there).
    rank = kernel.ndim - 2
    if channels_last and rank == 2:
        return _ChannelsLastKernel.apply(kernel)
    return kernel.permute(rank + 1, rank, *range(rank)).contiguous()


_CONV = {1: torch.nn.functional.conv1d, 2: torch.nn.functional.conv2d, 3: torch.nn.functional.conv3d}
_CONV_T = {
    1: torch.nn.functional.conv_transpose1d,
    2: torch.nn.functional.conv_transpose2d,
    3: torch.nn.functional.conv_transpose3d,
}


def _convolve(ops, x, kernel, bias, channels_last, **arguments):
    # Keras' kernel (spatial..., a, b) as PyTorch's (b, a, spatial...): conv
    # (out, in / groups, ...) from (..., in / groups, out), conv_transpose
    # (in, out, ...) from (..., out, in). The output channels-first, or None.
    x, kernel, bias = map(_tensor, (x, kernel, bias))
    rank = x.ndim - 2
    if rank not in ops or not _same_dtype(x, kernel, bias):
        return None
    return ops[rank](_to_channels_first(x, channels_last), _weight(kernel, channels_last), bias,
                     **arguments)


def fused_conv(x, kernel, bias, strides, paddings, dilation_rate, channels_last, groups):
    out = _convolve(_CONV, x, kernel, bias, channels_last, stride=tuple(strides),
                    padding=tuple(paddings), dilation=tuple(dilation_rate), groups=groups)
    return None if out is None else _from_channels_first(out, channels_last)


def fused_conv_transpose(x, kernel, bias, strides, paddings, output_paddings, crops_right,
                         dilation_rate, channels_last):
    out = _convolve(_CONV_T, x, kernel, bias, channels_last, stride=tuple(strides),
                    padding=tuple(paddings), output_padding=tuple(output_paddings),
                    dilation=tuple(dilation_rate))
    if out is None:
        return None
    if any(crops_right):
        index = [slice(None), slice(None)] + [slice(0, n - c) for n, c in zip(out.shape[2:], crops_right)]
        out = out[tuple(index)]
    return _from_channels_first(out, channels_last)
