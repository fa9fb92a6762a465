"""``model.export`` (Keras' exporter of ``call``) on keras_gen models.

Keras' own ``Model.export`` refuses a subclassed model that was never called
("The model provided has never called"), which is every keras_gen model
after ``fit`` (the steps call the networks, not the model). keras_gen's
``export`` gives the exporter the built input signature, refuses non-finite
weights and publishes the artefact only once complete.

The artefact is read back with TensorFlow (a SavedModel) on TensorFlow and
JAX, and with onnxruntime (ONNX) on PyTorch, whose SavedModel route fails in
Keras itself for any model, a plain functional one included.
"""

import os

import keras
import numpy as np
import pytest

import keras_gen
from keras_gen.models import NonFiniteWeightsError
from tests.helpers import tiny_decoder
from tests.helpers import tiny_encoder

BACKEND = keras.backend.backend()
FORMAT = "onnx" if BACKEND == "torch" else "tf_saved_model"
SHAPE = (8, 8, 1)


def _conditional_generator(latent_dim=3, k=4):
    z, c = keras.Input((latent_dim,)), keras.Input((k,))
    h = keras.layers.Dense(64, activation="tanh")(keras.layers.Concatenate()([z, c]))
    return keras.Model([z, c], keras.layers.Reshape(SHAPE)(h))


def _conditional_discriminator(k=4):
    x, c = keras.Input(SHAPE), keras.Input((k,))
    h = keras.layers.Concatenate()([keras.layers.Flatten()(x), c])
    return keras.Model([x, c], keras.layers.Dense(1)(h))


def _conditional_encoder(latent_dim=2, k=4):
    x, c = keras.Input(SHAPE), keras.Input((k,))
    h = keras.layers.Dense(16, activation="relu")(
        keras.layers.Concatenate()([keras.layers.Flatten()(x), c]))
    return keras.Model([x, c], [keras.layers.Dense(latent_dim)(h), keras.layers.Dense(latent_dim)(h)])


def _conditional_decoder(latent_dim=2, k=4):
    z, c = keras.Input((latent_dim,)), keras.Input((k,))
    h = keras.layers.Dense(64, activation="sigmoid")(keras.layers.Concatenate()([z, c]))
    return keras.Model([z, c], keras.layers.Reshape(SHAPE)(h))


def _models():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(5,) + SHAPE).astype("float32")
    z = rng.normal(size=(5, 3)).astype("float32")
    one_hot = np.eye(4, dtype="float32")[[0, 1, 2, 3, 1]]
    g = keras.Sequential([keras.Input((3,)), keras.layers.Dense(64, activation="tanh"),
                          keras.layers.Reshape(SHAPE)])
    d = keras.Sequential([keras.Input(SHAPE), keras.layers.Flatten(), keras.layers.Dense(1)])
    return {
        "ae": (lambda: keras_gen.AutoEncoder(tiny_encoder(), tiny_decoder()), x),
        "vae": (lambda: keras_gen.VAE(tiny_encoder(variational=True), tiny_decoder()), x),
        "gan": (lambda: keras_gen.GAN(g, d, latent_dim=3), z),
        "cgan": (lambda: keras_gen.ConditionalGAN(
            _conditional_generator(), _conditional_discriminator(), latent_dim=3, num_classes=4),
            [z, one_hot]),
        "cvae": (lambda: keras_gen.ConditionalVAE(
            _conditional_encoder(), _conditional_decoder(), num_classes=4), [x, one_hot]),
    }


def _served(path, inputs):
    """The artefact's output on ``inputs``, read by a runtime other than Keras."""
    inputs = inputs if isinstance(inputs, list) else [inputs]
    if FORMAT == "onnx":
        ort = pytest.importorskip("onnxruntime")
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        return session.run(None, dict(zip(names, inputs)))[0]
    tf = pytest.importorskip("tensorflow")
    restored = tf.saved_model.load(path)
    args = inputs if len(inputs) > 1 else inputs[0]
    return np.asarray(restored.serve(args))


def _path(tmp_path, name):
    return str(tmp_path / (name + (".onnx" if FORMAT == "onnx" else "")))


