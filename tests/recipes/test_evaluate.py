"""recipes/evaluate.py in smoke mode, on the running backend."""

import os

import numpy as np
import pytest
from PIL import Image

from tests.recipes.test_vae_digits import load_recipe
from tests.recipes.test_vae_digits import usage_error


def test_evaluate_smoke_prints_one_table_and_writes_pictures(tmp_path, capsys):
    recipe = load_recipe("evaluate")
    # --no-deterministic: op determinism is process-wide and this test runs in pytest's process.
    rows, table = recipe.main(["--smoke", "--out-dir", str(tmp_path), "--verbose", "0",
                               "--no-deterministic"])
    out = capsys.readouterr().out
    assert table in out and "Wall time:" in out
    # A status line as each long phase starts, in order; the numbers (the table and the
    # compression line) are printed before the pictures are drawn, so a picture that
    # cannot be written does not lose them.
    phases = ["Training the AE (1 epochs)", "Training the VAE (1 epochs)", "Training the GAN (1 epochs)",
              "Training the FID/KID feature extractor", "Scoring the real-data floor and PCA",
              "Scoring the AE:", "Scoring the VAE:", "Scoring the GAN:",
              "Compressing the AE's test codes, then refining them (3 steps)", table,
              "Compression (AE):", "Drawing pictures in", "Wall time:"]
    positions = [out.find(phase) for phase in phases]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), positions
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


def test_reproduce_flags_are_checked_before_any_work(tmp_path, capsys):
    recipe = load_recipe("evaluate")
    # Without --reproduce they would be ignored (--parts ae started the full evaluation).
    for argv, received in ((["--parts", "ae"], "--parts applies only with --reproduce. Received: "
                                              "--parts=ae"),
                           (["--gan-options", "ema", "--gan-long-steps", "0"],
                            "--gan-options, --gan-long-steps apply only with --reproduce. "
                            "Received: --gan-options=ema, --gan-long-steps=0")):
        err, out = usage_error(recipe, argv + ["--out-dir", str(tmp_path)], capsys)
        assert received in err and "Training" not in out
    # The help's "0: skip" is accepted; 5000 is the default with --reproduce.
    assert recipe.parse_args(["--reproduce", "--gan-long-steps", "0"]).gan_long_steps == 0
    assert recipe.parse_args(["--reproduce"]).gan_long_steps == 5000
    assert recipe.parse_args(["--reproduce"]).parts == "ae,vae,gan"
    with pytest.raises(SystemExit):
        recipe.parse_args(["--reproduce", "--gan-long-steps", "-1"])
    assert "--gan-long-steps must be >= 0. Received: --gan-long-steps=-1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        recipe.parse_args(["--reproduce", "--parts", "ae,gans"])
    assert info.value.code == 2
    assert ("--parts takes a comma-separated subset of ae, vae, gan. Received: --parts='ae,gans'"
            in capsys.readouterr().err)
    # Checked against benchmarks/quality.py before the data loads (any backend).
    err, out = usage_error(recipe, ["--reproduce", "--gan-options", "ema+nosuch", "--out-dir",
                                    str(tmp_path), "--no-deterministic"], capsys)
    assert ("--gan-options must be names of benchmarks/quality.py's GAN_OPTIONS joined by '+': "
            "ada, ada_tc," in err)
    assert "paper" in err and "Received: --gan-options=ema+nosuch" in err
    assert "Reproducing" not in out
    # A long run shorter than the comparison's 1,500 steps (it failed after an hour).
    err, _ = usage_error(recipe, ["--reproduce", "--parts", "gan", "--gan-long-steps", "100",
                                  "--out-dir", str(tmp_path), "--no-deterministic"], capsys)
    assert ("--gan-long-steps must be 0 (skip) or at least the comparison's 1500 steps. "
            "Received: --gan-long-steps=100") in err
    assert os.listdir(tmp_path) == []


