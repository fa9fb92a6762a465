"""keras_gen.export: SavedModel / TFLite artefacts of models trained on this backend.

Conversions cost seconds (on JAX and PyTorch a TensorFlow child process each
time), so a module-scoped fixture exports once per model and the tests read
the results.
"""

import importlib
import json
import os

import keras
import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter
from ai_edge_litert.interpreter import OpResolverType

import keras_gen
from keras_gen import runtime
# The module (keras_gen.export may also name the re-exported function).
ex = importlib.import_module("keras_gen.export")
from keras_gen.export import _planner
from tests import helpers

LATENT = 4
SHAPE = (8, 8, 1)


def _images(n=32, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n,) + SHAPE).astype("float32")


def _latents(n, seed=1):
    return np.random.default_rng(seed).standard_normal((n, LATENT)).astype("float32")


def _gan():
    # Big enough (4096 weights) for dynamic-range quantization to apply.
    g = keras.Sequential(
        [
            keras.Input((LATENT,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(64, activation="tanh"),
            keras.layers.Reshape(SHAPE),
        ],
        name="generator",
    )
    d = keras.Sequential(
        [keras.Input(SHAPE), keras.layers.Flatten(), keras.layers.Dense(1)], name="discriminator"
    )
    gan = keras_gen.GAN(g, d, latent_dim=LATENT, seed=0)
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3))
    gan.fit(_images() * 2 - 1, batch_size=16, epochs=1, verbose=0)
    return gan


def _vae():
    # Convolutional, with BatchNorm: Conv2D, Conv2DTranspose and the moving
    # statistics must all survive the trip to TensorFlow and TFLite.
    vae = keras_gen.VAE(
        keras_gen.networks.conv_encoder(SHAPE, LATENT, filters=(8,), dense_units=16,
                                        variational=True, batch_norm=True),
        keras_gen.networks.conv_decoder(LATENT, SHAPE, filters=(8,), dense_units=16,
                                        batch_norm=True),
        kl_weight=0.1,
        seed=0,
    )
    vae.compile(optimizer="adam")
    vae.fit(_images(), batch_size=16, epochs=1, verbose=0)
    return vae


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """Export a GAN (all variants) and a VAE (decoder + encoder) trained on this backend."""
    keras.utils.set_random_seed(0)
    out = tmp_path_factory.mktemp("shipped")
    gan, vae = _gan(), _vae()
    gan_files = ex.export_for_mobile(gan, out, "gan")
    vae_files = ex.export_for_mobile(vae, out, "vae", quantizations=[None])
    return {"gan": gan, "vae": vae, "dir": str(out), "files": {**gan_files, **vae_files}}


def _keras_out(layer, x):
    y = layer(x, training=False)
    return keras.tree.map_structure(keras.ops.convert_to_numpy, y)


# ------------------------------------------------------------------ parity
@pytest.mark.parametrize("artefact", ["gan_generator", "gan_generator.tflite"])
@pytest.mark.parametrize("batch", [1, 5])
def test_float32_parity_and_dynamic_batch(shipped, artefact, batch):
    z = _latents(batch)
    expected = _keras_out(shipped["gan"].generator, z)
    got = runtime.load(os.path.join(shipped["dir"], artefact))(z)
    assert got.shape == (batch,) + SHAPE and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=ex.TOLERANCES[None])


@pytest.mark.parametrize(
    "artefact, quantization",
    [("gan_generator_fp16.tflite", "float16"), ("gan_generator_int8.tflite", "dynamic_int8")],
)
def test_quantized_within_documented_tolerance(shipped, artefact, quantization):
    z = _latents(16)
    expected = _keras_out(shipped["gan"].generator, z)
    got = runtime.load(os.path.join(shipped["dir"], artefact))(z)
    error = np.max(np.abs(got - expected))
    assert error <= ex.TOLERANCES[quantization], error
    sizes = {
        q: os.path.getsize(os.path.join(shipped["dir"], f"gan_generator{s}.tflite"))
        for q, s in (("fp32", ""), ("fp16", "_fp16"), ("int8", "_int8"))
    }
    assert sizes["int8"] < sizes["fp16"] < sizes["fp32"], sizes