@pytest.mark.parametrize("name", ["ae", "vae", "gan", "cgan", "cvae"])
def test_export_of_a_model_never_called_serves_its_call(tmp_path, name):
    make, inputs = _models()[name]
    model = make()
    path = _path(tmp_path, name)
    model.export(path, format=FORMAT, verbose=False)
    served = _served(path, inputs)
    # The model's own call (a reconstruction from the mean code, or G(z)).
    expected = keras.ops.convert_to_numpy(model(inputs))
    assert served.shape == expected.shape
    np.testing.assert_allclose(served, expected, rtol=1e-4, atol=1e-5)
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".keras_gen_tmp")]


def test_export_after_fit_serves_the_trained_weights(tmp_path):
    make, x = _models()["vae"]
    model = make()
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    before = keras.ops.convert_to_numpy(model(x))
    model.fit(np.tile(x, (4, 1, 1, 1)), epochs=3, batch_size=4, verbose=0)
    path = _path(tmp_path, "vae")
    model.export(path, format=FORMAT, verbose=False)
    served = _served(path, x)
    assert np.abs(served - before).max() > 1e-3  # the weights did change
    np.testing.assert_allclose(served, keras.ops.convert_to_numpy(model(x)), rtol=1e-4, atol=1e-5)


def _poison(model):
    variable = model.decoding_network.trainable_weights[0]
    value = keras.ops.convert_to_numpy(variable)
    value[0, 0] = np.nan
    variable.assign(value)


def test_non_finite_weights_are_refused_and_the_old_artefact_stays(tmp_path):
    make, z = _models()["gan"]
    model = make()
    path = _path(tmp_path, "gan")
    model.export(path, format=FORMAT, verbose=False)
    good = _served(path, z)
    _poison(model)
    with pytest.raises(NonFiniteWeightsError, match="export"):
        model.export(path, format=FORMAT, verbose=False)
    np.testing.assert_array_equal(_served(path, z), good)


def test_allow_non_finite_exports_with_a_warning(tmp_path):
    make, z = _models()["gan"]
    model = make()
    _poison(model)
    path = _path(tmp_path, "gan")
    with pytest.warns(RuntimeWarning):
        model.export(path, format=FORMAT, verbose=False, allow_non_finite=True)
    assert os.path.exists(path)


def test_a_failed_export_leaves_the_previous_artefact(tmp_path, monkeypatch):
    make, z = _models()["gan"]
    model = make()
    path = _path(tmp_path, "gan")
    model.export(path, format=FORMAT, verbose=False)
    good = _served(path, z)

    def half_written(self, filepath, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(keras.Model, "export", half_written)
    with pytest.raises(OSError, match="disk full"):
        model.export(path, format=FORMAT, verbose=False)
    np.testing.assert_array_equal(_served(path, z), good)
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".keras_gen_tmp")]


class _SubclassedEncoder(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.flatten = keras.layers.Flatten()
        self.dense = keras.layers.Dense(2)

    def call(self, x):
        return self.dense(self.flatten(x))


def test_an_unbuilt_model_is_a_clear_error(tmp_path):
    model = keras_gen.AutoEncoder(_SubclassedEncoder(), tiny_decoder())
    assert not model.built
    with pytest.raises(ValueError, match="AutoEncoder.export needs a built model"):
        model.export(_path(tmp_path, "ae"), format=FORMAT, verbose=False)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", ["cgan", "cvae"])
def test_conditional_models_reload_from_a_keras_file(tmp_path, name):
    # build records both inputs now; a saved file's build config must load.
    make, inputs = _models()[name]
    model = make()
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(inputs)),
                               keras.ops.convert_to_numpy(model(inputs)), rtol=1e-5, atol=1e-6)


def test_a_folder_of_other_files_or_a_file_of_another_kind_is_not_replaced(tmp_path):
    make, z = _models()["gan"]
    model = make()
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    target = folder if FORMAT == "tf_saved_model" else tmp_path / "gan.onnx"
    if FORMAT == "tf_saved_model":
        with pytest.raises(FileExistsError, match="not a SavedModel .*would delete its files"):
            model.export(str(folder), format=FORMAT, verbose=False)
        (tmp_path / "afile").write_text("x")
        with pytest.raises(NotADirectoryError, match="path is a file; the artefact is a directory"):
            model.export(str(tmp_path / "afile"), format=FORMAT, verbose=False)
        assert (tmp_path / "afile").read_text() == "x"
    else:
        target.mkdir()
        with pytest.raises(IsADirectoryError, match="path is a directory; the artefact is a file"):
            model.export(str(target), format=FORMAT, verbose=False)
        assert target.is_dir()
    assert (folder / "notes.txt").read_text() == "keep me"
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".keras_gen_tmp")]


