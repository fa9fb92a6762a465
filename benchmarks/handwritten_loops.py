"""keras-gen against hand-written training loops: throughput, memory, FLOP/s.

For each backend, in its own process (KERAS_BACKEND is fixed per process),
this trains the same networks on the same data, batch size and optimizers

* through keras-gen (``keras_gen.VAE`` / ``keras_gen.GAN`` and ``model.fit``),
* through a plain loop written by hand for that backend:

  - TensorFlow: ``tf.GradientTape`` inside ``tf.function``, once with
    ``jit_compile=False`` and once with ``jit_compile=True`` (XLA); keras-gen
    runs with the same ``jit_compile`` setting in each pair;
  - JAX: ``jax.jit`` (state donated) of a stateless step built from
    ``Model.stateless_call`` and ``Optimizer.stateless_apply`` (no optax);
  - PyTorch: eager ``torch.autograd.grad`` on the player's parameters, the
    Keras optimizer's ``apply`` under ``torch.no_grad()``; no
    ``torch.compile``.

The VAE is keras_gen.networks' conv encoder/decoder (latent 16, MSE +
KL, Adam 1e-3); the DCGAN is ``dcgan_generator``/``dcgan_discriminator``
(latent 100, Adam(2e-4, beta_1=0.5) per player). A DCGAN step is the same
algorithm in both: one D step on a real batch and a fake batch G(z) (D run on
each separately, as keras-gen does, so BatchNorm sees the same batches) with
BCE from logits, then one G step on fresh z with the non-saturating loss.
Both draw z (and the VAE's eps) from a ``keras.random.SeedGenerator`` of the
same seed in the same order, so from the same initial weights the two end
with the same weights up to float rounding: the table's last column.

keras-gen is timed twice: through ``model.fit`` (what users run) and with
its own ``train_step`` called in a plain loop, compiled the way each backend's
trainer compiles it (``tf.function``, ``jax.jit``, eager on torch), which
separates keras-gen's step from Keras' ``fit`` loop.

Every configuration trains a warm-up (tracing / compilation) first; then in
each of ``--repeats`` rounds every configuration, in turn (interleaved, so CPU
speed drift hits all alike), trains ``--steps`` steps in one call and then one
step in a second call. Images/s after warm-up come from the difference,
(t_steps - t_1) / (steps - 1) per step, which removes what a call costs once
whatever its length: for ``fit`` its set-up (data adapter, iterator,
callbacks; reported as "set-up ms/call", the single call minus one step).
The ratio columns are the median over rounds of keras-gen / hand-written
images/s measured in the same round, and the ratio of the two fastest rounds
(noise only slows a round, so the best one is the least disturbed); "whole
calls" compares the ``--steps`` calls as timed, set-up included.
``--threads 1`` limits every backend to one CPU thread, which keeps timings
steady on a shared machine. Peak memory comes from a separate process per configuration
(peak RSS on CPU; the device's peak allocation on GPU). FLOP/s: the networks'
FLOPs are counted from their layers (Dense, Conv2D, Conv2DTranspose
multiply-adds x 2; BatchNorm, activations, the optimizer not counted) and a
DCGAN step counted as

* D step: G forward (no gradient) + D forward/backward on the real batch +
  D forward/backward on the fake batch = F_G + 3 F_D + 3 F_D,
* G step: G forward/backward + D forward and backward to its input (D's
  weight gradients are not needed) = 3 F_G + 2 F_D,

i.e. 4 F_G + 8 F_D per image (backward ~ 2x forward), against the peak of a
large float32 matmul timed on the same backend and device.

Run (all three backends; README's run, about 25 minutes on 2 CPU cores;
drop --no-memory for the peak-memory columns, another ~8 minutes):

    .venv/bin/python benchmarks/handwritten_loops.py --threads 1 --steps 30 --repeats 8 --no-memory
    .venv/bin/python benchmarks/handwritten_loops.py --quick   # smoke test, seconds per backend

``benchmarks/gpu.sh`` runs it on a GPU machine at batch 256 and 64x64x3.

A busy machine: ``--busy 0,1`` runs every timed round once without and once
with one competing CPU-bound process (a Python busy loop at the benchmark's
niceness), interleaved; ``--feeds numpy,keras_gen.data,tf.data`` times
keras-gen's ``fit`` fed by NumPy arrays (Keras' own ``tf.data`` adapter on
TensorFlow), by ``keras_gen.data.from_numpy``'s pipeline (with
``keras_gen.data.pipeline_options()``) and by the same pipeline without those
options. On a machine that other processes load, round-to-round noise
swamps a 10% effect; ``--paired`` instead times every ``fit`` step against
one hand-written step run right after it (from a callback, on the same
batch), in blocks of ``--steps`` steps that switch the competing processes
on and off, and reports the median of the per-pair ratios:

    .venv/bin/python benchmarks/handwritten_loops.py --paired --backends tensorflow --threads 1 \
        --steps 16 --repeats 4 --busy 0,1 --feeds numpy,tf.data,keras_gen.data
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKENDS = ("tensorflow", "jax", "torch")
MODELS = ("vae", "dcgan")
FEEDS = ("numpy", "keras_gen.data", "tf.data")
SEED = 1234
VAE_LATENT = 16
GAN_LATENT = 100
# The DCGAN paper's widths (Radford et al., 2015, figure 1), 64x64 images.
PAPER_G_FILTERS = (1024, 512, 256, 128)
PAPER_D_FILTERS = (128, 256, 512, 1024)


# ===================================================================== worker
# Everything below up to the "parent" section runs in a child process whose
# KERAS_BACKEND is set; the parent never imports keras.


def _image_shape(args):
    return (args.image_size, args.image_size, args.channels)


def _build_networks(kind, args):
    import keras
    import keras_gen

    keras.utils.set_random_seed(0)
    shape = _image_shape(args)
    if kind == "vae":
        return {
            # Without BatchNorm (the VAE default) as in the hand-written loops.
            "encoder": keras_gen.networks.encoder(shape, VAE_LATENT, variational=True,
                                                  batch_norm=False),
            "decoder": keras_gen.networks.decoder(VAE_LATENT, shape),
        }
    g_filters, d_filters = (PAPER_G_FILTERS, PAPER_D_FILTERS) if args.paper_widths else (None, None)
    return {
        "generator": keras_gen.networks.dcgan_generator(GAN_LATENT, shape, filters=g_filters),
        "discriminator": keras_gen.networks.dcgan_discriminator(shape, filters=d_filters),
    }


def _clone(networks):
    import keras

    copies = {}
    for name, net in networks.items():
        copy = keras.models.clone_model(net)
        copy.set_weights(net.get_weights())
        copies[name] = copy
    return copies


def _network_weights(networks):
    import keras

    return {
        name: [keras.ops.convert_to_numpy(v.value) for v in net.trainable_variables + net.non_trainable_variables]
        for name, net in networks.items()
    }


def _adam(kind):
    import keras

    if kind == "vae":
        return keras.optimizers.Adam(1e-3)
    return keras.optimizers.Adam(2e-4, beta_1=0.5)


def network_flops(model):
    """Forward FLOPs per example: 2 x multiply-adds of Dense/Conv2D/Conv2DTranspose."""
    import keras

    macs = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2DTranspose):
            _, h, w, cin = layer.input.shape
            kh, kw = layer.kernel_size
            macs += h * w * kh * kw * cin * layer.filters
        elif isinstance(layer, keras.layers.Conv2D):
            _, h, w, _ = layer.output.shape
            cin = layer.input.shape[-1]
            kh, kw = layer.kernel_size
            macs += h * w * kh * kw * cin * layer.filters
        elif isinstance(layer, keras.layers.Dense):
            macs += layer.input.shape[-1] * layer.units
        elif isinstance(layer, keras.Model):
            macs += network_flops(layer) // 2
    return 2 * macs


def step_flops(kind, networks):
    """Training FLOPs per image of one train step (see the module docstring)."""
    if kind == "vae":
        return 3 * (network_flops(networks["encoder"]) + network_flops(networks["decoder"]))
    f_g = network_flops(networks["generator"])
    f_d = network_flops(networks["discriminator"])
    return 4 * f_g + 8 * f_d


class KerasGen:
    """keras-gen's model trained by ``model.fit``."""

    def __init__(self, kind, networks, args, jit_compile):
        import keras_gen

        self.networks = networks
        self.batch = args.batch_size
        if kind == "vae":
            self.model = keras_gen.VAE(networks["encoder"], networks["decoder"], seed=SEED)
            self.model.compile(optimizer=_adam(kind), jit_compile=jit_compile)
        else:
            self.model = keras_gen.GAN(networks["generator"], networks["discriminator"],
                                       latent_dim=GAN_LATENT, seed=SEED)
            self.model.compile(d_optimizer=_adam(kind), g_optimizer=_adam(kind), jit_compile=jit_compile)

    def train(self, x, callbacks=None):
        self.model.fit(x, batch_size=self.batch, epochs=1, verbose=0, shuffle=False, callbacks=callbacks)

    def weights(self):
        return _network_weights(self.networks)


