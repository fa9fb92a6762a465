"""Export of conditional generators: a second input (the condition), manifests, runtime labels.

One export per backend (module-scoped fixture: SavedModel, float32 and
float16 TFLite of a ConditionalGAN's two-input generator); the tests read
its artefacts. Properties of the NumPy runtime and of the planner that do
not depend on the training backend run on TensorFlow only (conversions
there are in-process).
"""

import importlib
import json
import os
import shutil

import keras
import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

import keras_gen
from keras_gen import runtime

ex = importlib.import_module("keras_gen.export")

LATENT = 4
CLASSES = 3
NAMES = ["circle", "square", "triangle"]
SHAPE = (8, 8, 1)

on_tensorflow_only = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="backend-independent (NumPy runtime / planner checks): tested on TensorFlow",
)


def _two_input_generator(condition_size, name="cond_generator"):
    # 8 * 64 + 64 * 64 weights: big enough for the quantizers to apply.
    z = keras.Input((LATENT,), name="z")
    c = keras.Input((condition_size,), name="c")
    h = keras.layers.Concatenate()([z, c])
    h = keras.layers.Dense(64, activation="relu")(h)
    h = keras.layers.Dense(64, activation="tanh")(h)
    return keras.Model([z, c], keras.layers.Reshape(SHAPE)(h), name=name)


class ConditionalStandIn(keras.Model):
    """The model protocol export reads from a conditional keras-gen model."""

    def __init__(self, network, spec, **kwargs):
        super().__init__(name="cgan", **kwargs)
        self.network = network
        self._spec = spec
        self.built = True

    @property
    def decoding_network(self):
        return self.network

    @property
    def encoding_network(self):
        return None

    @property
    def latent_dim(self):
        return LATENT

    @property
    def output_range(self):
        return (-1.0, 1.0)

    @property
    def condition_spec(self):
        return self._spec


def _latents(n, seed=1):
    return np.random.default_rng(seed).standard_normal((n, LATENT)).astype("float32")


def _keras_out(network, z, ids):
    one_hot = np.eye(CLASSES, dtype="float32")[ids]
    return keras.ops.convert_to_numpy(network([z, one_hot], training=False))


def _discriminator(condition_size):
    x, c = keras.Input(SHAPE), keras.Input((condition_size,))
    h = keras.layers.Concatenate()([keras.layers.Flatten()(x), c])
    return keras.Model([x, c], keras.layers.Dense(1)(h))


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    keras.utils.set_random_seed(0)
    network = _two_input_generator(CLASSES)
    model = keras_gen.ConditionalGAN(
        network, _discriminator(CLASSES), latent_dim=LATENT, num_classes=CLASSES,
        condition_names=NAMES, seed=0, name="cgan",
    )
    out = tmp_path_factory.mktemp("conditional")
    files = ex.export_for_mobile(model, out, "cgan", quantizations=[None, "float16"])
    return {"network": network, "dir": str(out), "files": files}


def _path(shipped, name):
    return os.path.join(shipped["dir"], name)


# ------------------------------------------------------------------ parity
@pytest.mark.parametrize("artefact", ["cgan_generator", "cgan_generator.tflite"])
def test_runtime_feeds_labels_and_matches_keras(shipped, artefact):
    runner = runtime.load(_path(shipped, artefact))
    assert runner.input_names == ["latent", "condition"]
    z, ids = _latents(5), np.array([0, 2, 1, 1, 0])
    expected = _keras_out(shipped["network"], z, ids)
    got = runner(z, labels=ids)
    assert got.shape == (5,) + SHAPE and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=ex.TOLERANCES[None])
    # One-hot vectors are the same labels.
    np.testing.assert_array_equal(runner(z, np.eye(CLASSES)[ids]), got)
    # The condition matters: another class, another image.
    assert np.max(np.abs(runner(z, labels=(ids + 1) % CLASSES) - got)) > 1e-3
    # generate: n draws of z from the seed, one label for all or one per image.
    np.testing.assert_array_equal(
        runner.generate(4, seed=3, labels=2),
        runner(np.random.default_rng(3).standard_normal((4, LATENT)), labels=[2, 2, 2, 2]),
    )
    assert runner.generate(labels=ids, seed=0).shape == (5,) + SHAPE


def test_float16_variant_within_documented_tolerance(shipped):
    z, ids = _latents(16), np.arange(16) % CLASSES
    got = runtime.load(_path(shipped, "cgan_generator_fp16.tflite"))(z, labels=ids)
    error = np.max(np.abs(got - _keras_out(shipped["network"], z, ids)))
    assert error <= ex.TOLERANCES["float16"], error


