"""ONNX export under every backend (Keras' own exporter), run with onnxruntime.

One module-scoped fixture exports a GAN generator, a convolutional VAE's
decoder and encoder (BatchNorm with non-trivial moving statistics) and a
ConditionalGAN's two-input generator, under the backend the tests run on;
the tests read the files. The reference outputs come from the Keras networks
themselves, and the files are also read with plain ``onnx`` /
``onnxruntime`` (not keras_gen.runtime). Checks made before any conversion
(arguments, publication, the runner's errors) do not depend on the backend
and run on TensorFlow only.
"""

import importlib
import json
import os
import sys

import keras
import numpy as np
import onnx
import onnxruntime
import pytest

import keras_gen
from keras_gen import runtime

ex = importlib.import_module("keras_gen.export")
from keras_gen.export import _onnx  # noqa: E402

LATENT = 4
CLASSES = 3
SHAPE = (8, 8, 1)
TOLERANCE = ex.TOLERANCES[None]  # float32: as for TFLite
BACKEND = keras.backend.backend()

on_tensorflow_only = pytest.mark.skipif(
    BACKEND != "tensorflow",
    reason="backend-independent (arguments, publication, runtime errors): tested on TensorFlow",
)


def _latents(n, seed=1):
    return np.random.default_rng(seed).standard_normal((n, LATENT)).astype("float32")


def _images(n, seed=2):
    return np.random.default_rng(seed).uniform(0, 1, (n,) + SHAPE).astype("float32")


# The networks start from constant initializers and get their weights from
# NumPy: on JAX every random initializer of a new shape is an XLA compile.
Z = {"kernel_initializer": "zeros"}


def _numpy_weights(network, seed):
    """Every weight from N(0, 0.3^2) (BatchNorm variances from [0.5, 2]): inference mode matters."""
    rng = np.random.default_rng(seed)
    for layer in network._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[-1]
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.3, n),
                               rng.normal(0, 0.5, n), rng.uniform(0.5, 2.0, n)])
        elif layer.weights and not isinstance(layer, keras.Model):
            layer.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in layer.weights])
    return network


def _gan():
    g = keras.Sequential(
        [
            keras.Input((LATENT,)),
            keras.layers.Dense(32, activation="relu", **Z),
            keras.layers.Dense(64, activation="tanh", **Z),
            keras.layers.Reshape(SHAPE),
        ],
        name="generator",
    )
    d = keras.Sequential([keras.Input(SHAPE), keras.layers.Flatten(), keras.layers.Dense(1, **Z)])
    return keras_gen.GAN(_numpy_weights(g, 0), d, latent_dim=LATENT, seed=0, name="gan")


def _vae():
    # Conv2D, Conv2DTranspose and BatchNorm (inference mode) in both parts.
    x = keras.Input(SHAPE)
    h = keras.layers.Conv2D(4, 3, strides=2, padding="same", **Z)(x)
    h = keras.layers.ReLU()(keras.layers.BatchNormalization()(h))
    h = keras.layers.Flatten()(h)
    encoder = keras.Model(x, [keras.layers.Dense(LATENT, **Z)(h), keras.layers.Dense(LATENT, **Z)(h)])
    z = keras.Input((LATENT,))
    h = keras.layers.Reshape((4, 4, 4))(keras.layers.Dense(64, activation="relu", **Z)(z))
    h = keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same", **Z)(h)
    h = keras.layers.ReLU()(keras.layers.BatchNormalization()(h))
    decoder = keras.Model(z, keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid", **Z)(h))
    return keras_gen.VAE(_numpy_weights(encoder, 1), _numpy_weights(decoder, 2), seed=0, name="vae")


def _cgan():
    z, c = keras.Input((LATENT,)), keras.Input((CLASSES,))
    h = keras.layers.Dense(64, activation="tanh", **Z)(keras.layers.Concatenate()([z, c]))
    g = keras.Model([z, c], keras.layers.Reshape(SHAPE)(h), name="cond_generator")
    x, c2 = keras.Input(SHAPE), keras.Input((CLASSES,))
    h = keras.layers.Concatenate()([keras.layers.Flatten()(x), c2])
    d = keras.Model([x, c2], keras.layers.Dense(1, **Z)(h))
    return keras_gen.ConditionalGAN(
        _numpy_weights(g, 3), d, latent_dim=LATENT, num_classes=CLASSES,
        condition_names=["a", "b", "c"], seed=0, name="cgan",
    )


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    keras.utils.set_random_seed(0)
    out = tmp_path_factory.mktemp("onnx")
    gan, vae, cgan = _gan(), _vae(), _cgan()
    manifests = {
        "gan_generator.onnx": ex.export(gan, out / "gan_generator.onnx"),  # format inferred
        "cgan_generator.onnx": ex.export(cgan, out / "cgan_generator.onnx", format="onnx"),
    }
    files = ex.export_for_mobile(vae, out, "vae", formats=["onnx"])
    manifests.update({os.path.basename(p): m for p, m in files.items()})
    return {"gan": gan, "vae": vae, "cgan": cgan, "dir": str(out), "manifests": manifests}


def _path(shipped, name):
    return os.path.join(shipped["dir"], name)


def _keras(layer, x):
    # One compiled call per batch shape (the export-time check compiled batch 3).
    return keras.tree.map_structure(keras.ops.convert_to_numpy, layer.predict_on_batch(x))


def _session(path):
    return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])


