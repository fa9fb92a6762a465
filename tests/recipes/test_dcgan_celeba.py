"""recipes/dcgan_celeba.py: TFDS smoke run, offline digits, resume, errors."""

import keras
import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

import keras_gen
from tests.recipes.test_vae_digits import load_recipe


def n(v):
    return keras.ops.convert_to_numpy(v)


def test_smoke_over_mocked_celeba(tmp_path):
    recipe = load_recipe("dcgan_celeba")
    with tfds.testing.mock_data(num_examples=64):
        gan, history = recipe.main(
            ["--smoke", "--image-size", "32", "--latent-dim", "16", "--out-dir", str(tmp_path),
             "--generator-path", str(tmp_path / "g.keras"), "--verbose", "0", "--no-export"]
        )
    assert gan.image_shape == (32, 32, 3)
    assert len(history.history["d_loss"]) == 2
    grid = np.asarray(Image.open(tmp_path / "epoch_002.png"))
    assert grid.shape == (2 * (8 * 32 + 7 * 2), 2 * (8 * 32 + 7 * 2), 3)
    generator = keras.saving.load_model(tmp_path / "g.keras")
    z = np.random.default_rng(0).normal(size=(2, 16)).astype("float32")
    np.testing.assert_allclose(generator.predict(z, verbose=0), gan.generator.predict(z, verbose=0), rtol=1e-5, atol=1e-6)


def test_interrupted_run_resumes_both_optimizers(tmp_path, monkeypatch):
    recipe = load_recipe("dcgan_celeba")
    args = ["--dataset", "digits", "--epochs", "3", "--steps-per-epoch", "2", "--batch-size", "16",
            "--latent-dim", "8", "--d-steps", "2", "--out-dir", str(tmp_path),
            "--generator-path", str(tmp_path / "g.keras"), "--verbose", "0", "--no-export"]
    original = keras_gen.callbacks.SampleGrid.on_epoch_end

    def crash_in_second_epoch(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt
        return original(self, epoch, logs)

    monkeypatch.setattr(keras_gen.callbacks.SampleGrid, "on_epoch_end", crash_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        recipe.main(args)
    assert not (tmp_path / "g.keras").exists()
    monkeypatch.setattr(keras_gen.callbacks.SampleGrid, "on_epoch_end", original)
    gan, history = recipe.main(args)
    assert len(history.history["d_loss"]) == 2  # epochs 2 and 3 only
    assert int(n(gan.g_optimizer.iterations)) == 6
    assert int(n(gan.d_optimizer.iterations)) == 12
    assert (tmp_path / "g.keras").exists()


def test_unavailable_dataset_says_how_to_supply_it(tmp_path, monkeypatch, capsys):
    recipe = load_recipe("dcgan_celeba")

    def unavailable(*args, **kwargs):
        raise keras_gen.data.DatasetUnavailableError("celeb_a is not available here")

    monkeypatch.setattr(keras_gen.data, "load", unavailable)
    with pytest.raises(SystemExit) as info:
        recipe.main(["--out-dir", str(tmp_path)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "celeb_a is not available here" in err and "--data-dir" in err


def test_help_lists_every_knob_with_defaults(capsys):
    recipe = load_recipe("dcgan_celeba")
    with pytest.raises(SystemExit):
        recipe.parse_args(["--help"])
    out = capsys.readouterr().out
    for flag in ("--dataset", "--data-dir", "--tfds-data-dir", "--image-size", "--epochs", "--steps-per-epoch",
                 "--batch-size", "--latent-dim", "--d-steps", "--generator-loss", "--label-smoothing",
                 "--learning-rate", "--beta-1", "--seed", "--out-dir", "--checkpoint-dir", "--generator-path",
                 "--smoke"):
        assert flag in out
    assert "(default: celeb_a)" in out and "(default: 0.0002)" in out
