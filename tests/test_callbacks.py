import os

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
])
def test_sample_grid_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        keras_gen.callbacks.SampleGrid(tmp_path, **kwargs)


def test_image_grid_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"Received: images.shape=\(4, 4\)"):
        keras_gen.images.image_grid(np.zeros((4, 4)))
