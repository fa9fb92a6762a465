import keras
import numpy as np
import pytest

from keras_gen.layers import Sampling


def test_reparameterisation_statistics():
    layer = Sampling(kl_weight=0.0, seed=1)
    mu = np.full((20000, 2), [1.0, -2.0], "float32")
    log_sigma = np.log(np.full((20000, 2), [0.5, 2.0], "float32"))
    z = keras.ops.convert_to_numpy(layer([mu, log_sigma]))
    np.testing.assert_allclose(z.mean(axis=0), [1.0, -2.0], atol=0.05)
    np.testing.assert_allclose(z.std(axis=0), [0.5, 2.0], rtol=0.03)


def test_adds_weighted_kl():
    layer = Sampling(kl_weight=3.0, seed=0)
    mu = np.array([[1.0, 0.0]], "float32")
    log_sigma = np.array([[0.0, np.log(2.0)]], "float32")
    layer([mu, log_sigma])
    expected = 0.5 * (1.0 + (4.0 - 2 * np.log(2.0) - 1.0))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.losses[0]), 3.0 * expected, rtol=1e-6)


def test_seeded_layers_agree_and_config_round_trips():
    a, b = Sampling(seed=5), Sampling.from_config(Sampling(seed=5).get_config())
    x = [np.zeros((3, 4), "float32"), np.zeros((3, 4), "float32")]
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(a(x)), keras.ops.convert_to_numpy(b(x)))
    assert b.kl_weight == 1.0 and b.seed == 5


def test_bad_seed():
    with pytest.raises(TypeError, match="seed must be an int or None. Received: seed='x'"):
        Sampling(seed="x")


def test_free_bits_floor_each_dimension_of_the_added_kl():
    # Per-dimension batch-mean KL: dim 0 = 0.5 (mu = 1), dim 1 = 0 (the prior).
    mu = np.array([[1.0, 0.0], [1.0, 0.0]], "float32")
    log_sigma = np.zeros((2, 2), "float32")
    layer = Sampling(kl_weight=2.0, seed=0, free_bits=0.25)
    layer([mu, log_sigma])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.losses[0]), 2.0 * (0.5 + 0.25), rtol=1e-6)
    plain = Sampling(kl_weight=2.0, seed=0)
    plain([mu, log_sigma])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(plain.losses[0]), 2.0 * 0.5, rtol=1e-6)
    restored = Sampling.from_config(layer.get_config())
    assert restored.free_bits == 0.25


def test_kl_anneal_scales_the_added_term():
    layer = Sampling(kl_weight=1.0, seed=0)
    mu = np.array([[2.0]], "float32")
    layer.kl_anneal.assign(0.25)
    layer([mu, np.zeros((1, 1), "float32")])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.losses[0]), 0.25 * 2.0, rtol=1e-6)
    assert not layer.kl_anneal.trainable


@pytest.mark.parametrize("value,error", [(-0.1, ValueError), (float("inf"), ValueError), ("1", TypeError)])
def test_bad_free_bits(value, error):
    with pytest.raises(error, match="free_bits must be a finite number >= 0. Received: free_bits="):
        Sampling(free_bits=value)


def test_kl_weight_is_one_variable_and_settable():
    layer = Sampling(kl_weight=np.float64(2.0), seed=np.int64(0))
    assert layer.seed == 0 and layer.kl_weight == 2.0
    layer.kl_weight = 0.5
    assert layer.get_config()["kl_weight"] == 0.5
    mu = np.array([[1.0, 0.0]], "float32")
    layer([mu, np.zeros((1, 2), "float32")])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.losses[-1]), 0.5 * 0.5, rtol=1e-6)
    with pytest.raises(ValueError, match="kl_weight must be a finite number >= 0. Received: kl_weight=-1"):
        layer.kl_weight = -1


def test_return_kl_gives_the_unweighted_kl():
    layer = Sampling(kl_weight=3.0, seed=0, free_bits=0.75)
    mu = np.array([[1.0, 0.0], [3.0, 0.0]], "float32")  # per-example KL 0.5 and 4.5
    z, kl = layer([mu, np.zeros((2, 2), "float32")], return_kl=True)
    assert tuple(z.shape) == (2, 2)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(kl), 2.5, rtol=1e-6)
    # Added: 3 * (max(0.75, 2.5) + max(0.75, 0)).
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.losses[0]), 3.0 * 3.25, rtol=1e-6)


def test_loads_weights_saved_before_lambda_was_a_variable():
    layer = Sampling(kl_weight=0.7, seed=0)
    state = np.array([5, 0], "uint32")
    old_store = {"0": np.array(0.25, "float32"), "seed_state": state}  # kl_anneal, seed
    layer.load_own_variables(old_store)
    assert float(keras.ops.convert_to_numpy(layer.kl_anneal)) == 0.25
    assert layer.kl_weight == pytest.approx(0.7)
