"""keras-gen against the DCGAN examples people copy, on the examples' own networks.

Two peers, written out here by hand as their sources describe them (networks,
optimizers, data layout and training loop), on synthetic data (uniform random
images, 64x64x3):

* ``kerasio``: the keras.io example "DCGAN to generate face images" (Keras 3
  on TensorFlow). Discriminator: Conv2D 64, 128, 128 (kernel 4, stride 2,
  "same"), each followed by LeakyReLU(0.2), then Flatten, Dropout(0.2) and
  Dense(1, sigmoid). Generator (latent 128): Dense(8*8*128), Reshape,
  Conv2DTranspose 128, 256, 512 (kernel 4, stride 2, "same") each followed by
  LeakyReLU(0.2), then Conv2D(3, kernel 5, "same", sigmoid). Adam(1e-4) for
  each player, binary cross-entropy, batch 32, images in [0, 1]. Its step is
  the example's ``train_step`` override run by ``fit``: D on one batch that
  concatenates G(z) (label 1) and the real images (label 0), labels plus 0.05
  uniform noise, under a ``tf.GradientTape``; then G through D on **fresh**
  z with target 0 under a second tape.
* ``pytorch``: pytorch/examples' ``dcgan/main.py`` in plain PyTorch (no Keras):
  nz = 100, ngf = ndf = 64; G: ConvTranspose2d 100->512 (4, 1, 0), then
  512->256->128->64 (4, 2, 1), each with BatchNorm2d and ReLU, then 64->3
  (4, 2, 1) and Tanh; D: Conv2d 3->64 (4, 2, 1) + LeakyReLU(0.2), then
  64->128->256->512 (4, 2, 1) each with BatchNorm2d and LeakyReLU(0.2), then
  512->1 (4, 1, 0) and Sigmoid; no biases; weights N(0, 0.02), BatchNorm
  scales N(1, 0.02). BCELoss, Adam(2e-4, betas=(0.5, 0.999)) per player,
  batch 64, images in [-1, 1]. Its loop: D on the real batch (backward),
  fake = G(z), D on ``fake.detach()`` (backward), D's optimizer step; then
  D on the **same** ``fake`` (target real) and backward through G, G's
  optimizer step. The G step reuses the D step's fakes and G's forward graph.

keras-gen trains ``keras_gen.GAN`` on Keras rebuilds of the same networks
(same layers, shapes, widths, optimizers and batch size; the discriminator
returns the logit instead of the sigmoid, which keras-gen's cross-entropy
takes from logits; PyTorch's BatchNorm momentum 0.1 / eps 1e-5 as Keras'
momentum 0.9 / epsilon 1e-5) through ``model.fit`` on NumPy arrays, on every
requested backend, once as by default (fresh z for the generator step, the
source notes' algorithm) and once with ``reuse_fakes=True`` (the generator
step reuses the discriminator step's fakes and G's kept forward pass), when
the installed keras-gen has that argument. The rebuild of the pytorch/examples
networks takes BatchNormalization, Conv2D and Conv2DTranspose from
``keras_gen.layers`` (Keras' layers, same configuration and weights, computed
on PyTorch with PyTorch's fused kernels: ``native_batch_norm``, convolutions
given their exact padding, channels-last views instead of copies; Keras' own
computation on TensorFlow and JAX); ``--layers keras`` builds it from plain
``keras.layers`` and ``--layers both`` reports both.

Method. One process per backend (KERAS_BACKEND is fixed per process); the
keras.io peer lives in the TensorFlow process and the PyTorch peer in the
torch one. The processes stay alive and this parent tells one at a time
what to run, so they never compete for the CPU while timed. Every
configuration first trains ``--warmup`` steps (tracing, compiling), then in
each of ``--repeats`` rounds every configuration, in the same order (the peer
first), trains ``--steps`` steps in one call (one ``fit`` call for keras-gen
and the keras.io peer, ``fit``'s set-up included; a plain loop for the
PyTorch peer). Images/s = steps x batch / wall time of that call. The ratio
is keras-gen / peer images/s **in the same round**, median over rounds. A
second table divides by the worker process's CPU time of the same call
(``time.process_time``, all its threads) instead of wall time: other jobs on
a shared machine stretch wall time but hardly a process's CPU time.

FLOPs per image are counted analytically from the layer shapes (Dense,
Conv2D, Conv2DTranspose multiply-adds x 2; BatchNorm, activations, losses
and the optimizers not counted). With F_G, F_D the forward FLOPs of G and D
per image and a backward pass counted as one forward's worth for the input
gradient plus one for the weight gradient:

* fresh z (keras-gen default, keras.io): D step G forward + D forward and
  both gradients on real and fake = F_G + 6 F_D; G step G forward, D forward,
  D input gradient, G backward = 3 F_G + 2 F_D; in all 4 F_G + 8 F_D;
* ``reuse_fakes=True``: the G step skips G's forward: 3 F_G + 8 F_D;
* pytorch/examples: as reuse, but its G step's backward also fills D's weight
  gradients (autograd computes them; the next D step zeroes them):
  3 F_G + 9 F_D.

Run (README's table; the keras.io network is heavy, ~20 GFLOP per image, and
JAX on CPU is very slow at its transposed convolutions' gradients):

    nice -n 5 .venv/bin/python benchmarks/peers.py --peers kerasio --backends tensorflow --threads 1 --steps 1 --repeats 4
    nice -n 5 .venv/bin/python benchmarks/peers.py --peers pytorch --backends tensorflow,torch --threads 1 --steps 4 --repeats 4 --layers both
    nice -n 5 .venv/bin/python benchmarks/peers.py --threads 1   # everything, all backends
    .venv/bin/python benchmarks/peers.py --quick    # smoke run, narrow networks, seconds

Options to tune keras-gen: ``--tf-xla`` (keras-gen on TensorFlow with XLA,
``jit_compile=True``; JAX always jits), ``--steps-per-execution``,
``--torch-threads``, ``--threads`` (every process, peers included: on a
busy 2-core machine two torch threads spin against each other);
``--reuse`` picks the keras-gen variants, ``--layers`` the layers of the
pytorch/examples rebuild.
``benchmarks/gpu.sh`` runs it on a GPU machine.
"""

