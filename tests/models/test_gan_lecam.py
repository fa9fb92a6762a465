"""The LeCam regularizer (GAN(lecam=..., lecam_decay=...))."""

import keras
import numpy as np
import pytest

import keras_gen
from tests.helpers import linear_gan, linear_gan_by_hand, small_image_gan


def n(v):
    return keras.ops.convert_to_numpy(v)


def by_hand(x, steps, lr, lam, decay, d_steps=1):
    """SGD on L_D + lam * (mean (D(x) - a_F)^2 + mean (D(G(z)) - a_R)^2) for linear G, D.

    D(x) = x w: the penalty's gradient in w is lam 2/b (x^T (x w - a_F) + f^T (f w - a_R)).
    The anchors (a_R, a_F) start at 0 and move after each D step towards that
    step's mean logits (taken before the update). Returns ``(wg, wd, logged
    penalties, (a_R, a_F))``.
    """
    anchors = [0.0, 0.0]

    def penalty(x, f, wd):
        lr_, lf = x @ wd, f @ wd
        a_real, a_fake = anchors
        grad = lam * 2 / len(x) * (x.T @ (lr_ - a_fake) + f.T @ (lf - a_real))
        value = np.mean((lr_ - a_fake) ** 2) + np.mean((lf - a_real) ** 2)
        anchors[:] = [decay * a_real + (1 - decay) * lr_.mean(),
                      decay * a_fake + (1 - decay) * lf.mean()]
        return grad, value

    wg, wd, logged = linear_gan_by_hand(x, steps, lr, penalty, d_steps=d_steps)
    return wg, wd, logged, tuple(anchors)


