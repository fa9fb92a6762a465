"""recipes/evaluate.py in smoke mode, on the running backend."""

import numpy as np
import pytest
from PIL import Image

from tests.recipes.test_vae_digits import load_recipe


def test_evaluate_smoke_prints_one_table_and_writes_pictures(tmp_path, capsys):
    recipe = load_recipe("evaluate")
    # --no-deterministic: op determinism is process-wide and this test runs in pytest's process.
    rows, table = recipe.main(["--smoke", "--out-dir", str(tmp_path), "--verbose", "0",
                               "--no-deterministic"])
    out = capsys.readouterr().out
    assert table in out and "Wall time:" in out
    # A status line as each long phase starts, in order, before the table.
    phases = ["Training the AE (1 epochs)", "Training the VAE (1 epochs)", "Training the GAN (1 epochs)",
              "Training the FID/KID feature extractor", "Scoring the real-data floor and PCA",
              "Scoring the AE:", "Scoring the VAE:", "Scoring the GAN:", "Drawing pictures in",
              "Compressing the AE's test codes, then refining them (3 steps)"]
    positions = [out.find(phase) for phase in phases]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), positions
    assert positions[-1] < out.find(table)
    assert "codes refined by 3 steps of latent.refine_codes, same ratio: test MSE" in out
    lines = table.splitlines()
    assert len(lines) == 2 + 5 and lines[0].count("|") == 10
    assert set(rows) == {"real train vs test (floor)", "PCA, 8 components",
                         "AE (z ~ Gaussian fit to codes)", "VAE (z ~ N(0, I))", "GAN (z ~ N(0, I))"}
    vae = rows["VAE (z ~ N(0, I))"]
    # The importance-weighted bound is at least as tight as the ELBO (same draws up to k).
    assert np.isfinite(vae["iw_nll"]) and vae["iw_nll"] <= vae["neg_elbo"] + 1.0
    for name, row in rows.items():
        assert "fid" not in row or row["fid"][0] >= 0
        if "probe" in row:
            assert 0.0 <= row["probe"] <= 1.0 and 0.0 <= row["nmi"] <= 1.0
    strips = {"interpolation_ae_linear": (4, 10), "interpolation_vae_slerp": (4, 10),
              "interpolation_gan_slerp": (4, 10), "alter_vae": (5, 8), "samples_gan": (8, 8)}
    for name, (r, c) in strips.items():
        image = np.asarray(Image.open(tmp_path / f"{name}.png"))
        assert image.shape[:2] == (2 * (r * 28 + (r - 1) * 2), 2 * (c * 28 + (c - 1) * 2)), name
    scatter = np.asarray(Image.open(tmp_path / "scatter_vae.png"))
    assert scatter.shape == (2 * 376, 2 * 360, 3) and scatter.std() > 5


def test_help_lists_every_knob(capsys):
    recipe = load_recipe("evaluate")
    try:
        recipe.parse_args(["--help"])
    except SystemExit:
        pass
    out = capsys.readouterr().out
    for flag in ("--latent-dim", "--ae-epochs", "--vae-epochs", "--gan-epochs", "--iw-k", "--refine-steps",
                 "--ae", "--vae", "--gan", "--out-dir", "--smoke"):
        assert flag in out
    assert "(default: 100)" in out


def test_negative_refine_steps_are_refused_before_training(capsys):
    recipe = load_recipe("evaluate")
    with pytest.raises(SystemExit) as exit_info:
        recipe.main(["--refine-steps", "-1"])
    assert exit_info.value.code == 2
    assert "--refine-steps must be >= 0. Received: --refine-steps=-1" in capsys.readouterr().err


def test_reproduce_smoke_writes_the_comparison_table(tmp_path, capsys):
    import json

    import keras
    import pytest

    recipe = load_recipe("evaluate")
    if keras.backend.backend() != "tensorflow":
        with pytest.raises(SystemExit, match="run it with KERAS_BACKEND=tensorflow"):
            recipe.main(["--reproduce", "--smoke", "--out-dir", str(tmp_path), "--no-deterministic"])
        return
    results, text = recipe.main(["--reproduce", "--smoke", "--out-dir", str(tmp_path),
                                 "--no-deterministic"])
    assert set(results) == {"ae", "vae", "gan"}
    assert "**AE vs PCA**" in text and "**VAE vs keras.io VAE**" in text and "Training wall time" in text
    vae = results["vae"][0]
    assert vae["margin"] == vae["reference"]["neg_elbo"] - vae["ours"]["neg_elbo"]
    gan = results["gan"][0]
    for name in ("package", "independent"):
        assert sum(gan["ours"][name]["class_counts"]) == 1000
        assert gan["reference"]["paper"][name]["fid"] >= 0
        assert gan["reference"]["tutorial"][name]["fid"] >= 0
        assert gan["ratio"][name] == gan["ours"][name]["fid"] / gan["reference"]["paper"][name]["fid"]
    # The smoke run goes on to 6 steps; its 3-step scores are the table's.
    assert set(gan["long"]) == {"3", "6"} and gan["long"]["3"] == gan["ours"]
    assert "**DCGAN vs the tutorial DCGAN**" in text and "Longer run (seed 0" in text
    assert json.loads((tmp_path / "quality.json").read_text())["ae"][0]["width"] == 2
    for name in ("vae_samples_keras_gen", "vae_samples_keras_io", "dcgan_samples_keras_gen",
                 "dcgan_samples_tutorial_paper_adam"):
        assert np.asarray(Image.open(tmp_path / f"{name}.png")).shape[:2] == (2 * (8 * 28 + 14),) * 2
    with pytest.raises(SystemExit, match="--parts takes a comma-separated subset of ae, vae, gan. "
                                         "Received: --parts='ae,gans'"):
        recipe.main(["--reproduce", "--parts", "ae,gans", "--out-dir", str(tmp_path),
                     "--no-deterministic"])