# ------------------------------------------------------------------ parity
@pytest.mark.parametrize("batch", [1, 3])
def test_generator_parity_with_plain_onnxruntime_and_runner(shipped, batch):
    z = _latents(batch)
    expected = _keras(shipped["gan"].generator, z)
    path = _path(shipped, "gan_generator.onnx")
    (raw,) = _session(path).run(["image"], {"latent": z})  # no keras_gen involved
    np.testing.assert_allclose(raw, expected, rtol=0, atol=TOLERANCE)
    runner = runtime.load(path)
    assert isinstance(runner, runtime.OnnxRunner)
    got = runner(z)
    assert got.shape == (batch,) + SHAPE and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE)
    np.testing.assert_array_equal(runner.generate(3, seed=0), runner(
        np.random.default_rng(0).standard_normal((3, LATENT)).astype("float32")))


def test_vae_decoder_and_encoder_parity(shipped):
    vae = shipped["vae"]
    z = _latents(3)
    decoded = runtime.load(_path(shipped, "vae_decoder.onnx"))(z)
    np.testing.assert_allclose(decoded, _keras(vae.decoder, z), rtol=0, atol=TOLERANCE)
    x = _images(3)
    codes = runtime.load(_path(shipped, "vae_encoder.onnx"))(x)
    expected = _keras(vae.encoder, x)
    assert sorted(codes) == ["z_log_sigma", "z_mean"]
    np.testing.assert_allclose(codes["z_mean"], expected[0], rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(codes["z_log_sigma"], expected[1], rtol=0, atol=TOLERANCE)


def test_conditional_generator_takes_labels(shipped):
    network = shipped["cgan"].generator
    runner = runtime.load(_path(shipped, "cgan_generator.onnx"))
    assert runner.input_names == ["latent", "condition"]
    assert runner.condition["kind"] == "classes" and runner.condition["names"] == ["a", "b", "c"]
    z, ids = _latents(3), np.array([0, 2, 1])
    one_hot = np.eye(CLASSES, dtype="float32")[ids]
    expected = _keras(network, [z, one_hot])
    np.testing.assert_allclose(runner(z, labels=ids), expected, rtol=0, atol=TOLERANCE)
    (raw,) = _session(_path(shipped, "cgan_generator.onnx")).run(
        ["image"], {"latent": z, "condition": one_hot}
    )
    np.testing.assert_allclose(raw, expected, rtol=0, atol=TOLERANCE)
    with pytest.raises(ValueError, match=r"labels are required"):
        runner(z)
    with pytest.raises(ValueError, match=r"class ids in \[0, 3\).*3 at index 0"):
        runner(z[:1], labels=[3])


# ---------------------------------------------------------------- manifests
def test_manifests_describe_the_files(shipped):
    for name, manifest in shipped["manifests"].items():
        path = _path(shipped, name)
        with open(path + ".json") as f:
            assert json.load(f) == manifest
        assert manifest["format"] == "onnx" and manifest["file"] == name
        assert manifest["size_bytes"] == os.path.getsize(path)
        assert manifest["batch_size"] is None and manifest["dynamic_batch"] is True
        assert manifest["quantization"] is None and manifest["tolerance"] == TOLERANCE
        assert manifest["builtin_ops_only"] is False
        assert manifest["source_backend"] == BACKEND
        assert manifest["exporter"] == {"tensorflow": "tf2onnx", "jax": "jax2onnx", "torch": "torch.onnx"}[BACKEND]
        model = onnx.load(path)
        opsets = {o.domain: o.version for o in model.opset_import}
        assert manifest["opset"] == opsets.get("", opsets.get("ai.onnx"))
        initializers = {t.name for t in model.graph.initializer}
        graph_inputs = [i for i in model.graph.input if i.name not in initializers]
        # The file's own inputs and outputs: the manifest's names, batch axis "batch".
        assert [i.name for i in graph_inputs] == [e["name"] for e in manifest["inputs"]]
        assert [o.name for o in model.graph.output] == [e["name"] for e in manifest["outputs"]]
        for value, entry in zip(list(graph_inputs) + list(model.graph.output),
                                manifest["inputs"] + manifest["outputs"]):
            dims = value.type.tensor_type.shape.dim
            assert dims[0].dim_param == "batch"
            assert [d.dim_value for d in dims[1:]] == entry["shape"][1:]
            assert "index" not in entry
    gan = shipped["manifests"]["gan_generator.onnx"]
    assert gan["manifest_version"] == 1 and gan["part"] == "generator" and gan["latent_dim"] == LATENT
    assert gan["inputs"][0]["shape"] == [None, LATENT]
    assert gan["outputs"][0]["shape"] == [None, *SHAPE] and gan["outputs"][0]["value_range"] == [-1.0, 1.0]
    encoder = shipped["manifests"]["vae_encoder.onnx"]
    assert [e["name"] for e in encoder["outputs"]] == ["z_mean", "z_log_sigma"]
    assert encoder["inputs"][0]["value_range"] == [0.0, 1.0]
    cgan = shipped["manifests"]["cgan_generator.onnx"]
    assert cgan["manifest_version"] == 2
    assert cgan["condition"] == {"kind": "classes", "num_classes": CLASSES, "size": CLASSES,
                                 "names": ["a", "b", "c"], "input": "condition"}
    assert cgan["inputs"][1]["shape"] == [None, CLASSES] and cgan["inputs"][1]["value_range"] == [0.0, 1.0]
    assert not [n for n in os.listdir(shipped["dir"]) if n.startswith(".keras_gen_tmp")]


@pytest.mark.skipif(
    BACKEND == "jax",
    reason="jax2onnx takes a fixed shape as it takes a dynamic one (tested above); the "
    "check's XLA compiles for a new batch cost about 3 s here",
)
def test_fixed_batch_size(tmp_path, shipped):
    path = tmp_path / "g.onnx"
    manifest = ex.export(shipped["gan"], path, batch_size=2)
    assert manifest["batch_size"] == 2 and manifest["dynamic_batch"] is False
    assert manifest["inputs"][0]["shape"] == [2, LATENT]
    (value,) = onnx.load(str(path)).graph.input
    assert value.type.tensor_type.shape.dim[0].dim_value == 2
    runner = runtime.load(path)
    assert runner.batch_size == 2
    z = _latents(3)  # split into 2 + 1 (padded)
    np.testing.assert_allclose(runner(z), _keras(shipped["gan"].generator, z), rtol=0, atol=TOLERANCE)


# ------------------------------------------------------------ bad arguments
@on_tensorflow_only
@pytest.mark.parametrize(
    "path, kwargs, error, match",
    [
        ("g.onnx", {"quantization": "float16"}, ValueError,
         r"quantization applies to format='tflite' only; an ONNX file is float32"),
        ("g.onnx", {"format": "tflite"}, ValueError,
         r"path ends in '.onnx', which names format='onnx', but format='tflite'"),
        ("g.tflite", {"format": "onnx"}, ValueError, r"path ends in '.tflite'.*format='onnx'"),
        ("g.onnx", {"format": "saved_model"}, ValueError, r"format='saved_model' was passed"),
        ("g.onnx", {"batch_size": 0}, ValueError, r"batch_size must be an integer >= 1"),
    ],
)
def test_bad_arguments_write_nothing(tmp_path, path, kwargs, error, match):
    with pytest.raises(error, match=match):
        ex.export(_gan(), tmp_path / path, **kwargs)
    assert os.listdir(tmp_path) == []


@on_tensorflow_only
def test_directory_and_existing_paths(tmp_path):
    (tmp_path / "d.onnx").mkdir()
    with pytest.raises(IsADirectoryError, match=r"an ONNX file is a file"):
        ex.export(_gan(), tmp_path / "d.onnx")
    (tmp_path / "g.onnx").write_bytes(b"old")
    with pytest.raises(FileExistsError, match=r"already exists"):
        ex.export(_gan(), tmp_path / "g.onnx", overwrite=False)
    assert (tmp_path / "g.onnx").read_bytes() == b"old"


@on_tensorflow_only
def test_non_finite_weights_refused_unless_allowed(tmp_path):
    gan = _gan()
    kernel = gan.generator.layers[0].kernel
    value = keras.ops.convert_to_numpy(kernel).copy()
    value[0, 0] = np.inf
    kernel.assign(value)
    with pytest.raises(keras_gen.NonFiniteWeightsError, match=r"Cannot export"):
        ex.export(gan, tmp_path / "g.onnx")
    assert os.listdir(tmp_path) == []
    with pytest.warns(RuntimeWarning, match=r"NaN or Inf"):
        ex.export(gan, tmp_path / "g.onnx", allow_non_finite=True)
    out = runtime.load(tmp_path / "g.onnx")(_latents(3))
    expected = _keras(gan.generator, _latents(3))
    np.testing.assert_array_equal(np.isfinite(out), np.isfinite(expected))


# ------------------------------------------------------------ publication
@on_tensorflow_only
def test_failed_check_keeps_the_good_file(tmp_path, monkeypatch, shipped):
    good = tmp_path / "gan_generator.onnx"  # a good file and its manifest, as published
    for name in ("gan_generator.onnx", "gan_generator.onnx.json"):
        (tmp_path / name).write_bytes(open(_path(shipped, name), "rb").read())
    before = good.read_bytes(), (tmp_path / "gan_generator.onnx.json").read_bytes()
    assert runtime.load(good).manifest is not None

    def wrong(layer, spec, batch_size):  # the file is staged, complete, but "wrong"
        assert os.path.getsize(spec["out"]) > 0
        raise _onnx.OnnxConversionError("does not reproduce the Keras part")

    monkeypatch.setattr(_onnx, "_check_against_keras", wrong)
    with pytest.raises(ex.ExportError, match="does not reproduce"):
        ex.export(_gan(), good)
    assert (good.read_bytes(), (tmp_path / "gan_generator.onnx.json").read_bytes()) == before
    assert sorted(os.listdir(tmp_path)) == ["gan_generator.onnx", "gan_generator.onnx.json"]


@on_tensorflow_only
def test_export_time_check_catches_a_file_that_differs(tmp_path, shipped):
    spec = {"input_names": ["latent"], "input_shapes": [[None, LATENT]], "output_names": ["image"],
            "out": _path(shipped, "gan_generator.onnx")}
    _onnx._check_against_keras(shipped["gan"].generator, spec, None)  # the right part passes
    other = _gan().generator
    other.layers[0].kernel.assign(keras.ops.convert_to_numpy(shipped["gan"].generator.layers[0].kernel) + 0.01)
    with pytest.raises(_onnx.OnnxConversionError, match=r"does not reproduce the Keras part: 'image'"):
        _onnx._check_against_keras(other, spec, None)


# ------------------------------------------------------------------ runner
@on_tensorflow_only
def test_runner_errors(tmp_path, shipped, monkeypatch):
    path = _path(shipped, "gan_generator.onnx")
    copy = tmp_path / "g.onnx"
    copy.write_bytes(open(path, "rb").read())
    manifest = dict(shipped["manifests"]["gan_generator.onnx"], format="tflite")
    (tmp_path / "g.onnx.json").write_text(json.dumps(manifest))
    with pytest.raises(runtime.ManifestError, match=r"format must be 'onnx' for the file"):
        runtime.load(copy)
    with pytest.raises(ValueError, match=r"num_threads must be None or a positive integer"):
        runtime.load(path, num_threads=0)
    assert runtime.artefact_format(path) == "onnx"
    assert runtime.load(path, num_threads=1)(_latents(2)).shape == (2,) + SHAPE
    with pytest.raises(ValueError, match=r"Input must have shape \(batch, 4\)"):
        runtime.load(path)(np.zeros((2, 5)))
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match=r"needs onnxruntime: pip install onnxruntime"):
        runtime.load(path)