import argparse
import inspect
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

REPO = os.path.dirname(HERE)
BACKENDS = ("tensorflow", "jax", "torch")
PEERS = ("kerasio", "pytorch")
PEER_BACKEND = {"kerasio": "tensorflow", "pytorch": "torch"}
PEER_TITLE = {
    "kerasio": 'keras.io "DCGAN to generate face images"',
    "pytorch": "pytorch/examples dcgan",
}
PEER_LOOP = {"kerasio": "TF GradientTape train_step in fit", "pytorch": "plain torch loop"}
# The peers' own settings.
BATCH = {"kerasio": 32, "pytorch": 64}
LATENT = {"kerasio": 128, "pytorch": 100}
DEFAULT_STEPS = {"kerasio": 2, "pytorch": 8}
IMAGE = (64, 64, 3)
SEED = 1234
PROTOCOL = "@@peers "


# ================================================================ networks
def kerasio_networks(scale=1, logits=True):
    """The keras.io DCGAN's (generator, discriminator) in Keras; widths divided by ``scale``.

    ``logits=True`` ends D with a linear Dense(1) (keras-gen takes logits);
    False keeps the example's sigmoid.
    """
    import keras
    from keras import layers

    def w(n):
        return max(1, n // scale)

    discriminator = keras.Sequential([
        keras.Input(IMAGE),
        layers.Conv2D(w(64), 4, strides=2, padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2D(w(128), 4, strides=2, padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2D(w(128), 4, strides=2, padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Flatten(),
        layers.Dropout(0.2),
        layers.Dense(1, activation=None if logits else "sigmoid"),
    ], name="discriminator")
    generator = keras.Sequential([
        keras.Input((LATENT["kerasio"],)),
        layers.Dense(8 * 8 * w(128)),
        layers.Reshape((8, 8, w(128))),
        layers.Conv2DTranspose(w(128), 4, strides=2, padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2DTranspose(w(256), 4, strides=2, padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2DTranspose(w(512), 4, strides=2, padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2D(IMAGE[-1], 5, padding="same", activation="sigmoid"),
    ], name="generator")
    return generator, discriminator


def pytorch_networks_keras(scale=1, data_format="channels_last", layer_set="keras_gen"):
    """pytorch/examples' DCGAN (G, D) rebuilt in Keras layers: same shapes, no biases, logits out.

    ``data_format="channels_first"`` builds it on (3, 64, 64) images, PyTorch's layout.
    ``layer_set="keras_gen"`` takes BatchNormalization, Conv2D and Conv2DTranspose
    from ``keras_gen.layers`` (Keras' layers computed with PyTorch's fused
    kernels on PyTorch, Keras' own computation elsewhere); ``"keras"`` from
    ``keras.layers``. Both have the same weights and configuration.
    """
    import keras
    from keras import layers

    if layer_set not in LAYER_SETS:
        raise ValueError(f"layer_set must be one of {LAYER_SETS}; received: layer_set={layer_set!r}")
    fast = _layer_module(layer_set)

    nz, ngf, ndf = LATENT["pytorch"], max(1, 64 // scale), max(1, 64 // scale)
    init = keras.initializers.RandomNormal(0.0, 0.02)
    gamma = keras.initializers.RandomNormal(1.0, 0.02)
    first = data_format == "channels_first"
    conv_args = {"use_bias": False, "kernel_initializer": init, "data_format": data_format}

    def bn():  # PyTorch BatchNorm2d: momentum 0.1 (Keras 0.9), eps 1e-5
        return fast.BatchNormalization(axis=1 if first else -1, momentum=0.9, epsilon=1e-5,
                                         gamma_initializer=gamma)

    g = [keras.Input((nz,)), layers.Reshape((nz, 1, 1) if first else (1, 1, nz)),
         fast.Conv2DTranspose(ngf * 8, 4, strides=1, padding="valid", **conv_args),  # 1x1 -> 4x4
         bn(), layers.ReLU()]
    for mult in (4, 2, 1):  # 4 -> 8 -> 16 -> 32
        g += [fast.Conv2DTranspose(ngf * mult, 4, strides=2, padding="same", **conv_args), bn(), layers.ReLU()]
    g += [fast.Conv2DTranspose(IMAGE[-1], 4, strides=2, padding="same", **conv_args),  # 32 -> 64
          layers.Activation("tanh")]
    d = [keras.Input((IMAGE[-1],) + IMAGE[:2] if first else IMAGE),
         fast.Conv2D(ndf, 4, strides=2, padding="same", **conv_args),
         layers.LeakyReLU(negative_slope=0.2)]
    for mult in (2, 4, 8):  # 32 -> 16 -> 8 -> 4
        d += [fast.Conv2D(ndf * mult, 4, strides=2, padding="same", **conv_args), bn(),
              layers.LeakyReLU(negative_slope=0.2)]
    d += [fast.Conv2D(1, 4, strides=1, padding="valid", **conv_args),
          layers.Flatten()]  # 4x4 -> one logit
    return keras.Sequential(g, name="generator"), keras.Sequential(d, name="discriminator")


LAYER_SETS = ("keras_gen", "keras")


def _layer_module(layer_set):
    """Where BatchNormalization, Conv2D and Conv2DTranspose come from: keras_gen.layers or keras.layers."""
    if layer_set == "keras_gen":
        import keras_gen.layers

        return keras_gen.layers
    import keras

    return keras.layers


# Forward FLOPs per example (2 x multiply-adds of Dense, Conv2D and
# Conv2DTranspose layers): the count handwritten_loops.py prints.
from handwritten_loops import network_flops, thread_env  # noqa: E402


# Step FLOPs per image as (multiple of F_G, multiple of F_D); see the module docstring.
STEP_COST = {"fresh": (4, 8), "reuse": (3, 8), "pytorch": (3, 9)}


def step_flops(kind, f_g, f_d):
    a, b = STEP_COST[kind]
    return a * f_g + b * f_d


# =================================================================== peers
def make_kerasio_peer(generator, discriminator):
    """The keras.io example's model: a keras.Model whose train_step is two GradientTapes."""
    import keras
    import tensorflow as tf
    from keras import ops

    class KerasIODCGAN(keras.Model):
        def __init__(self, discriminator, generator, latent_dim):
            super().__init__()
            self.discriminator = discriminator
            self.generator = generator
            self.latent_dim = latent_dim
            self.seed_generator = keras.random.SeedGenerator(SEED)

        def compile(self, d_optimizer, g_optimizer, loss_fn):
            super().compile()
            self.d_optimizer = d_optimizer
            self.g_optimizer = g_optimizer
            self.loss_fn = loss_fn
            self.d_loss_metric = keras.metrics.Mean(name="d_loss")
            self.g_loss_metric = keras.metrics.Mean(name="g_loss")

        @property
        def metrics(self):
            return [self.d_loss_metric, self.g_loss_metric]

        def train_step(self, real_images):
            batch_size = ops.shape(real_images)[0]
            z = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
            generated = self.generator(z)
            combined = ops.concatenate([generated, real_images], axis=0)
            # Fake is 1, real is 0 in the example, with a little label noise.
            labels = ops.concatenate([ops.ones((batch_size, 1)), ops.zeros((batch_size, 1))], axis=0)
            labels += 0.05 * tf.random.uniform(tf.shape(labels))
            with tf.GradientTape() as tape:
                d_loss = self.loss_fn(labels, self.discriminator(combined))
            grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
            self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
            # The generator's step: fresh z, "all real" targets, D left alone.
            z = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
            misleading = ops.zeros((batch_size, 1))
            with tf.GradientTape() as tape:
                g_loss = self.loss_fn(misleading, self.discriminator(self.generator(z)))
            grads = tape.gradient(g_loss, self.generator.trainable_weights)
            self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
            self.d_loss_metric.update_state(d_loss)
            self.g_loss_metric.update_state(g_loss)
            return {"d_loss": self.d_loss_metric.result(), "g_loss": self.g_loss_metric.result()}

    model = KerasIODCGAN(discriminator, generator, LATENT["kerasio"])
    model.compile(d_optimizer=keras.optimizers.Adam(learning_rate=1e-4),
                  g_optimizer=keras.optimizers.Adam(learning_rate=1e-4),
                  loss_fn=keras.losses.BinaryCrossentropy())
    return model


def make_pytorch_peer(scale=1, device="cpu"):
    """pytorch/examples' DCGAN in plain torch: (netG, netD, optimizerD, optimizerG, criterion)."""
    import torch
    from torch import nn

    nz, ngf, ndf, nc = LATENT["pytorch"], max(1, 64 // scale), max(1, 64 // scale), IMAGE[-1]

    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            self.main = nn.Sequential(
                nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),  # 1 -> 4
                nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
                nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),  # 4 -> 8
                nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
                nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),  # 8 -> 16
                nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
                nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),  # 16 -> 32
                nn.BatchNorm2d(ngf), nn.ReLU(True),
                nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),  # 32 -> 64
                nn.Tanh(),
            )

        def forward(self, x):
            return self.main(x)

    class Discriminator(nn.Module):
        def __init__(self):
            super().__init__()
            self.main = nn.Sequential(
                nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),  # 64 -> 32
                nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),  # 32 -> 16
                nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),  # 16 -> 8
                nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False),  # 8 -> 4
                nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False),  # 4 -> 1
                nn.Sigmoid(),
            )

        def forward(self, x):
            return self.main(x).view(-1, 1).squeeze(1)

    def weights_init(m):
        name = m.__class__.__name__
        if name.find("Conv") != -1:
            nn.init.normal_(m.weight.data, 0.0, 0.02)
        elif name.find("BatchNorm") != -1:
            nn.init.normal_(m.weight.data, 1.0, 0.02)
            nn.init.constant_(m.bias.data, 0)

    torch.manual_seed(SEED)
    net_g, net_d = Generator().to(device), Discriminator().to(device)
    net_g.apply(weights_init)
    net_d.apply(weights_init)
    opt_d = torch.optim.Adam(net_d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(net_g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    return net_g, net_d, opt_d, opt_g, nn.BCELoss()


class PyTorchPeer:
    """pytorch/examples' training loop over preloaded (N, 3, 64, 64) batches."""

    def __init__(self, scale):
        import torch

        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.net_g, self.net_d, self.opt_d, self.opt_g, self.criterion = make_pytorch_peer(scale, self.device)
        self.batch = BATCH["pytorch"]

    def train(self, data):
        """Train on ``data`` (a CPU tensor, moved to the device batch by batch as the example does)."""
        import torch

        device = self.device
        real_label, fake_label = 1.0, 0.0
        nz = LATENT["pytorch"]
        out = None
        for start in range(0, len(data), self.batch):
            real = data[start:start + self.batch].to(device)
            batch_size = real.size(0)
            # (1) D: maximize log(D(x)) + log(1 - D(G(z)))
            self.net_d.zero_grad()
            label = torch.full((batch_size,), real_label, dtype=real.dtype, device=device)
            output = self.net_d(real)
            err_d_real = self.criterion(output, label)
            err_d_real.backward()
            d_x = output.mean().item()
            noise = torch.randn(batch_size, nz, 1, 1, device=device)
            fake = self.net_g(noise)
            label.fill_(fake_label)
            output = self.net_d(fake.detach())
            err_d_fake = self.criterion(output, label)
            err_d_fake.backward()
            d_g_z1 = output.mean().item()
            err_d = err_d_real + err_d_fake
            self.opt_d.step()
            # (2) G: maximize log(D(G(z))) on the same fakes
            self.net_g.zero_grad()
            label.fill_(real_label)
            output = self.net_d(fake)
            err_g = self.criterion(output, label)
            err_g.backward()
            d_g_z2 = output.mean().item()
            self.opt_g.step()
            out = (err_d.item(), err_g.item(), d_x, d_g_z1, d_g_z2)
        return {"d_loss": out[0], "g_loss": out[1]}


# ================================================================= worker
def _images(peer, n, offset, channels_first=False):
    import numpy as np

    x = np.random.default_rng(offset).random((n,) + IMAGE, dtype=np.float32)
    if peer == "pytorch":
        x = x * 2.0 - 1.0  # the example's Normalize((0.5,) * 3, (0.5,) * 3)
    if channels_first:
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return x


def reuse_supported():
    import keras_gen

    return "reuse_fakes" in inspect.signature(keras_gen.GAN).parameters


class Runner:
    """One configuration in a worker: train(n_steps) -> last losses."""

    def __init__(self, info, build):
        self.info = info
        self._build = build
        self.model = None

    def train(self, steps, offset):
        if self.model is None:
            self.model = self._build()
        return self._train(steps, offset)


class KerasFitRunner(Runner):
    def __init__(self, info, build, peer, channels_first=False):
        super().__init__(info, build)
        self.peer = peer
        self.channels_first = channels_first

    def _train(self, steps, offset):
        batch = BATCH[self.peer]
        x = _images(self.peer, steps * batch, offset, self.channels_first)
        history = self.model.fit(x, batch_size=batch, epochs=1, verbose=0, shuffle=False)
        return {k: float(v[-1]) for k, v in history.history.items() if k in ("d_loss", "g_loss")}


class TorchPeerRunner(Runner):
    def _train(self, steps, offset):
        import torch

        x = torch.from_numpy(_images("pytorch", steps * BATCH["pytorch"], offset, channels_first=True))
        return self.model.train(x)


def _configs(backend, args):
    """The runners this backend's worker hosts, in timing order."""
    import keras

    scale = args.scale
    runners = []
    reuse_ok = reuse_supported()
    for peer in args.peers:
        make_nets = {"kerasio": kerasio_networks, "pytorch": pytorch_networks_keras}[peer]
        g, d = make_nets(scale)
        f_g, f_d = network_flops(g), network_flops(d)
        base = {"peer": peer, "backend": backend, "batch": BATCH[peer], "f_g": f_g, "f_d": f_d}
        if peer in args.peers and PEER_BACKEND[peer] == backend:
            if peer == "kerasio":
                def build(scale=scale):
                    keras.utils.set_random_seed(0)
                    g, d = kerasio_networks(scale, logits=False)
                    return make_kerasio_peer(g, d)

                threads = f", {args.threads} thread{'s' if args.threads > 1 else ''}" if args.threads else ""
                runners.append(KerasFitRunner(dict(base, who="peer", options="as the example" + threads,
                                                   flops=step_flops("fresh", f_g, f_d)), build, peer))
            else:
                def build(scale=scale):
                    import torch

                    if args.torch_threads:
                        torch.set_num_threads(args.torch_threads)
                    return PyTorchPeer(scale)

                n = args.torch_threads or args.threads
                threads = f", {n} thread{'s' if n > 1 else ''}" if n else ""
                runners.append(TorchPeerRunner(dict(base, who="peer", options="as the example" + threads,
                                                    flops=step_flops("pytorch", f_g, f_d)), build))
        if backend not in args.backends:
            continue
        variants = []
        if args.reuse in ("off", "both"):
            variants.append(False)
        if args.reuse in ("on", "both") and reuse_ok:
            variants.append(True)
        jits = [None]
        if backend == "tensorflow":
            jits = {"off": [None], "on": [True], "both": [None, True]}[args.tf_xla]
        layer_sets = [None]
        if peer == "pytorch":
            layer_sets = list(LAYER_SETS) if args.layers == "both" else [args.layers]
        for layer_set, jit, reuse in ((s, j, r) for s in layer_sets for j in jits for r in variants):
            options = []
            if layer_set:
                options.append(f"{layer_set}.layers")
            if reuse:
                options.append("reuse_fakes")
            if backend == "tensorflow":
                options.append("XLA" if jit else "no XLA")
            elif backend == "jax":
                options.append("jit")
            else:
                options.append("eager")
            first = args.channels_first and peer == "pytorch" and backend != "tensorflow"
            if first:
                options.append("channels_first")
            if args.steps_per_execution > 1:
                options.append(f"spe {args.steps_per_execution}")
            if args.threads or (backend == "torch" and args.torch_threads):
                n = args.torch_threads if backend == "torch" and args.torch_threads else args.threads
                options.append(f"{n} thread{'s' if n > 1 else ''}")
            info = dict(base, who="keras-gen", options=", ".join(options), reuse=reuse,
                        layer_set=layer_set, flops=step_flops("reuse" if reuse else "fresh", f_g, f_d))
            build = _keras_gen_builder(peer, scale, reuse, jit, args, first, layer_set or "keras_gen")
            runners.append(KerasFitRunner(info, build, peer, first))
    return runners


def _keras_gen_builder(peer, scale, reuse, jit, args, channels_first=False, layer_set="keras_gen"):
    def build():
        import keras
        import keras_gen

        if keras.backend.backend() == "torch" and args.torch_threads:
            import torch

            torch.set_num_threads(args.torch_threads)
        keras.utils.set_random_seed(0)
        if peer == "kerasio":
            g, d = kerasio_networks(scale)

            def adam():
                return keras.optimizers.Adam(1e-4)
        else:
            g, d = pytorch_networks_keras(scale, "channels_first" if channels_first else "channels_last", layer_set)

            def adam():
                return keras.optimizers.Adam(2e-4, beta_1=0.5, beta_2=0.999, epsilon=1e-8)
        extra = {"reuse_fakes": True} if reuse else {}
        model = keras_gen.GAN(g, d, latent_dim=LATENT[peer], seed=SEED, **extra)
        compile_args = {"steps_per_execution": args.steps_per_execution}
        if jit is not None:
            compile_args["jit_compile"] = jit
        model.compile(d_optimizer=adam(), g_optimizer=adam(), **compile_args)
        return model

    return build


def _send(obj):
    sys.stdout.write(PROTOCOL + json.dumps(obj) + "\n")
    sys.stdout.flush()


def worker(args):
    """Host this backend's configurations; run what the parent asks, one line at a time."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow" and args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    if args.threads and not args.torch_threads:
        args.torch_threads = args.threads  # the PyTorch peer and keras-gen on torch
    if backend == "torch" and args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    runners = _configs(backend, args)
    _send({"ready": [r.info for r in runners], "reuse_supported": reuse_supported()})
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["cmd"] == "quit":
            break
        runner = runners[cmd["index"]]
        start, cpu = time.perf_counter(), time.process_time()
        losses = runner.train(cmd["steps"], cmd["offset"])
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
        _send({"seconds": seconds, "cpu_seconds": cpu_seconds, "losses": losses})


# ================================================================= parent
class Worker:
    def __init__(self, backend, args):
        env = dict(os.environ, KERAS_BACKEND=backend, **thread_env(args.threads))
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
        cmd = [sys.executable, os.path.abspath(__file__), "--_worker", *_flags(args)]
        self.backend = backend
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def receive(self):
        for line in self.proc.stdout:
            if line.startswith(PROTOCOL):
                return json.loads(line[len(PROTOCOL):])
            sys.stderr.write(line)
        raise RuntimeError(f"the {self.backend} worker exited (code {self.proc.wait()}); see its stderr above")

    def run(self, index, steps, offset):
        self.proc.stdin.write(json.dumps({"cmd": "run", "index": index, "steps": steps, "offset": offset}) + "\n")
        self.proc.stdin.flush()
        return self.receive()

    def close(self):
        try:
            self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass
        self.proc.wait(timeout=120)


def _flags(args):
    return ["--threads", str(args.threads), "--backends", ",".join(args.backends), "--peers", ",".join(args.peers),
            "--tf-xla", args.tf_xla, "--steps-per-execution", str(args.steps_per_execution),
            *(["--channels-first"] if args.channels_first else []), "--layers", args.layers,
            "--torch-threads", str(args.torch_threads), "--reuse", args.reuse, "--scale", str(args.scale)]


def collect(args):
    """Start the workers, warm every configuration up, then time interleaved rounds."""
    needed = [b for b in BACKENDS if b in args.backends or any(PEER_BACKEND[p] == b for p in args.peers)]
    workers = {b: Worker(b, args) for b in needed}  # start-up (imports, building) in parallel
    try:
        configs = []
        reuse_flags = set()
        for b in needed:
            ready = workers[b].receive()
            reuse_flags.add(ready["reuse_supported"])
            configs += [dict(info, index=i) for i, info in enumerate(ready["ready"])]
        # Timing order: per peer, the peer, then keras-gen backend by backend.
        order = []
        for peer in args.peers:
            rows = [c for c in configs if c["peer"] == peer]
            order += [c for c in rows if c["who"] == "peer"] + [c for c in rows if c["who"] != "peer"]
        for c in order:
            c["seconds"], c["images_per_s"] = [], []
            t = time.perf_counter()
            c["warmup_losses"] = workers[c["backend"]].run(c["index"], args.warmup, offset=1)["losses"]
            c["warmup_s"] = time.perf_counter() - t
            print(f"# warm-up {c['peer']} {c['who']} {c['backend']} {c['options']}: {c['warmup_s']:.1f} s",
                  file=sys.stderr, flush=True)
        for rep in range(args.repeats):
            for c in order:
                steps = max(args.steps or DEFAULT_STEPS[c["peer"]], args.steps_per_execution)
                result = workers[c["backend"]].run(c["index"], steps, offset=2 + rep)
                c["seconds"].append(result["seconds"])
                c["images_per_s"].append(steps * c["batch"] / result["seconds"])
                c.setdefault("images_per_cpu_s", []).append(steps * c["batch"] / result["cpu_seconds"])
                c["losses"] = result["losses"]
                c["steps"] = steps
            print(f"# round {rep + 1}/{args.repeats} done", file=sys.stderr, flush=True)
    finally:
        for w in workers.values():
            w.close()
    for peer in args.peers:
        peers = [c for c in order if c["peer"] == peer and c["who"] == "peer"]
        for c in order:
            if c["peer"] != peer:
                continue
            if peers:
                ref = peers[0]["images_per_s"]
                c["ratios"] = [a / b for a, b in zip(c["images_per_s"], ref)]
                c["ratio"] = statistics.median(c["ratios"])
                if "images_per_cpu_s" in peers[0] and "images_per_cpu_s" in c:
                    c["cpu_ratios"] = [a / b for a, b in zip(c["images_per_cpu_s"], peers[0]["images_per_cpu_s"])]
                    c["cpu_ratio"] = statistics.median(c["cpu_ratios"])
            c["median_images_per_s"] = statistics.median(c["images_per_s"])
    return order, all(reuse_flags) if reuse_flags else False


def print_table(rows, reuse_ok, args):
    print(f"reuse_fakes available in keras_gen.GAN: {'yes' if reuse_ok else 'no'}")
    print("FLOPs per image: counted analytically from the layer shapes (Dense/Conv2D/Conv2DTranspose "
          "multiply-adds x 2); fresh z 4 F_G + 8 F_D, reuse_fakes 3 F_G + 8 F_D, pytorch/examples 3 F_G + 9 F_D")
    print()
    print("| peer network | trained by | backend | options | batch | GFLOP/image | images/s (median) | "
          "ratio to peer (median) | rounds |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|")
    for c in rows:
        who = "peer: " + PEER_LOOP[c["peer"]] if c["who"] == "peer" else "keras-gen `fit`"
        ratio = f"{c['ratio']:.2f}" if "ratio" in c else "n/a"
        print(f"| {PEER_TITLE[c['peer']]} | {who} | {c['backend']} | {c['options']} | {c['batch']} | "
              f"{c['flops'] / 1e9:.2f} | {c['median_images_per_s']:.2f} | {ratio} | {len(c['images_per_s'])} |")
    print()
    timed = [c for c in rows if "images_per_cpu_s" in c]
    if timed:
        print("Per process CPU second (the same calls; robust to other jobs on the machine, which stretch wall "
              "time but not a process's CPU time):")
        print()
        print("| peer network | trained by | backend | options | images per CPU-second (median) | "
              "ratio to peer (median) | ratio per round |")
        print("|---|---|---|---|---:|---:|---|")
        for c in timed:
            who = "peer: " + PEER_LOOP[c["peer"]] if c["who"] == "peer" else "keras-gen `fit`"
            ratio = f"{c['cpu_ratio']:.2f}" if "cpu_ratio" in c else ("1.00" if c["who"] == "peer" else "n/a")
            per_round = ", ".join(f"{r:.2f}" for r in c.get("cpu_ratios", []))
            print(f"| {PEER_TITLE[c['peer']]} | {who} | {c['backend']} | {c['options']} | "
                  f"{statistics.median(c['images_per_cpu_s']):.2f} | {ratio} | {per_round} |")
        print()
    for peer in args.peers:
        rows_p = [c for c in rows if c["peer"] == peer and c["who"] != "peer" and "ratio" in c]
        if not rows_p:
            continue
        f_g, f_d = rows_p[0]["f_g"], rows_p[0]["f_d"]
        print(f"{PEER_TITLE[peer]}: F_G = {f_g / 1e6:.1f} MFLOP, F_D = {f_d / 1e6:.1f} MFLOP forward per image "
              f"(G {100 * f_g / (f_g + f_d):.0f}% of the forward FLOPs)")
        for reuse, label, target in ((True, "with reuse_fakes", 1.1), (False, "default (fresh z)", 1.0)):
            chosen = [c for c in rows_p if bool(c.get("reuse")) == reuse]
            if chosen:
                best = max(chosen, key=lambda c: c["ratio"])
                verdict = "met" if best["ratio"] >= target else "NOT met"
                print(f"  best keras-gen {label}: {best['backend']} ({best['options']}) {best['ratio']:.2f}x "
                      f"the peer (target {target}x: {verdict})")


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)

    def names(allowed, what):
        def convert(text):
            items = [s.strip() for s in text.split(",") if s.strip()]
            bad = [s for s in items if s not in allowed]
            if not items or bad:
                raise argparse.ArgumentTypeError(
                    f"{what} must be a comma-separated subset of {','.join(allowed)}; received: {text!r}")
            return items
        return convert

    parser.add_argument("--backends", type=names(BACKENDS, "--backends"), default=list(BACKENDS),
                        help="keras-gen backends to time (default: all three)")
    parser.add_argument("--peers", type=names(PEERS, "--peers"), default=list(PEERS),
                        help="peers to compare with: kerasio, pytorch (default: both)")
    parser.add_argument("--steps", type=int, default=0,
                        help="training steps per timed call (default: 2 for kerasio, 8 for pytorch)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up steps per configuration (default 1)")
    parser.add_argument("--tf-xla", choices=("off", "on", "both"), default="off",
                        help="keras-gen on TensorFlow with jit_compile=True (XLA): off (Keras' 'auto', "
                             "which is off on CPU), on or both (default off)")
    parser.add_argument("--steps-per-execution", type=int, default=1,
                        help="keras-gen's compile(steps_per_execution=...) (default 1)")
    parser.add_argument("--torch-threads", type=int, default=0,
                        help="torch.set_num_threads for keras-gen on torch and the PyTorch peer "
                             "(default 0: torch's own)")
    parser.add_argument("--threads", type=int, default=0,
                        help="limit every process (TensorFlow, XLA:CPU, torch, OpenMP) to N CPU threads, "
                             "peers included (default 0: each framework's own)")
    parser.add_argument("--channels-first", action="store_true",
                        help="keras-gen on torch and JAX trains the pytorch/examples network built channels-first "
                             "(PyTorch's layout; TensorFlow's CPU convolutions need channels-last)")
    parser.add_argument("--reuse", choices=("off", "on", "both"), default="both",
                        help="keras-gen without / with reuse_fakes=True (default both; 'on' is skipped "
                             "when keras_gen.GAN has no reuse_fakes)")
    parser.add_argument("--layers", choices=(*LAYER_SETS, "both"), default="keras_gen",
                        help="where keras-gen's rebuild of the pytorch/examples networks takes BatchNormalization, "
                             "Conv2D and Conv2DTranspose from: keras_gen (keras_gen.layers, PyTorch's fused kernels "
                             "on torch), keras (keras.layers) or both (default keras_gen)")
    parser.add_argument("--scale", type=int, default=1, help=argparse.SUPPRESS)  # width divisor (--quick)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: networks 8x narrower, 1 round of 2 steps")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--_worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("repeats", "warmup", "steps_per_execution"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1; received: {getattr(args, name)}")
    if args.steps < 0 or args.torch_threads < 0 or args.threads < 0:
        parser.error("--steps, --threads and --torch-threads must be >= 0; received: "
                     f"{args.steps}, {args.threads}, {args.torch_threads}")
    if args.quick and not args._worker:
        args.scale, args.repeats, args.steps = 8, 1, args.steps or 2
    if args.steps and args.steps < args.steps_per_execution:
        parser.error("--steps must be at least --steps-per-execution; received: "
                     f"{args.steps} < {args.steps_per_execution}")
    args.warmup = max(args.warmup, args.steps_per_execution)
    return args


def main(argv=None):
    args = parse(argv)
    if args._worker:
        worker(args)
        return
    t = time.perf_counter()
    rows, reuse_ok = collect(args)
    print(f"Command: {' '.join([os.path.basename(sys.executable), 'benchmarks/peers.py', *sys.argv[1:]])}")
    print(f"Rounds: {args.repeats}; steps per timed call: "
          + ", ".join(f"{p} {args.steps or DEFAULT_STEPS[p]}" for p in args.peers)
          + f"; warm-up steps {args.warmup}; CPUs {os.cpu_count()}; wall {time.perf_counter() - t:.0f} s")
    print_table(rows, reuse_ok, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "reuse_supported": reuse_ok, "args": vars(args)}, f, indent=1)


if __name__ == "__main__":
    main()
