import keras
import numpy as np
import pytest

import keras_gen


def n(v):
    return keras.ops.convert_to_numpy(v)


def linear_gan(**kwargs):
    g = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, use_bias=False, kernel_initializer=keras.initializers.Constant([[0.6, -0.2], [0.1, 0.4]]))], name="g")
    d = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False, kernel_initializer=keras.initializers.Constant([[0.3], [-0.5]]))], name="d")
    kwargs.setdefault("seed", 7)
    return keras_gen.GAN(g, d, latent_dim=2, **kwargs)


def tiny_gan(**kwargs):
    g = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(16), keras.layers.BatchNormalization(), keras.layers.ReLU(),
         keras.layers.Dense(16, activation="tanh"), keras.layers.Reshape((4, 4, 1))], name="generator")
    d = keras.Sequential(
        [keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(16), keras.layers.LeakyReLU(0.2),
         keras.layers.Dense(1)], name="discriminator")
    kwargs.setdefault("seed", 0)
    return keras_gen.GAN(g, d, latent_dim=3, **kwargs)


def adam():
    return keras.optimizers.Adam(1e-3, beta_1=0.5)


@pytest.fixture
def real():
    rng = np.random.default_rng(0)
    return np.tanh(rng.normal(0.5, 0.3, size=(64, 4, 4, 1))).astype("float32")


def numpy_reference(x_real, steps, d_steps, lr, seed, smoothing=0.0, top_k=None):
    """The source notes' algorithm for a linear G and D, by hand, with the same z draws.

    `top_k=(v, T)`: G's step uses only the k fakes with the highest logits,
    k = ceil(b * (1 - (1 - v) * min(t / T, 1))) at generator step t (v from the
    start when T is 0).
    """
    sg = keras.random.SeedGenerator(seed)
    wg = np.array([[0.6, -0.2], [0.1, 0.4]])
    wd = np.array([[0.3], [-0.5]])
    sig = lambda u: 1 / (1 + np.exp(-u))  # noqa: E731
    b = len(x_real)
    for t in range(steps):
        for _ in range(d_steps):
            z = n(keras.random.normal((b, 2), seed=sg)).astype("float64")
            xf = z @ wg
            lr_, lf = x_real @ wd, xf @ wd
            grad = (x_real.T @ (-(1 - smoothing) * sig(-lr_) + smoothing * sig(lr_)) + xf.T @ sig(lf)) / b
            wd = wd - lr * grad
        z = n(keras.random.normal((b, 2), seed=sg)).astype("float64")
        lf = (z @ wg) @ wd
        if top_k is not None:
            v, horizon = top_k
            k = int(np.ceil(b * (1 - (1 - v) * (min(t / horizon, 1) if horizon else 1))))
            best = np.argsort(-lf[:, 0])[:k]
            z, lf = z[best], lf[best]
        wg = wg - lr * z.T @ (-sig(-lf) @ wd.T) / len(z)
    return wg, wd


