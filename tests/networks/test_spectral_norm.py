"""dcgan_discriminator(spectral_norm=True): Keras' SpectralNormalization in the default discriminator."""

import keras
import numpy as np
import pytest
from keras import ops

import keras_gen
from keras_gen.layers import SpectralNormalization
from keras_gen.networks import dcgan_discriminator, dcgan_generator


def n(v):
    return ops.convert_to_numpy(v)


def _top_singular_value(kernel):
    kernel = n(kernel)
    return np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]


def test_every_convolution_and_the_logits_are_normalized():
    disc = dcgan_discriminator((8, 8, 1), filters=(4, 8), normalization=None, spectral_norm=True)
    wrapped = {layer.name: layer.layer.name for layer in disc.layers
               if isinstance(layer, keras.layers.SpectralNormalization)}
    assert wrapped == {"sn_conv_1": "conv_1", "sn_conv_2": "conv_2", "logits": "logits_dense"}
    assert dcgan_discriminator((8, 8, 1), filters=(4, 8)).get_layer("logits").__class__ is keras.layers.Dense
    with pytest.raises(TypeError, match="spectral_norm.*Received: spectral_norm='yes'"):
        dcgan_discriminator((8, 8, 1), spectral_norm="yes")


def test_layer_uses_the_normalized_kernel_and_keeps_the_stored_one():
    rng = np.random.default_rng(0)
    kernel, bias = rng.normal(0, 0.5, (4, 3)), rng.normal(0, 0.1, 3)
    sn = SpectralNormalization(keras.layers.Dense(3))
    sn.build((None, 4))
    sn.layer.kernel.assign(kernel.astype("float32"))
    sn.layer.bias.assign(bias.astype("float32"))
    u = n(sn.vector_u).astype("float64")
    x = rng.normal(size=(2, 4)).astype("float32")

    def iterate(u):  # one power iteration (Miyato et al. 2018, Algorithm 1), in NumPy
        v = u @ kernel.T
        v /= np.linalg.norm(v)
        u_new = v @ kernel
        u_new /= np.linalg.norm(u_new)
        return v, u_new

    v, u1 = iterate(u)
    sigma = (v @ kernel @ u1.T).item()
    np.testing.assert_allclose(n(sn(x, training=True)), x @ (kernel / sigma) + bias, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(n(sn.vector_u), u1, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(n(sn.layer.kernel), kernel.astype("float32"))  # never written
    v, _ = iterate(u1)  # inference: sigma from the stored u, u not updated
    sigma = (v @ kernel @ u1.T).item()
    np.testing.assert_allclose(n(sn(x)), x @ (kernel / sigma) + bias, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(n(sn.vector_u), u1, rtol=1e-4, atol=1e-6)
    for _ in range(5):
        sn(x, training=True)
    v, _ = iterate(n(sn.vector_u).astype("float64"))
    sigma = (v @ kernel @ n(sn.vector_u).T).item()
    assert sigma == pytest.approx(np.linalg.svd(kernel, compute_uv=False)[0], rel=1e-2)


def test_sn_gan_trains_saves_loads_and_samples(tmp_path):
    gen = dcgan_generator(4, (8, 8, 1), filters=(8,))
    disc = dcgan_discriminator((8, 8, 1), filters=(4, 8), normalization=None, spectral_norm=True)
    gan = keras_gen.GAN(gen, disc, latent_dim=4, objective="hinge", seed=3)
    gan.compile(d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.0, beta_2=0.9),
                g_optimizer=keras.optimizers.Adam(1e-4, beta_1=0.0, beta_2=0.9))
    real = np.random.default_rng(0).uniform(-1, 1, (16, 8, 8, 1)).astype("float32")
    history = gan.fit(real, batch_size=8, epochs=1, verbose=0).history
    assert all(np.isfinite(v[-1]) for v in history.values())
    path = tmp_path / "sn_gan.keras"
    gan.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.objective == "hinge"
    assert isinstance(loaded.discriminator.get_layer("sn_conv_1"), keras.layers.SpectralNormalization)
    for a, b in zip(gan.discriminator.weights, loaded.discriminator.weights):
        np.testing.assert_array_equal(n(a), n(b))
    np.testing.assert_allclose(n(loaded.discriminator(real, training=False)),
                               n(gan.discriminator(real, training=False)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loaded.sample(3, seed=5), gan.sample(3, seed=5), rtol=1e-5, atol=1e-6)


def test_generator_of_an_sn_gan_exports(tmp_path):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the export path is the same on every backend (a TensorFlow worker); run on tensorflow")
    gen = dcgan_generator(4, (8, 8, 1), filters=(8,))
    disc = dcgan_discriminator((8, 8, 1), filters=(4, 8), normalization=None, spectral_norm=True)
    gan = keras_gen.GAN(gen, disc, latent_dim=4, objective="hinge", seed=3)
    manifest = keras_gen.export(gan, tmp_path / "g.tflite")
    assert (tmp_path / "g.tflite").exists()
    assert manifest["latent_dim"] == 4
