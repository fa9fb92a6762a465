"""A second fit after one that wrote Keras' use_ema average into the weights (JAX shared buffers)."""

import keras
import numpy as np

import keras_gen
from tests.models.test_gan_standing import IMAGE, bn_gan, n, trained


def test_a_gan_fits_again_after_fit_wrote_its_moving_average():
    """fit ends by writing use_ema's average into G; a second fit trains on from it (on JAX too)."""
    gan = trained(bn_gan())
    averaged = [n(v).copy() for v in gan.generator.trainable_variables]
    x = np.random.default_rng(1).uniform(-1, 1, (32, *IMAGE)).astype("float32")
    history = gan.fit(x, batch_size=16, epochs=2, verbose=0)
    assert np.isfinite(history.history["g_loss"]).all() and len(history.history["g_loss"]) == 2
    assert int(n(gan.g_optimizer.iterations)) == 4 + 4  # 64 / 16 steps, then 2 x 32 / 16
    assert any(not np.allclose(n(v), a) for v, a in zip(gan.generator.trainable_variables, averaged))


def test_an_autoencoder_fits_again_after_an_ema_fit():
    x = np.random.default_rng(0).uniform(0, 1, (32, 4, 4, 1)).astype("float32")
    ae = keras_gen.AutoEncoder(keras_gen.networks.dense_encoder((4, 4, 1), 2, hidden_units=(8,)),
                               keras_gen.networks.dense_decoder(2, (4, 4, 1), hidden_units=(8,)))
    ae.compile(optimizer=keras.optimizers.Adam(1e-2, use_ema=True, ema_momentum=0.5))
    first = ae.fit(x, batch_size=8, epochs=3, verbose=0).history["loss"]
    second = ae.fit(x, batch_size=8, epochs=3, verbose=0).history["loss"]
    assert np.isfinite(first + second).all()
    assert second[-1] < first[0]