@pytest.mark.parametrize("d_steps,smoothing", [(1, 0.0), (2, 0.1)])
def test_matches_a_hand_written_loop(d_steps, smoothing):
    x = np.random.default_rng(1).normal(1.0, 0.5, size=(16, 2)).astype("float32")
    gan = linear_gan(d_steps=d_steps, label_smoothing=smoothing)
    gan.compile(d_optimizer=keras.optimizers.SGD(0.1), g_optimizer=keras.optimizers.SGD(0.1))
    gan.fit(x, batch_size=16, epochs=3, verbose=0, shuffle=False)
    wg, wd = numpy_reference(x.astype("float64"), 3, d_steps, 0.1, seed=7, smoothing=smoothing)
    np.testing.assert_allclose(n(gan.discriminator.weights[0]), wd, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(n(gan.generator.weights[0]), wg, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("top_k,top_k_steps,epochs", [(0.5, 2, 4), (0.3, 0, 2)])
def test_top_k_matches_a_hand_written_loop(top_k, top_k_steps, epochs):
    # G's step learns from the ceil(k * 16) fakes D rates highest: 16, 12, 8, 8
    # of 16 as the share falls from 1 to 0.5 over 2 steps; 5 of 16 throughout.
    x = np.random.default_rng(1).normal(1.0, 0.5, size=(16, 2)).astype("float32")
    gan = linear_gan(top_k=top_k, top_k_steps=top_k_steps)
    gan.compile(d_optimizer=keras.optimizers.SGD(0.1), g_optimizer=keras.optimizers.SGD(0.1))
    gan.fit(x, batch_size=16, epochs=epochs, verbose=0, shuffle=False)
    wg, wd = numpy_reference(x.astype("float64"), epochs, 1, 0.1, seed=7,
                             top_k=(top_k, top_k_steps))
    np.testing.assert_allclose(n(gan.discriminator.weights[0]), wd, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(n(gan.generator.weights[0]), wg, rtol=1e-4, atol=1e-6)
    # Without top-k, the same run ends elsewhere: the test can tell them apart.
    full, _ = numpy_reference(x.astype("float64"), epochs, 1, 0.1, seed=7)
    assert np.abs(full - wg).max() > 1e-3


def test_top_k_leaves_evaluation_alone_and_round_trips(real, tmp_path):
    gan = tiny_gan(top_k=0.25, top_k_steps=10)
    gan.compile(d_optimizer=adam(), g_optimizer=adam())
    z = keras.ops.convert_to_tensor(np.random.default_rng(2).normal(size=(8, 3)).astype("float32"))
    fake = gan.generator(z, training=False)
    logits = n(gan.discriminator(fake, training=False))[:, 0].astype("float64")
    per_example = np.logaddexp(0.0, -logits)  # -log sigmoid: the non-saturating loss
    loss, _ = gan._g_losses_on(fake, None, training=False)
    np.testing.assert_allclose(float(n(loss)), per_example.mean(), rtol=1e-5)
    # At G step 0 of 10 the share is 1: every fake counts.
    loss, _ = gan._g_losses_on(fake, None, training=True)
    np.testing.assert_allclose(float(n(loss)), per_example.mean(), rtol=1e-5)
    gan.fit(real, batch_size=16, epochs=1, verbose=0)
    gan.save(tmp_path / "gan.keras")
    loaded = keras.saving.load_model(tmp_path / "gan.keras")
    assert (loaded.top_k, loaded.top_k_steps) == (0.25, 10)


@pytest.mark.parametrize("d_steps", [1, 3])
def test_both_players_learn_and_k_steps_are_counted(real, d_steps):
    gan = tiny_gan(d_steps=d_steps)
    gan.compile(d_optimizer=adam(), g_optimizer=adam())
    g0 = [n(w).copy() for w in gan.generator.trainable_weights]
    d0 = [n(w).copy() for w in gan.discriminator.trainable_weights]
    bn = gan.generator.layers[1]
    history = gan.fit(real, batch_size=16, epochs=2, verbose=0).history
    assert set(history) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert all(np.isfinite(v).all() for v in history.values())
    assert all(0 < v < 1 for v in history["d_real"] + history["d_fake"])
    assert int(n(gan.d_optimizer.iterations)) == 8 * d_steps
    assert int(n(gan.g_optimizer.iterations)) == 8
    assert all(not np.allclose(a, n(b)) for a, b in zip(g0, gan.generator.trainable_weights))
    assert all(not np.allclose(a, n(b)) for a, b in zip(d0, gan.discriminator.trainable_weights))
    assert not np.allclose(n(bn.moving_mean), 0.0)


def test_discriminator_learns_to_separate_before_the_generator_catches_up(real):
    gan = tiny_gan(d_steps=5)
    gan.compile(d_optimizer=keras.optimizers.Adam(5e-3), g_optimizer=keras.optimizers.Adam(1e-5))
    history = gan.fit(real, batch_size=32, epochs=6, verbose=0).history
    assert history["d_loss"][-1] < history["d_loss"][0]
    assert history["d_real"][-1] > history["d_fake"][-1]


def test_minimax_loss_option(real):
    gan = tiny_gan(generator_loss="minimax")
    gan.compile(d_optimizer=adam(), g_optimizer=adam())
    history = gan.fit(real, batch_size=16, epochs=1, verbose=0).history
    assert history["g_loss"][0] < 0  # log(1 - D(G(z))) is negative


def test_test_step_reports_the_same_metrics(real):
    gan = tiny_gan()
    gan.compile(d_optimizer=adam(), g_optimizer=adam())
    logs = gan.evaluate(real, batch_size=64, verbose=0, return_dict=True)
    assert set(logs) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert int(n(gan.d_optimizer.iterations)) == 0
    # d_loss >= -log(d_real) in expectation: both terms are positive.
    assert logs["d_loss"] > 0 and logs["g_loss"] > 0


def test_sample_and_call(real):
    gan = tiny_gan()
    a, b = gan.sample(5, seed=3), gan.sample(5, seed=3)
    assert a.shape == (5, 4, 4, 1)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a).max() <= 1.0
    z = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    np.testing.assert_allclose(n(gan(z)), gan.generator.predict(z, verbose=0), rtol=1e-5, atol=1e-6)


def test_save_load_keeps_weights_and_both_optimizers(real, tmp_path):
    gan = tiny_gan(d_steps=2, label_smoothing=0.1)
    gan.compile(d_optimizer=adam(), g_optimizer=keras.optimizers.Adam(3e-4, beta_1=0.5))
    gan.fit(real, batch_size=32, epochs=1, verbose=0)
    gan.save(tmp_path / "gan.keras")
    loaded = keras.saving.load_model(tmp_path / "gan.keras")
    z = np.random.default_rng(0).normal(size=(6, 3)).astype("float32")
    np.testing.assert_allclose(loaded.predict(z, verbose=0), gan.predict(z, verbose=0), rtol=1e-5, atol=1e-6)
    assert (loaded.d_steps, loaded.label_smoothing, loaded.latent_dim) == (2, 0.1, 3)
    assert int(n(loaded.d_optimizer.iterations)) == 4
    assert int(n(loaded.g_optimizer.iterations)) == 2
    assert float(n(loaded.g_optimizer.learning_rate)) == pytest.approx(3e-4)
    loaded.fit(real, batch_size=32, epochs=1, verbose=0)
    assert int(n(loaded.d_optimizer.iterations)) == 8
    assert int(n(loaded.g_optimizer.iterations)) == 4


def test_backup_and_restore_resumes_both_optimizers(real, tmp_path):
    class Interrupt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("interrupted")

    def fresh():
        gan = tiny_gan(d_steps=2)
        gan.compile(d_optimizer=adam(), g_optimizer=adam())
        return gan

    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    with pytest.raises(RuntimeError, match="interrupted"):
        fresh().fit(real, batch_size=32, epochs=3, verbose=0, shuffle=False, callbacks=[backup, Interrupt()])
    resumed = fresh()
    history = resumed.fit(real, batch_size=32, epochs=3, verbose=0, shuffle=False, callbacks=[backup])
    assert len(history.history["d_loss"]) == 2
    assert int(n(resumed.d_optimizer.iterations)) == 12
    assert int(n(resumed.g_optimizer.iterations)) == 6


# ------------------------------------------------------------ bad input
def test_mismatched_generator_and_discriminator():
    g = keras.Sequential([keras.Input((2,)), keras.layers.Dense(16), keras.layers.Reshape((4, 4, 1))])
    d = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match=r"discriminator's input shape must equal the generator's output shape.*\(None, 4, 4, 1\).*\(None, 8, 8, 1\)"):
        keras_gen.GAN(g, d, latent_dim=2)


def test_discriminator_must_return_one_logit():
    g = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4)])
    d = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"one logit per image.*\(None, 2\)"):
        keras_gen.GAN(g, d, latent_dim=2)


