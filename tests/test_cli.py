"""The command line (keras_gen.cli): grids checked against the models' own outputs.

Commands run in this process through ``cli.main(argv)``. Expected pixels are
computed here from the networks' ``predict`` on NumPy latent draws and a
NumPy mapping to uint8, not with the package's grid helpers. Only the
``.keras`` generate check runs on every backend; the command logic (labels,
grids, data, errors) is the same on every backend and runs on PyTorch (the
cheapest ``predict``), the export round trip on TensorFlow (export converts
in this process there) and the ``--help`` start-up check once, on JAX.
"""

import json
import os
import resource
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

import keras_gen
from keras_gen import cli
from keras_gen import networks
from keras_gen.data.digits import load_digits

BACKEND = keras.backend.backend()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOGIC = pytest.mark.skipif(
    BACKEND != "torch",
    reason="the command logic is the same on every backend; checked on torch (cheapest predict)",
)
ON_TENSORFLOW = pytest.mark.skipif(
    BACKEND != "tensorflow",
    reason="artefacts run without Keras; exporting converts in this process on TensorFlow only",
)
ONE_START_UP = pytest.mark.skipif(
    BACKEND != "jax", reason="start-up imports do not depend on the backend; one fresh process"
)


# ------------------------------------------------------------------ helpers
def run(argv, capsys):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def tiles(png, n, cols, shape):
    """The n images of a grid PNG written with --scale 1 --padding 0."""
    h, w, c = shape
    grid = np.asarray(Image.open(png))
    grid = grid[..., None] if grid.ndim == 2 else grid
    rows = -(-n // cols)
    assert grid.shape == (rows * h, cols * w, c)
    return grid.reshape(rows, h, cols, w, c).transpose(0, 2, 1, 3, 4).reshape(-1, h, w, c)[:n]


def to_uint8(images, low, high):
    scaled = np.clip((np.asarray(images, "float64") - low) / (high - low), 0.0, 1.0)
    return np.round(scaled * 255.0)


def assert_pixels(png, images, cols, value_range):
    images = np.asarray(images).reshape((-1,) + images.shape[-3:])
    found = tiles(png, len(images), cols, images.shape[1:]).astype("float64")
    np.testing.assert_allclose(found, to_uint8(images, *value_range), atol=1.0)


GRID = ["--scale", 1, "--padding", 0]


def normal(seed, shape):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def predict(network, inputs):
    out = network.predict(inputs, batch_size=4096, verbose=0)
    return [np.asarray(o) for o in out] if isinstance(out, (list, tuple)) else np.asarray(out)


# ------------------------------------------------------------------ models
@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def gan(folder):
    g = keras.Sequential([keras.Input((3,)), keras.layers.Dense(64, activation="tanh"),
                          keras.layers.Reshape((8, 8, 1))])
    d = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(1)])
    model = keras_gen.GAN(g, d, latent_dim=3)
    path = folder / "gan.keras"
    model.save(path)
    d.save(folder / "discriminator.keras")
    return path, g


@pytest.fixture(scope="module")
def vae(folder):
    encoder = networks.dense_encoder((8, 8, 1), 2, hidden_units=(8,), variational=True)
    decoder = networks.dense_decoder(2, (8, 8, 1), hidden_units=(8,))
    model = keras_gen.VAE(encoder, decoder)
    model.build((None, 8, 8, 1))
    path = folder / "vae.keras"
    model.save(path)
    return path, encoder, decoder


@pytest.fixture(scope="module")
def cvae(folder):
    encoder = networks.conditional_encoder((8, 8, 1), 2, 10, kind="dense", variational=True,
                                           hidden_units=(8,), features=8, condition_units=8)
    decoder = networks.conditional_decoder(2, (8, 8, 1), 10, kind="dense", hidden_units=(8,))
    model = keras_gen.ConditionalVAE(encoder, decoder, num_classes=10)
    model.build_if_known()
    path = folder / "cvae.keras"
    model.save(path)
    return path, encoder, decoder


