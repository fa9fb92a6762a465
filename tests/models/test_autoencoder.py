import keras
import numpy as np
import pytest

import keras_gen
from tests import helpers


def make_ae(**kwargs):
    return keras_gen.AutoEncoder(helpers.tiny_encoder(), helpers.tiny_decoder(), **kwargs)


def test_loss_falls_and_methods(images):
    ae = make_ae()
    ae.compile(optimizer=keras.optimizers.Adam(1e-2))
    helpers.assert_loss_falls(helpers.fit_losses(ae, images))
    assert ae.encode(images).shape == (64, 2)
    assert ae.decode(np.zeros((3, 2), "float32")).shape == (3, 8, 8, 1)
    recon = ae.reconstruct(images)
    np.testing.assert_allclose(recon, ae.decode(ae.encode(images)), rtol=1e-5, atol=1e-6)
    assert ae.latent_dim == 2


def test_loss_is_the_source_notes_mse(images):
    ae = make_ae()
    ae.compile(optimizer="adam")
    logs = ae.evaluate(images, batch_size=64, verbose=0, return_dict=True)
    expected = np.mean((ae.reconstruct(images) - images) ** 2)
    np.testing.assert_allclose(logs["loss"], expected, rtol=1e-5)


def test_compiled_metrics_and_denoising_targets(images):
    ae = make_ae()
    ae.compile(optimizer="adam", metrics=["mae"])
    noisy = np.clip(images + 0.1, 0, 1)
    logs = ae.evaluate(noisy, images, batch_size=64, verbose=0, return_dict=True)
    expected = np.mean(np.abs(ae.reconstruct(noisy) - images))
    np.testing.assert_allclose(logs["mae"], expected, rtol=1e-5)
    np.testing.assert_allclose(logs["loss"], np.mean((ae.reconstruct(noisy) - images) ** 2), rtol=1e-5)


def test_compiled_metrics_on_image_only_batches(images):
    ae = make_ae()
    ae.compile(optimizer="adam", metrics=["mae"])
    history = ae.fit(images, epochs=1, batch_size=32, verbose=0).history
    assert set(history) == {"loss", "mae"}
    logs = ae.evaluate(images, batch_size=64, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["mae"], np.mean(np.abs(ae.reconstruct(images) - images)), rtol=1e-5)


def test_batchnorm_statistics_update(images):
    ae = keras_gen.AutoEncoder(helpers.tiny_encoder(batch_norm=True), helpers.tiny_decoder())
    ae.compile(optimizer="adam")
    bn = next(l for l in ae.encoder.layers if isinstance(l, keras.layers.BatchNormalization))
    before = keras.ops.convert_to_numpy(bn.moving_mean).copy()
    ae.fit(images, epochs=1, batch_size=16, verbose=0)
    after = keras.ops.convert_to_numpy(bn.moving_mean)
    assert not np.allclose(before, after)
    assert int(keras.ops.convert_to_numpy(ae.optimizer.iterations)) == 4


def test_subclassed_encoder_decoder(images):
    class Enc(keras.Model):
        def __init__(self):
            super().__init__()
            self.flat = keras.layers.Flatten()
            self.dense = keras.layers.Dense(3)

        def call(self, x):
            return self.dense(self.flat(x))

    ae = keras_gen.AutoEncoder(Enc(), helpers.SubclassedDecoder())
    ae.compile(optimizer=keras.optimizers.Adam(1e-2))
    helpers.assert_loss_falls(helpers.fit_losses(ae, images, epochs=10))
    assert ae.latent_dim == 3


def test_sequential_encoder_decoder(images):
    enc = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(4)])
    dec = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(64, activation="sigmoid"), keras.layers.Reshape((8, 8, 1))]
    )
    ae = keras_gen.AutoEncoder(enc, dec)
    assert ae.built
    ae.compile(optimizer=keras.optimizers.Adam(1e-2))
    helpers.assert_loss_falls(helpers.fit_losses(ae, images, epochs=10))