# --------------------------------------------------------------- manifests
def test_manifests_record_the_condition_and_the_input_order(shipped):
    assert len(shipped["files"]) == 3
    for path, manifest in shipped["files"].items():
        with open(path + ".json") as f:
            assert json.load(f) == manifest
        assert manifest["manifest_version"] == 2 and manifest["part"] == "generator"
        assert manifest["model_class"] == "ConditionalGAN" and manifest["latent_dim"] == LATENT
        assert manifest["outputs"][0]["value_range"] == [-1.0, 1.0]  # the generator's tanh
        assert manifest["condition"] == {
            "kind": "classes", "num_classes": CLASSES, "size": CLASSES, "names": NAMES,
            "input": "condition",
        }
        assert [(i["name"], i["shape"], i["dtype"], i["value_range"]) for i in manifest["inputs"]] == [
            ("latent", [None, LATENT], "float32", None),
            ("condition", [None, CLASSES], "float32", [0.0, 1.0]),
        ]
    # A TFLite manifest says where each input is among the file's input
    # tensors (for apps that feed by index); the file itself is the reference.
    for name in ("cgan_generator.tflite", "cgan_generator_fp16.tflite"):
        details = Interpreter(model_path=_path(shipped, name)).get_input_details()
        tensors = [(d["name"], list(d["shape_signature"])) for d in details]
        inputs = shipped["files"][_path(shipped, name)]["inputs"]
        assert [tensors[entry["index"]] for entry in inputs] == [
            ("serving_default_latent:0", [-1, LATENT]),
            ("serving_default_condition:0", [-1, CLASSES]),
        ]
    assert all("index" not in entry for entry in shipped["files"][_path(shipped, "cgan_generator")]["inputs"])


# ----------------------------------------------------------- label errors
@on_tensorflow_only
@pytest.mark.parametrize(
    "labels, error, match",
    [
        (None, ValueError, r"labels are required: the artefact .* is conditional \(3 classes: circle, "
                           r"square, triangle\).*Received: labels=None"),
        ([0, 3], ValueError, r"class ids in \[0, 3\).*Received: labels with 3 at index 1"),
        ([-1, 0], ValueError, r"Received: labels with -1 at index 0"),
        ([0.0, 1.0], TypeError, r"integer class ids.*Received: labels of dtype float64 and shape \(2,\)"),
        ([0, 1, 2], ValueError, r"one label per example \(2\). Received: 3 labels"),
        (np.zeros((2, 4)), ValueError, r"shape \(n, 3\).*Received: labels of shape \(2, 4\)"),
        ([[0, 2, 0], [1, 0, 0]], ValueError, r"lie in \[0.0, 1.0\].*max=2"),
        ([[np.nan, 0, 0], [1, 0, 0]], ValueError, r"labels must be finite"),
        (["a", "b"], TypeError, r"labels must be numbers"),
    ],
)
def test_bad_labels_are_named(shipped, labels, error, match):
    runner = runtime.load(_path(shipped, "cgan_generator.tflite"))
    with pytest.raises(error, match=match):
        runner(_latents(2), labels=labels)


@on_tensorflow_only
def test_plain_two_input_model_is_a_generator_with_an_attribute_vector(tmp_path):
    """A plain [z, c] -> image keras.Model: nothing says c is one-hot, so it is an attribute vector."""
    keras.utils.set_random_seed(1)
    network = _two_input_generator(2, name="plain")
    manifest = ex.export(network, tmp_path / "plain.tflite")
    assert manifest["part"] == "generator" and manifest["latent_dim"] == LATENT
    assert manifest["condition"] == {
        "kind": "attributes", "size": 2, "names": None, "input": "condition"
    }
    assert manifest["inputs"][1]["value_range"] is None
    runner = runtime.load(tmp_path / "plain.tflite")
    z, attributes = _latents(3), np.array([[0.5, -2.0], [0.0, 1.0], [3.0, 0.25]], "float32")
    expected = keras.ops.convert_to_numpy(network([z, attributes]))
    np.testing.assert_allclose(runner(z, labels=attributes), expected, rtol=0, atol=1e-5)
    # One attribute vector for every image.
    np.testing.assert_array_equal(runner(z, [0.0, 1.0]), runner(z, np.tile([[0.0, 1.0]], (3, 1))))
    with pytest.raises(ValueError, match=r"attribute vectors of shape \(n, 2\) or \(2,\)"):
        runner(z, labels=[1, 2, 3])
    # Without a manifest: the inputs' names say which is the condition.
    shutil.copy(tmp_path / "plain.tflite", tmp_path / "bare.tflite")
    bare = runtime.load(tmp_path / "bare.tflite")
    assert bare.manifest is None and bare.input_names == ["latent", "condition"]
    assert bare.condition["kind"] == "attributes" and bare.condition["size"] == 2
    np.testing.assert_array_equal(bare(z, attributes), runner(z, attributes))


