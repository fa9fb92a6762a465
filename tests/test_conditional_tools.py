"""SampleGrid and the likelihood bounds on conditional models (labels reach them)."""

import os

import numpy as np
import pytest

import keras_gen
from keras_gen import networks

SHAPE = (8, 8, 1)
K = 3


@pytest.fixture(scope="module")
def cvae():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(32,) + SHAPE).astype("float32")
    y = rng.integers(0, K, 32)
    enc = networks.conditional_encoder(SHAPE, 2, condition_size=K, kind="dense", variational=True,
                                       hidden_units=(8,), features=8, condition_units=8)
    dec = networks.conditional_decoder(2, SHAPE, condition_size=K, kind="dense", variational=True,
                                       hidden_units=(8,))
    model = keras_gen.ConditionalVAE(enc, dec, num_classes=K, reconstruction="bce", seed=0)
    model.compile(optimizer="adam")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    return model, x, y


def test_negative_elbo_with_labels_matches_numpy(cvae):
    model, x, y = cvae
    got = keras_gen.metrics.monte_carlo_negative_elbo(model, x, samples=1, seed=3, labels=y,
                                                      per_example=True)
    # Independent computation: q(z|x, y), one draw with the documented NumPy
    # seeding ([seed, chunk]), Bernoulli NLL summed over pixels, closed-form KL.
    onehot = np.eye(K, dtype="float32")[y]
    mu, log_sigma = (np.asarray(t, "float64") for t in model.encoder.predict([x, onehot], verbose=0))
    eps = np.random.default_rng([3, 0]).standard_normal((len(x), 1, 2))[:, 0]
    z = (mu + np.exp(log_sigma) * eps).astype("float32")
    p = np.clip(np.asarray(model.decoder.predict([z, onehot], verbose=0), "float64"), 1e-7, 1 - 1e-7)
    t = x.astype("float64")
    nll = -np.sum(t * np.log(p) + (1 - t) * np.log(1 - p), axis=(1, 2, 3))
    kl = 0.5 * np.sum(mu**2 + np.exp(2 * log_sigma) - 1 - 2 * log_sigma, axis=1)
    np.testing.assert_allclose(got, nll + kl, rtol=2e-4)


def test_bounds_use_the_labels(cvae):
    model, x, y = cvae
    iw = keras_gen.metrics.importance_weighted_nll(model, x, k=20, labels=y)
    elbo = keras_gen.metrics.monte_carlo_negative_elbo(model, x, samples=20, labels=y)
    assert iw <= elbo
    other = keras_gen.metrics.monte_carlo_negative_elbo(model, x, samples=20, labels=(y + 1) % K)
    assert other != elbo
    with pytest.raises(ValueError, match="labels"):
        keras_gen.metrics.monte_carlo_negative_elbo(model, x)


def test_bounds_refuse_labels_for_a_plain_vae():
    enc = networks.dense_encoder(SHAPE, 2, hidden_units=(8,), variational=True)
    dec = networks.dense_decoder(2, SHAPE, hidden_units=(8,))
    vae = keras_gen.VAE(enc, dec, reconstruction="bce", seed=0)
    x = np.full((4,) + SHAPE, 0.5, "float32")
    with pytest.raises(ValueError, match="labels must be None"):
        keras_gen.metrics.importance_weighted_nll(vae, x, k=2, labels=[0, 1, 0, 1])


def test_sample_grid_cycles_classes_of_a_conditional_model(cvae, tmp_path):
    model, x, y = cvae
    grid = keras_gen.callbacks.SampleGrid(str(tmp_path), num_images=6, cols=K, seed=1, scale=1)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[grid])
    assert len(grid.paths) == 1 and os.path.exists(grid.paths[0])
    z = grid.latent_batch()
    expected = model.decoder.predict([z, np.eye(K, dtype="float32")[np.arange(6) % K]], verbose=0)
    written = grid._samples(model)
    np.testing.assert_allclose(written, expected, atol=1e-6)


