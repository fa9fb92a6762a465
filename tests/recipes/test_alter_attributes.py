"""recipes/alter_attributes.py: smoke run on shapes, measured shares, argument errors."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from keras_gen.data.shapes import SHAPES_ATTRIBUTES
from tests import helpers
from tests.recipes.test_vae_digits import load_recipe
from tests.recipes.test_vae_digits import usage_error

HEAVY = ("keras", "tensorflow", "jax", "torch", "keras_gen", "sklearn")


@pytest.fixture(scope="module")
def recipe():
    return load_recipe("alter_attributes")


def test_smoke_writes_the_grid_and_prints_shares(recipe, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default --out-dir is relative to the working directory
    # --no-deterministic: op determinism is process-wide and this test runs in pytest's process.
    result = recipe.main(["--smoke", "--image-size", "16", "--attribute", "Blue", "--verbose", "0",
                          "--alphas", "0", "0.5", "1", "--refine-steps", "2",
                          "--save-model", os.path.join("models", "vae.keras"),
                          "--no-deterministic"])
    out = capsys.readouterr().out
    assert "latent_dim=16 = a spatial code of 1 channel(s), filters=(32, 64)" in out  # 4 x 4 x 1
    path = tmp_path / "outputs" / "alter_attributes" / "shapes_alter_Blue.png"
    assert [os.path.abspath(p) for p in result["paths"]] == [str(path)]
    image = np.asarray(Image.open(path))
    # Rows: 2 images per block (each mode without, then with the residual: 4
    # blocks), a blank row between blocks; columns: the original and 3 alphas.
    # 16 px tiles, 2 px padding, drawn at scale 2.
    rows, cols = 4 * 2 + 3, 1 + 3
    assert image.shape[:2] == (2 * (rows * 16 + (rows - 1) * 2), 2 * (cols * 16 + (cols - 1) * 2))
    assert image.std() > 5

    def tile(row, col):
        top, left = 2 * row * 18, 2 * col * 18
        return image[top:top + 32, left:left + 32].astype(int)

    # With the residual added, alpha = 0 is the original itself (block 2, after a
    # blank row); without it, the reconstruction, which differs.
    for row in (3, 4):
        assert np.abs(tile(row, 1) - tile(row, 0)).max() <= 1
    assert np.abs(tile(0, 1) - tile(0, 0)).mean() > 2
    assert [(name, mode) for name, mode, _, _ in result["rows"]] == [
        ("Blue", "vector"), ("Blue", "vector+res"), ("Blue", "target"), ("Blue", "target+res"),
        ("Blue", "perfect")]
    for _, _, n, shares in result["rows"]:
        assert n == 16
        assert set(shares) == set(recipe.COLUMNS)
        assert all(0.0 <= v <= 1.0 for v in shares.values())
        assert shares["both"] <= min(shares["target@1"], shares["kept"])
    for _, mode, _, shares in result["rows"]:  # +res: alpha = 0 is the original
        if mode.endswith("+res") or mode == "perfect":
            assert shares["kept"] == shares["kept/orig"]
    lines = [line.split() for line in out.splitlines() if line.startswith("Blue ")]
    assert [line[1] for line in lines] == ["vector", "vector+res", "target", "target+res",
                                           "perfect"]
    for line, (_, _, _, shares) in zip(lines, result["rows"]):
        printed = [float(v) for v in line[3:]]
        assert printed == pytest.approx(
            [shares[k] for k in recipe.COLUMNS], abs=6e-4)
    assert "kept/true: as the original's true labels" in out
    assert "Latent search: 2 steps per test code" in out
    # The saved VAE, loaded instead of trained, alters the same images the same way.
    again = recipe.main(["--smoke", "--image-size", "16", "--attribute", "Blue", "--verbose", "0",
                         "--alphas", "0", "0.5", "1", "--refine-steps", "2",
                         "--load-model", os.path.join("models", "vae.keras"), "--no-deterministic"])
    assert (f"Loaded the VAE of {os.path.join('models', 'vae.keras')} (not trained here)"
            in capsys.readouterr().out)
    assert again["history"] is None and again["seconds"] == 0.0
    for (_, _, _, first), (_, _, _, second) in zip(result["rows"], again["rows"]):
        assert second == pytest.approx(first)


def test_celeba_style_folder_writes_a_grid_without_measuring(recipe, tmp_path, capsys):
    # A CelebA-style folder: images plus list_attr_celeba.txt (1 / -1 per attribute).
    folder = tmp_path / "img_align_celeba"
    folder.mkdir()
    rng = np.random.default_rng(0)
    lines = []
    for i in range(12):
        Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(folder / f"{i:06d}.png")
        lines.append(f"{i:06d}.png {1 if i % 2 else -1} {1 if i % 3 == 0 else -1}")
    attributes = tmp_path / "list_attr_celeba.txt"
    attributes.write_text("12\nSmiling Bald\n" + "\n".join(lines) + "\n")
    out = tmp_path / "grids"
    with pytest.raises(SystemExit) as error:
        recipe.main(["--data-dir", str(folder), "--attributes-file", str(attributes), "--smoke",
                     "--attribute", "Blue", "--no-deterministic"])
    assert error.value.code == 2
    assert "one of the celeb_a attributes: Bald, Smiling. Received: --attribute=Blue" in (
        capsys.readouterr().err)
    result = recipe.main(["--data-dir", str(folder), "--attributes-file", str(attributes), "--smoke",
                          "--image-size", "16", "--attribute", "Smiling", "--out-dir", str(out),
                          "--verbose", "0", "--no-deterministic", "--latent-channels", "0",
                          "--residual", "none"])
    out_text = capsys.readouterr().out
    assert "No attribute classifier for CelebA" in out_text
    assert "latent_dim=8, filters=(16, 32)" in out_text  # --latent-channels 0: a Dense code
    assert result["rows"] == [] and result["paths"] == [str(out / "celeb_a_alter_Smiling.png")]
    # The last 2 of 12 images (by name) are the test images; image 10 lacks Smiling: 1 row per mode.
    image = np.asarray(Image.open(out / "celeb_a_alter_Smiling.png"))
    rows, cols = 1 + 1 + 1, 1 + 5
    assert image.shape[:2] == (2 * (rows * 16 + (rows - 1) * 2), 2 * (cols * 16 + (cols - 1) * 2))


def test_shares_hand_computed(recipe):
    # Columns: a one-hot group (0, 1, 2) holding the target 2, and two others (3, 4).
    pred0 = np.array([[1, 0, 0, 1, 0], [0, 1, 0, 0, 0], [1, 0, 0, 1, 1], [1, 0, 0, 0, 0]])
    pred1 = np.array([[0, 0, 1, 1, 0], [0, 0, 1, 1, 0], [1, 0, 0, 1, 1], [0, 0, 1, 0, 0]])
    truth = np.array([[1, 0, 0, 1, 0], [0, 1, 0, 1, 0], [1, 0, 0, 1, 1], [1, 0, 0, 0, 1]])
    shares = recipe.shares(pred0, pred1, truth, target=2, group=(0, 1, 2))
    # Hit the target: rows 0, 1, 3. Others unchanged against the decode: rows 0, 2, 3;
    # against the truth: rows 0, 1, 2. Both: rows 0, 3.
    assert shares == {"target@1": 0.75, "kept": 0.75, "both": 0.5, "kept/true": 0.75}
    # The classifier's labels of the originals: others unchanged against them in rows 0, 2;
    # they match the truth's others in rows 0, 2, 3.
    pred_x = np.array([[1, 0, 0, 1, 0], [0, 1, 0, 0, 1], [1, 0, 0, 1, 1], [1, 0, 0, 0, 1]])
    shares = recipe.shares(pred0, pred1, truth, target=2, group=(0, 1, 2), pred_x=pred_x)
    assert shares["kept/orig"] == 0.5 and shares["ceiling/true"] == 0.75


@pytest.mark.parametrize("name", SHAPES_ATTRIBUTES)
def test_perfect_edit_sets_the_attribute_and_nothing_else(recipe, name):
    from keras_gen.data import load_shapes
    from keras_gen.data import render_shapes
    from keras_gen.data import shape_factors

    _, y = load_shapes("test", image_size=8, num_examples=300)
    factors = shape_factors("test", num_examples=300)
    without = np.flatnonzero(y[:, SHAPES_ATTRIBUTES.index(name)] == 0)
    source = {k: v[without] for k, v in factors.items()}
    edited = recipe.perfect_edit(source, name)
    x2, y2 = render_shapes(edited, image_size=8)
    target = SHAPES_ATTRIBUTES.index(name)
    group = recipe.attribute_groups("shapes", list(SHAPES_ATTRIBUTES))[target]
    others = [j for j in range(len(SHAPES_ATTRIBUTES)) if j not in group]
    assert np.all(y2[:, target] == 1)
    np.testing.assert_array_equal(y2[:, others], y[without][:, others])
    # Only the attribute's factor moved; the input dict is left as it was.
    changed = [k for k in factors if not np.array_equal(edited[k], source[k])]
    assert len(changed) == 1
    np.testing.assert_array_equal(source["radius"], factors["radius"][without])
    with pytest.raises(ValueError, match="name must be a shapes attribute. Received: name='Hat'"):
        recipe.perfect_edit(source, "Hat")


def test_matched_means_hand_computed(recipe):
    # Columns 0, 1: a one-hot group (the target is 1); columns 2, 3: other attributes.
    labels = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 1, 0], [0, 1, 1, 0]])
    codes = np.array([[0.0, 1.0], [10.0, 1.0], [100.0, 2.0], [1000.0, 3.0], [3000.0, 5.0]])
    source = np.array([[1, 0, 1, 0], [1, 0, 0, 0], [1, 0, 0, 1]])
    z_t, z_s, fallback = recipe.matched_means(codes, labels, source, target=1, group=(0, 1))
    # Row 0: look-alikes (columns 2, 3 = 1, 0) are rows 2, 3, 4; with the target 3 and 4, with
    # its own class (column 0) row 2. Row 1: rows 1 and 0. Row 2 has no look-alike: all rows
    # with the target (1, 3, 4) and all with column 0 (0, 2).
    np.testing.assert_allclose(z_t, [[2000.0, 4.0], [10.0, 1.0], [4010.0 / 3, 3.0]], rtol=1e-6)
    np.testing.assert_allclose(z_s, [[100.0, 2.0], [0.0, 1.0], [50.0, 1.5]], rtol=1e-6)
    assert fallback == 1 and z_t.dtype == np.float32
    with pytest.raises(ValueError, match="no example has attribute column 3"):
        recipe.matched_means(codes, labels, source, target=3, group=(3,))


def test_bad_attribute_is_an_argparse_error_listing_the_names(recipe, capsys):
    with pytest.raises(SystemExit) as error:
        recipe.main(["--attribute", "Hexagon", "--smoke", "--no-deterministic"])
    assert error.value.code == 2
    err = capsys.readouterr().err
    assert "--attribute must be 'all' or one of the shapes attributes" in err
    assert ", ".join(SHAPES_ATTRIBUTES) in err
    assert "Received: --attribute=Hexagon" in err


def test_argument_errors_and_defaults(recipe, capsys):
    args = recipe.parse_args([])[1]
    assert args.alphas == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert args.modes == ["vector", "target"] and args.attribute in SHAPES_ATTRIBUTES
    assert args.residual == "both"
    assert (args.classifier_epochs, args.classifier_examples) == (12, 40_000)
    assert args.transport is True and recipe.parse_args(["--no-transport"])[1].transport is False
    assert args.deterministic is True and not os.path.isabs(args.out_dir)
    # The default code is spatial: 8 x 8 cells of 8 values at 64 px (three stages).
    assert (args.latent_channels, args.filters, args.latent_dim) == (8, [32, 64, 128], 512)
    assert recipe.parse_args(["--image-size", "32", "--latent-channels", "4"])[1].latent_dim == 4 * 4 * 4
    dense = recipe.parse_args(["--latent-channels", "0"])[1]
    assert (dense.filters, dense.latent_dim) == ([16, 32, 64, 128], 64)
    assert recipe.parse_args(["--latent-channels", "0", "--latent-dim", "32"])[1].latent_dim == 32
    for argv, message in ((["--data-dir", "faces"], "--data-dir and --attributes-file go together"),
                          (["--epochs", "0"], "--epochs must be >= 1. Received: --epochs=0"),
                          (["--latent-dim", "64"], "--latent-dim must be 8 x 8 x --latent-channels = "
                           "512 with a spatial code (or pass --latent-channels 0 for a Dense code). "
                           "Received: --latent-dim=64, --latent-channels=8"),
                          (["--latent-channels", "-1"],
                           "--latent-channels must be >= 0. Received: --latent-channels=-1"),
                          (["--modes", "sideways"], "invalid choice: 'sideways'"),
                          (["--residual", "yes"], "invalid choice: 'yes'"),
                          (["--classifier-examples", "40001"], "--classifier-examples must be "
                           "<= 40,000 (the shapes train split). Received: "
                           "--classifier-examples=40001"),
                          (["--classifier-epochs", "0"],
                           "--classifier-epochs must be >= 1. Received: --classifier-epochs=0")):
        with pytest.raises(SystemExit):
            recipe.parse_args(argv)
        assert message in capsys.readouterr().err


RUN_HELP = """
import json, runpy, sys
sys.argv = [sys.argv[1], "--help"]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "loaded": sorted(m for m in %r if m in sys.modules)}))
""" % (HEAVY,)


def test_help_loads_no_framework(tmp_path):
    path = os.path.join(helpers.REPO, "recipes", "alter_attributes.py")
    proc = subprocess.run([sys.executable, "-c", RUN_HELP, path], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert json.loads(lines[-1]) == {"code": 0, "loaded": []}
    text = " ".join(" ".join(lines[:-1]).split())
    assert "z = z1 + alpha (z_t,avg - z1)" in text and "--attribute" in text
    assert os.listdir(tmp_path) == []


def test_output_paths_are_checked_before_training(recipe, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("")
    (tmp_path / "folder.keras").mkdir()
    for argv, message in (
            # FileExistsError after training the VAE and the classifier
            (["--out-dir", "afile"], "--out-dir must be a folder; afile is a file. Received: --out-dir=afile"),
            (["--out-dir", os.path.join("afile", "grids")],
             f"--out-dir cannot be written to ({tmp_path / 'afile'} is a file). Received: --out-dir="),
            # raw Keras tracebacks after training
            (["--save-model", "vae.txt"], "--save-model must be a .keras file path. Received: --save-model=vae.txt"),
            (["--save-model", "folder.keras"], "--save-model must be a .keras file path; folder.keras is a "
                                               "folder. Received: --save-model=folder.keras"),
            (["--save-model", os.path.join("afile", "vae.keras")],
             f"--save-model cannot be written ({tmp_path / 'afile'} is a file). Received: --save-model=")):
        err, out = usage_error(recipe, ["--smoke", "--image-size", "16", "--no-deterministic"] + argv,
                               capsys)
        assert message in err, err
        assert out == ""
    assert sorted(os.listdir(tmp_path)) == ["afile", "folder.keras"]


@pytest.fixture(scope="module")
def wrong_models(tmp_path_factory):
    """Saved models --load-model must refuse: a GAN, a ConditionalVAE, a VAE of 8x8 grey images."""
    import keras

    import keras_gen
    from keras_gen import networks

    folder = tmp_path_factory.mktemp("wrong_models")
    shape = (16, 16, 3)  # the smoke runs' images
    generator = keras.Sequential([keras.Input((4,)), keras.layers.Dense(768, activation="tanh"),
                                  keras.layers.Reshape(shape)])
    discriminator = keras.Sequential([keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(1)])
    cvae = keras_gen.ConditionalVAE(
        networks.conditional_encoder(shape, 2, 3, kind="dense", variational=True,
                                     hidden_units=(16,), features=8, condition_units=8),
        networks.conditional_decoder(2, shape, 3, kind="dense", variational=True,
                                     hidden_units=(16,)), num_classes=3, seed=0)
    vae8 = keras_gen.VAE(networks.encoder((8, 8, 1), 2, kind="dense", variational=True,
                                          hidden_units=(16,)),
                         networks.decoder(2, (8, 8, 1), kind="dense", variational=True,
                                          hidden_units=(16,)), seed=0)
    paths = {}
    for name, model in (("gan", keras_gen.GAN(generator, discriminator, latent_dim=4, seed=0)),
                        ("cvae", cvae), ("vae8", vae8)):
        paths[name] = str(folder / f"{name}.keras")
        model.save(paths[name])
    return paths


@pytest.mark.parametrize("name, found", [
    ("gan", "a GAN"),  # AttributeError: 'NoneType' object has no attribute 'input_shape'
    ("cvae", "a ConditionalVAE"),  # "takes images of shape ((None, 3),)"
    ("vae8", "a VAE for images of shape (8, 8, 1); pass the data options (--image-size, "
             "--data-dir) of the run that saved it"),
])
def test_load_model_refuses_anything_but_a_vae_for_the_data(recipe, wrong_models, name, found,
                                                             tmp_path, capsys):
    path = wrong_models[name]
    err, out = usage_error(recipe, ["--smoke", "--image-size", "16", "--load-model", path,
                                    "--out-dir", str(tmp_path), "--no-deterministic"], capsys)
    assert ("--load-model must be a saved unconditional keras_gen.VAE (--save-model) for this "
            f"run's images of shape (16, 16, 3). Received: --load-model={path}, {found}") in err, err
    assert "Training" not in out and "Loaded" not in out
    assert os.listdir(tmp_path) == []