# ------------------------------------------------------------------ generate
def test_generate_from_a_keras_gan_decodes_numpy_draws_of_the_seed(gan, tmp_path, capsys):
    path, generator = gan
    png, npy = tmp_path / "grid.png", tmp_path / "samples.npy"
    code, out, _ = run(["generate", path, "--n", 6, "--seed", 3, "--nrow", 3, "--out", png,
                        "--npy", npy, *GRID], capsys)
    assert code == 0 and str(png) in out
    expected = predict(generator, normal(3, (6, 3)))  # tanh: the GAN's range is [-1, 1]
    np.testing.assert_allclose(np.load(npy), expected, atol=1e-5)
    assert_pixels(png, expected, 3, (-1.0, 1.0))
    # Defaults: ceil(sqrt(6)) = 3 per row, 2 px padding, scale 2.
    assert run(["generate", path, "--n", 6, "--out", png], capsys)[0] == 0
    assert Image.open(png).size == (2 * (3 * 8 + 2 * 2), 2 * (2 * 8 + 2))


@LOGIC
def test_generate_cycles_the_labels_of_a_conditional_model(cvae, tmp_path, capsys):
    path, _, decoder = cvae
    png, npy = tmp_path / "grid.png", tmp_path / "samples.npy"
    code, _, _ = run(["generate", path, "--labels", "0,1,2", "--n", 6, "--out", png,
                      "--npy", npy, *GRID], capsys)
    assert code == 0
    onehot = np.eye(10, dtype="float32")[[0, 1, 2, 0, 1, 2]]
    expected = predict(decoder, [normal(0, (6, 2)), onehot])
    np.testing.assert_allclose(np.load(npy), expected, atol=1e-5)
    assert_pixels(png, expected, 3, (0.0, 1.0))  # the repeating labels set the row length
    # Without --n: one image per label; --label: the same label for all.
    assert run(["generate", path, "--labels", "4,5", "--npy", npy, "--out", png], capsys)[0] == 0
    assert np.load(npy).shape == (2, 8, 8, 1)
    assert run(["generate", path, "--label", "7", "--n", 3, "--npy", npy, "--out", png], capsys)[0] == 0
    expected = predict(decoder, [normal(0, (3, 2)), np.eye(10, dtype="float32")[[7, 7, 7]]])
    np.testing.assert_allclose(np.load(npy), expected, atol=1e-5)


@LOGIC
def test_interpolate_decodes_straight_paths_between_two_draws(vae, tmp_path, capsys):
    path, _, decoder = vae
    png, npy = tmp_path / "paths.png", tmp_path / "paths.npy"
    code, _, _ = run(["interpolate", path, "--rows", 2, "--steps", 3, "--seed", 5, "--out", png,
                      "--npy", npy, *GRID], capsys)
    assert code == 0
    a, b = normal(5, (2, 2, 2))
    t = np.array([0.0, 0.5, 1.0])[None, :, None]
    codes = (1 - t) * a[:, None] + t * b[:, None]  # (rows, steps, d)
    expected = predict(decoder, codes.reshape(-1, 2).astype("float32")).reshape(2, 3, 8, 8, 1)
    np.testing.assert_allclose(np.load(npy), expected, atol=1e-5)
    assert_pixels(png, expected, 3, (0.0, 1.0))