@on_tensorflow_only
def test_unloadable_or_failing_onnx_files_raise_python_errors(tmp_path, shipped):
    # onnxruntime's own exception classes (InvalidArgument, InvalidProtobuf, Fail) are
    # not ValueError / RuntimeError; the runner converts them.
    path = _path(shipped, "gan_generator.onnx")
    (tmp_path / "empty.onnx").write_bytes(b"")
    (tmp_path / "cut.onnx").write_bytes(open(path, "rb").read()[:2000])
    for name in ("empty.onnx", "cut.onnx"):
        with pytest.raises(ValueError, match=rf"onnxruntime can load. Received: path=.*{name}"):
            runtime.load(tmp_path / name)
    # A manifest's output value_range is checked on load (it used to fail when images were mapped).
    (tmp_path / "g.onnx").write_bytes(open(path, "rb").read())
    for bad in ("abc", [1.0, 0.0], [0.0, float("inf")]):
        manifest = json.loads(json.dumps(shipped["manifests"]["gan_generator.onnx"]))
        manifest["outputs"][0]["value_range"] = bad
        (tmp_path / "g.onnx.json").write_text(json.dumps(manifest))
        with pytest.raises(runtime.ManifestError, match=r"outputs\[0\]\.value_range must be null"):
            runtime.load(tmp_path / "g.onnx")
    # A plain z -> image model is no encoder (its manifest called (batch, 4) an image).
    with pytest.raises(ValueError, match=r"An encoder maps images .* input shape \(None, 4\)"):
        ex.export(shipped["gan"].generator, tmp_path / "e.onnx", part="encoder")
    assert not os.path.exists(tmp_path / "e.onnx")
    runner = runtime.load(path)
    with pytest.raises(RuntimeError, match=r"onnxruntime failed to run"):
        runner._run({runner.input_names[0]: np.zeros((2, 3, 3), "float32")})