def test_vae_decoder_parity(shipped):
    z = _latents(3)
    expected = _keras_out(shipped["vae"].decoder, z)
    for artefact in ("vae_decoder", "vae_decoder.tflite"):
        got = runtime.load(os.path.join(shipped["dir"], artefact))(z)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_vae_encoder_is_deterministic_mean_and_log_sigma(shipped):
    x = _images(5, seed=3)
    z_mean, z_log_sigma = _keras_out(shipped["vae"].encoder, x)
    for artefact in ("vae_encoder", "vae_encoder.tflite"):
        runner = runtime.load(os.path.join(shipped["dir"], artefact))
        first, second = runner(x), runner(x)
        assert sorted(first) == ["z_log_sigma", "z_mean"]
        np.testing.assert_array_equal(first["z_mean"], second["z_mean"])
        np.testing.assert_array_equal(first["z_log_sigma"], second["z_log_sigma"])
        np.testing.assert_allclose(first["z_mean"], z_mean, rtol=0, atol=1e-5)
        np.testing.assert_allclose(first["z_log_sigma"], z_log_sigma, rtol=0, atol=1e-5)


# ------------------------------------------------------- mobile runtime
def test_tflite_files_use_builtin_ops_only(shipped):
    tflites = [p for p in shipped["files"] if p.endswith(".tflite")]
    assert len(tflites) == 5
    for path in tflites:
        # The builtin resolver, no delegates: fails to allocate on a Flex/custom op.
        interpreter = Interpreter(
            model_path=path,
            experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )
        interpreter.allocate_tensors()
        ops = {op["op_name"] for op in interpreter._get_ops_details()}
        assert ops and not any(o.startswith("Flex") or o == "CUSTOM" for o in ops), (path, ops)


def test_tflite_batch_dimension_is_dynamic(shipped):
    interpreter = Interpreter(model_path=os.path.join(shipped["dir"], "gan_generator.tflite"))
    detail = interpreter.get_signature_runner().get_input_details()["latent"]
    assert list(detail["shape_signature"]) == [-1, LATENT]


# ---------------------------------------------------------------- manifests
def test_manifests_describe_each_artefact(shipped):
    for path, returned in shipped["files"].items():
        with open(path + ".json") as f:
            manifest = json.load(f)
        assert manifest == returned
        assert manifest["source_backend"] == keras.backend.backend()
        assert manifest["keras_version"] == keras.__version__
        assert manifest["latent_dim"] == LATENT
        assert manifest["batch_size"] is None and manifest["dynamic_batch"] is True
        assert manifest["format"] == ("tflite" if path.endswith(".tflite") else "saved_model")
    with open(os.path.join(shipped["dir"], "gan_generator_int8.tflite.json")) as f:
        gen = json.load(f)
    assert gen["part"] == "generator" and gen["model_class"] == "GAN"
    assert gen["quantization"] == "dynamic_int8"
    assert gen["inputs"] == [
        {"name": "latent", "shape": [None, LATENT], "dtype": "float32",
         "value_range": None, "role": "latent z ~ N(0, I)"}
    ]
    assert gen["outputs"][0]["name"] == "image"
    assert gen["outputs"][0]["shape"] == [None, *SHAPE]
    assert gen["outputs"][0]["value_range"] == [-1.0, 1.0]
    with open(os.path.join(shipped["dir"], "vae_encoder.json")) as f:
        enc = json.load(f)
    assert enc["inputs"][0]["value_range"] == [0.0, 1.0]  # the VAE's output_range
    assert [o["name"] for o in enc["outputs"]] == ["z_mean", "z_log_sigma"]
    assert enc["outputs"][1]["shape"] == [None, LATENT]
    # Nothing but artefacts and manifests in the folder: no temporary leftovers.
    assert not [f for f in os.listdir(shipped["dir"]) if f.startswith(".")]


