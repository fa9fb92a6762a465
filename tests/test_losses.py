import keras
import numpy as np

from keras_gen import losses


def np_(x):
    return keras.ops.convert_to_numpy(x)


def test_mse_is_mean_over_dimensions():
    x = np.zeros((2, 2, 2, 1), "float32")
    y = np.ones((2, 2, 2, 1), "float32")
    y[1] *= 3.0
    np.testing.assert_allclose(np_(losses.mean_squared_error(x, y)), [1.0, 9.0])


def test_bce_matches_hand_value():
    x = np.array([[1.0, 0.0]], "float32")
    p = np.array([[0.8, 0.4]], "float32")
    expected = -(np.log(0.8) + np.log(0.6)) / 2
    np.testing.assert_allclose(np_(losses.binary_crossentropy(x, p)), [expected], rtol=1e-6)


def test_kl_is_zero_at_the_prior_and_positive_elsewhere():
    zeros = np.zeros((1, 3), "float32")
    np.testing.assert_allclose(np_(losses.kl_divergence(zeros, zeros)), [0.0], atol=1e-7)
    mu = np.array([[2.0, 0.0, 0.0]], "float32")
    np.testing.assert_allclose(np_(losses.kl_divergence(mu, zeros)), [2.0], rtol=1e-6)
    log_sigma = np.array([[np.log(0.5), 0.0, 0.0]], "float32")
    expected = 0.5 * (0.25 - 2 * np.log(0.5) - 1)
    np.testing.assert_allclose(np_(losses.kl_divergence(zeros, log_sigma)), [expected], rtol=1e-5)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


LOGITS_REAL = np.array([[2.0], [-1.0], [0.5]], "float32")
LOGITS_FAKE = np.array([[-3.0], [0.2], [1.5]], "float32")


def test_discriminator_loss_is_the_source_notes_formula():
    expected = -np.log(sigmoid(LOGITS_REAL[:, 0])) - np.log(1 - sigmoid(LOGITS_FAKE[:, 0]))
    np.testing.assert_allclose(np_(losses.discriminator_loss(LOGITS_REAL, LOGITS_FAKE)), expected, rtol=1e-5)


def test_one_sided_label_smoothing():
    s = 0.1
    d_real = sigmoid(LOGITS_REAL[:, 0])
    expected = -(1 - s) * np.log(d_real) - s * np.log(1 - d_real) - np.log(1 - sigmoid(LOGITS_FAKE[:, 0]))
    np.testing.assert_allclose(
        np_(losses.discriminator_loss(LOGITS_REAL, LOGITS_FAKE, label_smoothing=s)), expected, rtol=1e-5
    )


def test_generator_losses_are_the_source_notes_formulas():
    d_fake = sigmoid(LOGITS_FAKE[:, 0])
    np.testing.assert_allclose(np_(losses.generator_loss_non_saturating(LOGITS_FAKE)), -np.log(d_fake), rtol=1e-5)
    np.testing.assert_allclose(np_(losses.generator_loss_minimax(LOGITS_FAKE)), np.log(1 - d_fake), rtol=1e-5)
    assert losses.generator_loss("minimax") is losses.generator_loss_minimax


def test_gan_losses_stay_finite_for_extreme_logits():
    big = np.array([[80.0], [-80.0]], "float32")
    for value in (
        losses.discriminator_loss(big, -big),
        losses.generator_loss_non_saturating(big),
        losses.generator_loss_minimax(big),
    ):
        assert np.all(np.isfinite(np_(value)))


def test_unknown_generator_loss():
    import pytest

    with pytest.raises(ValueError, match="generator_loss must be one of .*Received: generator_loss='wgan'"):
        losses.generator_loss("wgan")


def test_free_bits_kl_matches_numpy():
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(16, 5)).astype("float32") * 0.3
    log_sigma = rng.normal(size=(16, 5)).astype("float32") * 0.1
    per_dim = 0.5 * (mu**2 + np.exp(2 * log_sigma) - 2 * log_sigma - 1)
    expected = np.maximum(per_dim.mean(axis=0), 0.05).sum()
    np.testing.assert_allclose(np_(losses.free_bits_kl(mu, log_sigma, 0.05)), expected, rtol=1e-5)
    # b = 0 is the plain batch-mean KL.
    np.testing.assert_allclose(np_(losses.free_bits_kl(mu, log_sigma, 0.0)),
                               per_dim.sum(axis=-1).mean(), rtol=1e-5)


def test_negative_elbo_from_losses_hand_computed():
    import pytest

    rec = keras.ops.convert_to_tensor(np.array([0.25, 0.5], "float32"))
    kl = keras.ops.convert_to_tensor(np.array([3.0, 1.0], "float32"))
    # Bernoulli: D * mean BCE + KL; Gaussian (s^2 = D / 2): mse + KL + D/2 log(pi D).
    np.testing.assert_allclose(np_(losses.negative_elbo_from_losses(rec, kl, "bce", 64)),
                               [64 * 0.25 + 3.0, 64 * 0.5 + 1.0], rtol=1e-6)
    np.testing.assert_allclose(np_(losses.negative_elbo_from_losses(rec, kl, "mse", 64)),
                               [0.25 + 3.0 + 32 * np.log(np.pi * 64), 0.5 + 1.0 + 32 * np.log(np.pi * 64)],
                               rtol=1e-6)
    with pytest.warns(DeprecationWarning, match="use keras_gen.losses.negative_elbo_from_losses"):
        old = losses.negative_elbo(rec, kl, "bce", 64)
    np.testing.assert_allclose(np_(old), [16.0 + 3.0, 32.0 + 1.0], rtol=1e-6)