@LOGIC
def test_interpolate_between_test_digits_starts_and_ends_at_their_codes(vae, tmp_path, capsys):
    path, encoder, decoder = vae
    png, npy = tmp_path / "paths.png", tmp_path / "paths.npy"
    code, _, _ = run(["interpolate", path, "--data", "digits", "--rows", 2, "--steps", 3,
                      "--out", png, "--npy", npy, *GRID], capsys)
    assert code == 0
    x = load_digits("test", image_size=8)[0][:4]
    a, b = predict(encoder, x[:2])[0], predict(encoder, x[2:])[0]
    t = np.array([0.0, 0.5, 1.0])[None, :, None]
    codes = ((1 - t) * a[:, None] + t * b[:, None]).reshape(-1, 2).astype("float32")
    expected = predict(decoder, codes).reshape(2, 3, 8, 8, 1)
    np.testing.assert_allclose(np.load(npy), expected, atol=1e-5)
    # Each row: image i, its path to image 2 + i, image 2 + i.
    assert_pixels(png, np.concatenate([x[:2, None], expected, x[2:, None]], axis=1), 5, (0.0, 1.0))


# ------------------------------------------------------------------ encode
@LOGIC
def test_reconstruct_puts_test_digits_above_their_reconstructions(vae, tmp_path, capsys):
    path, encoder, decoder = vae
    png, npy = tmp_path / "recon.png", tmp_path / "recon.npy"
    code, out, _ = run(["reconstruct", path, "--n", 5, "--out", png, "--npy", npy, *GRID], capsys)
    assert code == 0
    x = load_digits("test", image_size=8)[0][:5]
    expected = predict(decoder, predict(encoder, x)[0])  # the posterior mean, decoded
    np.testing.assert_allclose(np.load(npy), expected, atol=1e-5)
    assert_pixels(png, np.concatenate([x, expected]), 5, (0.0, 1.0))
    assert f"{np.mean((expected - x) ** 2):.5f}" in out


@LOGIC
def test_alter_moves_vae_codes_along_the_attribute_vector(vae, tmp_path, capsys):
    path, encoder, decoder = vae
    png = tmp_path / "alter.png"
    code, _, _ = run(["alter", path, "--from", 3, "--to", 8, "--alphas", "0,1,2", "--n", 2,
                      "--out", png, *GRID], capsys)
    assert code == 0
    x_train, y_train = load_digits("train", image_size=8)
    x_test, y_test = load_digits("test", image_size=8)
    vector = (predict(encoder, x_train[y_train == 8])[0].mean(0)
              - predict(encoder, x_train[y_train == 3])[0].mean(0))
    x = x_test[y_test == 3][:2]
    z = predict(encoder, x)[0]
    moved = z[:, None] + np.array([0.0, 1.0, 2.0])[None, :, None] * vector
    altered = predict(decoder, moved.reshape(-1, 2).astype("float32")).reshape(2, 3, 8, 8, 1)
    # Each row: the original digit, then one column per alpha.
    assert_pixels(png, np.concatenate([x[:, None], altered], axis=1), 4, (0.0, 1.0))


@LOGIC
def test_alter_with_a_conditional_vae_moves_the_label_alpha_one_is_style_transfer(
        cvae, tmp_path, capsys):
    path, encoder, decoder = cvae
    npy = tmp_path / "alter.npy"
    code, _, _ = run(["alter", path, "--from", 3, "--to", 8, "--alphas", "0,0.5,1", "--n", 2,
                      "--out", tmp_path / "alter.png", "--npy", npy], capsys)
    assert code == 0
    x_test, y_test = load_digits("test", image_size=8)
    x = x_test[y_test == 3][:2]
    eye = np.eye(10, dtype="float32")
    z = predict(encoder, [x, eye[[3, 3]]])[0]
    found = np.load(npy)
    assert found.shape == (2, 3, 8, 8, 1)
    for column, condition in enumerate([eye[3], (eye[3] + eye[8]) / 2, eye[8]]):
        expected = predict(decoder, [z, np.stack([condition] * 2)])
        np.testing.assert_allclose(found[:, column], expected, atol=1e-5)


