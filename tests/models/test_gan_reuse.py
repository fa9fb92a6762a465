"""GAN(reuse_fakes=True): the generator step on the discriminator step's fakes.

The reference loops below are written with each backend's plain tools
(``tf.GradientTape``, ``torch.autograd.grad``, ``jax.value_and_grad`` over
``stateless_call``) and SGD updates by hand. For the generator step with
reuse they run G again on the last discriminator step's z and restore G's
BatchNormalization statistics afterwards: that is what the kept forward
pass (a vector-Jacobian product, no second forward) must be equal to.
"""

import keras
import numpy as np
import pytest
from keras import ops

import keras_gen

BACKEND = keras.backend.backend()
LATENT, BATCH, LR, SEED = 3, 16, 0.1, 5


def n(v):
    return ops.convert_to_numpy(v)


def networks(seed=0, conditional=False, k=3):
    """A G and a D, both with BatchNormalization (each player's statistics are exercised)."""
    keras.utils.set_random_seed(seed)
    z = keras.Input((LATENT,))
    c = keras.Input((k,)) if conditional else None
    h = keras.layers.Concatenate()([z, c]) if conditional else z
    h = keras.layers.ReLU()(keras.layers.BatchNormalization()(keras.layers.Dense(8)(h)))
    images = keras.layers.Reshape((4, 4, 1))(keras.layers.Dense(16, activation="tanh")(h))
    g = keras.Model([z, c] if conditional else z, images, name="generator")
    x = keras.Input((4, 4, 1))
    h = keras.layers.BatchNormalization()(keras.layers.Dense(8)(keras.layers.Flatten()(x)))
    h = keras.layers.LeakyReLU(0.2)(h)
    inputs = x
    if conditional:
        c = keras.Input((k,))
        h, inputs = keras.layers.Concatenate()([h, c]), [x, c]
    d = keras.Model(inputs, keras.layers.Dense(1)(h), name="discriminator")
    return g, d


def real_images(size=BATCH, seed=0):
    return np.tanh(np.random.default_rng(seed).normal(0.5, 0.4, (size, 4, 4, 1))).astype("float32")


# ------------------------------------------------ hand-written references
def d_loss(real_logits, fake_logits):  # -log D(x) - log(1 - D(G(z))), batch mean
    return ops.mean(ops.softplus(-real_logits)) + ops.mean(ops.softplus(fake_logits))


def g_loss(fake_logits):  # -log D(G(z)), batch mean
    return ops.mean(ops.softplus(-fake_logits))


def tf_reference(g, d, x, steps, d_steps, reuse):
    import tensorflow as tf

    sg = keras.random.SeedGenerator(SEED)
    for _ in range(steps):
        for _ in range(d_steps):
            z = keras.random.normal((BATCH, LATENT), seed=sg)
            fake = tf.stop_gradient(g(z, training=True))
            with tf.GradientTape() as tape:
                loss = d_loss(d(x, training=True), d(fake, training=True))
            grads = tape.gradient(loss, d.trainable_variables)
            for v, grad in zip(d.trainable_variables, grads):
                v.assign(v - LR * grad)
        stats = [n(v) for v in g.non_trainable_variables]
        if not reuse:
            z = keras.random.normal((BATCH, LATENT), seed=sg)
        with tf.GradientTape() as tape:
            loss = g_loss(d(g(z, training=True), training=True))
        grads = tape.gradient(loss, g.trainable_variables)
        for v, grad in zip(g.trainable_variables, grads):
            v.assign(v - LR * grad)
        if reuse:  # G ran forward once in this step
            for v, value in zip(g.non_trainable_variables, stats):
                v.assign(value)


def torch_reference(g, d, x, steps, d_steps, reuse):
    import torch

    sg = keras.random.SeedGenerator(SEED)
    x = ops.convert_to_tensor(x)

    def sgd(model, loss):
        params = [v.value for v in model.trainable_variables]
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, grad in zip(params, grads):
                p.sub_(LR * grad)

    for _ in range(steps):
        for _ in range(d_steps):
            z = keras.random.normal((BATCH, LATENT), seed=sg)
            fake = g(z, training=True).detach()
            sgd(d, d_loss(d(x, training=True), d(fake, training=True)))
        stats = [n(v) for v in g.non_trainable_variables]
        if not reuse:
            z = keras.random.normal((BATCH, LATENT), seed=sg)
        sgd(g, g_loss(d(g(z, training=True), training=True)))
        if reuse:
            for v, value in zip(g.non_trainable_variables, stats):
                v.assign(value)


