"""GAN.standing_statistics: G's BatchNormalization statistics re-estimated for its weights."""

import keras
import numpy as np
import pytest

import keras_gen
from keras_gen.models import base

LATENT = 4
IMAGE = (8, 8, 1)


def n(v):
    return keras.ops.convert_to_numpy(v)


def bn_gan(dropout=False, seed=0):
    """A DCGAN at 8x8 (two BatchNormalization layers in G), optionally with dropout in G."""
    g = keras_gen.networks.dcgan_generator(LATENT, IMAGE, filters=(8, 4))
    if dropout:
        z = keras.Input((LATENT,))
        g = keras.Model(z, g(keras.layers.Dropout(0.5, seed=1)(z)))
    d = keras_gen.networks.dcgan_discriminator(IMAGE, filters=(4, 8))
    return keras_gen.GAN(g, d, latent_dim=LATENT, seed=seed)


def batch_norms(model):
    return [l for l in model._flatten_layers(include_self=False)
            if isinstance(l, keras.layers.BatchNormalization)]


def trained(gan, steps=6, ema=True):
    x = np.random.default_rng(0).uniform(-1, 1, (64, *IMAGE)).astype("float32")
    average = {"use_ema": True, "ema_momentum": 0.9} if ema else {}
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-2, beta_1=0.5),
                g_optimizer=keras.optimizers.Adam(1e-2, beta_1=0.5, **average))
    gan.fit(x, batch_size=16, epochs=steps // 4, verbose=0)
    return gan


def expected_statistics(generator, z_batches):
    """Mean over batches, weighted by their sizes, of each BN input's batch mean / biased variance, in NumPy."""
    layers = batch_norms(generator)
    probe = keras.Model(generator.inputs, [l.input for l in layers])
    means = [[] for _ in layers]
    variances = [[] for _ in layers]
    for z in z_batches:
        for i, a in enumerate(probe(z, training=True)):
            a = n(a).astype("float64").reshape(-1, a.shape[-1])
            means[i].append(a.mean(axis=0))
            variances[i].append(a.var(axis=0))
    sizes = [len(z) for z in z_batches]
    return [(np.average(m, axis=0, weights=sizes), np.average(v, axis=0, weights=sizes))
            for m, v in zip(means, variances)]


def test_statistics_are_the_mean_of_the_batch_moments():
    gan = trained(bn_gan())
    z = base.draw_latents(100, LATENT, 5, gan.seed_generator)  # the z that seed=5 draws
    # ceil(100 / 32) = 4 batches of equal size: 25 draws each
    expected = expected_statistics(gan.generator, [z[:25], z[25:50], z[50:75], z[75:]])
    before = [n(l.moving_mean) for l in batch_norms(gan.generator)]
    momenta = [l.momentum for l in batch_norms(gan.generator)]
    assert gan.standing_statistics(100, seed=5, batch_size=32) == 2
    for layer, (mean, var), old, momentum in zip(batch_norms(gan.generator), expected, before,
                                                 momenta):
        np.testing.assert_allclose(n(layer.moving_mean), mean, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(n(layer.moving_variance), var, rtol=1e-4, atol=1e-5)
        assert not np.allclose(n(layer.moving_mean), old, atol=1e-4)  # they did move
        assert layer.momentum == momentum


def test_a_remainder_does_not_make_a_small_batch():
    """One draw more than a batch gives batches of 32 and 33, not 64 + 1 (whose variance is 0)."""
    gan = trained(bn_gan())
    gan.standing_statistics(64, seed=2, batch_size=64)
    even = [n(l.moving_variance).copy() for l in batch_norms(gan.generator)]
    z = base.draw_latents(65, LATENT, 2, gan.seed_generator)
    # (before: it runs G in training mode)
    expected = expected_statistics(gan.generator, [z[:32], z[32:]])
    gan.standing_statistics(65, seed=2, batch_size=64)
    for layer, (mean, var), old in zip(batch_norms(gan.generator), expected, even):
        np.testing.assert_allclose(n(layer.moving_mean), mean, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(n(layer.moving_variance), var, rtol=1e-4, atol=1e-5)
        # the variances of 65 draws are about those of 64 others, not half of them
        assert 0.75 < np.mean(n(layer.moving_variance) / old) < 1.33


@pytest.mark.parametrize("num_samples, batch_size, sizes", [
    (100, 32, [25, 25, 25, 25]), (65, 64, [32, 33]), (10, 64, [10]), (5, 2, [2, 3]), (2, 2, [2]),
])
def test_batches_are_equal_and_at_most_batch_size(monkeypatch, num_samples, batch_size, sizes):
    seen = []
    original = base.batch_norm_statistics

    def spy(network, batches):
        batches = list(batches)
        seen.extend(len(b) for b in batches)
        return original(network, batches)

    monkeypatch.setattr(base, "batch_norm_statistics", spy)
    bn_gan().standing_statistics(num_samples, batch_size=batch_size)
    assert seen == sizes


def test_batches_of_unequal_size_are_weighted_by_their_size():
    gan = trained(bn_gan())
    z = base.draw_latents(40, LATENT, 4, gan.seed_generator)
    expected = expected_statistics(gan.generator, [z[:30], z[30:]])
    base.batch_norm_statistics(gan.generator, [z[:30], z[30:]])
    for layer, (mean, var) in zip(batch_norms(gan.generator), expected):
        np.testing.assert_allclose(n(layer.moving_mean), mean, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(n(layer.moving_variance), var, rtol=1e-4, atol=1e-5)


def test_a_batch_of_one_is_refused_and_changes_nothing():
    gan = trained(bn_gan())
    before = [n(v).copy() for v in gan.generator.non_trainable_variables]
    z = base.draw_latents(9, LATENT, 0, gan.seed_generator)
    with pytest.raises(ValueError, match="at least 2 samples.*Received: a batch of 1"):
        base.batch_norm_statistics(gan.generator, [z[:8], z[8:]])
    for v, old in zip(gan.generator.non_trainable_variables, before):
        np.testing.assert_array_equal(n(v), old)
    for kwargs, name in (({"num_samples": 1}, "num_samples"), ({"batch_size": 1}, "batch_size")):
        with pytest.raises(ValueError, match=f"{name} must be at least 2.*Received: {name}=1"):
            gan.standing_statistics(**kwargs)
    for v, old in zip(gan.generator.non_trainable_variables, before):
        np.testing.assert_array_equal(n(v), old)


def test_inference_matches_training_mode_after_it():
    """With the statistics of a large batch, inference mode reproduces training mode on it."""
    gan = trained(bn_gan())
    z = base.draw_latents(512, LATENT, 1, gan.seed_generator)
    train_mode = n(gan.generator(z, training=True))
    gap_before = np.abs(n(gan.generator(z, training=False)) - train_mode).mean()
    gan.standing_statistics(512, seed=1, batch_size=512)
    gap_after = np.abs(n(gan.generator(z, training=False)) - train_mode).mean()
    assert gap_after < 1e-4 < gap_before


def test_nothing_else_changes_and_fit_goes_on():
    gan = trained(bn_gan(dropout=True))
    g = gan.generator
    stats = {id(v) for l in batch_norms(g) for v in (l.moving_mean, l.moving_variance)}
    others = [v for v in gan.variables if id(v) not in stats]
    before = [n(v).copy() for v in others]
    gan.standing_statistics(64, seed=0, batch_size=16)
    for v, old in zip(others, before):  # weights, D, optimizers, seed states (dropout's too)
        np.testing.assert_array_equal(n(v), old, err_msg=v.path)
    x = np.random.default_rng(1).uniform(-1, 1, (32, *IMAGE)).astype("float32")
    history = gan.fit(x, batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["g_loss"]).all()


def test_seed_none_advances_the_model_stream_and_int_does_not():
    gan = bn_gan()
    state = n(gan.seed_generator.state).copy()
    gan.standing_statistics(8, seed=3, batch_size=8)
    np.testing.assert_array_equal(n(gan.seed_generator.state), state)
    gan.standing_statistics(8, seed=None, batch_size=8)
    assert not np.array_equal(n(gan.seed_generator.state), state)


def test_without_batch_norm_nothing_happens():
    g = keras.Sequential([keras.Input((LATENT,)), keras.layers.Dense(64, activation="tanh"),
                          keras.layers.Reshape(IMAGE)])
    gan = keras_gen.GAN(g, keras_gen.networks.dcgan_discriminator(IMAGE, filters=(4,)),
                        latent_dim=LATENT)
    before = [n(v).copy() for v in g.variables]
    assert gan.standing_statistics(16) == 0
    for v, old in zip(g.variables, before):
        np.testing.assert_array_equal(n(v), old)


def test_frozen_batch_norm_is_left_alone():
    gan = bn_gan()
    frozen, live = batch_norms(gan.generator)
    frozen.trainable = False
    old = n(frozen.moving_mean).copy(), n(frozen.moving_variance).copy()
    assert gan.standing_statistics(32, batch_size=16) == 1
    np.testing.assert_array_equal(n(frozen.moving_mean), old[0])
    np.testing.assert_array_equal(n(frozen.moving_variance), old[1])
    assert not np.allclose(n(live.moving_variance), 1.0)


def test_a_failing_batch_puts_every_statistic_back():
    gan = bn_gan()
    before = [n(v).copy() for v in gan.generator.non_trainable_variables]
    momenta = [l.momentum for l in batch_norms(gan.generator)]
    z = np.ones((4, LATENT), "float32")
    with pytest.raises(Exception):
        base.batch_norm_statistics(gan.generator, [z, np.zeros((4, LATENT + 1), "float32")])
    for v, old in zip(gan.generator.non_trainable_variables, before):
        np.testing.assert_array_equal(n(v), old)
    assert [l.momentum for l in batch_norms(gan.generator)] == momenta
    with pytest.raises(ValueError, match="batches must hold at least one batch"):
        base.batch_norm_statistics(gan.generator, [])


def test_conditional_gan_uses_the_labels():
    g = keras_gen.networks.conditional_dcgan_generator(LATENT, IMAGE, 3, filters=(8,))
    d = keras_gen.networks.conditional_dcgan_discriminator(IMAGE, 3, filters=(8,))
    cgan = keras_gen.ConditionalGAN(g, d, latent_dim=LATENT, num_classes=3, seed=0)
    with pytest.raises(ValueError, match="labels is required"):
        cgan.standing_statistics(8)
    labels = np.arange(30) % 3
    assert cgan.standing_statistics(30, labels=labels, batch_size=10) >= 1
    got = [n(v).copy() for v in g.non_trainable_variables]
    # the same as the statistics of G on the draws of seed 0 and those labels' condition
    z = base.draw_latents(30, LATENT, 0, cgan.seed_generator)
    condition = cgan.condition_vectors(labels, 30)
    base.batch_norm_statistics(g, [[z[i:i + 10], condition[i:i + 10]] for i in (0, 10, 20)])
    for v, value in zip(g.non_trainable_variables, got):
        np.testing.assert_allclose(n(v), value, rtol=1e-6)
    base.batch_norm_statistics(g, [[z[i:i + 10], condition[::-1][i:i + 10]] for i in (0, 10, 20)])
    assert not all(np.allclose(n(v), value) for v, value in zip(g.non_trainable_variables, got))


@pytest.mark.parametrize("kwargs, name", [({"num_samples": 0}, "num_samples"),
                                          ({"batch_size": -1}, "batch_size"),
                                          ({"num_samples": 2.5}, "num_samples"),
                                          ({"seed": "a"}, "seed"),
                                          ({"seed": -1}, r"seed must be an int in \[0, 2\*\*31\)"),
                                          ({"seed": 2**31}, r"Received: seed=2147483648")])
def test_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises((TypeError, ValueError), match=name):
        bn_gan().standing_statistics(**kwargs)


def test_labels_refused_for_an_unconditional_gan():
    with pytest.raises(ValueError, match="labels must be None"):
        bn_gan().standing_statistics(8, labels=[1] * 8)