class KerasGenData(KerasGen):
    """keras-gen's model trained by ``model.fit`` on a ``tf.data`` pipeline.

    ``feed="keras_gen.data"``: the pipeline ``keras_gen.data.from_numpy``
    builds (batched, prefetched, with ``keras_gen.data.pipeline_options()``);
    ``feed="tf.data"``: the same pipeline written plainly, without those
    options (``from_tensor_slices``, ``batch``, ``prefetch(AUTOTUNE)``). Same
    batches in the same order as the NumPy arrays ``fit`` gets otherwise.
    """

    def __init__(self, kind, networks, args, jit_compile, feed):
        super().__init__(kind, networks, args, jit_compile)
        self.feed = feed
        self.value_range = (0.0, 1.0) if kind == "vae" else (-1.0, 1.0)

    def train(self, x, callbacks=None):
        import tensorflow as tf

        import keras_gen

        if self.feed == "keras_gen.data":
            ds = keras_gen.data.from_numpy(x, value_range=self.value_range, batch_size=self.batch)
        else:
            ds = tf.data.Dataset.from_tensor_slices(x).batch(self.batch).prefetch(tf.data.AUTOTUNE)
        self.model.fit(ds, epochs=1, verbose=0, callbacks=callbacks)


class KerasGenStep(KerasGen):
    """keras-gen's own ``train_step`` called in a plain loop, without ``fit``.

    Separates the cost of keras-gen's step (the abstraction) from that of
    Keras' ``fit`` loop (data adapter, callbacks). The warm-up goes through
    ``fit``, which builds the model, optimizers and metrics; the timed rounds
    call the step the way each trainer compiles it.
    """

    def __init__(self, kind, networks, args, jit_compile):
        super().__init__(kind, networks, args, jit_compile)
        self.jit_compile = jit_compile
        self.step = None

    def train(self, x):
        if self.step is None:
            # Warm-up: build everything through fit, then trace the step on
            # the last warm-up batch (the same batches as the other runs).
            super().train(x[:-self.batch])
            self._make_step()
            x = x[-self.batch:]
        out = None
        for start in range(0, len(x), self.batch):
            out = self.step(self.to_device(x[start:start + self.batch]))
        self.sync(out)

    def _make_step(self):
        import keras

        model, backend = self.model, keras.backend.backend()
        if backend == "tensorflow":
            import tensorflow as tf

            self.step = tf.function(model.train_step, jit_compile=self.jit_compile)
            self.to_device = tf.convert_to_tensor
            self.sync = HandTF.sync.__get__(self)
        elif backend == "jax":
            import jax
            import jax.numpy as jnp

            groups = (model.trainable_variables, model.non_trainable_variables,
                      model.optimizer.variables, model.metrics_variables)
            self.state = jax.tree_util.tree_map(jnp.copy, tuple([v.value for v in g] for g in groups))
            jitted = jax.jit(model.train_step, donate_argnums=0)

            def step(data):
                logs, self.state = jitted(self.state, data)
                return logs

            def write_back():
                for g, values in zip(groups, self.state):
                    for v, value in zip(g, values):
                        v.assign(value)

            self.step, self._write_back = step, write_back
            self.to_device = jax.device_put
            self.sync = lambda out: jax.block_until_ready((out, self.state))
        else:
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
            self.step = model.train_step
            self.to_device = lambda b: torch.as_tensor(b, device=device)
            self.sync = HandTorch.sync.__get__(self)
            self.device = device

    def weights(self):
        if hasattr(self, "_write_back"):
            self._write_back()
        return super().weights()


