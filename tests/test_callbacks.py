import os
import stat

import keras
import numpy as np
import pytest
from PIL import Image

import keras_gen
from tests import helpers
from tests.models.test_gan import tiny_gan


def test_sample_grid_for_a_gan_is_fixed_across_epochs(tmp_path):
    gan = tiny_gan()
    gan.compile(d_optimizer=keras.optimizers.Adam(0.0), g_optimizer=keras.optimizers.Adam(0.0))
    real = np.zeros((32, 4, 4, 1), "float32")
    cb = keras_gen.callbacks.SampleGrid(tmp_path / "grid", num_images=9, seed=3, scale=1, log_dir=str(tmp_path / "tb"))
    gan.fit(real, batch_size=32, epochs=2, verbose=0, callbacks=[cb])
    assert [os.path.basename(p) for p in cb.paths] == ["epoch_001.png", "epoch_002.png"]
    first, second = (np.asarray(Image.open(p)) for p in cb.paths)
    assert first.shape == (3 * 4 + 2 * 2, 3 * 4 + 2 * 2)
    # Learning rate 0 but BatchNorm statistics move in training; inference output
    # uses the same fixed z, so the grid is a deterministic function of the weights.
    expected = keras_gen.images.image_grid(gan.generator.predict(cb.latent_batch(), verbose=0), value_range=(-1, 1))
    np.testing.assert_array_equal(second, expected[..., 0])
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(tmp_path / "tb"))


def test_sample_grid_for_a_vae_uses_the_decoder(tmp_path, images):
    vae = keras_gen.VAE(helpers.tiny_encoder(variational=True), helpers.tiny_decoder(), seed=0)
    vae.compile(optimizer="adam")
    cb = keras_gen.callbacks.SampleGrid(tmp_path, num_images=4, every=2, scale=1)
    vae.fit(images, batch_size=32, epochs=3, verbose=0, callbacks=[cb])
    assert [os.path.basename(p) for p in cb.paths] == ["epoch_002.png", "epoch_003.png"]
    expected = keras_gen.images.image_grid(vae.decode(cb.latent_batch()), value_range=(0, 1))
    np.testing.assert_array_equal(np.asarray(Image.open(cb.paths[-1])), expected[..., 0])


@pytest.mark.parametrize("kwargs,match", [
    ({"num_images": 0}, "num_images must be a positive integer. Received: num_images=0"),
    ({"every": -1}, "every must be a positive integer"),
    ({"filename": "x.png"}, "filename must contain an {epoch} field"),
    # a field other than {epoch}, or a format an int does not take, fails now, not after epoch 1
    ({"filename": "{epochs}.png"}, r"filename must be a str.format pattern .*Received: filename='\{epochs\}.png'"),
    ({"filename": "{epoch:q}.png"}, r"filename must be a str.format pattern .*Received: filename='\{epoch:q\}.png'"),
    ({"filename": "{epoch}_{0}.png"}, "filename must be a str.format pattern"),
])
def test_sample_grid_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        keras_gen.callbacks.SampleGrid(tmp_path, **kwargs)


def test_image_grid_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"Received: images.shape=\(4, 4\)"):
        keras_gen.images.image_grid(np.zeros((4, 4)))


# ------------------------------------------------------------------ KLWarmup
def _warmup_vae(kl_weight=1.0):
    keras.utils.set_random_seed(0)
    vae = keras_gen.VAE(helpers.tiny_encoder(variational=True), helpers.tiny_decoder(),
                        kl_weight=kl_weight, seed=0)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    return vae