def test_an_out_dir_that_cannot_be_a_folder_is_refused_before_any_work(tmp_path, capsys):
    recipe = load_recipe("evaluate")
    (tmp_path / "afile").write_text("")
    for out_dir, message in (("afile", "--out-dir must be a folder; afile is a file. "
                                       "Received: --out-dir=afile"),
                             (os.path.join("afile", "sub"), "afile is a file). Received: --out-dir=")):
        for reproduce in ([], ["--reproduce"]):
            err, out = usage_error(recipe, ["--smoke", "--out-dir", str(tmp_path / out_dir)]
                                   + reproduce, capsys)
            assert message.replace("afile", str(tmp_path / "afile")) in err, err
            assert out == ""


def make_model_files(folder):
    """Small saved models of the wrong kind or image shape for --ae / --vae / --gan."""
    import keras

    import keras_gen
    from keras_gen import networks

    def vae(shape):
        return keras_gen.VAE(networks.encoder(shape, 2, kind="dense", variational=True,
                                              hidden_units=(16,)),
                             networks.decoder(2, shape, kind="dense", variational=True,
                                              hidden_units=(16,)), seed=0)

    cvae = keras_gen.ConditionalVAE(
        networks.conditional_encoder((28, 28, 1), 2, 3, kind="dense", variational=True,
                                     hidden_units=(16,), features=8, condition_units=8),
        networks.conditional_decoder(2, (28, 28, 1), 3, kind="dense", variational=True,
                                     hidden_units=(16,)), num_classes=3, seed=0)
    z, c = keras.Input((4,)), keras.Input((3,))
    hidden = keras.layers.Dense(784, activation="tanh")(keras.layers.Concatenate()([z, c]))
    generator = keras.Model([z, c], keras.layers.Reshape((28, 28, 1))(hidden))
    x, c2 = keras.Input((28, 28, 1)), keras.Input((3,))
    logit = keras.layers.Dense(1)(keras.layers.Concatenate()([keras.layers.Flatten()(x), c2]))
    cgan = keras_gen.ConditionalGAN(generator, keras.Model([x, c2], logit), latent_dim=4,
                                    num_classes=3, seed=0)
    gen8 = keras.Sequential([keras.Input((3,)), keras.layers.Dense(64, activation="tanh"),
                             keras.layers.Reshape((8, 8, 1))])
    paths = {}
    ae4 = keras_gen.AutoEncoder(networks.encoder((28, 28, 1), 4, kind="dense", hidden_units=(16,)),
                                networks.decoder(4, (28, 28, 1), kind="dense", hidden_units=(16,)))
    for name, model in (("vae8", vae((8, 8, 1))), ("cvae", cvae), ("cgan", cgan), ("gen8", gen8),
                        ("ae4", ae4), ("vae28", vae((28, 28, 1)))):
        paths[name] = str(folder / f"{name}.keras")
        model.save(paths[name])
    return paths


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    return make_model_files(tmp_path_factory.mktemp("models"))


@pytest.mark.parametrize("flag, name, found", [
    ("vae", "cvae", "a ConditionalVAE"),  # passed isinstance(VAE), failed in latent.cluster
    ("vae", "vae8", "a VAE for images of shape (8, 8, 1)"),  # failed after the others trained
    ("ae", "vae8", "a VAE"),
    ("gan", "gen8", "a Sequential that makes images of shape (8, 8, 1)"),  # "Matrix size-incompatible"
    ("gan", "cgan", "a ConditionalGAN"),  # int() argument must be ... not 'tuple'
    ("gan", "cvae", "a ConditionalVAE"),  # AttributeError
])
def test_a_loaded_model_of_another_kind_or_image_shape_is_refused_before_training(
        model_files, flag, name, found, tmp_path, capsys):
    recipe = load_recipe("evaluate")
    path = model_files[name]
    err, out = usage_error(recipe, ["--smoke", f"--{flag}", path, "--out-dir", str(tmp_path),
                                    "--verbose", "0", "--no-deterministic"], capsys)
    expected = {"ae": "a saved keras_gen.AutoEncoder for 28x28x1 images",
                "vae": "a saved unconditional keras_gen.VAE for 28x28x1 images",
                "gan": "a saved unconditional keras_gen.GAN, or a generator network, for 28x28x1 images"}
    assert f"--{flag} must be {expected[flag]}. Received: --{flag}={path}, {found}" in err, err
    assert "Training" not in out and os.listdir(tmp_path) == []


