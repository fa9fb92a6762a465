"""PyTorch implementation of the backend primitives."""

import contextlib

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
    # The torch trainer calls train_step(data) statefully.
    return step


# ------------------------------------------------------------ distribution
def data_parallel(devices):
    del devices
    raise NotImplementedError(
        "Data-parallel training is not supported on the PyTorch backend yet; "
        "use KERAS_BACKEND=jax (keras.distribution.DataParallel) or "
        "KERAS_BACKEND=tensorflow (tf.distribute.MirroredStrategy). "
        "Received: backend=torch"
    )


def record_distribution(model):
    del model


def distribution_scope(model):
    del model
    return contextlib.nullcontext()


def process_index():
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def process_count():
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
