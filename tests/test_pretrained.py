"""The trained models shipped in saved_models/pretrained/ load and still score as recorded.

saved_models/pretrained/models.json (written by scripts/make_pretrained.py)
records, for each shipped model, its files (sha256, size), its class and
shapes, and the values of cheap checks whose procedure does not depend on the
backend: latents drawn with NumPy (np.random.default_rng), the package's
digits classifier as shipped (digits_classifier.keras, trained once on
TensorFlow), float64 NumPy scores. Each backend loads every .keras file and
repeats those checks; the FID here is a NumPy re-implementation (symmetric
square roots), not keras_gen.metrics. The exported TFLite (and ONNX) files
must give the .keras model's outputs on the same inputs within 1e-5.
"""

import contextlib
import functools
import hashlib
import json
import os

import keras
import numpy as np
import pytest

import keras_gen
from keras_gen import runtime
from keras_gen.data import load_digits

SHIP = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                    "saved_models", "pretrained")
with open(os.path.join(SHIP, "models.json"), encoding="utf-8") as _f:
    INDEX = json.load(_f)
MODELS = {entry["name"]: entry for entry in INDEX["models"]}
NAMES = sorted(MODELS)
# The largest file the folder may hold ("a few MB" per file).
MAX_FILE_BYTES = 8 * 2**20


@contextlib.contextmanager
def zero_initial_values():
    """On JAX, build loaded models with zeros instead of random initial weights.

    Keras initialises every weight before it reads the file's values over
    them; on JAX each new weight shape compiles a random-number kernel
    (1-2 s each on a busy 2-core machine: most of this module's time on JAX),
    while zeros need no compilation. A variable the file did not restore
    would stay zero, which the recorded-number checks below would catch;
    TensorFlow and PyTorch load the files exactly as users do.
    """
    from keras.src.backend.jax import core

    original = getattr(core.JaxVariable, "_initialize_with_initializer", None)
    if original is None:  # another Keras: load as users do
        yield
        return

    def zeros(self, initializer):
        self._initialize_layout()
        self._initialize(self._convert_to_tensor(np.zeros(self._shape, self._dtype)))

    core.JaxVariable._initialize_with_initializer = zeros
    try:
        yield
    finally:
        core.JaxVariable._initialize_with_initializer = original


def load_file(path):
    quick = zero_initial_values() if keras.backend.backend() == "jax" else contextlib.nullcontext()
    with quick:
        return keras.saving.load_model(path)


@functools.lru_cache(maxsize=None)
def load(name):
    return load_file(os.path.join(SHIP, MODELS[name]["keras_file"]))


@functools.lru_cache(maxsize=None)
def digits():
    """The 360 test digits in [0, 1] and their labels."""
    x, y = load_digits("test", image_size=28)
    return x, np.asarray(y)


def normal(n, d, seed):
    return np.random.default_rng(seed).standard_normal((n, d)).astype("float32")


def check_spec(name, check):
    return MODELS[name]["checks"][check]


def forward(network, inputs):
    """A network's inference outputs as float32 NumPy, for the whole batch at once.

    TensorFlow: an eager call (``predict`` would trace a graph per network:
    about 0.8 s each on a busy machine against 0.1 s); JAX and PyTorch:
    ``predict`` in one batch (JAX compiles the whole graph once instead of
    each op).
    """
    if keras.backend.backend() == "tensorflow":
        out = network(inputs, training=False)
    else:
        first = inputs[0] if isinstance(inputs, list) else inputs
        out = network.predict(inputs, batch_size=len(first), verbose=0)
    if isinstance(out, (list, tuple)):
        return [np.asarray(keras.ops.convert_to_numpy(o), "float32") for o in out]
    return np.asarray(keras.ops.convert_to_numpy(out), "float32")