def test_latent_dim_must_match_the_generator():
    g = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4)])
    d = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError):
        keras_gen.GAN(g, d, latent_dim=5)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"latent_dim": 0}, "latent_dim must be a positive integer. Received: latent_dim=0"),
        ({"d_steps": 0}, "d_steps must be a positive integer. Received: d_steps=0"),
        ({"generator_loss": "hinge"}, "Received: generator_loss='hinge'"),
        ({"label_smoothing": 1.0}, "label_smoothing must be a finite number >= 0 and < 1. Received: label_smoothing=1.0"),
        ({"top_k": 0.0}, "top_k must be .*Received: top_k=0.0"),
        ({"top_k": 1.5}, r"top_k must be a fraction in \(0, 1\]. Received: top_k=1.5"),
        ({"top_k": 0.5, "top_k_steps": -1}, "top_k_steps must be .*Received: top_k_steps=-1"),
    ],
)
def test_bad_arguments(kwargs, match):
    args = {"latent_dim": 2}
    args.update(kwargs)
    g = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4)])
    d = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match=match):
        keras_gen.GAN(g, d, **args)


def test_compile_needs_both_optimizers():
    gan = linear_gan()
    with pytest.raises(ValueError, match="needs both d_optimizer and g_optimizer.*Received: g_optimizer=None"):
        gan.compile(d_optimizer="adam")
    with pytest.raises(ValueError, match="Received: d_optimizer=None"):
        gan.compile(g_optimizer="adam")
    with pytest.raises(ValueError, match="own optimizer instance"):
        opt = keras.optimizers.Adam()
        gan.compile(d_optimizer=opt, g_optimizer=opt)
    with pytest.raises(ValueError, match="not supported. Received: metrics=\\['mae'\\]"):
        gan.compile(d_optimizer="adam", g_optimizer="adam", metrics=["mae"])
    with pytest.raises(ValueError, match="do not pass `loss`"):
        gan.compile(d_optimizer="adam", g_optimizer="adam", loss="mse")


def test_uncompiled_fit_and_wrong_rank(real):
    gan = tiny_gan()
    with pytest.raises((ValueError, RuntimeError), match="compile"):
        gan.fit(real, epochs=1, verbose=0)
    gan.compile(d_optimizer=adam(), g_optimizer=adam())
    with pytest.raises(ValueError, match=r"x must have rank 4.*Received: x.shape=\(64, 16\)"):
        gan.fit(real.reshape(64, 16), epochs=1, verbose=0)