@on_tensorflow_only
def test_mixed_precision_part_exports_float32_outputs(tmp_path):
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        g = _numpy_weights(keras.Sequential(
            [keras.Input((LATENT,)), keras.layers.Dense(64, activation="tanh", **Z),
             keras.layers.Reshape(SHAPE)]), 4)
    finally:
        keras.config.set_dtype_policy(policy)
    ex.export(g, tmp_path / "g.onnx")
    (output,) = onnx.load(str(tmp_path / "g.onnx")).graph.output
    assert output.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    z = _latents(3)
    got = runtime.load(tmp_path / "g.onnx")(z)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, _keras(g, z).astype("float32"), rtol=0, atol=_onnx.CHECK_TOLERANCE_16_BIT)


@on_tensorflow_only
def test_export_for_mobile_with_onnx_beside_tflite(tmp_path, shipped):
    files = ex.export_for_mobile(shipped["gan"], tmp_path, "g", formats=["tflite", "onnx"],
                                 quantizations=[None])
    assert sorted(os.path.basename(p) for p in files) == ["g_generator.onnx", "g_generator.tflite"]
    assert sorted(os.listdir(tmp_path)) == [
        "g_generator.onnx", "g_generator.onnx.json", "g_generator.tflite", "g_generator.tflite.json"]
    z = _latents(3)
    onnx_out = runtime.load(tmp_path / "g_generator.onnx")(z)
    tflite_out = runtime.load(tmp_path / "g_generator.tflite")(z)
    np.testing.assert_allclose(onnx_out, tflite_out, rtol=0, atol=2 * TOLERANCE)