def jax_reference(g, d, x, steps, d_steps, reuse):
    import jax

    sg = keras.random.SeedGenerator(SEED)
    gt = [v.value for v in g.trainable_variables]
    gn = [v.value for v in g.non_trainable_variables]
    dt = [v.value for v in d.trainable_variables]
    dn = [v.value for v in d.non_trainable_variables]

    def d_objective(dt, dn, fake):
        real_logits, dn = d.stateless_call(dt, dn, x, training=True)
        fake_logits, dn = d.stateless_call(dt, dn, fake, training=True)
        return d_loss(real_logits, fake_logits), dn

    def g_objective(gt, gn, dt, dn, z):
        fake, gn = g.stateless_call(gt, gn, z, training=True)
        fake_logits, dn = d.stateless_call(dt, dn, fake, training=True)
        return g_loss(fake_logits), (gn, dn)

    generate = jax.jit(lambda gt, gn, z: g.stateless_call(gt, gn, z, training=True))
    d_grad = jax.jit(jax.value_and_grad(d_objective, has_aux=True))
    g_grad = jax.jit(jax.value_and_grad(g_objective, has_aux=True))
    for _ in range(steps):
        for _ in range(d_steps):
            z = keras.random.normal((BATCH, LATENT), seed=sg)
            fake, gn = generate(gt, gn, z)
            (_, dn), grads = d_grad(dt, dn, fake)
            dt = [w - LR * grad for w, grad in zip(dt, grads)]
        if not reuse:
            z = keras.random.normal((BATCH, LATENT), seed=sg)
        (_, (new_gn, dn)), grads = g_grad(gt, gn, dt, dn, z)
        gt = [w - LR * grad for w, grad in zip(gt, grads)]
        gn = gn if reuse else new_gn
    for variables, values in ((g.trainable_variables, gt), (g.non_trainable_variables, gn),
                              (d.trainable_variables, dt), (d.non_trainable_variables, dn)):
        for v, value in zip(variables, values):
            v.assign(value)


REFERENCES = {"tensorflow": tf_reference, "torch": torch_reference, "jax": jax_reference}


@pytest.mark.parametrize("reuse", [True, False])
def test_matches_a_hand_written_loop(reuse):
    if not reuse and BACKEND != "torch":
        pytest.skip("the default step is locked on every backend by "
                    "test_gan.py::test_matches_a_hand_written_loop; checked here on the fastest")
    x = real_images()
    g, d = networks()
    gan = keras_gen.GAN(g, d, latent_dim=LATENT, seed=SEED, reuse_fakes=reuse)
    gan.compile(d_optimizer=keras.optimizers.SGD(LR), g_optimizer=keras.optimizers.SGD(LR))
    g_ref, d_ref = networks(seed=1)
    g0 = g.get_weights()
    g_ref.set_weights(g0)
    d_ref.set_weights(d.get_weights())
    gan.fit(x, batch_size=BATCH, epochs=2, verbose=0, shuffle=False)
    REFERENCES[BACKEND](g_ref, d_ref, x, steps=2, d_steps=1, reuse=reuse)
    for model, ref in ((gan.generator, g_ref), (gan.discriminator, d_ref)):
        for got, want in zip(model.weights, ref.weights):
            np.testing.assert_allclose(n(got), n(want), rtol=1e-5, atol=1e-5, err_msg=got.path)
    # Every weight of G moved, BatchNormalization statistics included (not a vacuous match),
    # except the bias of the Dense layer feeding BatchNormalization, which it cancels (its
    # gradient is 0 up to round-off, which moves it by ~1e-9 on some CPUs).
    moved = [not np.allclose(n(w), w0, rtol=0, atol=1e-6) for w, w0 in zip(g_ref.weights, g0)]
    assert moved == [True, False] + [True] * (len(moved) - 2), moved


# ------------------------- the kept pass equals a fresh pass on the same z
class _LastZ:
    """The generator step runs G afresh on the last discriminator step's z."""

    def _latents(self, batch_size):
        calls = self.__dict__.setdefault("_z_calls", [0, None])
        index = calls[0] % (self.d_steps + 1)
        calls[0] += 1
        if index < self.d_steps:
            calls[1] = super()._latents(batch_size)
        return calls[1]


class LastZGAN(_LastZ, keras_gen.GAN):
    pass


class LastZConditionalGAN(_LastZ, keras_gen.ConditionalGAN):
    pass