class _HandWritten:
    """Shared by the hand-written loops: iterate NumPy batches, sync at the end."""

    def __init__(self, kind, networks, args):
        self.kind = kind
        self.networks = networks
        self.batch = args.batch_size

    def train(self, x):
        out = None
        for start in range(0, len(x), self.batch):
            out = self.step(self.to_device(x[start:start + self.batch]))
        self.sync(out)

    def weights(self):
        return _network_weights(self.networks)


class HandTF(_HandWritten):
    def __init__(self, kind, networks, args, jit_compile):
        import keras
        import tensorflow as tf

        super().__init__(kind, networks, args)
        softplus = tf.nn.softplus
        if kind == "vae":
            enc, dec = networks["encoder"], networks["decoder"]
            params = enc.trainable_variables + dec.trainable_variables
            opt = _adam(kind)
            opt.build(params)
            seed = keras.random.SeedGenerator(SEED)

            def step(x):
                with tf.GradientTape() as tape:
                    mu, log_sigma = enc(x, training=True)
                    # keras-gen's order of operations and reductions (per-example
                    # means, then the batch mean), so that gradients that sum
                    # several terms round alike.
                    kl = tf.reduce_mean(0.5 * tf.reduce_sum(
                        tf.square(mu) + tf.exp(2.0 * log_sigma) - 2.0 * log_sigma - 1.0, axis=-1))
                    eps = keras.random.normal(tf.shape(mu), dtype=mu.dtype, seed=seed)
                    x_hat = dec(mu + tf.exp(log_sigma) * eps, training=True)
                    rec = tf.reduce_mean(tf.reduce_mean(tf.square(
                        tf.reshape(x, (tf.shape(x)[0], -1)) - tf.reshape(x_hat, (tf.shape(x)[0], -1))), axis=-1))
                    loss = rec + kl
                opt.apply(tape.gradient(loss, params), params)
                return loss
        else:
            gen, disc = networks["generator"], networks["discriminator"]
            d_opt, g_opt = _adam(kind), _adam(kind)
            d_opt.build(disc.trainable_variables)
            g_opt.build(gen.trainable_variables)
            seed = keras.random.SeedGenerator(SEED)
            batch = self.batch

            def step(real):
                z = keras.random.normal((batch, GAN_LATENT), seed=seed)
                with tf.GradientTape() as tape:
                    fake = gen(z, training=True)
                    real_logits = disc(real, training=True)
                    fake_logits = disc(fake, training=True)
                    d_loss = tf.reduce_mean(softplus(-real_logits) + softplus(fake_logits))
                d_grads = tape.gradient(d_loss, disc.trainable_variables)
                d_opt.apply(d_grads, disc.trainable_variables)
                z = keras.random.normal((batch, GAN_LATENT), seed=seed)
                with tf.GradientTape() as tape:
                    g_loss = tf.reduce_mean(softplus(-disc(gen(z, training=True), training=True)))
                g_grads = tape.gradient(g_loss, gen.trainable_variables)
                g_opt.apply(g_grads, gen.trainable_variables)
                return d_loss, g_loss

        self.step = tf.function(step, jit_compile=jit_compile)
        self.to_device = tf.convert_to_tensor

    def sync(self, out):
        import tensorflow as tf

        tf.nest.map_structure(lambda t: t.numpy(), out)