@on_tensorflow_only
def test_normalise_renames_swapped_outputs_and_casts_to_float32(tmp_path):
    """Exporters name values freely: an output may carry another output's wanted name."""
    helper, T = onnx.helper, onnx.TensorProto
    one = helper.make_tensor("one", T.FLOAT, [], [1.0])
    nodes = [
        helper.make_node("Add", ["x", "one"], ["z_log_sigma"]),  # output 0, wanted "z_mean"
        helper.make_node("Mul", ["x", "x"], ["z_mean"]),  # output 1, wanted "z_log_sigma"
        helper.make_node("Cast", ["x"], ["image"], to=T.FLOAT16),  # wanted "image", float32
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", T.FLOAT, ["n", 2])],
        [helper.make_tensor_value_info("z_log_sigma", T.FLOAT, ["n", 2]),
         helper.make_tensor_value_info("z_mean", T.FLOAT, ["n", 2]),
         helper.make_tensor_value_info("image", T.FLOAT16, ["n", 2])],
        initializer=[one],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    spec = {"input_names": ["latent"], "input_shapes": [[None, 2]], "batch_size": None,
            "output_names": ["z_mean", "z_log_sigma", "image"],
            "output_shapes": [[None, 2], [None, 2], [None, 2]]}
    _onnx._normalise(onnx, model, spec)
    onnx.checker.check_model(model)
    path = str(tmp_path / "m.onnx")
    onnx.save(model, path)
    x = np.array([[0.5, -2.0], [3.0, 0.25]], "float32")
    session = _session(path)
    z_mean, z_log_sigma, image = session.run(["z_mean", "z_log_sigma", "image"], {"latent": x})
    np.testing.assert_array_equal(z_mean, x + 1)
    np.testing.assert_array_equal(z_log_sigma, x * x)
    assert image.dtype == np.float32
    np.testing.assert_array_equal(image, x)
    assert [o.shape for o in session.get_outputs()] == [["batch", 2]] * 3


class SubclassedEncoder(keras.Model):
    def __init__(self, latent_dim, **kwargs):
        super().__init__(**kwargs)
        self.flat = keras.layers.Flatten()
        self.hidden = keras.layers.Dense(16, activation="relu")
        self.mean = keras.layers.Dense(latent_dim)
        self.log_sigma = keras.layers.Dense(latent_dim)

    def call(self, x):
        h = self.hidden(self.flat(x))
        return [self.mean(h), self.log_sigma(h)]


class SubclassedDecoder(keras.Model):
    def __init__(self, shape, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(int(np.prod(shape)), activation="sigmoid")
        self.reshape = keras.layers.Reshape(shape)

    def call(self, z):
        return self.reshape(self.dense(z))


def test_trained_vae_of_subclassed_networks_exports_both_parts(tmp_path):
    """On PyTorch torch.onnx refused the trained weights of subclassed networks
    ("Cannot insert a Tensor that requires grad as a constant")."""
    shape = (6, 10, 3)
    keras.utils.set_random_seed(0)
    vae = keras_gen.VAE(SubclassedEncoder(LATENT), SubclassedDecoder(shape), seed=0)
    vae.compile(optimizer="adam")
    x = np.random.default_rng(0).uniform(0, 1, (32,) + shape).astype("float32")
    vae.fit(x, batch_size=16, epochs=1, verbose=0)
    for part, inputs, network in (("decoder", _latents(3), vae.decoder), ("encoder", x[:3], vae.encoder)):
        path = str(tmp_path / f"{part}.onnx")
        keras_gen.export(vae, path, part=part)
        got = runtime.load(path)(inputs)
        expected = _keras(network, inputs)
        if part == "encoder":
            got, expected = got["z_mean"], expected[0]
        np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE)
    # the weights still train afterwards (their gradients were switched back on)
    before = [keras.ops.convert_to_numpy(w) for w in vae.trainable_weights]
    vae.fit(x, batch_size=16, epochs=1, verbose=0)
    assert all(not np.array_equal(a, keras.ops.convert_to_numpy(b))
               for a, b in zip(before, vae.trainable_weights))
