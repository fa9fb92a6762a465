"""Balanced consistency regularization (GAN(consistency=..., consistency_augment=...))."""

import keras
import numpy as np
import pytest

import keras_gen
from tests.helpers import linear_gan, linear_gan_by_hand, small_image_gan


def n(v):
    return keras.ops.convert_to_numpy(v)


@keras.saving.register_keras_serializable(package="keras_gen_tests")
class Scale(keras.layers.Layer):
    """T(x) = s * x: a deterministic transform, so the penalty has a closed form."""

    def __init__(self, s, **kwargs):
        super().__init__(**kwargs)
        self.s = s

    def call(self, images, training=None):
        return images * self.s

    def get_config(self):
        return {**super().get_config(), "s": self.s}


def by_hand(x, steps, lr, lam, s):
    """SGD on L_D + lam * (mean (D(x) - D(sx))^2 + mean (D(G(z)) - D(sG(z)))^2) for linear G, D.

    With D(x) = x w, D(x) - D(sx) = (1 - s) x w, so the penalty's gradient in w
    is lam (1 - s)^2 2/b (x^T x w + f^T f w).
    """
    def penalty(x, f, wd):
        lr_, lf = x @ wd, f @ wd
        grad = lam * (1 - s) ** 2 * 2 / len(x) * (x.T @ lr_ + f.T @ lf)
        return grad, (1 - s) ** 2 * (np.mean(lr_ ** 2) + np.mean(lf ** 2))

    return linear_gan_by_hand(x, steps, lr, penalty)


def test_matches_the_closed_form_and_changes_training():
    x = np.random.default_rng(1).normal(1.0, 0.5, size=(16, 2)).astype("float32")
    gan = linear_gan(consistency=2.0, consistency_augment=Scale(0.5))
    gan.compile(d_optimizer=keras.optimizers.SGD(0.1), g_optimizer=keras.optimizers.SGD(0.1))
    history = gan.fit(x, batch_size=16, epochs=3, verbose=0, shuffle=False).history
    wg, wd, crs = by_hand(x.astype("float64"), 3, 0.1, 2.0, 0.5)
    np.testing.assert_allclose(n(gan.discriminator.weights[0]), wd, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(n(gan.generator.weights[0]), wg, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(history["cr"], crs, rtol=1e-4)  # one step per epoch
    # lambda = 0 ends elsewhere: the test tells the two apart.
    _, plain, _ = by_hand(x.astype("float64"), 3, 0.1, 0.0, 0.5)
    assert np.abs(plain - wd).max() > 1e-3


def test_default_transform_logs_and_round_trips(tmp_path):
    real, gan = small_image_gan(consistency=10.0)
    transform = gan.consistency_augment
    assert isinstance(transform, keras_gen.augment.DiffAugment)
    assert transform.policy == ("translation",) and transform.translation == 0.125
    assert transform.get_config()["seed"] == 4  # its own stream, not the latents'
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3))
    history = gan.fit(real, batch_size=16, epochs=2, verbose=0,
                      validation_data=real[:16]).history
    assert all(v > 0 and np.isfinite(v) for v in history["cr"])
    assert "val_cr" not in history and "val_d_loss" in history
    gan.save(tmp_path / "gan.keras")
    loaded = keras.saving.load_model(tmp_path / "gan.keras")
    assert loaded.consistency == 10.0
    assert loaded.consistency_augment.get_config() == transform.get_config()
    # Training on from the file follows the original: the transform's random
    # stream is restored with the weights.
    np.testing.assert_array_equal(n(loaded.consistency_augment.seed_generator.state),
                                  n(transform.seed_generator.state))  # moved by training, kept
    assert not np.array_equal(n(transform.seed_generator.state), [4, 0])
    for a, b in zip(loaded.optimizer.variables, gan.optimizer.variables):
        np.testing.assert_array_equal(n(a), n(b))  # the optimizers' state came back too
    gan.fit(real, batch_size=16, epochs=1, verbose=0, shuffle=False)
    loaded.fit(real, batch_size=16, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(gan.discriminator.weights, loaded.discriminator.weights):
        np.testing.assert_allclose(n(a), n(b), rtol=1e-5, atol=1e-6)


def test_consistency_under_a_conditional_gan_learns_and_logs():
    rng = np.random.default_rng(0)
    real = np.tanh(rng.normal(0.3, 0.5, size=(32, 8, 8, 1))).astype("float32")
    labels = np.arange(32) % 2
    z, c = keras.Input((3,)), keras.Input((2,))
    g = keras.Model([z, c], keras.layers.Reshape((8, 8, 1))(
        keras.layers.Dense(64, activation="tanh")(keras.layers.Concatenate()([z, c]))))
    x, c2 = keras.Input((8, 8, 1)), keras.Input((2,))
    d = keras.Model([x, c2], keras.layers.Dense(1)(
        keras.layers.Concatenate()([keras.layers.Flatten()(x), c2])))
    gan = keras_gen.ConditionalGAN(g, d, latent_dim=3, num_classes=2, seed=1, consistency=5.0,
                                   objective="relativistic")
    assert gan.consistency_augment.built
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3))
    d0 = [n(w).copy() for w in d.weights]
    history = gan.fit(real, labels, batch_size=16, epochs=2, verbose=0).history
    assert all(v > 0 and np.isfinite(v) for v in history["cr"])
    assert all(0 < v < 1 for v in history["d_real"] + history["d_fake"])
    assert any(not np.allclose(a, n(b)) for a, b in zip(d0, d.weights))


@pytest.mark.parametrize("kwargs,error,match", [
    ({"consistency": -1.0}, ValueError, "consistency"),
    ({"consistency": 1.0, "consistency_augment": "translation"}, TypeError,
     "consistency_augment must be None or a keras.layers.Layer.*Received: consistency_augment='translation'"),
    ({"consistency_augment": Scale(0.5)}, ValueError, "needs consistency > 0. Received: consistency=0.0"),
    ({"consistency": 1.0, "consistency_augment": keras_gen.augment.AdaptiveAugment("translation")},
     ValueError, "not an adaptive one.*Received: consistency_augment=<AdaptiveAugment"),
])
def test_bad_arguments_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        linear_gan(**kwargs)


def test_the_augment_layer_itself_is_refused():
    layer = Scale(0.5)
    with pytest.raises(ValueError, match="not the augment layer itself"):
        linear_gan(augment=layer, consistency=1.0, consistency_augment=layer)