def train_pair(options, policy="float32"):
    """Weights after one epoch with reuse_fakes=True and with a fresh G pass on the same z."""
    from keras_gen import augment

    keras.mixed_precision.set_global_policy(policy)
    try:
        x, labels = real_images(32), np.arange(32) % 3
        options, ema = dict(options), options.get("ema", False)
        options.pop("ema", None)
        conditional = "num_classes" in options
        trained, weights = [], None
        for cls in ((keras_gen.ConditionalGAN, LastZConditionalGAN) if conditional
                    else (keras_gen.GAN, LastZGAN)):
            g, d = networks(conditional=conditional)
            weights = weights or (g.get_weights(), d.get_weights())
            g.set_weights(weights[0])
            d.set_weights(weights[1])
            reuse = cls in (keras_gen.GAN, keras_gen.ConditionalGAN)
            extra = {}
            if "augment" in options:  # a layer of its own per GAN (it has a seed state)
                extra["augment"] = augment.DiffAugment(options["augment"], seed=3)
            gan = cls(g, d, latent_dim=LATENT, seed=SEED, reuse_fakes=reuse, **{**options, **extra})
            ema_kwargs = {"use_ema": True, "ema_momentum": 0.5} if ema else {}
            gan.compile(d_optimizer=keras.optimizers.SGD(LR),
                        g_optimizer=keras.optimizers.SGD(LR, **ema_kwargs))
            assert isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer) == (
                policy == "mixed_float16")
            data = (x, labels) if conditional else (x,)
            history = gan.fit(*data, batch_size=BATCH, epochs=1, verbose=0, shuffle=False).history
            assert all(np.isfinite(v).all() for v in history.values()), history
            trained.append([n(w) for w in gan.discriminator.weights + gan.generator.trainable_weights])
        assert not np.allclose(trained[0][-1], weights[0][-1])  # G trained
        return trained
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_reuse_equals_a_fresh_generator_pass_with_loss_scaling_augment_and_ema():
    """float16 with per-player loss scaling, augmentation (its seed state is written in the
    G step), G's EMA: the kept pass gives the fresh pass's weights on every backend."""
    options = {"ema": True, "augment": "translation"}
    for got, want in zip(*train_pair(options, policy="mixed_float16")):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(BACKEND != "torch", reason="what these options change (hooks, losses, "
                    "the D step) is backend-independent; checked on the fastest backend")
@pytest.mark.parametrize("options", [
    {"num_classes": 3, "objective": "hinge", "d_steps": 2},  # the last of 2 D steps' fakes
    {"objective": "wgan-gp", "d_steps": 2},
    {"r1_gamma": 1.0, "augment": "color,translation,cutout"},
    # G's step scores the real batch too (through the augmentation), conditioned.
    {"num_classes": 3, "objective": "relativistic", "augment": "translation"},
    {"consistency": 1.0},
    {"num_classes": 3, "lecam": 0.5},  # its moving averages are written in the D step
], ids=["conditional_hinge_2_d_steps", "wgan_gp", "r1_augment", "conditional_relativistic_augment",
        "consistency", "conditional_lecam"])
def test_reuse_with_other_options(options):
    for got, want in zip(*train_pair(options)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------- learning
@pytest.mark.skipif(BACKEND != "torch", reason="the step equals a hand-written one on every "
                    "backend (above); learning is checked on the fastest")
def test_generator_learns_the_data_mean_with_reuse():
    """A linear G on 2-d data N((1.5, -1), 0.1^2): its sample mean moves to the data's."""
    keras.utils.set_random_seed(0)
    g = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, bias_initializer="zeros")])
    d = keras.Sequential([keras.Input((2,)), keras.layers.Dense(16), keras.layers.LeakyReLU(0.2),
                          keras.layers.Dense(1)])
    real = np.random.default_rng(0).normal((1.5, -1.0), 0.1, (20 * 64, 2)).astype("float32")
    gan = keras_gen.GAN(g, d, latent_dim=2, seed=0, reuse_fakes=True)
    gan.compile(d_optimizer=keras.optimizers.Adam(5e-2, beta_1=0.5),
                g_optimizer=keras.optimizers.Adam(5e-2, beta_1=0.5))
    distance = lambda: np.linalg.norm(gan.sample(512, seed=1).mean(0) - real.mean(0))  # noqa: E731
    before = distance()
    history = gan.fit(real, batch_size=64, epochs=1, verbose=0).history
    assert all(np.isfinite(v).all() for v in history.values())
    assert int(n(gan.g_optimizer.iterations)) == 20
    assert distance() < 0.5 * before, (before, distance())


# ---------------------------------------------------- config and checks
@pytest.mark.skipif(BACKEND != "torch", reason="backend-independent (config and argument checks)")
def test_config_round_trip(tmp_path):
    g, d = networks()
    gan = keras_gen.GAN(g, d, latent_dim=LATENT, seed=SEED, reuse_fakes=True)
    assert gan.get_config()["reuse_fakes"] is True
    assert keras_gen.GAN.from_config(gan.get_config()).reuse_fakes is True
    assert keras_gen.GAN(*networks(), latent_dim=LATENT).reuse_fakes is False
    gan.save(tmp_path / "gan.keras")
    loaded = keras.saving.load_model(tmp_path / "gan.keras")
    assert loaded.reuse_fakes is True
    z = np.random.default_rng(0).normal(size=(2, LATENT)).astype("float32")
    np.testing.assert_allclose(n(loaded(z)), n(gan(z)), rtol=1e-6, atol=1e-6)


@pytest.mark.skipif(BACKEND != "torch", reason="backend-independent (config and argument checks)")
@pytest.mark.parametrize("value", [1, "yes", None])
def test_reuse_fakes_must_be_a_bool(value):
    with pytest.raises(TypeError, match=r"reuse_fakes must be a bool\. Received: reuse_fakes="):
        keras_gen.GAN(*networks(), latent_dim=LATENT, reuse_fakes=value)
