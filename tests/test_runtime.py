"""keras_gen.runtime: NumPy in, NumPy out, without Keras."""

import importlib
import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_gen import runtime

ex = importlib.import_module("keras_gen.export")


@pytest.fixture(scope="module")
def generator_tflite(tmp_path_factory):
    """A plain keras.Model generator (z -> image), exported as float32 TFLite."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(16, activation="sigmoid"), keras.layers.Reshape((4, 4, 1))],
        name="plain_generator",
    )
    path = str(tmp_path_factory.mktemp("runtime") / "gen.tflite")
    manifest = ex.export(model, path)
    return model, path, manifest


def test_plain_z_to_image_model_is_exported_as_a_generator(generator_tflite):
    _, _, manifest = generator_tflite
    assert manifest["part"] == "generator" and manifest["latent_dim"] == 3
    assert manifest["inputs"][0]["name"] == "latent"
    assert manifest["outputs"][0]["value_range"] == [0.0, 1.0]


def test_runner_numpy_in_numpy_out(generator_tflite):
    model, path, _ = generator_tflite
    runner = runtime.load(path)
    assert runner.latent_dim == 3 and runner.input_name == "latent"
    z = np.random.default_rng(0).standard_normal((6, 3))  # float64 is cast
    images = runner(z)
    assert isinstance(images, np.ndarray) and images.shape == (6, 4, 4, 1)
    np.testing.assert_allclose(images, keras.ops.convert_to_numpy(model(z.astype("float32"))), atol=1e-5)
    np.testing.assert_array_equal(runner.generate(4, seed=1), runner.generate(4, seed=1))
    assert runner.generate(z=z[:2]).shape == (2, 4, 4, 1)


def test_runner_errors(generator_tflite, tmp_path):
    _, path, _ = generator_tflite
    runner = runtime.load(path)
    with pytest.raises(ValueError, match=r"Input must have shape \(batch, 3\). Received: shape \(2, 4\)"):
        runner(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"Pass z or a positive integer n"):
        runner.generate()
    with pytest.raises(FileNotFoundError, match=r"No exported model at path="):
        runtime.load(tmp_path / "missing.tflite")
    # Labels are for conditional artefacts only (tests/test_export_conditional.py).
    assert runner.condition is None and runner.input_names == ["latent"]
    with pytest.raises(ValueError, match=r"labels must be None: the artefact .* is unconditional.*labels=\[1, 2\]"):
        runner(np.zeros((2, 3)), labels=[1, 2])
    with pytest.raises(ValueError, match=r"labels must be None"):
        runner.generate(2, labels=1)


@pytest.mark.parametrize("kwargs,match", [
    ({"n": 2.7}, r"positive integer n. Received: n=2.7"),
    ({"n": "3"}, r"positive integer n. Received: n='3'"),
    ({"n": True}, r"positive integer n. Received: n=True"),
    ({"n": float("nan")}, r"positive integer n. Received: n=nan"),
    ({"n": 2, "seed": -1}, r"seed must be None or an integer >= 0. Received: seed=-1"),
    ({"n": 2, "seed": 1.5}, r"seed must be None or an integer >= 0. Received: seed=1.5"),
    ({"z": [[0.0, np.nan, 0.0], [0.0, 0.0, 0.0]]}, r"Input must be finite .* 1 of 2 rows hold NaN or Inf \(the first is row 0\)"),
    ({"z": [[0.0, 0.0, 1e39]]}, r"Input must be finite \(within float32\)"),
    ({"z": np.zeros((0, 3))}, r"Input must hold at least one row. Received: shape \(0, 3\)"),
    # n and seed that z makes meaningless used to be ignored without a word
    ({"n": 3, "z": np.zeros((2, 3))}, r"n must be None or the number of rows of z when z is given. "
                                      r"Received: n=3 with z of shape \(2, 3\)"),
    ({"n": 0, "z": np.zeros((2, 3))}, r"Received: n=0 with z of shape \(2, 3\)"),
    ({"z": np.zeros((2, 3)), "seed": 4}, r"seed draws z, so it applies only without z. Received: seed=4"),
])
def test_runner_arguments_are_named(generator_tflite, kwargs, match):
    _, path, _ = generator_tflite
    with pytest.raises(ValueError, match=match):
        runtime.load(path).generate(**kwargs)


def test_a_damaged_artefact_is_a_value_error_naming_its_path(generator_tflite, tmp_path):
    _, path, _ = generator_tflite
    bad = tmp_path / "bad.tflite"
    data = open(path, "rb").read()
    bad.write_bytes(data[:8] + b"\0" * 64)  # the TFLite mark, then garbage
    with pytest.raises(ValueError, match=rf"path='{bad}' is not a TFLite model LiteRT can load"):
        runtime.load(bad)
    folder = tmp_path / "saved"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"not a protocol buffer")
    with pytest.raises(ValueError, match=rf"path='{folder}' is not a SavedModel TensorFlow can load"):
        runtime.load(folder)
    with pytest.raises(ValueError, match=r"path='/' is not a SavedModel"):
        runtime.load("/")


def test_runner_works_without_a_manifest(generator_tflite, tmp_path):
    _, path, _ = generator_tflite
    copy = tmp_path / "bare.tflite"
    shutil.copy(path, copy)
    runner = runtime.load(copy)
    assert runner.manifest is None and runner.output_names == ["image"]
    assert runner(np.zeros((1, 3), "float32")).shape == (1, 4, 4, 1)


def test_runtime_imports_neither_keras_nor_tensorflow_for_tflite(generator_tflite):
    """runtime.py stands alone: load it by path and run a .tflite file."""
    _, path, _ = generator_tflite
    code = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('runtime', {runtime.__file__!r})\n"
        "rt = importlib.util.module_from_spec(spec); spec.loader.exec_module(rt)\n"
        f"images = rt.load({path!r}).generate(2, seed=0)\n"
        "print(json.dumps({'shape': list(images.shape), 'modules': sorted(m for m in "
        "('keras', 'keras_gen', 'tensorflow', 'jax', 'torch') if m in sys.modules)}))\n"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"shape": [2, 4, 4, 1], "modules": []}


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda m: m.pop("outputs"), r"'outputs' must be a non-empty list. Received: outputs=None"),
        (lambda m: m.update(batch_size=0), r"batch_size must be null or a positive integer. Received: batch_size=0"),
        (lambda m: m.update(latent_dim="3"), r"latent_dim must be null or a positive integer"),
        (lambda m: m.update(latent_dim=4), r"latent_dim=4 but the artefact's generator takes codes of shape \[None, 3\]"),
        (lambda m: m.update(manifest_version=7), r"manifest_version must be one of \[1, 2\]"),
        (lambda m: m.update(format="saved_model"), r"format must be 'tflite' for the file"),
        (lambda m: m.update(size_bytes=m["size_bytes"] + 1), r"size_bytes=\d+ but the artefact has \d+ bytes"),
        (lambda m: m.update(inputs=[dict(m["inputs"][0], shape=[None, 4])]),
         r"its input is 'latent' of shape \[None, 4\], the artefact's is 'latent' of shape \[None, 3\]"),
        (lambda m: m.update(outputs=[dict(m["outputs"][0], name="picture")]),
         r"its outputs are \['picture'\], the artefact's are \['image'\]"),
        (lambda m: m.update(outputs=[dict(m["outputs"][0], shape=[None, 4, 4, 3])]),
         r"its output is 'image' of shape \[None, 4, 4, 3\], the artefact's is 'image' of shape \[None, 4, 4, 1\]"),
        (lambda m: m.update(outputs=[dict(m["outputs"][0], shape=[None, 16])]),
         r"its output is 'image' of shape \[None, 16\], the artefact's is 'image' of shape \[None, 4, 4, 1\]"),
        (lambda m: m.update(part="discriminator"),
         r"part must be null or one of \['generator', 'decoder', 'encoder', 'model'\]. Received: part='discriminator'"),
        # was loaded and shown as valid
        (lambda m: m.update(inputs=[dict(m["inputs"][0], dtype="int8")]),
         r"inputs\[0\].dtype must be 'float32'. Received: 'int8'"),
        (lambda m: m.update(outputs=[dict(m["outputs"][0], dtype="float99")]),
         r"outputs\[0\].dtype must be 'float32'. Received: 'float99'"),
        (lambda m: m.update(outputs=[dict(m["outputs"][0], shape=[None, 4, None, 1])]), None),  # unknown size
        (lambda m: m.update(batch_size=2), None),  # a dynamic artefact runs any batch
    ],
)
def test_a_manifest_that_does_not_fit_its_artefact_is_named(generator_tflite, tmp_path, change, match):
    _, path, manifest = generator_tflite
    copy = tmp_path / "gen.tflite"
    shutil.copy(path, copy)
    data = json.loads(json.dumps(manifest))
    change(data)
    (tmp_path / "gen.tflite.json").write_text(json.dumps(data))
    if match is None:
        assert runtime.load(copy)(np.zeros((3, 3), "float32")).shape == (3, 4, 4, 1)
        return
    with pytest.raises(runtime.ManifestError, match=r"The manifest '.*gen\.tflite\.json' does not describe") as info:
        runtime.load(copy)
    assert info.match(match)
    assert isinstance(info.value, ValueError)


def test_invalid_json_manifest_is_named(generator_tflite, tmp_path):
    _, path, _ = generator_tflite
    copy = tmp_path / "gen.tflite"
    shutil.copy(path, copy)
    (tmp_path / "gen.tflite.json").write_text('{"manifest_version": 1, "format": ')
    with pytest.raises(runtime.ManifestError, match=r"'.*gen\.tflite\.json'.*not valid JSON \(Expecting value at line 1"):
        runtime.read_manifest(copy)


def test_a_saved_model_manifest_with_another_output_shape_is_named(generator_tflite, tmp_path):
    model, _, _ = generator_tflite
    path = str(tmp_path / "gen_sm")
    manifest = ex.export(model, path, format="saved_model")
    assert runtime.load(path)(np.zeros((2, 3), "float32")).shape == (2, 4, 4, 1)
    manifest["outputs"][0]["shape"] = [None, 4, 4, 2]
    with open(path + ".json", "w") as f:
        json.dump(manifest, f)
    with pytest.raises(runtime.ManifestError, match=r"its output is 'image' of shape \[None, 4, 4, 2\], "
                                                    r"the artefact's is 'image' of shape \[None, 4, 4, 1\]"):
        runtime.load(path)