def test_generator_ema_through_the_optimizer_group():
    # Keras' optimizer EMA (use_ema) works for one player of the group: after
    # fit the generator holds the moving average of its weights (momentum 0.5
    # over 4 steps), the discriminator its own last weights.
    gan = tiny_gan()
    gan.compile(d_optimizer=adam(), g_optimizer=keras.optimizers.Adam(
        1e-2, beta_1=0.5, use_ema=True, ema_momentum=0.5))
    seen = {}

    class Keep(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen["g"] = gan.generator.get_weights()
            seen["d"] = gan.discriminator.get_weights()

    real = np.random.default_rng(0).uniform(-1, 1, (64, 4, 4, 1)).astype("float32")
    gan.fit(real, batch_size=16, epochs=1, verbose=0, callbacks=[Keep()])
    kernel = gan.generator.trainable_weights[0]
    index = [id(v) for v in gan.generator.weights].index(id(kernel))
    average = gan.g_optimizer._model_variables_moving_average[0]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(kernel), keras.ops.convert_to_numpy(average),
                               rtol=1e-6)
    assert not np.allclose(keras.ops.convert_to_numpy(kernel), seen["g"][index])
    for after, before in zip(gan.discriminator.get_weights(), seen["d"]):
        np.testing.assert_array_equal(after, before)


def test_numpy_scalars_in_the_constructor():
    gan = tiny_gan(seed=np.int64(0), d_steps=np.int32(2), label_smoothing=np.float32(0.25))
    assert (gan.seed, gan.d_steps, gan.label_smoothing) == (0, 2, 0.25)
    assert type(gan.seed) is int and type(gan.d_steps) is int and type(gan.label_smoothing) is float
    reference = tiny_gan(seed=0)
    np.testing.assert_array_equal(n(gan.seed_generator.state), n(reference.seed_generator.state))
    g = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4)])
    d = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    assert keras_gen.GAN(g, d, latent_dim=np.int64(2)).latent_dim == 2


class GeneratorWithASpareLayer(keras.Model):
    """A user's generator that owns a layer its forward pass never uses."""

    def __init__(self, build_spare, conditional=False, **kwargs):
        super().__init__(**kwargs)
        self.build_spare = build_spare
        self.conditional = conditional
        self.dense = keras.layers.Dense(16, activation="tanh")
        self.spare = keras.layers.Dense(5)
        self.reshape = keras.layers.Reshape((4, 4, 1))

    def build(self, input_shape):
        z_shape = tuple(input_shape[0]) if self.conditional else tuple(input_shape)
        width = z_shape[-1] + (2 if self.conditional else 0)
        self.dense.build((None, width))
        if self.build_spare:
            self.spare.build((None, width))

    def call(self, inputs):
        if self.conditional:
            z, c = inputs
            inputs = keras.ops.concatenate([z, c], axis=-1)
        return self.reshape(self.dense(inputs))


@pytest.mark.parametrize("conditional", [False, True])
@pytest.mark.parametrize("build_spare", [False, True])
def test_a_generator_owning_an_unused_layer_trains(real, build_spare, conditional):
    # The JAX and PyTorch trainers saw the unbuilt spare layer and built the
    # GAN by calling it on a batch of images, which reached G as latent codes.
    g = GeneratorWithASpareLayer(build_spare, conditional)
    images = keras.Input((4, 4, 1))
    if conditional:
        condition = keras.Input((2,))
        joined = keras.layers.Concatenate()([keras.layers.Flatten()(images), condition])
        d = keras.Model([images, condition], keras.layers.Dense(1)(joined))
        gan = keras_gen.ConditionalGAN(g, d, latent_dim=3, num_classes=2, seed=0)
        data = (real, np.arange(len(real)) % 2)
    else:
        d = keras.Model(images, keras.layers.Dense(1)(keras.layers.Flatten()(images)))
        gan = keras_gen.GAN(g, d, latent_dim=3, seed=0)
        data = (real,)
    gan.compile(d_optimizer=adam(), g_optimizer=adam())
    before = n(g.dense.kernel).copy()
    history = gan.fit(*data, batch_size=16, epochs=2, verbose=0).history
    assert np.all(np.isfinite(history["g_loss"])), history
    assert not np.allclose(n(g.dense.kernel), before)
    assert g.spare.built == build_spare  # still never called: nothing to build
    gan.fit(*data, batch_size=16, epochs=1, verbose=0)
    assert np.all(np.isfinite(gan.evaluate(*data, batch_size=16, verbose=0)))
