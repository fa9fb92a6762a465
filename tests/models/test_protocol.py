"""The model protocol: latent_dim, decoding_network, output_range, sample."""

import os

import keras
import numpy as np
import pytest
from PIL import Image

import keras_gen
from keras_gen import latent
from tests import helpers
from tests.models.test_gan import tiny_gan


def decoder(activation, nested=False):
    """A (2,) -> (8, 8, 1) decoder whose last non-reshape layer has ``activation``."""
    inputs = keras.Input((2,))
    h = keras.layers.Dense(64, activation=activation)(inputs)
    h = keras.layers.Dropout(0.0)(h)
    body = keras.Model(inputs, keras.layers.Reshape((8, 8, 1))(h))
    if not nested:
        return body
    return keras.Sequential([keras.Input((2,)), body, keras.layers.Identity()])


def ae(activation="sigmoid", nested=False):
    return keras_gen.AutoEncoder(helpers.tiny_encoder(), decoder(activation, nested))


def vae(activation="sigmoid"):
    return keras_gen.VAE(helpers.tiny_encoder(variational=True), decoder(activation), seed=0)


def test_every_model_answers_the_protocol():
    a, v, g = ae(), vae(), tiny_gan()
    assert (a.latent_dim, v.latent_dim, g.latent_dim) == (2, 2, 3)
    assert all(type(m.latent_dim) is int for m in (a, v, g))
    assert a.decoding_network is a.decoder and v.decoding_network is v.decoder
    assert g.decoding_network is g.generator
    assert a.encoding_network is a.encoder and g.encoding_network is None
    assert not hasattr(a, "code_dim") and not hasattr(v, "code_dim")


@pytest.mark.parametrize(
    "make,expected",
    [
        (lambda: ae("sigmoid"), (0.0, 1.0)),
        (lambda: ae("tanh"), (-1.0, 1.0)),  # the activation decides, not the model type
        (lambda: ae("hard_sigmoid", nested=True), (0.0, 1.0)),
        (lambda: ae("tanh", nested=True), (-1.0, 1.0)),
        (lambda: ae(None), (0.0, 1.0)),  # linear: the AE's default
        (lambda: vae("relu"), (0.0, 1.0)),
        (lambda: tiny_gan(), (-1.0, 1.0)),  # tanh generator
    ],
)
def test_output_range_follows_the_final_activation(make, expected):
    value = make().output_range
    assert value == expected and all(type(v) is float for v in value)


def test_output_range_of_a_linear_generator_is_the_gan_default():
    g = keras.Sequential([keras.Input((2,)), keras.layers.Dense(16), keras.layers.Reshape((4, 4, 1))])
    d = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(1)])
    assert keras_gen.GAN(g, d, latent_dim=2).output_range == (-1.0, 1.0)


def test_gan_sample_is_reproducible_and_generate_is_a_deprecated_alias():
    gan = tiny_gan()
    a = gan.sample(4, seed=5)
    z = np.asarray(keras.ops.convert_to_numpy(keras.random.normal((4, 3), seed=5)))
    np.testing.assert_allclose(a, gan.generator.predict(z, verbose=0), rtol=1e-5, atol=1e-6)
    with pytest.warns(DeprecationWarning, match=r"GAN.generate\(\) is deprecated; use GAN.sample"):
        b = gan.generate(4, seed=5)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("make", [vae, tiny_gan])
def test_sample_refuses_labels(make):
    with pytest.raises(ValueError, match=r"labels must be None: a (VAE|GAN) is unconditional.*Received: labels=\[0, 1\]"):
        make().sample(2, labels=[0, 1])


def test_sample_takes_numpy_integers():
    assert vae().sample(np.int64(3), seed=np.int32(1)).shape == (3, 8, 8, 1)
    assert tiny_gan().sample(np.int32(2), seed=np.int64(0)).shape == (2, 4, 4, 1)


def test_an_autoencoder_cannot_sample():
    with pytest.raises(TypeError, match="An AutoEncoder has no prior over its codes"):
        ae().sample(2)


def test_vae_posterior_returns_the_log_sigma(images):
    model = vae()
    z_mean, z_log_sigma = model.posterior(images[:5])
    ref_mean, ref_log_sigma = (keras.ops.convert_to_numpy(t) for t in model.encoder(images[:5]))
    np.testing.assert_allclose(z_mean, ref_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(z_log_sigma, ref_log_sigma, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.encode(images[:5])[1], np.exp(ref_log_sigma), rtol=1e-5)
    np.testing.assert_allclose(model.latent_codes(images[:5]), ref_mean, rtol=1e-5, atol=1e-6)


def test_latent_tools_decode_through_the_protocol():
    model = ae("tanh")
    z = np.array([[0.5, -1.0]], "float32")
    np.testing.assert_allclose(latent.decode(model, z), model.decoder.predict(z, verbose=0), rtol=1e-6)
    gan = tiny_gan()
    z = np.zeros((2, 3), "float32")
    np.testing.assert_allclose(latent.decode(gan, z), gan.generator.predict(z, verbose=0), rtol=1e-6)


def test_sample_grid_uses_the_models_output_range(tmp_path, images):
    model = ae("tanh")  # an AE whose decoder outputs [-1, 1]
    model.compile(optimizer=keras.optimizers.Adam(0.0))
    cb = keras_gen.callbacks.SampleGrid(tmp_path, num_images=np.int64(4), seed=np.int64(2), scale=1)
    model.fit(images * 2 - 1, epochs=1, batch_size=64, verbose=0, callbacks=[cb])
    samples = model.decoder.predict(cb.latent_batch(), verbose=0)
    expected = keras_gen.images.image_grid(samples, value_range=(-1, 1))
    assert os.path.basename(cb.paths[-1]) == "epoch_001.png"
    np.testing.assert_array_equal(np.asarray(Image.open(cb.paths[-1])), expected[..., 0])


def test_sample_grid_refuses_a_model_without_the_protocol(tmp_path, images):
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    cb = keras_gen.callbacks.SampleGrid(tmp_path, num_images=4)
    with pytest.raises(ValueError, match="SampleGrid needs a keras-gen model"):
        model.fit(images, np.zeros((64, 1)), epochs=1, verbose=0, callbacks=[cb])


def test_saved_compile_config_keeps_the_requested_jit_compile(tmp_path):
    # Keras resolves jit_compile="auto" per backend (True on JAX); a file must
    # record what was asked for, so a PyTorch user loading a JAX file does not
    # get torch.compile.
    import json
    import zipfile

    enc = keras_gen.networks.dense_encoder((4, 4, 1), 2, hidden_units=(8,), variational=True)
    dec = keras_gen.networks.dense_decoder(2, (4, 4, 1), hidden_units=(8,))
    for asked, recorded in (({}, "auto"), ({"jit_compile": False}, False)):
        vae = keras_gen.VAE(enc, dec, seed=0)
        vae.compile(optimizer="adam", **asked)
        path = str(tmp_path / f"vae_{recorded}.keras")
        vae.save(path)
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
        assert config["compile_config"]["jit_compile"] == recorded
        loaded = keras.saving.load_model(path)
        assert loaded.jit_compile == vae.jit_compile