def test_every_file_an_export_writes_is_published_and_the_final_path_named(
        tmp_path, monkeypatch, capsys):
    # OpenVINO writes name.xml and name.bin; only the first was moved into place.
    make, _ = _models()["gan"]
    model = make()

    def two_files(self, filepath, **kwargs):
        with open(filepath, "w") as f:
            f.write("graph")
        with open(os.path.splitext(filepath)[0] + ".bin", "w") as f:
            f.write("weights")

    monkeypatch.setattr(keras.Model, "export", two_files)
    model.export(str(tmp_path / "gan.xml"), format="openvino")
    assert sorted(os.listdir(tmp_path)) == ["gan.bin", "gan.xml"]
    assert (tmp_path / "gan.bin").read_text() == "weights"
    assert capsys.readouterr().out.strip() == f"Saved artifact at '{tmp_path / 'gan.xml'}'."


@pytest.mark.skipif(FORMAT != "tf_saved_model", reason="Keras' SavedModel route (TF and JAX)")
def test_a_conditional_model_built_from_its_images_shape_alone_exports_its_pair_call(tmp_path):
    # Keras' TensorFlow exporter traced call from the recorded (images-only) build shape.
    class Encoder(keras.Model):
        def __init__(self):
            super().__init__()
            self.flatten = keras.layers.Flatten()
            self.mean, self.log_sigma = keras.layers.Dense(2), keras.layers.Dense(2)

        def call(self, inputs):
            x, c = inputs
            h = keras.ops.concatenate([self.flatten(x), c], axis=-1)
            return [self.mean(h), self.log_sigma(h)]

    model = keras_gen.ConditionalVAE(Encoder(), _conditional_decoder(), num_classes=4)
    model.build((None,) + SHAPE)
    _, inputs = _models()["cvae"]
    expected = keras.ops.convert_to_numpy(model(inputs))
    path = _path(tmp_path, "cvae")
    model.export(path, format=FORMAT, verbose=False)
    np.testing.assert_allclose(_served(path, inputs), expected, rtol=1e-4, atol=1e-5)
    # The same with the signature given (it still traced call from the images alone).
    signature = [[keras.InputSpec(shape=(None,) + SHAPE, dtype="float32"),
                  keras.InputSpec(shape=(None, 4), dtype="float32")]]
    before = model.get_build_config()
    model.export(_path(tmp_path, "given"), format=FORMAT, verbose=False, input_signature=signature)
    np.testing.assert_allclose(_served(_path(tmp_path, "given"), inputs), expected,
                               rtol=1e-4, atol=1e-5)
    assert model.get_build_config() == before


def test_a_litert_path_without_the_suffix_names_the_path_given(tmp_path):
    make, _ = _models()["gan"]
    with pytest.raises(ValueError, match=r"end with '.tflite'. Received: filepath='.*/generator'"):
        make().export(str(tmp_path / "generator"), format="litert", verbose=False)
    assert os.listdir(tmp_path) == []


def test_a_symbolic_link_is_written_through_and_kept(tmp_path):
    # The link was replaced by the artefact and its target left stale.
    make, z = _models()["gan"]
    model = make()
    real, link = _path(tmp_path, "v1"), _path(tmp_path, "latest")
    model.export(real, format=FORMAT, verbose=False)
    os.symlink(real, link)
    before = _served(real, z)
    variable = model.decoding_network.trainable_weights[0]
    variable.assign(keras.ops.convert_to_numpy(variable) * 2.0)
    model.export(link, format=FORMAT, verbose=False)
    assert os.path.islink(link) and os.path.realpath(link) == os.path.realpath(real)
    after = _served(real, z)
    assert np.abs(after - before).max() > 1e-3
    np.testing.assert_allclose(after, keras.ops.convert_to_numpy(model(z)), rtol=1e-4, atol=1e-5)


def test_an_unwritable_folder_names_the_path_given(tmp_path):
    # The error was Python's, naming the folder only (or, for a read-only
    # folder, the hidden staging folder keras-gen tried to create in it).
    make, _ = _models()["gan"]
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    target = str(blocker / _path(tmp_path, "generator").split(os.sep)[-1])
    with pytest.raises(PermissionError, match=r"Cannot write the export to path='.*a_file/generator.*': "
                       r"its folder '.*a_file' cannot be created or written"):
        make().export(target, format=FORMAT, verbose=False)
    assert blocker.read_text() == "not a folder"
