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