# ------------------------------------------------------------------ errors
@LOGIC
@pytest.mark.parametrize(
    "argv, named",
    [
        (["generate", "{folder}/missing.keras"], "PATH='{folder}/missing.keras'"),
        (["generate", "{folder}/notes.txt"], "PATH='{folder}/notes.txt'"),
        (["generate", "{folder}/discriminator.keras"], "output (None, 1)"),
        (["generate", "{folder}/vae.keras", "--labels", "3,3,7"], "--labels=3,3,7"),
        (["generate", "{folder}/cvae.keras"], "--label or --labels is required"),
        (["generate", "{folder}/cvae.keras", "--labels", "3,12"], "--labels=3,12"),
        (["generate", "{folder}/vae.keras", "--n", "0"], "--n=0"),
        (["generate", "{folder}/vae.keras", "--n", "many"], "--n=many"),
        (["reconstruct", "{folder}/gan.keras"], "a keras_gen.GAN"),
        (["alter", "{folder}/vae.keras", "--from", "3", "--to", "3"], "--to=3"),
        (["interpolate", "{folder}/vae.keras", "--data", "digits", "--rows", "181"], "--rows=181"),
        (["export", "{folder}/vae.keras", "{folder}/x.tflite", "--quantization", "int4"],
         "--quantization=int4"),
        (["generate", "{folder}/empty.onnx"], "PATH='{folder}/empty.onnx'"),
        (["info", "{folder}/empty.onnx"], "onnxruntime can load"),
        (["generate", "{folder}/vae.keras", "--out", "{folder}/grid.jpg"], "--out={folder}/grid.jpg"),
    ],
)
def test_errors_are_one_line_naming_the_argument_with_exit_status_2(
        argv, named, folder, gan, vae, cvae, capsys):
    (folder / "notes.txt").write_text("not a model")
    (folder / "empty.onnx").write_bytes(b"")
    argv = [a.format(folder=folder) for a in argv]
    code, out, err = run(argv, capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert named.format(folder=folder) in err


@LOGIC
def test_failed_work_exits_1_with_one_line_and_replaces_nothing(gan, vae, tmp_path, capsys, monkeypatch):
    # Out of memory (a huge --n): one line naming the sizes asked for, status 1.
    def no_memory(seed, shape):
        raise MemoryError(f"Unable to allocate 47.7 GiB for an array with shape {shape}")

    monkeypatch.setattr(cli, "_draw", no_memory)
    code, _, err = run(["generate", gan[0], "--n", 100_000_000, "--out", tmp_path / "g.png"], capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "out of memory" in err and "--n=100000000" in err
    monkeypatch.undo()
    # Ctrl-C: status 130, one line, no traceback.
    monkeypatch.setattr(cli, "_open", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    code, _, err = run(["generate", gan[0], "--out", tmp_path / "g.png"], capsys)
    assert code == 130 and len(err.strip().splitlines()) == 1 and "interrupted" in err, err
    monkeypatch.undo()
    # --npy that cannot be written is named; nothing half-written is left beside it.
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run(["generate", gan[0], "--n", 2, "--out", tmp_path / "g.png",
                        "--npy", blocker / "a.npy"], capsys)
    assert code == 1 and "--npy=" in err, err
    # export never deletes a directory of other files, nor turns a file into a SavedModel.
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    (tmp_path / "picture.png").write_bytes(b"png")
    for out, error in ((mine, "not a SavedModel"), (tmp_path / "picture.png", "path is a file")):
        code, _, err = run(["export", vae[0], out], capsys)
        assert code == 1 and error in err and len(err.strip().splitlines()) == 1, err
    assert (mine / "notes.txt").read_text() == "keep" and os.listdir(mine) == ["notes.txt"]
    assert (tmp_path / "picture.png").read_bytes() == b"png"
    assert sorted(os.listdir(tmp_path)) == ["file", "g.png", "mine", "picture.png"]


@LOGIC
def test_info_names_the_model_class_latent_size_and_condition(cvae, capsys):
    code, out, _ = run(["info", cvae[0]], capsys)
    assert code == 0
    assert "keras_gen.ConditionalVAE" in out and "latent_dim: 2" in out and "10 classes" in out


@LOGIC
def test_info_offers_alter_for_grey_models_only(vae, tmp_path, capsys):
    # alter reads the digits: a colour model was offered it, then refused.
    code, out, _ = run(["info", vae[0]], capsys)
    assert code == 0 and "commands: generate, interpolate, reconstruct, alter, export, info" in out
    rgb = keras_gen.VAE(networks.dense_encoder((8, 8, 3), 2, hidden_units=(8,), variational=True),
                        networks.dense_decoder(2, (8, 8, 3), hidden_units=(8,)))
    rgb.build((None, 8, 8, 3))
    rgb.save(tmp_path / "rgb.keras")
    code, out, _ = run(["info", tmp_path / "rgb.keras"], capsys)
    assert code == 0 and "commands: generate, interpolate, reconstruct, export, info" in out, out


# ------------------------------------------------------------------ artefacts
@ON_TENSORFLOW
def test_export_then_generate_and_reconstruct_from_the_artefacts(vae, folder, tmp_path, capsys):
    path = vae[0]
    decoder_file, encoder_file = folder / "vae_decoder.tflite", folder / "vae_encoder.tflite"
    assert run(["export", path, decoder_file], capsys)[0] == 0
    assert run(["export", path, encoder_file, "--part", "encoder"], capsys)[0] == 0
    manifest = json.loads((folder / "vae_decoder.tflite.json").read_text())
    assert manifest["part"] == "decoder" and manifest["format"] == "tflite"
    # The same seed draws the same codes for the .keras file and the artefact.
    for command in (["generate", "--n", 5], ["reconstruct", "--n", 4]):
        arrays = []
        for source in (path, decoder_file):  # the encoder is found beside the decoder
            npy = tmp_path / f"{command[0]}_{len(arrays)}.npy"
            png = tmp_path / f"{command[0]}_{len(arrays)}.png"
            assert run([command[0], source, *command[1:], "--npy", npy, "--out", png], capsys)[0] == 0
            arrays.append((np.load(npy), np.asarray(Image.open(png), "float64")))
        np.testing.assert_allclose(arrays[0][0], arrays[1][0], atol=1e-5)
        np.testing.assert_allclose(arrays[0][1], arrays[1][1], atol=1.0)
    code, out, _ = run(["info", decoder_file, "--json"], capsys)
    assert code == 0 and json.loads(out) == manifest
    # An encoder cannot generate.
    code, _, err = run(["generate", encoder_file], capsys)
    assert code == 2 and "an encoder" in err


@ON_TENSORFLOW
def test_export_to_onnx_then_generate(cvae, tmp_path, capsys):
    formats = __import__("keras_gen.export", fromlist=["FORMATS"]).FORMATS
    if "onnx" not in formats:
        pytest.skip(f"this keras-gen exports no ONNX yet (formats: {formats})")
    path, _, decoder = cvae
    onnx_file, npy = tmp_path / "cvae_decoder.onnx", tmp_path / "samples.npy"
    assert run(["export", path, onnx_file], capsys)[0] == 0
    assert run(["generate", onnx_file, "--label", 4, "--n", 3, "--npy", npy,
                "--out", tmp_path / "grid.png"], capsys)[0] == 0
    expected = predict(decoder, [normal(0, (3, 2)), np.eye(10, dtype="float32")[[4, 4, 4]]])
    np.testing.assert_allclose(np.load(npy), expected, atol=1e-5)


# ------------------------------------------------------------------ start-up
@ONE_START_UP
def test_help_imports_no_keras_and_is_instant():
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "keras_gen", "generate", "--help"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert result.returncode == 0, result.stderr
    assert "--labels" in result.stdout and "(default: 0)" in result.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert "keras_gen" in imported
    assert not imported & {"keras", "tensorflow", "jax", "torch", "numpy"}, imported
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert cpu < 2.0, cpu  # CPU time: the wall time follows the machine's load


@ONE_START_UP
def test_interpolate_imports_keras_only_after_choosing_the_backend(tmp_path):
    # Keras fixes its backend at import: nothing may import it before _open sets
    # KERAS_BACKEND from --backend (a missing file is reported before any import).
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "keras_gen", "interpolate",
         str(tmp_path / "missing.keras"), "--backend", "torch"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert result.returncode == 2 and "missing.keras" in result.stderr, result.stderr
    imported = {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert not imported & {"keras", "tensorflow", "jax", "torch"}, imported


@ONE_START_UP
def test_the_package_defers_its_api_only_when_started_as_the_command(monkeypatch):
    cases = [
        (["-m", "--help"], ["python", "-X", "importtime", "-m", "keras_gen", "--help"], True),
        (["-m"], ["python", "-mkeras_gen"], True),
        (["-m", "x"], ["python", "-m", "keras_gen.export._worker", "x"], False),
        (["/venv/bin/keras-gen", "generate"], ["python", "/venv/bin/keras-gen", "generate"], True),
        (["/venv/bin/pytest"], ["python", "/venv/bin/pytest"], False),
        (["-c"], ["python", "-c", "import keras_gen"], False),
    ]
    for argv, orig_argv, expected in cases:
        monkeypatch.setattr(sys, "argv", argv)
        monkeypatch.setattr(sys, "orig_argv", orig_argv)
        assert keras_gen._started_as_command() is expected, argv


@LOGIC
def test_data_npy_must_be_finite_and_in_the_models_range(vae, tmp_path, capsys):
    path, _, _ = vae
    x = load_digits("test", image_size=8)[0][:4]
    cases = [(np.where(np.arange(x.size).reshape(x.shape) == 70, np.nan, x),
              "--data must hold finite values; 1 of its 4 images hold NaN or Inf (the first is image 1)"),
             (np.round(x * 255), "--data must hold images in PATH's value range [0, 1]; its values span [0, 255]")]
    for array, message in cases:
        data = tmp_path / "data.npy"
        np.save(data, array.astype("float32"))
        code, _, err = run(["reconstruct", path, "--data", data, "--n", 4, "--out", tmp_path / "r.png"], capsys)
        assert code == 2 and message in err, err
        assert not (tmp_path / "r.png").exists()


@LOGIC
def test_scale_and_npy_over_out_are_refused_before_writing(vae, tmp_path, capsys):
    path, _, _ = vae
    png = tmp_path / "g.png"
    code, _, err = run(["generate", path, "--n", 3, "--scale", 100000, "--out", png], capsys)
    assert code == 2 and "--scale 100000 makes a" in err and "Received: --scale=100000" in err
    code, _, err = run(["generate", path, "--n", 3, "--out", png, "--npy", png], capsys)
    assert code == 2 and "--npy and --out must be different files" in err
    assert not png.exists()


@pytest.mark.skipif(BACKEND != "tensorflow", reason="exports (in this process) on TensorFlow only")
def test_a_model_of_vectors_is_named_not_an_internal_images_shape(tmp_path, capsys):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(10)])
    path = tmp_path / "vectors.tflite"
    keras_gen.export(model, str(path))
    code, _, err = run(["generate", path, "--n", 4, "--out", tmp_path / "v.png"], capsys)
    assert code == 2, err
    assert "PATH outputs vectors of shape (10,) per item, not images" in err
    assert "images.shape" not in err and not (tmp_path / "v.png").exists()


@pytest.mark.skipif(BACKEND != "tensorflow", reason="loading custom classes does not depend on the backend")
def test_custom_classes_load_with_import(tmp_path, capsys, monkeypatch):
    module = tmp_path / "my_nets_for_cli.py"
    module.write_text(
        "import keras\n"
        "@keras.saving.register_keras_serializable(package='cli_test')\n"
        "class Decoder(keras.Model):\n"
        "    def __init__(self, **kwargs):\n"
        "        super().__init__(**kwargs)\n"
        "        self.dense = keras.layers.Dense(16, activation='sigmoid')\n"
        "        self.reshape = keras.layers.Reshape((4, 4, 1))\n"
        "    def call(self, z):\n"
        "        return self.reshape(self.dense(z))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import my_nets_for_cli

    encoder = keras_gen.networks.dense_encoder((4, 4, 1), 2, hidden_units=(8,), variational=True)
    vae = keras_gen.VAE(encoder, my_nets_for_cli.Decoder(), seed=0)
    vae.compile(optimizer="adam")
    vae.fit(np.random.default_rng(0).uniform(size=(16, 4, 4, 1)).astype("float32"), epochs=1, verbose=0)
    path = tmp_path / "custom.keras"
    vae.save(path)
    monkeypatch.delitem(sys.modules, "my_nets_for_cli")
    monkeypatch.delitem(keras.saving.get_custom_objects(), "cli_test>Decoder")  # as in a fresh process
    code, _, err = run(["generate", path, "--n", 2, "--out", tmp_path / "a.png"], capsys)
    assert code == 2 and "pass --import MODULE" in err and len(err) < 1200, err
    code, out, err = run(["generate", path, "--n", 2, "--out", tmp_path / "a.png", "--import", "my_nets_for_cli"],
                         capsys)
    assert code == 0, err
    code, _, err = run(["info", path, "--import", "no_such_module_here"], capsys)
    assert code == 2 and "--import no_such_module_here failed (ModuleNotFoundError" in err


@LOGIC
def test_data_npy_outside_0_1_is_fine_for_an_unbounded_decoder(tmp_path, capsys):
    """The range check applies where the model's range is bounded (or --value-range is given)."""
    inputs = keras.Input((8, 8, 1))
    encoder = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
    codes = keras.Input((2,))
    decoder = keras.Model(codes, keras.layers.Reshape((8, 8, 1))(keras.layers.Dense(64)(codes)))
    ae = keras_gen.AutoEncoder(encoder, decoder)
    ae.compile(optimizer="adam")
    x = np.random.default_rng(0).uniform(-1, 1, (16, 8, 8, 1)).astype("float32")
    ae.fit(x, epochs=1, verbose=0)
    path, data = tmp_path / "linear.keras", tmp_path / "x.npy"
    ae.save(path)
    np.save(data, x)
    code, _, err = run(["reconstruct", path, "--data", data, "--n", 4, "--out", tmp_path / "r.png"], capsys)
    assert code == 0, err
    code, _, err = run(["reconstruct", path, "--data", data, "--n", 4, "--value-range=0,1",
                        "--out", tmp_path / "r.png"], capsys)
    assert code == 2 and "--data must hold images in --value-range [0, 1]" in err


@LOGIC
def test_too_many_shapes_images_names_the_option(tmp_path, capsys):
    # It said "num_examples must be ... <= 5000", an argument of the loader.
    encoder = networks.dense_encoder((16, 16, 3), 2, hidden_units=(8,))
    model = keras_gen.AutoEncoder(encoder, networks.dense_decoder(2, (16, 16, 3), hidden_units=(8,)))
    model.save(tmp_path / "ae.keras")
    for argv, message in (
            (["reconstruct", "--n", "6000"], "--n must be at most 5000 for the 5000 images in --data "
                                              "shapes. Received: --n=6000"),
            (["interpolate", "--rows", "3000"], "--rows must be at most 2500 for the 5000 images in "
                                                 "--data shapes. Received: --rows=3000")):
        code, _, err = run([argv[0], tmp_path / "ae.keras", "--data", "shapes", *argv[1:],
                            "--out", tmp_path / "x.png"], capsys)
        assert code == 2 and message in err, err
    assert not (tmp_path / "x.png").exists()