class HandJAX(_HandWritten):
    def __init__(self, kind, networks, args, jit_compile=True):
        import jax
        import jax.numpy as jnp
        import keras

        super().__init__(kind, networks, args)
        softplus = jax.nn.softplus
        seed0 = keras.random.SeedGenerator(SEED).state.value
        increment = jnp.array([0, 1], dtype=seed0.dtype)

        def values(variables):
            return [v.value for v in variables]

        if kind == "vae":
            enc, dec = networks["encoder"], networks["decoder"]
            opt = _adam(kind)
            opt.build(enc.trainable_variables + dec.trainable_variables)
            n_enc = len(enc.trainable_variables)

            def loss_fn(trainable, non_trainable, x, seed):
                enc_nt, dec_nt = non_trainable
                (mu, log_sigma), enc_nt = enc.stateless_call(trainable[:n_enc], enc_nt, x, training=True)
                kl = jnp.mean(0.5 * jnp.sum(
                    jnp.square(mu) + jnp.exp(2.0 * log_sigma) - 2.0 * log_sigma - 1.0, axis=-1))
                eps = keras.random.normal(mu.shape, dtype=mu.dtype, seed=seed)
                x_hat, dec_nt = dec.stateless_call(trainable[n_enc:], dec_nt,
                                                   mu + jnp.exp(log_sigma) * eps, training=True)
                rec = jnp.mean(jnp.mean(jnp.square(
                    x.reshape(x.shape[0], -1) - x_hat.reshape(x.shape[0], -1)), axis=-1))
                return rec + kl, (enc_nt, dec_nt)

            def step(state, x):
                trainable, non_trainable, opt_vars, seed = state
                (loss, non_trainable), grads = jax.value_and_grad(loss_fn, has_aux=True)(
                    trainable, non_trainable, x, seed)
                trainable, opt_vars = opt.stateless_apply(opt_vars, grads, trainable)
                return loss, (trainable, non_trainable, opt_vars, seed + increment)

            self.state = (
                values(enc.trainable_variables + dec.trainable_variables),
                (values(enc.non_trainable_variables), values(dec.non_trainable_variables)),
                values(opt.variables),
                seed0,
            )

            def write_back(state):
                trainable, (enc_nt, dec_nt), _, _ = state
                for v, value in zip(enc.trainable_variables + dec.trainable_variables, trainable):
                    v.assign(value)
                for v, value in zip(enc.non_trainable_variables + dec.non_trainable_variables, enc_nt + dec_nt):
                    v.assign(value)
        else:
            gen, disc = networks["generator"], networks["discriminator"]
            d_opt, g_opt = _adam(kind), _adam(kind)
            d_opt.build(disc.trainable_variables)
            g_opt.build(gen.trainable_variables)
            batch = self.batch

            def d_loss_fn(d_tv, d_nt, g_tv, g_nt, real, z):
                fake, g_nt = gen.stateless_call(g_tv, g_nt, z, training=True)
                real_logits, d_nt = disc.stateless_call(d_tv, d_nt, real, training=True)
                fake_logits, d_nt = disc.stateless_call(d_tv, d_nt, fake, training=True)
                loss = jnp.mean(softplus(-real_logits) + softplus(fake_logits))
                return loss, (d_nt, g_nt)

            def g_loss_fn(g_tv, g_nt, d_tv, d_nt, z):
                fake, g_nt = gen.stateless_call(g_tv, g_nt, z, training=True)
                fake_logits, d_nt = disc.stateless_call(d_tv, d_nt, fake, training=True)
                return jnp.mean(softplus(-fake_logits)), (g_nt, d_nt)

            def step(state, real):
                g_tv, g_nt, d_tv, d_nt, d_ov, g_ov, seed = state
                z = keras.random.normal((batch, GAN_LATENT), seed=seed)
                seed = seed + increment
                (d_loss, (d_nt, g_nt)), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(
                    d_tv, d_nt, g_tv, g_nt, real, z)
                d_tv, d_ov = d_opt.stateless_apply(d_ov, d_grads, d_tv)
                z = keras.random.normal((batch, GAN_LATENT), seed=seed)
                seed = seed + increment
                (g_loss, (g_nt, d_nt)), g_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(
                    g_tv, g_nt, d_tv, d_nt, z)
                g_tv, g_ov = g_opt.stateless_apply(g_ov, g_grads, g_tv)
                return (d_loss, g_loss), (g_tv, g_nt, d_tv, d_nt, d_ov, g_ov, seed)

            self.state = (
                values(gen.trainable_variables), values(gen.non_trainable_variables),
                values(disc.trainable_variables), values(disc.non_trainable_variables),
                values(d_opt.variables), values(g_opt.variables), seed0,
            )

            def write_back(state):
                g_tv, g_nt, d_tv, d_nt = state[:4]
                for variables, vals in ((gen.trainable_variables, g_tv), (gen.non_trainable_variables, g_nt),
                                        (disc.trainable_variables, d_tv), (disc.non_trainable_variables, d_nt)):
                    for v, value in zip(variables, vals):
                        v.assign(value)

        # Copy the state once: donation must never free the variables' own buffers.
        self.state = jax.tree_util.tree_map(jnp.copy, self.state)
        jitted = jax.jit(step, donate_argnums=0)
        self._write_back = write_back

        def run(x):
            out, self.state = jitted(self.state, x)
            return out

        self.step = run
        self.to_device = jax.device_put

    def sync(self, out):
        import jax

        jax.block_until_ready((out, self.state))

    def weights(self):
        self._write_back(self.state)
        return super().weights()


class HandTorch(_HandWritten):
    def __init__(self, kind, networks, args, jit_compile=False):
        import keras
        import torch
        import torch.nn.functional as F

        super().__init__(kind, networks, args)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        softplus = F.softplus
        if kind == "vae":
            enc, dec = networks["encoder"], networks["decoder"]
            variables = enc.trainable_variables + dec.trainable_variables
            opt = _adam(kind)
            opt.build(variables)
            seed = keras.random.SeedGenerator(SEED)

            def step(x):
                mu, log_sigma = enc(x, training=True)
                kl = torch.mean(0.5 * torch.sum(
                    torch.square(mu) + torch.exp(2.0 * log_sigma) - 2.0 * log_sigma - 1.0, dim=-1))
                eps = keras.random.normal(tuple(mu.shape), dtype="float32", seed=seed)
                x_hat = dec(mu + torch.exp(log_sigma) * eps, training=True)
                rec = torch.mean(torch.mean(torch.square(
                    x.reshape(x.shape[0], -1) - x_hat.reshape(x.shape[0], -1)), dim=-1))
                loss = rec + kl
                grads = torch.autograd.grad(loss, [v.value for v in variables])
                with torch.no_grad():
                    opt.apply(list(grads), variables)
                return loss
        else:
            gen, disc = networks["generator"], networks["discriminator"]
            d_opt, g_opt = _adam(kind), _adam(kind)
            d_opt.build(disc.trainable_variables)
            g_opt.build(gen.trainable_variables)
            seed = keras.random.SeedGenerator(SEED)
            batch = self.batch

            def step(real):
                z = keras.random.normal((batch, GAN_LATENT), seed=seed)
                with torch.no_grad():  # D step: no graph through G
                    fake = gen(z, training=True)
                real_logits = disc(real, training=True)
                fake_logits = disc(fake, training=True)
                d_loss = torch.mean(softplus(-real_logits) + softplus(fake_logits))
                d_grads = torch.autograd.grad(d_loss, [v.value for v in disc.trainable_variables])
                with torch.no_grad():
                    d_opt.apply(list(d_grads), disc.trainable_variables)
                z = keras.random.normal((batch, GAN_LATENT), seed=seed)
                g_loss = torch.mean(softplus(-disc(gen(z, training=True), training=True)))
                g_grads = torch.autograd.grad(g_loss, [v.value for v in gen.trainable_variables])
                with torch.no_grad():
                    g_opt.apply(list(g_grads), gen.trainable_variables)
                return d_loss, g_loss

        self.step = step

    def to_device(self, x):
        import torch

        return torch.as_tensor(x, device=self.device)

    def sync(self, out):
        import torch

        if self.device == "cuda":
            torch.cuda.synchronize()


HAND = {"tensorflow": HandTF, "jax": HandJAX, "torch": HandTorch}


