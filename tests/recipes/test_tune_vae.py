"""The tuning recipe in smoke mode, on the running backend."""

import keras
import numpy as np
import pytest

import keras_gen
from tests.recipes.test_vae_digits import load_recipe

HEADER = ("| trial | latent_dim | kl_weight | learning_rate | val_neg_elbo "
          "| val_reconstruction_loss | val_kl_loss | status |")


def run(recipe, tmp_path, *extra):
    return recipe.main(["--smoke", "--directory", str(tmp_path / "search"),
                        "--model-path", str(tmp_path / "best.keras"), *extra])


def test_tune_vae_smoke_then_resume(tmp_path, capsys):
    recipe = load_recipe("tune_vae")
    tuner, best = run(recipe, tmp_path)
    out = capsys.readouterr().out
    assert out.count("trial done:") == 2
    assert out.count("    epoch 1/1: val_neg_elbo=") == 2  # progress within each trial
    table = [line for line in out.splitlines() if line.startswith("|")]
    assert table[0] == HEADER and len(table) == 4
    assert all(line.endswith("| COMPLETED |") for line in table[2:])
    assert tuner.oracle.seed == 1  # --seed 0: keras-tuner would draw a seed at random for 0
    best_hp = tuner.get_best_hyperparameters()[0]
    assert 2 <= best_hp["latent_dim"] <= 32 and 1e-4 <= best_hp["kl_weight"] <= 1.0
    assert f"Best: latent_dim={best_hp['latent_dim']} " in out

    loaded = keras.saving.load_model(tmp_path / "best.keras")
    assert isinstance(loaded, keras_gen.VAE) and loaded.latent_dim == best_hp["latent_dim"]
    x = keras_gen.data.load_digits("test", image_size=8, with_labels=False)[:4]
    np.testing.assert_allclose(loaded.reconstruct(x), best.reconstruct(x), rtol=1e-5, atol=1e-6)

    # The same command again resumes: no trial runs, the same table.
    run(recipe, tmp_path)
    again = capsys.readouterr().out
    assert "2 finished trials found" in again and "trial done:" not in again
    assert [line for line in again.splitlines() if line.startswith("|")] == table

    # Other settings in the same directory are refused, not mixed in.
    with pytest.raises(SystemExit, match=r"holds a search run with other settings.*'kind': \('dense', 'conv'\)"):
        run(recipe, tmp_path, "--kind", "conv")


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--latent-dim", "32", "2"], r"error: .*'latent_dim'.*min_value 32 is greater than the max_value 2"),
        (["--kl-weight", "0", "1"], r"error: .*'kl_weight'.*sampling='log' does not support .* min_value: 0.0"),
        (["--latent-dim", "2", "4", "8"], r"--latent-dim takes one value or LOW HIGH"),
        (["--objective", "val_accuracy"], r"error: The objective 'val_accuracy' is not reported by VAE"),
        (["--objective", "val_loss"], r"error: The objective 'val_loss' is the VAE's total loss"),
    ],
)
def test_bad_search_is_refused_before_any_trial(tmp_path, extra, match):
    recipe = load_recipe("tune_vae")
    with pytest.raises(SystemExit, match=match):
        run(recipe, tmp_path, *extra)
    assert not (tmp_path / "search").exists()


@pytest.mark.parametrize("extra, message", [
    (["--kl-weight", "-1"], "--kl-weight must be a finite number >= 0. Received: --kl-weight=-1.0"),
    (["--max-trials", "0"], "--max-trials must be >= 1. Received: --max-trials=0"),  # searched forever
    (["--epochs", "0"], "--epochs must be >= 1. Received: --epochs=0"),
    (["--train-size", "-1000"], "--train-size must be >= 1. Received: --train-size=-1000"),
    (["--latent-dim", "2", "0"], "--latent-dim must be >= 1. Received: --latent-dim=2 0"),
    (["--learning-rate", "nan"], "--learning-rate must be a finite number > 0. Received: --learning-rate=nan"),
    (["--image-size", "300"], "--image-size must be <= 256. Received: --image-size=300"),
])
def test_bad_flags_are_usage_errors(tmp_path, capsys, extra, message):
    recipe = load_recipe("tune_vae")
    with pytest.raises(SystemExit) as info:
        run(recipe, tmp_path, *extra)
    assert info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "search").exists()


def test_tune_vae_help_lists_every_knob(capsys):
    recipe = load_recipe("tune_vae")
    with pytest.raises(SystemExit):
        recipe.parse_args(["--help"])
    out = capsys.readouterr().out
    for flag in ("--tuner", "--max-trials", "--epochs", "--batch-size", "--latent-dim",
                 "--kl-weight", "--learning-rate", "--objective", "--reconstruction", "--kind",
                 "--image-size", "--train-size", "--seed", "--directory", "--project-name",
                 "--overwrite", "--model-path", "--verbose", "--smoke"):
        assert flag in out
    assert "(default: val_neg_elbo)" in out
    assert "tune_vae_best.keras" in out and "outputs/tune_vae" in out
