"""GAN objectives (standard, hinge, WGAN-GP, relativistic) and the R1 penalty, against closed forms.

The test GAN has a constant generator (G(z) = c: zero kernel, bias c) and a
linear discriminator D(x) = <W, x> + b, whose input gradient is W for every
example, so every loss, penalty and the discriminator's SGD step are worked
out by hand in NumPy below.
"""

import keras
import numpy as np
import pytest
from keras import ops

import keras_gen
from keras_gen import losses

SHAPE = (4, 4, 1)
DIM = 16
LR = 0.05


def n(v):
    return ops.convert_to_numpy(v)


def _parts():
    rng = np.random.default_rng(3)
    c = rng.uniform(-0.5, 0.5, DIM)
    w0 = rng.normal(0.0, 0.2, DIM)
    real = rng.uniform(-1.0, 1.0, (8,) + SHAPE).astype("float32")
    return c, w0, real


def linear_gan(c, w0, **kwargs):
    g = keras.Sequential([
        keras.Input((2,)),
        keras.layers.Dense(DIM, kernel_initializer="zeros",
                           bias_initializer=keras.initializers.Constant(c.astype("float32"))),
        keras.layers.Reshape(SHAPE),
    ], name="g")
    d = keras.Sequential([
        keras.Input(SHAPE), keras.layers.Flatten(),
        keras.layers.Dense(1, kernel_initializer=keras.initializers.Constant(w0[:, None].astype("float32")),
                           bias_initializer=keras.initializers.Constant(0.1)),
    ], name="d")
    g.layers[0].bias.assign(c.astype("float32"))
    d.layers[-1].kernel.assign(w0[:, None].astype("float32"))
    kwargs.setdefault("d_steps", 1)
    return keras_gen.GAN(g, d, latent_dim=2, seed=0, **kwargs)


def _sig(u):
    return 1.0 / (1.0 + np.exp(-u))


def expected_step(objective, c, w0, real, r1_gamma=0.0, gp_weight=10.0, scale=1.0):
    """Logged terms and W after one SGD step of D; D sees scale * images."""
    x = scale * real.reshape(len(real), -1).astype("float64")
    f = scale * c
    w, b = w0, 0.1
    dr, df = x @ w + b, f @ w + b
    if objective == "standard":
        loss = np.mean(np.logaddexp(0, -dr)) + np.logaddexp(0, df)
        grad = -(x * _sig(-dr)[:, None]).mean(0) + _sig(df) * f
        d_real = np.mean(_sig(dr))
    elif objective == "relativistic":
        # mean softplus(-(D(x) - D(c))) + softplus(D(c) - mean D(x)); the bias cancels.
        loss = np.mean(np.logaddexp(0, -(dr - df))) + np.logaddexp(0, df - dr.mean())
        grad = (-((x - f) * _sig(-(dr - df))[:, None]).mean(0)
                + _sig(df - dr.mean()) * (f - x.mean(0)))
        d_real = np.mean(_sig(dr - df))
    elif objective == "hinge":
        loss = np.mean(np.maximum(0, 1 - dr)) + max(0.0, 1 + df)
        grad = -(x * (1 - dr > 0)[:, None]).mean(0) + float(1 + df > 0) * f
        d_real = np.mean(dr)
    else:
        loss = df - np.mean(dr)
        grad = f - x.mean(0)
        d_real = np.mean(dr)
    input_grad = scale * w  # dD(scale x)/dx, the same for every example
    norm = np.linalg.norm(input_grad)
    logs = {"d_real": d_real}
    if objective == "wgan-gp":
        logs["gp"] = (norm - 1.0) ** 2
        loss += gp_weight * logs["gp"]
        grad = grad + gp_weight * 2.0 * (norm - 1.0) * scale * input_grad / norm
    if r1_gamma:
        logs["r1"] = norm**2
        loss += 0.5 * r1_gamma * logs["r1"]
        grad = grad + r1_gamma * scale * input_grad
    logs["d_loss"] = loss
    return logs, w0 - LR * grad