def _pairs(backend, args):
    """(label, jit_compile) of each keras-gen / hand-written pair to measure."""
    if backend == "tensorflow":
        return [(f"XLA {'on' if jit else 'off'}", jit) for jit in
                {"both": (False, True), "on": (True,), "off": (False,)}[args.tf_xla]]
    if backend == "jax":
        return [("jit", True)]
    return [("eager", False)]


def _data(kind, n, args, offset=0):
    import numpy as np

    x = np.random.default_rng(offset).random((n,) + _image_shape(args), dtype=np.float32)
    return x if kind == "vae" else x * 2.0 - 1.0


def _device_info(backend):
    """(device name, whether it is a GPU)."""
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU"), True
    elif backend == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform == "gpu":
            return device.device_kind, True
    else:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0), True
    return f"CPU ({os.cpu_count()} cores)", False


def _device_peak_bytes(backend):
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.config.experimental.get_memory_info("GPU:0")["peak"]
    if backend == "jax":
        import jax

        return (jax.devices()[0].memory_stats() or {}).get("peak_bytes_in_use")
    import torch

    return torch.cuda.max_memory_allocated()


def _peak_rss_bytes():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux


def matmul_peak_flops(backend, gpu, repeats=5):
    """FLOP/s of the best of ``repeats`` float32 n x n matmuls on this backend's device.

    Each backend runs with its own default precision, the one its
    convolutions in the step get too: on NVIDIA GPUs since Ampere,
    TensorFlow and JAX compute float32 matmuls and convolutions in TF32 by
    default, PyTorch its matmuls in full float32 (and its cuDNN convolutions
    in TF32), so GPU peaks differ by backend.
    """
    import numpy as np

    n = 8192 if gpu else 2048
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.constant(a)
        fn = tf.function(lambda m: tf.linalg.matmul(m, m))
        run = lambda: fn(x).numpy()[0, 0]  # noqa: E731
    elif backend == "jax":
        import jax

        x = jax.device_put(a)
        fn = jax.jit(lambda m: m @ m)
        run = lambda: fn(x).block_until_ready()  # noqa: E731
    else:
        import torch

        x = torch.as_tensor(a, device="cuda" if gpu else "cpu")

        def run():
            y = x @ x
            if gpu:
                torch.cuda.synchronize()
            return y

    run()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def weight_diff(a, b, initial):
    """(max |a - b|, ||a - b|| / ||a - initial||) over every network variable.

    The second is the gap between the two runs relative to how far training
    moved the weights: the max alone is dominated by weights whose gradient is
    zero up to rounding (a bias before BatchNorm), which Adam turns into full
    +-learning-rate steps of either sign.
    """
    import numpy as np

    flat = lambda w: np.concatenate([v.ravel() for name in sorted(w) for v in w[name]])  # noqa: E731
    a, b, initial = flat(a), flat(b), flat(initial)
    moved = float(np.linalg.norm(a - initial))
    return float(np.max(np.abs(a - b))), float(np.linalg.norm(a - b)) / moved if moved else float("nan")


def _start_busy(n):
    """Start ``n`` CPU-bound processes (a Python busy loop each, at this
    process's niceness) that compete with the benchmark for the cores.
    Each ends by itself when its parent is gone."""
    # A busy loop that ends by itself if the benchmark dies without stopping it.
    loop = ("import os\nparent = os.getppid()\ni = 0\nwhile True:\n    i += 1\n"
            "    if i % 1000000 == 0 and os.getppid() != parent:\n        break\n")
    procs = [subprocess.Popen([sys.executable, "-c", loop]) for _ in range(n)]
    if procs:
        time.sleep(0.3)  # let them start spinning
    return procs


def _stop_busy(procs):
    for proc in procs:
        proc.kill()
    for proc in procs:
        proc.wait()


def worker_time(args):
    """Interleaved timing of every keras-gen / hand-written pair of one model."""
    import keras

    backend = keras.backend.backend()
    kind = args.model
    device, gpu = _device_info(backend)
    reference = _build_networks(kind, args)
    initial = _network_weights(reference)
    trainers = {}
    for label, jit in _pairs(backend, args):
        for feed in args.feeds:
            fit_impl = "keras-gen" if feed == "numpy" else f"keras-gen {feed}"
            cls = KerasGen if feed == "numpy" else (lambda *a, feed=feed: KerasGenData(*a, feed))
            trainers[(label, fit_impl)] = cls(kind, _clone(reference), args, jit)
        trainers[(label, "keras-gen step")] = KerasGenStep(kind, _clone(reference), args, jit)
        trainers[(label, "hand-written")] = HAND[backend](kind, _clone(reference), args, jit)
    warm = _data(kind, args.warmup_steps * args.batch_size, args, offset=1)
    x = _data(kind, args.steps * args.batch_size, args, offset=2)
    one = x[:args.batch_size]
    compile_s = {}
    for key, trainer in trainers.items():
        start = time.perf_counter()
        trainer.train(warm)
        compile_s[key] = time.perf_counter() - start
    # Each round: one call over `steps` batches, then one call over a single
    # batch. Their difference removes what a call costs once, whatever its
    # length (for fit: the data adapter, iterator and callbacks), leaving the
    # per-step time after warm-up: (t_steps - t_1) / (steps - 1). With
    # --busy, every round runs once per number of competing processes
    # (started before and stopped after that part of the round), so busy and
    # quiet timings are interleaved too.
    whole = {(key, n): [] for key in trainers for n in args.busy}
    single = {(key, n): [] for key in trainers for n in args.busy}
    for _ in range(args.repeats):
        for n in args.busy:
            procs = _start_busy(n)
            try:
                for key, trainer in trainers.items():
                    start = time.perf_counter()
                    trainer.train(x)
                    middle = time.perf_counter()
                    trainer.train(one)
                    whole[(key, n)].append(middle - start)
                    single[(key, n)].append(time.perf_counter() - middle)
            finally:
                _stop_busy(procs)

    def per_step(key, n):
        return [(w - s) / (args.steps - 1) for w, s in zip(whole[(key, n)], single[(key, n)])]

    def ratios(ours, theirs):
        return [h / k for k, h in zip(ours, theirs)]

    pairs = []
    for label, _ in _pairs(backend, args):
        for n in args.busy:
            hw = per_step((label, "hand-written"), n)
            st = per_step((label, "keras-gen step"), n)
            for feed in args.feeds:
                fit_impl = "keras-gen" if feed == "numpy" else f"keras-gen {feed}"
                kg = per_step((label, fit_impl), n)
                pairs.append({
                    "label": label,
                    "busy": n,
                    "feed": feed,
                    "keras_gen_images_per_s": args.batch_size / statistics.median(kg),
                    "hand_images_per_s": args.batch_size / statistics.median(hw),
                    "ratio": statistics.median(ratios(kg, hw)),
                    "ratios": ratios(kg, hw),
                    # Noise on a shared machine only ever slows a round down: the
                    # fastest round of each is the least disturbed estimate.
                    "best_ratio": min(hw) / min(kg),
                    "whole_call_ratio": statistics.median(ratios(whole[((label, fit_impl), n)],
                                                                 whole[((label, "hand-written"), n)])),
                    "fit_setup_s": statistics.median(s - k for s, k in zip(single[((label, fit_impl), n)], kg)),
                    "step_images_per_s": args.batch_size / statistics.median(st),
                    "step_ratio": statistics.median(ratios(st, hw)),
                    "warmup_s": [compile_s[(label, fit_impl)], compile_s[(label, "hand-written")]],
                    # Same init, data, seeds and steps: the weights should agree.
                    "weight_diff": weight_diff(trainers[(label, fit_impl)].weights(),
                                               trainers[(label, "hand-written")].weights(), initial),
                    "step_weight_diff": weight_diff(trainers[(label, "keras-gen step")].weights(),
                                                    trainers[(label, "hand-written")].weights(), initial),
                })
    result = {"backend": backend, "model": kind, "device": device, "gpu": gpu,
              "flops_per_image": step_flops(kind, reference), "pairs": pairs}
    if kind == "dcgan":
        result["network_flops"] = {name: network_flops(net) for name, net in reference.items()}
    if args.matmul_peak:
        result["matmul_peak_flops"] = matmul_peak_flops(backend, gpu)
    return result


