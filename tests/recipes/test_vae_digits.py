"""The quickstart recipe in smoke mode, on the running backend."""

import importlib.util
import json
import os

import keras
import numpy as np
import pytest
from PIL import Image

from tests import helpers


def load_recipe(name):
    path = os.path.join(helpers.REPO, "recipes", f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def usage_error(recipe, argv, capsys):
    """``recipe.main(argv)``'s usage error: (stderr, stdout); it must exit with status 2."""
    with pytest.raises(SystemExit) as info:
        recipe.main(argv)
    assert info.value.code == 2
    captured = capsys.readouterr()
    return captured.err, captured.out


def test_quickstart_smoke(tmp_path, capsys, monkeypatch):
    from keras_gen.data import load_digits

    recipe = load_recipe("vae_digits")
    # Default output paths are relative to the working directory.
    monkeypatch.chdir(tmp_path)
    # --no-deterministic: op determinism is process-wide and this test runs in pytest's process.
    vae, history = recipe.main(["--smoke", "--verbose", "0", "--no-deterministic"])
    model_path = tmp_path / "saved_models" / "vae_digits.keras"
    pictures = tmp_path / "outputs" / "vae_digits"
    out = capsys.readouterr().out
    assert "Validation: reconstruction_loss=" in out
    assert len(history.history["val_loss"]) == 2
    for name, size in (("samples", (8, 8)), ("reconstructions", (4, 8)), ("interpolation", (4, 10))):
        image = np.asarray(Image.open(pictures / f"{name}.png"))
        rows, cols = size
        # 28 px tiles, 2 px padding, drawn at scale 2.
        assert image.shape[:2] == (2 * (rows * 28 + (rows - 1) * 2), 2 * (cols * 28 + (cols - 1) * 2))
        assert image.std() > 5  # not a blank picture
    # The recipe exports the decoder and encoder for mobile, each with a manifest.
    for stem in ("vae_digits_decoder.tflite", "vae_digits_decoder_int8.tflite", "vae_digits_encoder.tflite"):
        assert (tmp_path / "saved_models" / stem).exists()
        manifest = json.loads((tmp_path / "saved_models" / (stem + ".json")).read_text())
        assert manifest["source_backend"] == keras.backend.backend()
    loaded = keras.saving.load_model(model_path)
    x = load_digits("test")[0][:4]
    np.testing.assert_allclose(loaded.reconstruct(x), vae.reconstruct(x), rtol=1e-5, atol=1e-6)


def test_quickstart_help_lists_every_knob(capsys):
    recipe = load_recipe("vae_digits")
    try:
        recipe.parse_args(["--help"])
    except SystemExit:
        pass
    out = capsys.readouterr().out
    for flag in ("--epochs", "--batch-size", "--latent-dim", "--kl-weight", "--reconstruction",
                 "--learning-rate", "--seed", "--out-dir", "--model-path", "--export-dir", "--no-export", "--smoke"):
        assert flag in out
    assert "(default: 0.00128)" in out