@pytest.mark.parametrize(
    "objective,r1_gamma,augment",
    [("standard", 2.0, 2.0), ("hinge", 0.0, None), ("wgan-gp", 0.5, None), ("relativistic", 0.0, 2.0),
     ("relativistic", 1.0, None)],
)
def test_one_step_matches_the_closed_form(objective, r1_gamma, augment):
    c, w0, real = _parts()
    kwargs = {"objective": objective, "r1_gamma": r1_gamma}
    if augment:
        # A differentiable augmentation: D sees 2x, so its input gradient is 2W.
        kwargs["augment"] = keras.layers.Rescaling(augment)
    gan = linear_gan(c, w0, **kwargs)
    gan.compile(d_optimizer=keras.optimizers.SGD(LR), g_optimizer=keras.optimizers.SGD(LR))
    history = gan.fit(real, batch_size=len(real), epochs=1, shuffle=False, verbose=0).history
    logs, w1 = expected_step(objective, c, w0, real, r1_gamma=r1_gamma, scale=augment or 1.0)
    for key, value in logs.items():
        assert history[key][0] == pytest.approx(value, rel=1e-4, abs=1e-5), key
    assert ("gp" in history) == (objective == "wgan-gp")
    assert ("r1" in history) == (r1_gamma > 0)
    np.testing.assert_allclose(n(gan.discriminator.layers[-1].kernel)[:, 0], w1, rtol=1e-4, atol=1e-6)


def _one_step(objective):
    """One SGD step of both players on the whole batch: (gan, its logs, c, D's W after its step, real)."""
    c, w0, real = _parts()
    gan = linear_gan(c, w0, objective=objective)
    gan.compile(d_optimizer=keras.optimizers.SGD(LR), g_optimizer=keras.optimizers.SGD(LR))
    history = gan.fit(real, batch_size=len(real), epochs=1, shuffle=False, verbose=0).history
    _, w1 = expected_step(objective, c, w0, real)
    return gan, history, c, w1, real


def test_generator_losses_of_critic_objectives():
    # G's step on -mean D(G(z)): with D linear, d/dc = -W, so c moves by +lr W.
    gan, history, c, w1, _ = _one_step("hinge")
    assert history["g_loss"][0] == pytest.approx(-(c @ w1 + 0.1), rel=1e-4)
    assert history["d_fake"][0] == pytest.approx(c @ w1 + 0.1, rel=1e-4)
    np.testing.assert_allclose(n(gan.generator.layers[0].bias), c + LR * w1, rtol=1e-4, atol=1e-6)


def test_relativistic_generator_step():
    # L_G = softplus(mean D(x) - D(c)) + mean softplus(D(x_i) - D(c)) at the D-stepped
    # W; d/dc = -W (sigmoid(mean D(x) - D(c)) + mean sigmoid(D(x_i) - D(c))).
    gan, history, c, w1, real = _one_step("relativistic")
    dr = real.reshape(len(real), -1).astype("float64") @ w1 + 0.1
    df = c @ w1 + 0.1
    assert history["g_loss"][0] == pytest.approx(
        np.logaddexp(0, dr.mean() - df) + np.mean(np.logaddexp(0, dr - df)), rel=1e-4)
    assert history["d_fake"][0] == pytest.approx(_sig(df - dr.mean()), rel=1e-4)
    step = _sig(dr.mean() - df) + np.mean(_sig(dr - df))
    np.testing.assert_allclose(n(gan.generator.layers[0].bias), c + LR * step * w1, rtol=1e-4, atol=1e-6)


def test_penalties_and_losses_per_example():
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(5, 1)), rng.normal(size=(5, 1))
    g = rng.normal(size=(5, 2, 3))
    norms = np.linalg.norm(g.reshape(5, -1), axis=1)
    np.testing.assert_allclose(n(losses.hinge_discriminator_loss(real, fake)),
                               np.maximum(0, 1 - real[:, 0]) + np.maximum(0, 1 + fake[:, 0]), rtol=1e-6)
    np.testing.assert_allclose(n(losses.wasserstein_critic_loss(real, fake)), fake[:, 0] - real[:, 0], rtol=1e-6)
    np.testing.assert_allclose(n(losses.critic_generator_loss(fake)), -fake[:, 0], rtol=1e-6)
    r, f = real[:, 0], fake[:, 0]
    np.testing.assert_allclose(n(losses.relativistic_discriminator_loss(real, fake)),
                               np.logaddexp(0, -(r - f.mean())) + np.logaddexp(0, f - r.mean()), rtol=1e-5)
    np.testing.assert_allclose(n(losses.relativistic_generator_loss(real, fake)),
                               np.logaddexp(0, -(f - r.mean())) + np.logaddexp(0, r - f.mean()), rtol=1e-5)
    np.testing.assert_allclose(n(losses.gradient_penalty(g)), (norms - 1) ** 2, rtol=1e-5)
    np.testing.assert_allclose(n(losses.r1_penalty(g)), norms**2, rtol=1e-5)