@functools.lru_cache(maxsize=None)
def outputs():
    """Every forward pass the checks need, one batch per network.

    (Each new batch shape costs a trace or a compilation; on JAX that is
    most of the time.) The models' own networks are run on the inputs their
    inference methods give them (VAE.posterior / decode, ConditionalVAE
    latent_codes / decode: [images or codes, one-hot labels]). The export
    checks' inputs are the first rows of the same batches:
    np.random.default_rng(seed) fills arrays row by row, so
    normal(16, d, seed) equals normal(n, d, seed)[:16].
    """
    x, y = digits()
    out = {}
    # VAE: the posterior of the first n test digits; its means and the export latents decoded at once.
    vae, n = load("vae_digits"), check_spec("vae_digits", "test_mse")["n"]
    mean, log_sigma = forward(vae.encoder, x[:n])
    z = normal(MODELS["vae_digits"]["export_check"]["n"], vae.latent_dim,
               MODELS["vae_digits"]["export_check"]["seed"])
    decoded = forward(vae.decoder, np.concatenate([mean, z]))
    out["vae_digits"] = {"posterior": (mean, log_sigma), "reconstructions": decoded[:n],
                         "decoded": decoded[n:]}
    # DCGAN generator.
    spec = check_spec("dcgan_digits", "fid_package")
    assert MODELS["dcgan_digits"]["export_check"]["seed"] == spec["seed"]  # same rows
    raw = forward(load("dcgan_digits"), normal(spec["n"], MODELS["dcgan_digits"]["latent_dim"],
                                                spec["seed"]))
    out["dcgan_digits"] = {"decoded": raw, "samples": np.clip((raw + 1.0) / 2.0, 0.0, 1.0)}
    # cVAE: prior samples for each class, and altered test digits (transfer_style: the
    # posterior mean given the digit's own label, decoded with the new label).
    cvae = load("cvae_digits")
    prior, alter = check_spec("cvae_digits", "class_accuracy"), check_spec("cvae_digits", "alter_accuracy")
    labels = np.arange(prior["n"]) % 10
    xa, ya = x[:alter["n"]], y[:alter["n"]]
    codes = forward(cvae.encoder, [xa, cvae.condition_vectors(ya, len(xa))])[0]
    z = np.concatenate([normal(prior["n"], cvae.latent_dim, prior["seed"]), codes])
    new_labels = np.concatenate([labels, (ya + 1) % 10])
    decoded = forward(cvae.decoder, [z, cvae.condition_vectors(new_labels, len(z))])
    out["cvae_digits"] = {"decoded": decoded, "labels": new_labels, "prior": len(labels)}
    # The shipped classifier on everything at once: test digits, GAN samples, cVAE images.
    batches = [x, out["dcgan_digits"]["samples"], np.clip(decoded, 0.0, 1.0)]
    logits, features = forward(load_file(os.path.join(SHIP, INDEX["classifier"]["file"])),
                               np.concatenate(batches))
    classes, features = np.argmax(logits, axis=1), np.asarray(features, "float64")
    edges = np.cumsum([0] + [len(b) for b in batches])
    out["reference_features"] = features[:edges[1]]
    out["dcgan_digits"]["features"] = features[edges[1]:edges[2]]
    out["dcgan_digits"]["classes"] = classes[edges[1]:edges[2]]
    out["cvae_digits"]["classes"] = classes[edges[2]:]
    return out


def frechet(a, b):
    """FID of two feature sets: |mu_a - mu_b|^2 + tr(A) + tr(B) - 2 tr((A^1/2 B A^1/2)^1/2)."""
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(cov_a)
    root = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    middle = np.linalg.eigvalsh(root @ cov_b @ root)
    return float(np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(cov_a) + np.trace(cov_b)
                 - 2.0 * np.sum(np.sqrt(np.clip(middle, 0.0, None))))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="NumPy only, the same on every backend: checked once")
def test_frechet_matches_closed_form_for_diagonal_gaussians():
    # Diagonal covariances: FID = |dmu|^2 + sum (sqrt(a_i) - sqrt(b_i))^2.
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4000, 3)) * [1.0, 2.0, 0.5]
    b = rng.standard_normal((4000, 3)) * [3.0, 1.0, 0.5] + [1.0, 0.0, 0.0]
    var_a, var_b = a.var(0, ddof=1), b.var(0, ddof=1)
    expected = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.sum((np.sqrt(var_a) - np.sqrt(var_b)) ** 2)
    assert frechet(a, b) == pytest.approx(expected, rel=0.02)  # off-diagonal sampling noise
    assert frechet(a, a) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="the files' hashes do not depend on the backend: checked once")
def test_index_matches_the_files():
    listed = [INDEX["classifier"]] + [f for e in INDEX["models"] for f in e["files"]]
    for f in listed:
        path = os.path.join(SHIP, f.get("path", f.get("file")))
        with open(path, "rb") as handle:
            data = handle.read()
        assert hashlib.sha256(data).hexdigest() == f["sha256"], path
        assert len(data) == f["size_bytes"] <= MAX_FILE_BYTES, path
    shipped = {name for name in os.listdir(SHIP) if not name.endswith((".md", ".py"))}
    assert shipped == {os.path.basename(f.get("path", f.get("file"))) for f in listed} | {
        "models.json"}


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="the cards are text written from models.json: checked once")
def test_cards_state_the_checks_sample_sizes(tmp_path, monkeypatch):
    # The shipped cards are what scripts/make_pretrained.py writes from models.json ...
    import importlib.util
    import shutil

    spec = importlib.util.spec_from_file_location(
        "make_pretrained", os.path.join(os.path.dirname(os.path.dirname(SHIP)), "scripts",
                                        "make_pretrained.py"))
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    shutil.copy(os.path.join(SHIP, "models.json"), tmp_path)
    monkeypatch.setattr(script, "SHIP", str(tmp_path))
    script.write_cards()
    for name in NAMES:
        with open(os.path.join(SHIP, f"{name}.md"), encoding="utf-8") as f:
            shipped = f.read()
        assert shipped == (tmp_path / f"{name}.md").read_text(encoding="utf-8"), name
    # ... and a row showing a check's value names the digits it was measured on.
    check = MODELS["vae_digits"]["checks"]["test_mse"]
    row = [line for line in shipped_card("vae_digits").splitlines() if "test MSE" in line]
    assert row == [f"| test MSE of the mean reconstruction (first {check['n']} test digits) | "
                   f"{check['value']:.5f} |"], row