def test_save_load_round_trip(images, tmp_path):
    ae = make_ae()
    ae.compile(optimizer="adam")
    ae.fit(images, epochs=1, batch_size=32, verbose=0)
    loaded = helpers.assert_round_trip(ae, tmp_path / "ae.keras", images, lambda m, x: m.reconstruct(x))
    np.testing.assert_allclose(loaded.encode(images), ae.encode(images), rtol=1e-5, atol=1e-6)
    # Training resumes from the saved optimizer state.
    assert int(keras.ops.convert_to_numpy(loaded.optimizer.iterations)) == 2
    loaded.fit(images, epochs=1, batch_size=32, verbose=0)
    assert int(keras.ops.convert_to_numpy(loaded.optimizer.iterations)) == 4


@pytest.mark.parametrize("jit_compile", [False, True])
def test_jit_compile_setting(images, jit_compile):
    if jit_compile and keras.backend.backend() == "torch":
        pytest.skip("torch.compile of a train step takes minutes on CPU; jit_compile is exercised on tf/jax")
    ae = make_ae()
    ae.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=jit_compile)
    helpers.assert_loss_falls(helpers.fit_losses(ae, images, epochs=8))


def test_run_eagerly(images):
    ae = make_ae()
    ae.compile(optimizer=keras.optimizers.Adam(1e-2), run_eagerly=True)
    helpers.assert_loss_falls(helpers.fit_losses(ae, images, epochs=5))


# ------------------------------------------------------------ bad input
def test_rejects_non_models():
    with pytest.raises(TypeError, match="encoder must be a keras.Model.*Received: encoder='enc'"):
        keras_gen.AutoEncoder("enc", helpers.tiny_decoder())
    with pytest.raises(TypeError, match="decoder must be a keras.Model"):
        keras_gen.AutoEncoder(helpers.tiny_encoder(), None)


def test_latent_size_mismatch():
    with pytest.raises(ValueError, match=r"decoder's input must match the encoder's code size.*\(None, 2\).*\(None, 3\)"):
        keras_gen.AutoEncoder(helpers.tiny_encoder(latent_dim=2), helpers.tiny_decoder(latent_dim=3))


def test_output_shape_mismatch():
    with pytest.raises(ValueError, match=r"decoder must map codes back.*\(None, 8, 8, 1\).*\(None, 4, 4, 4\)"):
        keras_gen.AutoEncoder(helpers.tiny_encoder(), helpers.tiny_decoder(output_shape=(4, 4, 4)))


def test_variational_encoder_refused():
    with pytest.raises(ValueError, match="keras_gen.VAE"):
        keras_gen.AutoEncoder(helpers.tiny_encoder(variational=True), helpers.tiny_decoder())


def test_unknown_reconstruction():
    with pytest.raises(ValueError, match=r"reconstruction must be one of \['mse', 'bce'\]. Received: reconstruction='l1'"):
        make_ae(reconstruction="l1")


def test_loss_argument_refused():
    ae = make_ae()
    with pytest.raises(ValueError, match="do not pass `loss`.*Received: loss='mse'"):
        ae.compile(optimizer="adam", loss="mse")


def test_bad_data_rank_and_range(images):
    ae = make_ae(reconstruction="bce")
    ae.compile(optimizer="adam")
    with pytest.raises(ValueError, match=r"x must have rank 4.*Received: x.shape=\(64, 8, 8\)"):
        ae.fit(images[..., 0], epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"x must lie in \(0.0, 1.0\).*Received: x with min=.*, max=2\d\d"):
        ae.fit(images * 255.0, epochs=1, verbose=0)
    assert int(keras.ops.convert_to_numpy(ae.optimizer.iterations)) == 0


def test_uncompiled_fit_raises(images):
    ae = make_ae()
    with pytest.raises((ValueError, RuntimeError), match="compile"):
        ae.fit(images, epochs=1, verbose=0)