def test_bn_discriminator_trains_with_both_penalties():
    # BatchNorm writes its moving statistics inside the input gradient (a
    # nested JAX trace): the step must neither leak a tracer nor lose them.
    gen = keras.Sequential([keras.Input((2,)), keras.layers.Dense(DIM, activation="tanh"),
                            keras.layers.Reshape(SHAPE)])
    disc = keras.Sequential([keras.Input(SHAPE), keras.layers.Flatten(), keras.layers.Dense(4),
                             keras.layers.BatchNormalization(name="bn"), keras.layers.LeakyReLU(0.2),
                             keras.layers.Dense(1)])
    gan = keras_gen.GAN(gen, disc, latent_dim=2, objective="wgan-gp", d_steps=1, r1_gamma=1.0, seed=1)
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-4, beta_1=0.0, beta_2=0.9),
                g_optimizer=keras.optimizers.Adam(1e-4, beta_1=0.0, beta_2=0.9))
    real = _parts()[2]
    history = gan.fit(real, batch_size=8, epochs=1, verbose=0).history
    assert all(np.isfinite(v[0]) for v in history.values())
    assert history["gp"][0] > 0 and history["r1"][0] > 0
    assert np.abs(n(disc.get_layer("bn").moving_mean)).max() > 0
    logs = gan.evaluate(real, batch_size=8, verbose=0, return_dict=True)
    assert {"gp", "r1", "d_loss"} <= set(logs) and np.isfinite(logs["gp"])


def _backend_independent():
    if keras.backend.backend() != "jax":
        pytest.skip("argument checks and configs do not depend on the backend (run on jax)")


def test_defaults_and_config_round_trip():
    _backend_independent()
    c, w0, _ = _parts()
    assert linear_gan(c, w0).objective == "standard"
    base = linear_gan(c, w0)
    wgan = keras_gen.GAN(base.generator, base.discriminator, latent_dim=2, objective="wgan-gp")
    assert (wgan.d_steps, wgan.gp_weight, wgan.r1_gamma, wgan.generator_loss) == (5, 10.0, 0.0, None)
    hinge = keras_gen.GAN(wgan.generator, wgan.discriminator, latent_dim=2, objective="hinge")
    assert (hinge.d_steps, hinge.gp_weight) == (1, None)
    explicit = keras_gen.GAN(wgan.generator, wgan.discriminator, latent_dim=2, objective="wgan-gp",
                             d_steps=2, gp_weight=5.0, r1_gamma=1.0)
    config = explicit.get_config()
    assert {k: config[k] for k in ("objective", "d_steps", "gp_weight", "r1_gamma")} == {
        "objective": "wgan-gp", "d_steps": 2, "gp_weight": 5.0, "r1_gamma": 1.0}
    again = keras_gen.GAN.from_config(config)
    assert (again.objective, again.d_steps, again.gp_weight, again.r1_gamma) == ("wgan-gp", 2, 5.0, 1.0)
    # A config written before the objectives existed loads as the standard GAN.
    old = linear_gan(c, w0).get_config()
    for key in ("objective", "gp_weight", "r1_gamma"):
        del old[key]
    old["generator_loss"] = "minimax"
    loaded = keras_gen.GAN.from_config(old)
    assert (loaded.objective, loaded.generator_loss, loaded.d_steps, loaded.r1_gamma) == (
        "standard", "minimax", 1, 0.0)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"objective": "wgan"}, "objective must be one of .*Received: objective='wgan'"),
        ({"objective": "hinge", "generator_loss": "minimax"},
         "generator_loss applies to objective='standard' only.*Received: generator_loss='minimax'"),
        ({"objective": "relativistic", "generator_loss": "non_saturating"},
         "generator_loss applies to objective='standard' only.*minimises -log sigmoid.*"
         "Received: generator_loss='non_saturating'"),
        ({"objective": "relativistic", "top_k": 0.5},
         "top_k does not apply to objective='relativistic'.*Received: top_k=0.5"),
        ({"objective": "wgan-gp", "label_smoothing": 0.1}, "label_smoothing applies.*Received: label_smoothing=0.1"),
        ({"objective": "hinge", "gp_weight": 10.0}, "gp_weight .* objective='wgan-gp' only.*Received: gp_weight=10.0"),
        ({"objective": "wgan-gp", "gp_weight": -1.0}, "gp_weight.*Received: gp_weight=-1.0"),
        ({"r1_gamma": -0.5}, "r1_gamma.*Received: r1_gamma=-0.5"),
        ({"r1_gamma": "big"}, "r1_gamma.*Received: r1_gamma='big'"),
        ({"objective": "wgan-gp", "d_steps": 0}, "d_steps.*Received: d_steps=0"),
    ],
)
def test_bad_values_are_refused(kwargs, message):
    _backend_independent()
    c, w0, _ = _parts()
    with pytest.raises((ValueError, TypeError), match=message):
        linear_gan(c, w0, **kwargs)