def shipped_card(name):
    with open(os.path.join(SHIP, f"{name}.md"), encoding="utf-8") as f:
        return f.read()


@pytest.mark.parametrize("name", NAMES)
def test_loads_as_recorded(name):
    entry, model = MODELS[name], load(name)
    module, _, cls = entry["class"].rpartition(".")
    assert isinstance(model, getattr({"keras_gen": keras_gen, "keras": keras}[module], cls))
    if isinstance(model, keras_gen.GenerativeModel):
        assert model.latent_dim == entry["latent_dim"]
        assert (getattr(model, "num_classes", None) or None) == entry.get("num_classes")
    else:  # a generator network
        assert tuple(model.input_shape) == (None, entry["latent_dim"])
    decoded = outputs()[name]["decoded"]
    assert decoded.shape[1:] == tuple(entry["image_shape"])
    low, high = entry["output_range"]
    assert np.all(decoded >= low) and np.all(decoded <= high)


def measured(name, check):
    got = outputs()[name]
    if (name, check) == ("vae_digits", "test_mse"):
        x = digits()[0][:len(got["reconstructions"])]
        return float(np.mean((np.asarray(got["reconstructions"], "float64") - x) ** 2))
    if (name, check) == ("dcgan_digits", "fid_package"):
        return frechet(outputs()["reference_features"], got["features"])
    if (name, check) == ("dcgan_digits", "class_counts"):
        return np.bincount(got["classes"], minlength=10)
    hits = got["classes"] == got["labels"]
    if (name, check) == ("cvae_digits", "class_accuracy"):
        return float(np.mean(hits[:got["prior"]]))
    if (name, check) == ("cvae_digits", "alter_accuracy"):
        return float(np.mean(hits[got["prior"]:]))
    raise AssertionError(f"no procedure for {name}/{check}")


CHECKS = [(name, check) for name in NAMES for check in MODELS[name]["checks"]]


@pytest.mark.parametrize("name,check", CHECKS, ids=[f"{n}-{c}" for n, c in CHECKS])
def test_recorded_numbers_reproduce(name, check):
    spec = MODELS[name]["checks"][check]
    value = measured(name, check)
    if "max_moved" in spec:
        assert np.sum(np.abs(np.asarray(value) - spec["value"])) <= spec["max_moved"], (
            value, spec["value"])
        assert np.sum(value) == spec["n"]
    elif "rtol" in spec:
        assert value == pytest.approx(spec["value"], rel=spec["rtol"])
    else:
        assert value == pytest.approx(spec["value"], abs=spec["atol"])


ARTEFACTS = [(e["name"], f) for e in INDEX["models"] for f in e["files"]
             if f["kind"] in ("tflite", "onnx")]


@pytest.mark.parametrize("name,artefact", ARTEFACTS, ids=[f["path"] for _, f in ARTEFACTS])
def test_exported_artefacts_match_the_keras_model(name, artefact):
    entry, model = MODELS[name], load(name)
    if artefact["kind"] == "onnx":
        pytest.importorskip("onnxruntime")  # the optional `onnx` extra
    runner = runtime.load(os.path.join(SHIP, artefact["path"]))
    check = entry["export_check"]
    n = check["n"]
    if artefact["part"] == "encoder":
        mean, log_sigma = outputs()[name]["posterior"]
        got = runner(digits()[0][:n])
        np.testing.assert_allclose(got["z_mean"], mean[:n], rtol=0, atol=check["atol"])
        np.testing.assert_allclose(got["z_log_sigma"], log_sigma[:n], rtol=0, atol=check["atol"])
        return
    assert runner.latent_dim == entry["latent_dim"]
    expected = outputs()[name]["decoded"][:n]
    np.testing.assert_allclose(runner(normal(n, entry["latent_dim"], check["seed"])), expected,
                               rtol=0, atol=check["atol"])