@on_tensorflow_only
@pytest.mark.parametrize(
    "change, match",
    [
        (lambda m: m.pop("condition"), r"an artefact without a 'condition' has one input. Received: 2 inputs"),
        (lambda m: m.update(manifest_version=1), r"a 'condition' needs manifest_version 2"),
        (lambda m: m["condition"].update(kind="colours"), r"condition must be an object with kind"),
        (lambda m: m["condition"].update(num_classes=4), r"condition.num_classes must equal condition.size \(3\)"),
        (lambda m: m["condition"].update(names=["a"]), r"condition.names must be null or a list of 3 strings"),
        (lambda m: m["condition"].update(size=4, num_classes=4, names=None),
         r"the second named condition.input='condition' of shape \[batch, 4\]"),
        (lambda m: m.update(inputs=m["inputs"][::-1]), r"the second named condition.input='condition'"),
        (lambda m: [e.update(index=1 - e["index"]) for e in m["inputs"]],
         r"its inputs \['latent', 'condition'\] have the tensor indices \[1, 0\], the artefact's input "
         r"tensors are \['latent', 'condition'\] in this order"),
    ],
)
def test_a_conditional_manifest_that_does_not_fit_is_named(shipped, tmp_path, change, match):
    path = _path(shipped, "cgan_generator.tflite")
    shutil.copy(path, tmp_path / "g.tflite")
    data = json.loads(json.dumps(shipped["files"][path]))
    change(data)
    (tmp_path / "g.tflite.json").write_text(json.dumps(data))
    with pytest.raises(runtime.ManifestError, match=match):
        runtime.load(tmp_path / "g.tflite")


@on_tensorflow_only
def test_conditional_vae_decoder_and_encoder(tmp_path):
    """Both parts take [main, condition]; each input's tensor index is the file's own."""
    keras.utils.set_random_seed(2)
    encoder = keras_gen.networks.conditional_encoder(
        SHAPE, 2, 2, kind="dense", variational=True, hidden_units=(16,), features=8, condition_units=8
    )
    decoder = keras_gen.networks.conditional_decoder(2, SHAPE, 2, kind="dense", hidden_units=(16,))
    cvae = keras_gen.ConditionalVAE(encoder, decoder, condition_size=2, condition_names=["big", "red"])
    files = ex.export_for_mobile(cvae, tmp_path, "cvae", formats=["tflite"], quantizations=[None])
    condition = {"kind": "attributes", "size": 2, "names": ["big", "red"], "input": "condition"}
    x = np.random.default_rng(0).uniform(0, 1, (3,) + SHAPE).astype("float32")
    attributes = np.array([[1, 0], [0, 1], [1, 1]], "float32")
    z_mean, _ = keras.tree.map_structure(keras.ops.convert_to_numpy, encoder([x, attributes]))
    for part, main in (("decoder", "latent"), ("encoder", "image")):
        path = str(tmp_path / f"cvae_{part}.tflite")
        manifest = files[path]
        assert manifest["condition"] == condition and manifest["part"] == part
        assert [entry["name"] for entry in manifest["inputs"]] == [main, "condition"]
        tensors = [d["name"] for d in Interpreter(model_path=path).get_input_details()]
        assert [tensors[entry["index"]] for entry in manifest["inputs"]] == [
            f"serving_default_{main}:0", "serving_default_condition:0"
        ]
    codes = runtime.load(tmp_path / "cvae_encoder.tflite")(x, labels=attributes)
    np.testing.assert_allclose(codes["z_mean"], z_mean, rtol=0, atol=1e-5)
    images = runtime.load(tmp_path / "cvae_decoder.tflite")(z_mean, labels=attributes)
    expected = keras.ops.convert_to_numpy(decoder([z_mean, attributes]))
    np.testing.assert_allclose(images, expected, rtol=0, atol=1e-5)


@on_tensorflow_only
def test_conditional_model_checks_before_writing(tmp_path):
    one_input = keras.Sequential([keras.Input((LATENT,)), keras.layers.Dense(64), keras.layers.Reshape(SHAPE)])
    spec = {"kind": "classes", "num_classes": CLASSES}
    with pytest.raises(ValueError, match=r"must take two inputs, \[z, condition \(batch, 3\)\]"):
        ex.export(ConditionalStandIn(one_input, spec), tmp_path / "g.tflite")
    with pytest.raises(ValueError, match=r"must take two inputs.*\(None, 2\)"):
        ex.export(ConditionalStandIn(_two_input_generator(2), spec), tmp_path / "g.tflite")
    with pytest.raises(ValueError, match=r"condition_spec must be a dict with 'kind' one of"):
        ex.export(ConditionalStandIn(_two_input_generator(3), {"kind": "labels"}), tmp_path / "g.tflite")
    with pytest.raises(ValueError, match=r"\['names'\] must be None or a list of 3 strings"):
        ex.export(ConditionalStandIn(_two_input_generator(3), dict(spec, names=["a"])), tmp_path / "g.tflite")
    assert os.listdir(tmp_path) == []