# ------------------------------------------- one export: fixed batch, AE
def test_fixed_batch_autoencoder_encoder(tmp_path):
    ae = keras_gen.AutoEncoder(helpers.tiny_encoder(SHAPE, LATENT), helpers.tiny_decoder(LATENT, SHAPE))
    path = tmp_path / "ae_encoder.tflite"
    manifest = ex.export(ae, path, part="encoder", batch_size=2)
    assert manifest["batch_size"] == 2 and manifest["outputs"][0]["name"] == "z"
    interpreter = Interpreter(model_path=str(path))
    detail = interpreter.get_signature_runner().get_input_details()["image"]
    assert list(detail["shape_signature"]) == [2, *SHAPE]
    x = _images(5)  # split into batches of 2, the last one padded
    np.testing.assert_allclose(runtime.load(path)(x), _keras_out(ae.encoder, x), atol=1e-5)
    assert sorted(os.listdir(tmp_path)) == ["ae_encoder.tflite", "ae_encoder.tflite.json"]


# --------------------------------------------------------------- bad input
def _small_gan():
    g = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4), keras.layers.Reshape((2, 2, 1))])
    d = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(), keras.layers.Dense(1)])
    return keras_gen.GAN(g, d, latent_dim=2)


class _Unbuilt(keras.layers.Layer):
    def call(self, x):
        return x


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"format": "pb"}, ValueError, r"format must be one of .*Received: format='pb'"),
        ({"quantization": "int4"}, ValueError, r"quantization must be one of .*'int4'"),
        (
            {"format": "saved_model", "quantization": "float16"},
            ValueError,
            r"quantization applies to format='tflite' only",
        ),
        ({"part": "encoder"}, ValueError, r"part must be one of \['generator'\]"),
        ({"batch_size": 0}, ValueError, r"batch_size must be an integer >= 1 and <= 2147483647 or None"),
        ({"batch_size": 2**40}, ValueError, r"Received: batch_size=1099511627776"),
        ({"batch_size": 2.0}, TypeError, r"Received: batch_size=2.0"),
        ({"value_range": (1, 0)}, ValueError, r"value_range must be a pair \(low, high\)"),
        ({"overwrite": "yes"}, TypeError, r"overwrite must be a bool"),
        ({"allow_non_finite": 1}, TypeError, r"allow_non_finite must be a bool"),
    ],
)
def test_bad_arguments_fail_early_and_write_nothing(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        ex.export(_small_gan(), tmp_path / "g.tflite", **kwargs)
    assert os.listdir(tmp_path) == []


def test_unbuilt_model_is_refused(tmp_path):
    ae = keras_gen.AutoEncoder(_Unbuilt(), _Unbuilt())
    with pytest.raises(ValueError, match=r"is not built, so it has no weights to export"):
        ex.export(ae, tmp_path / "ae.tflite")
    with pytest.raises(ValueError, match=r"is not built"):
        ex.export(keras.Sequential([keras.layers.Dense(3)]), tmp_path / "m.tflite")
    with pytest.raises(TypeError, match=r"model must be a keras_gen.GAN"):
        ex.export("model.keras", tmp_path / "m.tflite")
    assert os.listdir(tmp_path) == []


def test_unwritable_path_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(PermissionError, match=r"Cannot write the export to path=.*a_file"):
        ex.export(_small_gan(), blocker / "g.tflite")
    assert os.listdir(tmp_path) == ["a_file"]


def test_existing_artefact_kept_without_overwrite(tmp_path):
    (tmp_path / "g.tflite").write_bytes(b"old")
    with pytest.raises(FileExistsError, match=r"already exists. Pass overwrite=True"):
        ex.export(_small_gan(), tmp_path / "g.tflite", overwrite=False)
    assert (tmp_path / "g.tflite").read_bytes() == b"old"


def test_failed_conversion_leaves_nothing_behind(tmp_path, monkeypatch):
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "saved_model.pb").write_bytes(b"previous artefact")

    def half_written(targets, specs):
        for spec in specs:
            os.makedirs(spec["out"])
            with open(os.path.join(spec["out"], "saved_model.pb"), "wb") as f:
                f.write(b"partial")
        raise ex.ExportError("converter crashed")

    monkeypatch.setattr(_planner, "_convert", half_written)
    with pytest.raises(ex.ExportError, match="converter crashed"):
        ex.export(_small_gan(), tmp_path / "g", format="saved_model")
    assert os.listdir(tmp_path) == ["g"]  # the previous artefact, untouched
    assert os.listdir(tmp_path / "g") == ["saved_model.pb"]
    assert (tmp_path / "g" / "saved_model.pb").read_bytes() == b"previous artefact"