def _fit_trainer(kind, networks, args, jit, feed):
    if feed == "numpy":
        return KerasGen(kind, networks, args, jit)
    return KerasGenData(kind, networks, args, jit, feed)


def worker_paired(args):
    """Step-by-step pairing: after every ``fit`` step, one hand-written step.

    One ``fit`` call over ``repeats x len(busy)`` blocks of ``steps`` batches;
    a callback, at the end of every batch, times the ``fit`` step that just
    ended (from the previous batch end) and then one step of the
    hand-written loop on the same batch, so both are timed in adjacent
    windows of one step each, which outside load hits alike. Between blocks
    the callback switches the competing processes to the next number of
    ``--busy`` (the pair across a switch is dropped).
    """
    import keras

    backend = keras.backend.backend()
    kind = args.model
    reference = _build_networks(kind, args)
    initial = _network_weights(reference)
    blocks = [n for _ in range(args.repeats) for n in args.busy]
    n_batches = len(blocks) * args.steps
    x = _data(kind, n_batches * args.batch_size, args, offset=2)
    warm = _data(kind, args.warmup_steps * args.batch_size, args, offset=1)
    out = []
    for label, jit in _pairs(backend, args):
        for feed in args.feeds:
            fitted = _fit_trainer(kind, _clone(reference), args, jit, feed)
            hand = HAND[backend](kind, _clone(reference), args, jit)
            fitted.train(warm)
            hand.train(warm)
            rows = []
            state = {"step": 0, "prev": None, "procs": []}

            class Paired(keras.callbacks.Callback):
                def on_train_batch_end(self, batch, logs=None):
                    now = time.perf_counter()
                    i = state["step"]
                    # The hand-written loop trains on every batch, as fit does (same weights at the
                    # end); pairs whose fit step was not timed alone are not recorded.
                    start = time.perf_counter()
                    hand.train(x[i * args.batch_size:(i + 1) * args.batch_size])
                    if state["prev"] is not None:
                        rows.append((blocks[i // args.steps], now - state["prev"], time.perf_counter() - start))
                    state["step"] = i = i + 1
                    if i % args.steps == 0 and i < n_batches:
                        _stop_busy(state["procs"])
                        state["procs"] = _start_busy(blocks[i // args.steps])
                        now = None
                    state["prev"] = None if now is None else time.perf_counter()

            state["procs"] = _start_busy(blocks[0])
            try:
                fitted.train(x, callbacks=[Paired()])
            finally:
                _stop_busy(state["procs"])
            for n in args.busy:
                fit_t = [f for b, f, _ in rows if b == n]
                hand_t = [h for b, _, h in rows if b == n]
                ratios = sorted(h / f for f, h in zip(fit_t, hand_t))
                out.append({
                    "label": label, "feed": feed, "busy": n, "pairs": len(ratios),
                    "fit_s": statistics.median(fit_t), "hand_s": statistics.median(hand_t),
                    "ratio": statistics.median(ratios),
                    "quartiles": [ratios[len(ratios) // 4], ratios[(3 * len(ratios)) // 4]],
                    "weight_diff": weight_diff(fitted.weights(), hand.weights(), initial),
                })
    return {"backend": backend, "model": kind, "paired": out}


def worker_memory(args):
    """Peak memory of one configuration trained alone in this process."""
    import keras

    backend = keras.backend.backend()
    _, gpu = _device_info(backend)
    networks = _build_networks(args.model, args)
    jit = dict(_pairs(backend, args))[args.pair]
    cls = KerasGen if args.impl == "keras-gen" else HAND[backend]
    trainer = cls(args.model, networks, args, jit)
    trainer.train(_data(args.model, args.warmup_steps * args.batch_size, args, offset=1))
    trainer.train(_data(args.model, args.memory_steps * args.batch_size, args, offset=2))
    peak = _device_peak_bytes(backend) if gpu else None
    if peak is None:
        return {"peak_bytes": _peak_rss_bytes(), "kind": "RSS"}
    return {"peak_bytes": peak, "kind": "device"}


# ===================================================================== parent


def thread_env(threads):
    """Environment that limits the CPU thread pools (OpenMP, MKL, OpenBLAS, XLA:CPU) to ``threads``.

    Shared by this script, peers.py and objectives.py.
    """
    if not threads:
        return {}
    env = {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    xla = os.environ.get("XLA_FLAGS", "")
    if threads == 1:
        xla += " --xla_cpu_multi_thread_eigen=false"
    env["XLA_FLAGS"] = f"{xla} intra_op_parallelism_threads={threads}".strip()
    return env


def _limit_threads(backend, threads):
    if not threads:
        return
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    elif backend == "torch":
        import torch

        torch.set_num_threads(threads)


def _run_worker(backend, args, extra):
    env = dict(os.environ, KERAS_BACKEND=backend, **thread_env(args.threads))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, os.path.abspath(__file__), "--_worker", *extra, *_shared_flags(args)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{backend} worker {extra} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _shared_flags(args):
    flags = ["--batch-size", str(args.batch_size), "--image-size", str(args.image_size),
             "--channels", str(args.channels), "--steps", str(args.steps), "--repeats", str(args.repeats),
             "--warmup-steps", str(args.warmup_steps), "--memory-steps", str(args.memory_steps),
             "--tf-xla", args.tf_xla, "--threads", str(args.threads),
             "--busy", ",".join(map(str, args.busy)), "--feeds", ",".join(args.feeds)]
    return flags + (["--paper-widths"] if args.paper_widths else [])


def _mib(n):
    return "-" if n is None else f"{n / 2**20:.0f}"


def _flops(f):
    return f"{f / 1e9:.1f}" if f < 1e12 else f"{f / 1e12:.2f}T"


def collect_paired(args):
    rows = []
    for backend in args.backends:
        for model in args.models:
            print(f"# {backend} {model}: paired steps ...", file=sys.stderr, flush=True)
            rows.append(_run_worker(backend, args, ["paired", "--model", model]))
    return rows


def print_paired(rows, args):
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores; Python {platform.python_version()}")
    print(f"Batch {args.batch_size}, images {args.image_size}x{args.image_size}x{args.channels}; every `fit` step "
          f"paired with one hand-written step run right after it; {args.repeats} blocks of {args.steps} steps per "
          f"number of busy processes, interleaved; CPU threads per process: {args.threads or 'backend default'}")
    print()
    print("| backend | model | compile | busy procs | `fit` input | pairs | keras-gen `fit` ms/step | "
          "hand-written ms/step | ratio (median of pairs) | quartiles | weights: max abs diff |")
    print("|---|---|---|---:|---|---:|---:|---:|---:|---|---:|")
    for r in rows:
        for p in r["paired"]:
            print(f"| {r['backend']} | {r['model'].upper()} | {p['label']} | {p['busy']} | {p['feed']} | {p['pairs']} | "
                  f"{1000 * p['fit_s']:.1f} | {1000 * p['hand_s']:.1f} | {p['ratio']:.3f} | "
                  f"{p['quartiles'][0]:.2f}-{p['quartiles'][1]:.2f} | {p['weight_diff'][0]:.1e} |")


def collect(args):
    rows = []
    for backend in args.backends:
        for model in args.models:
            extra = ["time", "--model", model] + (["--matmul-peak"] if model == "dcgan" else [])
            print(f"# {backend} {model}: timing ...", file=sys.stderr, flush=True)
            result = _run_worker(backend, args, extra)
            memory = {}  # per pair label (the same for every --busy / --feeds row)
            for pair in result["pairs"]:
                label = pair["label"]
                if args.memory and label not in memory:
                    memory[label] = ({}, None)
                    for impl in ("keras-gen", "hand-written"):
                        print(f"# {backend} {model} {label} {impl}: memory ...", file=sys.stderr, flush=True)
                        mem = _run_worker(backend, args, ["memory", "--model", model, "--pair", label,
                                                          "--impl", impl])
                        memory[label][0][impl] = mem["peak_bytes"]
                        memory[label] = (memory[label][0], mem["kind"])
                pair["memory"], kind = memory.get(label, ({}, None))
                if kind:
                    pair["memory_kind"] = kind
            rows.append(result)
    return rows


def print_tables(rows, args):
    devices = sorted({f"{r['backend']}: {r['device']}" for r in rows})
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores; devices: {'; '.join(devices)}; "
          f"Python {platform.python_version()}")
    print(f"Batch {args.batch_size}, images {args.image_size}x{args.image_size}x{args.channels}, "
          f"DCGAN widths {'paper' if args.paper_widths else 'keras-gen auto'}, {args.steps} timed steps x "
          f"{args.repeats} interleaved rounds, medians; "
          f"CPU threads per process: {args.threads or 'backend default'}")
    print()
    print("| backend | model | compile | busy procs | `fit` input | keras-gen `fit` img/s | hand-written img/s | "
          "ratio, `fit` (median) | "
          "ratio, `fit` (best rounds) | ratio, keras-gen `train_step` w/o `fit` | ratio, whole calls | "
          "`fit` set-up ms/call | peak mem MiB keras-gen | peak mem MiB hand-written | weights: max abs diff | "
          "weights: rel. diff |")
    print("|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        for p in r["pairs"]:
            mem = p["memory"]
            kind = f" ({p['memory_kind']})" if mem else ""
            print(f"| {r['backend']} | {r['model'].upper()} | {p['label']} | {p['busy']} | {p['feed']} | "
                  f"{p['keras_gen_images_per_s']:.0f} | "
                  f"{p['hand_images_per_s']:.0f} | {p['ratio']:.3f} | {p['best_ratio']:.3f} | {p['step_ratio']:.3f} | "
                  f"{p['whole_call_ratio']:.3f} | {1000 * p['fit_setup_s']:.0f} | {_mib(mem.get('keras-gen'))}{kind} | "
                  f"{_mib(mem.get('hand-written'))}{kind} | {p['weight_diff'][0]:.1e} | {p['weight_diff'][1]:.1e} |")
    gan = [r for r in rows if r["model"] == "dcgan"]
    if not gan:
        return
    nf = gan[0]["network_flops"]
    print()
    print(f"DCGAN FLOPs per image: F_G = {nf['generator'] / 1e6:.1f} MFLOP, F_D = {nf['discriminator'] / 1e6:.1f} "
          f"MFLOP forward; train step = 4 F_G + 8 F_D = {gan[0]['flops_per_image'] / 1e6:.1f} MFLOP")
    print()
    print(f"(`fit` input {args.feeds[0]}, {args.busy[0]} busy processes)")
    print("| backend | compile | matmul peak GFLOP/s | keras-gen GFLOP/s | % of peak | "
          "hand-written GFLOP/s | % of peak |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in gan:
        peak = r["matmul_peak_flops"]
        for p in r["pairs"]:
            if p["feed"] != args.feeds[0] or p["busy"] != args.busy[0]:
                continue
            kg = p["keras_gen_images_per_s"] * r["flops_per_image"]
            hw = p["hand_images_per_s"] * r["flops_per_image"]
            print(f"| {r['backend']} | {p['label']} | {_flops(peak)} | {_flops(kg)} | {100 * kg / peak:.1f} | "
                  f"{_flops(hw)} | {100 * hw / peak:.1f} |")


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated (default: all three)")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated: vae, dcgan (default: both)")
    parser.add_argument("--batch-size", type=int, default=None, help="default 64 (--quick: 8)")
    parser.add_argument("--image-size", type=int, default=None, help="square images (default 28; --quick: 16)")
    parser.add_argument("--channels", type=int, default=1, help="image channels (default 1)")
    parser.add_argument("--paper-widths", action="store_true",
                        help="DCGAN paper widths G (1024, 512, 256, 128), D (128, 256, 512, 1024) "
                             "instead of keras-gen's automatic ones (use with --image-size 64)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per round, at least 2 (default 15; --quick: 8)")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved rounds (default 5; --quick: 3)")
    parser.add_argument("--warmup-steps", type=int, default=None, help="at least 2 (default 3; --quick: 2)")
    parser.add_argument("--memory-steps", type=int, default=5, help="steps of each memory process (default 5)")
    parser.add_argument("--tf-xla", choices=("both", "on", "off"), default="both",
                        help="TensorFlow pairs to measure: XLA off and on (default both)")
    parser.add_argument("--threads", type=int, default=0,
                        help="limit each backend's CPU thread pools to N threads (default 0: the backend's own "
                             "default); 1 gives steadier timings on a shared machine")
    parser.add_argument("--busy", default="0",
                        help="comma-separated numbers of competing CPU-bound processes (a Python busy loop each, "
                             "at the benchmark's niceness) to run while timing, e.g. 0,1: every round is timed "
                             "once per number, interleaved; ratios are per number (default 0)")
    parser.add_argument("--feeds", default="numpy",
                        help="comma-separated inputs of keras-gen's fit: numpy (arrays, Keras' own tf.data "
                             "adapter on TensorFlow), keras_gen.data (keras_gen.data.from_numpy's pipeline, with "
                             "keras_gen.data.pipeline_options()), tf.data (the same pipeline without those "
                             "options) (default numpy)")
    parser.add_argument("--paired", action="store_true",
                        help="instead of the round tables: time every fit step against one hand-written step "
                             "run right after it (in a callback), in blocks of --steps steps, --repeats blocks per "
                             "--busy number; robust to outside load (see worker_paired)")
    parser.add_argument("--no-memory", dest="memory", action="store_false",
                        help="skip the per-configuration memory processes (--quick skips them)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test in seconds per backend")
    parser.add_argument("--json", help="also write the raw results to this file")
    # Internal: run as a worker in a child process.
    parser.add_argument("--_worker", choices=("time", "memory", "paired"), help=argparse.SUPPRESS)
    parser.add_argument("--model", choices=MODELS, help=argparse.SUPPRESS)
    parser.add_argument("--pair", help=argparse.SUPPRESS)
    parser.add_argument("--impl", choices=("keras-gen", "hand-written"), help=argparse.SUPPRESS)
    parser.add_argument("--matmul-peak", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    defaults = ({"batch_size": 8, "image_size": 16, "steps": 8, "repeats": 3, "warmup_steps": 2} if args.quick
                else {"batch_size": 64, "image_size": 28, "steps": 15, "repeats": 5, "warmup_steps": 3})
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.warmup_steps < 2:
        parser.error("--warmup-steps must be at least 2")
    if args.steps < 2:
        parser.error(f"--steps must be at least 2 (per-step time is (t_steps - t_1) / (steps - 1)); "
                     f"received: {args.steps}")
    if args.quick or args.paired:
        args.memory = False
    busy_error = f"--busy must be comma-separated non-negative integers; received: {args.busy}"
    try:
        args.busy = [int(n) for n in args.busy.split(",") if n]
    except ValueError:
        parser.error(busy_error)
    if not args.busy or min(args.busy) < 0:
        parser.error(busy_error)
    args.feeds = [f for f in args.feeds.split(",") if f]
    for f in args.feeds:
        if f not in FEEDS:
            parser.error(f"unknown feed {f!r}; choose from {FEEDS}")
    args.backends = [b for b in args.backends.split(",") if b]
    args.models = [m for m in args.models.split(",") if m]
    for b in args.backends:
        if b not in BACKENDS:
            parser.error(f"unknown backend {b!r}; choose from {BACKENDS}")
    for m in args.models:
        if m not in MODELS:
            parser.error(f"unknown model {m!r}; choose from {MODELS}")
    return args


def main(argv=None):
    args = parse(argv)
    if args._worker:
        import keras

        _limit_threads(keras.backend.backend(), args.threads)
        workers = {"time": worker_time, "memory": worker_memory, "paired": worker_paired}
        result = workers[args._worker](args)
        print(json.dumps(result))
        return
    rows = collect_paired(args) if args.paired else collect(args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    (print_paired if args.paired else print_tables)(rows, args)


if __name__ == "__main__":
    main()