def test_sample_grid_labels_checked(cvae, tmp_path):
    model, x, y = cvae
    grid = keras_gen.callbacks.SampleGrid(str(tmp_path), num_images=4, labels=[0, 1, 2, 7])
    grid.set_model(model)
    with pytest.raises(ValueError, match="labels"):
        grid._samples(model)
    plain = keras_gen.GAN(networks.dense_decoder(2, SHAPE, hidden_units=(8,)),
                          networks.dense_encoder(SHAPE, 1, hidden_units=(8,)), latent_dim=2)
    grid = keras_gen.callbacks.SampleGrid(str(tmp_path), num_images=4, labels=1)
    grid.set_model(plain)
    with pytest.raises(ValueError, match="labels must be None"):
        grid._samples(plain)


def test_sample_grid_labels_are_checked_before_the_first_step(cvae, tmp_path):
    # They were first used at the end of epoch 1 (hours into a CelebA run).
    model, x, y = cvae
    steps = int(model.optimizer.iterations.numpy())
    grid = keras_gen.callbacks.SampleGrid(str(tmp_path), num_images=4, labels=[0, 1, 2, 7])
    with pytest.raises(ValueError, match=r"labels"):
        model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[grid])
    enc = networks.conditional_encoder(SHAPE, 2, condition_size=2, kind="dense", variational=True,
                                       hidden_units=(8,), features=8, condition_units=8)
    dec = networks.conditional_decoder(2, SHAPE, condition_size=2, kind="dense", variational=True,
                                       hidden_units=(8,))
    attributes = keras_gen.ConditionalVAE(enc, dec, condition_size=2, reconstruction="bce", seed=0)
    attributes.compile(optimizer="adam")
    grid = keras_gen.callbacks.SampleGrid(str(tmp_path), num_images=4)
    with pytest.raises(ValueError, match=r"labels is required: a ConditionalVAE conditioned on "
                                         r"attributes .*Received: labels=None"):
        attributes.fit(x, np.zeros((32, 2), "float32"), batch_size=16, epochs=1, verbose=0,
                       callbacks=[grid])
    assert int(attributes.optimizer.iterations.numpy()) == 0
    assert int(model.optimizer.iterations.numpy()) == steps and os.listdir(tmp_path) == []


@pytest.mark.parametrize("function", ["cluster", "compress", "refine_codes", "linear_probe", "mean_code",
                                      "attribute_vector", "alter"])
def test_tools_without_a_labels_argument_refuse_a_conditional_model(cvae, function):
    """They said "labels is required ... Received: labels=None" without a way to pass them."""
    model, x, y = cvae
    args = {"cluster": (x, 2), "compress": (x,), "refine_codes": (x,),
            "linear_probe": (x, y, x, y), "mean_code": (x,), "attribute_vector": (x[:4], x[4:]),
            "alter": (x[:2], x[2:6])}[function]
    hint = (r"alter_codes.*model.decode\(codes, labels=...\)" if function == "alter"
            else r"latent.encode\(model, x, labels=...\)")
    with pytest.raises(TypeError, match=rf"{function} takes an unconditional model: a ConditionalVAE "
                                        rf"encodes and decodes with labels.*{hint}"):
        getattr(keras_gen.latent, function)(model, *args)
    codes = keras_gen.latent.encode(model, x, labels=y)  # the way the message gives
    assert codes.shape == (len(x), model.latent_dim)


def test_reconstruction_mse_takes_the_labels_of_a_conditional_model(cvae):
    model, x, y = cvae
    expected = float(np.mean((model.reconstruct(x, labels=y) - x) ** 2))
    assert keras_gen.metrics.reconstruction_mse(model, x, labels=y) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match=r"labels is required"):
        keras_gen.metrics.reconstruction_mse(model, x)
    plain = keras_gen.AutoEncoder(networks.dense_encoder(SHAPE, 2, hidden_units=(8,)),
                                  networks.dense_decoder(2, SHAPE, hidden_units=(8,)))
    with pytest.raises(ValueError, match=r"labels must be None: a AutoEncoder is unconditional"):
        keras_gen.metrics.reconstruction_mse(plain, x, labels=y)