def test_a_saved_model_folder_holding_other_files_is_not_replaced(tmp_path, monkeypatch):
    folder = tmp_path / "g"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"previous artefact")
    (folder / "README.txt").write_text("the user's notes")
    (folder / "samples").mkdir()
    converted = []
    monkeypatch.setattr(_planner, "_convert", lambda targets, specs: converted.append(specs))
    with pytest.raises(FileExistsError, match=r"also holds files a SavedModel does not write "
                                              r"\(\['README.txt', 'samples'\]\).*path='.*g'"):
        ex.export(_small_gan(), folder, format="saved_model")
    assert converted == []  # refused before any conversion
    assert sorted(os.listdir(folder)) == ["README.txt", "samples", "saved_model.pb", "variables"]
    assert (folder / "README.txt").read_text() == "the user's notes"
    assert sorted(os.listdir(tmp_path)) == ["g"]


def test_a_symbolic_link_at_path_is_written_through(tmp_path, monkeypatch):
    (tmp_path / "store").mkdir()
    real = tmp_path / "store" / "g.tflite"
    real.write_bytes(b"old")
    link = tmp_path / "g.tflite"
    link.symlink_to(real)

    def fake_convert(targets, specs):  # the conversion itself is tested above
        for spec in specs:
            with open(spec["out"], "wb") as f:
                f.write(b"new artefact")
        return [{} for _ in specs]

    monkeypatch.setattr(_planner, "_convert", fake_convert)
    ex.export(_small_gan(), link, overwrite=True)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_bytes() == b"new artefact"
    assert json.loads((tmp_path / "store" / "g.tflite.json").read_text())["format"] == "tflite"
    assert sorted(os.listdir(tmp_path)) == ["g.tflite", "store"]


def test_non_finite_weights_are_refused_unless_allowed(tmp_path, monkeypatch):
    gan = _small_gan()
    kernel = gan.generator.layers[0].kernel
    value = keras.ops.convert_to_numpy(kernel).copy()
    value[0, 0] = np.nan
    kernel.assign(value)
    with pytest.raises(keras_gen.NonFiniteWeightsError, match=r"Cannot export.*1 NaN.*allow_non_finite=True"):
        ex.export(gan, tmp_path / "g.tflite")
    with pytest.raises(keras_gen.NonFiniteWeightsError, match=r"Cannot export"):
        ex.export_for_mobile(gan, tmp_path, "g")
    assert os.listdir(tmp_path) == []

    def fake_convert(targets, specs):  # the conversion itself is tested above
        for spec in specs:
            with open(spec["out"], "wb") as f:
                f.write(b"converted")

    monkeypatch.setattr(_planner, "_convert", fake_convert)
    with pytest.warns(RuntimeWarning, match=r"NaN or Inf.*allow_non_finite=True"):
        manifest = ex.export(gan, tmp_path / "g.tflite", allow_non_finite=True)
    assert manifest["size_bytes"] == len(b"converted")
    assert sorted(os.listdir(tmp_path)) == ["g.tflite", "g.tflite.json"]


@pytest.mark.parametrize("kwargs,match", [
    ({"formats": []}, r"formats must name at least one. Received: formats=\[\]"),
    ({"formats": ["tflite"], "quantizations": []}, r"quantizations must name at least one"),
    ({"parts": ["generator", "generator"]}, r"parts must not repeat an entry \('generator'\)"),
    ({"formats": ["tflite", "tflite"]}, r"formats must not repeat an entry \('tflite'\)"),
])
def test_export_for_mobile_lists_are_named_when_empty_or_repeated(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ex.export_for_mobile(_small_gan(), tmp_path / "out", "g", **kwargs)
    assert not (tmp_path / "out").exists()


def test_a_suffix_that_names_no_format_warns_and_writes_tflite(tmp_path):
    # "g.pt" or a bare name silently became a TFLite file.
    with pytest.warns(UserWarning, match=r"The path's suffix '.pt' names no export format .*"
                      r"writing a TFLite model there.*Received: path='.*g.pt'"):
        ex.export(_small_gan(), str(tmp_path / "g.pt"))
    with open(tmp_path / "g.pt", "rb") as f:
        assert f.read(8)[4:8] == b"TFL3"  # the FlatBuffer identifier of a TFLite model
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        ex.export(_small_gan(), str(tmp_path / "g.tflite"))