def test_matches_the_closed_form_and_changes_training():
    x = np.random.default_rng(1).normal(1.0, 0.5, size=(16, 2)).astype("float32")
    gan = linear_gan(lecam=0.5, lecam_decay=0.6)
    gan.compile(d_optimizer=keras.optimizers.SGD(0.2), g_optimizer=keras.optimizers.SGD(0.2))
    history = gan.fit(x, batch_size=16, epochs=4, verbose=0, shuffle=False).history
    wg, wd, lcs, anchors = by_hand(x.astype("float64"), 4, 0.2, 0.5, 0.6)
    np.testing.assert_allclose(n(gan.discriminator.weights[0]), wd, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(n(gan.generator.weights[0]), wg, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(history["lc"], lcs, rtol=1e-4, atol=1e-7)  # one step per epoch
    np.testing.assert_allclose(n(gan.lecam_anchors), anchors, rtol=1e-4, atol=1e-6)
    # lambda = 0 ends elsewhere: the test tells the two apart.
    _, plain, _, _ = by_hand(x.astype("float64"), 4, 0.2, 0.0, 0.6)
    assert np.abs(plain - wd).max() > 1e-3


def test_with_several_discriminator_steps_the_anchors_move_every_step():
    x = np.random.default_rng(2).normal(1.0, 0.5, size=(16, 2)).astype("float32")
    gan = linear_gan(lecam=0.5, lecam_decay=0.6, d_steps=3)
    gan.compile(d_optimizer=keras.optimizers.SGD(0.2), g_optimizer=keras.optimizers.SGD(0.2))
    gan.fit(x, batch_size=16, epochs=2, verbose=0, shuffle=False)
    wg, wd, lcs, anchors = by_hand(x.astype("float64"), 2, 0.2, 0.5, 0.6, d_steps=3)
    assert len(lcs) == 6
    np.testing.assert_allclose(n(gan.discriminator.weights[0]), wd, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(n(gan.generator.weights[0]), wg, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(n(gan.lecam_anchors), anchors, rtol=1e-4, atol=1e-6)


def test_keeps_the_discriminator_from_running_away():
    # A D that can tell real from fake at once: without the regularizer its
    # logits on real and fake drift apart; LeCam holds the gap down.
    rng = np.random.default_rng(0)
    real = np.tanh(rng.normal(0.8, 0.2, size=(64, 8, 8, 1))).astype("float32")

    def gaps(lam):
        keras.utils.set_random_seed(0)
        g = keras.Sequential([keras.Input((3,)), keras.layers.Dense(64, activation="tanh"),
                              keras.layers.Reshape((8, 8, 1))])
        d = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
        gan = keras_gen.GAN(g, d, latent_dim=3, seed=3, lecam=lam)
        gan.compile(d_optimizer=keras.optimizers.Adam(1e-2), g_optimizer=keras.optimizers.Adam(1e-5))
        gan.fit(real, batch_size=32, epochs=15, verbose=0)
        fake = gan.sample(64, seed=1)
        return float(np.mean(n(d(real))) - np.mean(n(d(fake))))

    free, held = gaps(0.0), gaps(1.0)
    assert free > 4.0
    assert held < 0.5 * free


def test_logs_saves_and_resumes(tmp_path):
    real, gan = small_image_gan(lecam=0.3, lecam_decay=0.9)
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3))
    history = gan.fit(real, batch_size=16, epochs=2, verbose=0,
                      validation_data=real[:16]).history
    assert all(v > 0 and np.isfinite(v) for v in history["lc"])
    assert "val_lc" not in history and "val_d_loss" in history
    assert not np.allclose(n(gan.lecam_anchors), 0.0)  # moved by training
    gan.save(tmp_path / "gan.keras")
    loaded = keras.saving.load_model(tmp_path / "gan.keras")
    assert (loaded.lecam, loaded.lecam_decay) == (0.3, 0.9)
    np.testing.assert_array_equal(n(loaded.lecam_anchors), n(gan.lecam_anchors))
    # Training on from the file follows the original step for step.
    gan.fit(real, batch_size=16, epochs=1, verbose=0, shuffle=False)
    loaded.fit(real, batch_size=16, epochs=1, verbose=0, shuffle=False)
    np.testing.assert_allclose(n(loaded.lecam_anchors), n(gan.lecam_anchors), rtol=1e-5, atol=1e-6)
    for a, b in zip(gan.discriminator.weights, loaded.discriminator.weights):
        np.testing.assert_allclose(n(a), n(b), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("saved_with, loaded_with, match", [
    (0.1, 0.0, r"saved from a GAN with LeCam \(lecam > 0\).*this GAN has lecam=0.0"),
    (0.0, 0.1, r"saved from a GAN without LeCam \(lecam=0\).*this GAN has lecam=0.1"),
])
def test_weights_across_lecam_on_and_off_are_refused_by_name(tmp_path, saved_with, loaded_with,
                                                              match):
    _, gan = small_image_gan(lecam=saved_with)
    if saved_with:
        gan.lecam_anchors.assign([0.25, -0.5])  # as after training
    gan.save_weights(tmp_path / "gan.weights.h5")
    _, other = small_image_gan(lecam=loaded_with)
    with pytest.raises(ValueError, match=match):
        other.load_weights(tmp_path / "gan.weights.h5")
    _, same = small_image_gan(lecam=saved_with)
    same.load_weights(tmp_path / "gan.weights.h5")  # the same setting loads
    for a, b in zip(gan.weights, same.weights):
        np.testing.assert_array_equal(n(a), n(b))
    if saved_with:
        np.testing.assert_array_equal(n(same.lecam_anchors), [0.25, -0.5])


def test_off_by_default_adds_no_state():
    gan = linear_gan()
    assert gan.lecam == 0.0 and gan.lecam_anchors is None and gan.lecam_decay is None
    assert linear_gan(lecam=0.2).lecam_decay == 0.99
    assert not any("lecam" in v.path for v in gan.variables)


@pytest.mark.parametrize("kwargs,match", [
    ({"lecam": -0.1}, "lecam.*Received: lecam=-0.1"),
    ({"lecam": float("nan")}, "lecam.*Received: lecam=nan"),
    ({"lecam": 0.1, "lecam_decay": 1.0}, "lecam_decay.*Received: lecam_decay=1.0"),
    ({"lecam": 0.1, "lecam_decay": -0.5}, "lecam_decay.*Received: lecam_decay=-0.5"),
    ({"lecam_decay": 0.9}, "needs lecam > 0. Received: lecam=0.0, lecam_decay=0.9"),
    # finite as a Python float, but inf / 0 in the float32 loss
    ({"lecam": 1e300}, "lecam must be 0 or between 1.17549e-38 and 3.40282e\\+38.*Received: lecam=1e\\+300"),
    ({"lecam": 1e-320}, "lecam must be 0 or between.*Received: lecam=1e-320"),
    ({"lecam": 1e-40}, "lecam must be 0 or between.*float32's normal numbers.*Received: lecam=1e-40"),
    ({"r1_gamma": 1e39}, "r1_gamma must be 0 or between.*Received: r1_gamma=1e\\+39"),
    ({"consistency": 1e-50}, "consistency must be 0 or between"),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        linear_gan(**kwargs)


def test_under_mixed_precision_the_anchors_stay_float32():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        real = np.tanh(np.random.default_rng(0).normal(0.3, 0.5, size=(32, 8, 8, 1))).astype("float32")
        g = keras.Sequential([keras.Input((3,)), keras.layers.Dense(64, activation="tanh"),
                              keras.layers.Reshape((8, 8, 1))])
        d = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(1)])
        gan = keras_gen.GAN(g, d, latent_dim=3, seed=3, lecam=0.3, lecam_decay=0.5)
        gan.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3))
        history = gan.fit(real, batch_size=16, epochs=2, verbose=0).history
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert all(v > 0 and np.isfinite(v) for v in history["lc"])
    assert np.all(np.isfinite(n(gan.lecam_anchors))) and not np.allclose(n(gan.lecam_anchors), 0.0)