def test_kl_warmup_at_zero_trains_on_the_reconstruction_alone(images):
    # With the factor held near 0 the logged loss is the reconstruction term;
    # without the callback it includes lambda * KL. On JAX this fails unless
    # the assignment reaches the jitted step's state.
    vae = _warmup_vae()
    warm = vae.fit(images, batch_size=16, epochs=2, verbose=0,
                   callbacks=[keras_gen.callbacks.KLWarmup(10**6)]).history
    np.testing.assert_allclose(warm["loss"], warm["reconstruction_loss"], rtol=1e-3)
    assert min(warm["kl_loss"]) > 0.01
    assert float(vae.sampling.kl_anneal.numpy()) == 1.0  # restored for evaluation
    plain = _warmup_vae().fit(images, batch_size=16, epochs=1, verbose=0).history
    assert plain["loss"][0] > plain["reconstruction_loss"][0] + 0.01


def test_kl_warmup_factor_ramps_per_batch_and_resumes_by_epoch():
    cb = keras_gen.callbacks.KLWarmup(4, start=0.2)
    assert [cb.factor(s) for s in range(6)] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0, 1.0])
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(float(layer.kl_anneal.numpy()))

    vae = _warmup_vae()
    layer = vae.sampling
    x = np.random.default_rng(0).random((32, 8, 8, 1)).astype("float32")
    cb = keras_gen.callbacks.KLWarmup(4)
    # JAX keeps variable values in fit's state between syncs: no live reads.
    spy = [] if keras.backend.backend() == "jax" else [Spy()]
    vae.fit(x, batch_size=16, epochs=1, verbose=0, callbacks=[cb, *spy])
    # Resuming at epoch 1 (2 steps per epoch) continues the ramp at step 2.
    vae.fit(x, batch_size=16, epochs=2, initial_epoch=1, verbose=0, callbacks=[cb, *spy])
    if spy:
        assert seen == pytest.approx([0.0, 0.25, 0.5, 0.75])
    assert cb.step == 4


def test_kl_warmup_reaches_a_user_model_with_a_sampling_layer(images):
    inputs = keras.Input((8, 8, 1))
    z_mean, z_log_sigma = helpers.tiny_encoder(variational=True)(inputs)
    z = keras_gen.layers.Sampling(kl_weight=1.0, seed=0)([z_mean, z_log_sigma])
    model = keras.Model(inputs, helpers.tiny_decoder()(z))
    model.compile(optimizer="adam", loss="mse")
    cb = keras_gen.callbacks.KLWarmup(10**6)
    history = model.fit(images, images, batch_size=16, epochs=1, verbose=0, callbacks=[cb]).history
    mse = float(np.mean((model.predict(images, verbose=0) - images) ** 2))
    assert len(cb._layers) == 1
    assert history["loss"][0] < mse + 0.05  # no lambda * KL (~1 nat) in the loss


@pytest.mark.parametrize("kwargs,error,match", [
    ({"warmup_steps": 0}, ValueError, "warmup_steps must be a positive integer. Received: warmup_steps=0"),
    ({"warmup_steps": 2.5}, TypeError, "Received: warmup_steps=2.5"),
    ({"warmup_steps": 10, "start": 1.5}, ValueError, "start must be a finite number >= 0 and <= 1. Received: start=1.5"),
])
def test_kl_warmup_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        keras_gen.callbacks.KLWarmup(**kwargs)


def test_kl_warmup_needs_a_sampling_layer(images):
    ae = keras_gen.AutoEncoder(helpers.tiny_encoder(), helpers.tiny_decoder())
    ae.compile(optimizer="adam")
    with pytest.raises(ValueError, match="KLWarmup needs a model with a keras_gen.layers.Sampling"):
        ae.fit(images, epochs=1, verbose=0, callbacks=[keras_gen.callbacks.KLWarmup(5)])


def test_png_files_get_the_umask_permissions_not_0600(tmp_path):
    # What any new file gets: 0o666 minus the process's umask.
    mask = os.umask(0o022)
    try:
        path = keras_gen.images.save_png(np.zeros((4, 4, 1), "uint8"), str(tmp_path / "a.png"))
    finally:
        os.umask(mask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]  # no temporary left behind