def test_the_width_of_loaded_models_is_the_comparisons_or_a_usage_error(model_files, tmp_path, capsys):
    # The PCA row and any model trained here take --latent-dim: a loaded AE of
    # another width was compared with PCA at 8 components without a word.
    recipe = load_recipe("evaluate")
    common = ["--smoke", "--out-dir", str(tmp_path), "--verbose", "0", "--no-deterministic"]
    ae4, vae2 = model_files["ae4"], model_files["vae28"]
    err, out = usage_error(recipe, common + ["--ae", ae4, "--latent-dim", "8"], capsys)
    assert (f"Received: --ae={ae4}, an AutoEncoder of latent_dim 4 where --latent-dim=8 asks for 8 "
            "(leave out --latent-dim to use the file's width)") in err, err
    err, out = usage_error(recipe, common + ["--ae", ae4, "--vae", vae2], capsys)
    assert (f"Received: --ae={ae4}, an AutoEncoder of latent_dim 4 where --vae's has latent_dim 2 "
            "(the comparison has one width: give models of one)") in err, err
    assert "Training" not in out and os.listdir(tmp_path) == []
    parser = recipe.build_parser()
    for argv, width in ((["--ae", ae4], 4), (["--vae", vae2], 2), (["--ae", ae4, "--latent-dim", "4"], 4),
                        ([], recipe.LATENT_DIM), (["--latent-dim", "3"], 3)):
        args = recipe.parse_args(common + argv, parser)
        ae, vae, _ = recipe.load_models(parser, args, np.zeros((2, 28, 28, 1), "float32"))
        assert args.latent_dim == width
        assert {m.latent_dim for m in (ae, vae) if m is not None} <= {width}


def test_flags_that_reproduce_ignores_are_usage_errors(model_files, tmp_path, capsys):
    recipe = load_recipe("evaluate")
    err, out = usage_error(recipe, ["--reproduce", "--ae", model_files["ae4"], "--gan-epochs", "3",
                                    "--out-dir", str(tmp_path), "--no-deterministic"], capsys)
    assert ("--gan-epochs, --ae apply only without --reproduce (which trains benchmarks/quality.py's "
            f"own settings). Received: --gan-epochs=3, --ae={model_files['ae4']}") in err, err
    assert "Reproducing" not in out and os.listdir(tmp_path) == []


def test_loaded_models_are_evaluated_and_the_table_survives_a_failed_picture(
        tmp_path, capsys, monkeypatch):
    import keras

    import keras_gen
    from keras_gen import networks

    recipe = load_recipe("evaluate")
    shape = (28, 28, 1)
    ae = keras_gen.AutoEncoder(networks.encoder(shape, 8, kind="dense", hidden_units=(16,)),
                               networks.decoder(8, shape, kind="dense", hidden_units=(16,)),
                               reconstruction="mse")
    vae = keras_gen.VAE(networks.encoder(shape, 8, kind="dense", variational=True, hidden_units=(16,)),
                        networks.decoder(8, shape, kind="dense", variational=True, hidden_units=(16,)),
                        seed=0)
    generator = keras.Sequential([keras.Input((5,)), keras.layers.Dense(784, activation="tanh"),
                                  keras.layers.Reshape(shape)])
    discriminator = keras.Sequential([keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(1)])
    gan = keras_gen.GAN(generator, discriminator, latent_dim=5, seed=0)
    argv = ["--smoke", "--verbose", "0", "--no-deterministic", "--out-dir", str(tmp_path / "out")]
    for flag, model in (("ae", ae), ("vae", vae), ("gan", gan)):
        model.save(tmp_path / f"{flag}.keras")
        argv += [f"--{flag}", str(tmp_path / f"{flag}.keras")]

    def cannot_write(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(keras_gen.images, "save_image_grid", cannot_write)
    with pytest.raises(OSError, match="No space left on device"):
        recipe.main(argv)
    out = capsys.readouterr().out
    assert "Training the" not in out.replace("Training the FID/KID feature extractor", "")
    table = out.index("| GAN (z ~ N(0, I)) |")
    assert out.index("| AE (z ~ Gaussian fit to codes) |") < table < out.index("Drawing pictures in")
    assert "Compression (AE): 784 float32 pixels -> 8 float16 codes" in out
