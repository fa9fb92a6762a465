"""Make the trained models shipped in saved_models/pretrained/.

Three steps, each one command (TensorFlow backend, from the repository root):

    python scripts/make_pretrained.py train    # the recipes' runs -> outputs/pretrained/
    python scripts/make_pretrained.py ship     # -> saved_models/pretrained/ (files, cards, index)
    python scripts/make_pretrained.py check    # sha256 and sizes of the index against the files

``train`` runs, one after the other, in fresh processes:

* the quickstart recipe with its defaults (``recipes/vae_digits.py``, seed 0,
  ``--deterministic``): the VAE;
* the DCGAN recipe on the digits with the configuration that README's
  "Quality against reference models" section reported as keras-gen's default
  DCGAN until session 16 (``benchmarks/quality.py``'s option set "ema": the
  paper's BatchNorm discriminator, Adam 2e-4 with beta_1 0.5 for both players,
  an EMA of G's weights with momentum 0.99, z of 64, batch 64, 1,500 generator
  steps; its flags are spelt out, the recipe's grey defaults having changed
  since), seed 0, ``--deterministic``;
* the conditional VAE as ``benchmarks/conditional.py`` trains it (latent 8,
  BCE, lambda 1/784, Adam 2e-3, ``KLWarmup(300)``, 1,000 steps of 64), seed 0,
  with TensorFlow's deterministic ops (this script's ``cvae`` step).

``ship`` copies the ``.keras`` files without optimizer state (the VAEs saved
again uncompiled; of the DCGAN, the generator file alone, which holds the
moving average of its weights), exports the float32 TFLite (and ONNX, when
``keras_gen.export`` has that format) artefacts, saves the package's digits
classifier used for the checks (``digits_classifier.keras``), measures every
model (README's procedures, and the cheaper, backend-independent ones that
``tests/test_pretrained.py`` repeats), and writes the model cards and
``models.json``.
"""

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join("outputs", "pretrained")
SHIP = os.path.join("saved_models", "pretrained")
PYTHON = sys.executable
SEED = 0

# The commands of `train`, as run from the repository root (KERAS_BACKEND=tensorflow).
COMMANDS = {
    "vae_digits": [
        "recipes/vae_digits.py", "--seed", "0", "--deterministic",
        "--out-dir", f"{WORK}/vae_digits", "--model-path", f"{WORK}/vae_digits.keras",
        "--export-dir", f"{WORK}/vae_export", "--verbose", "2"],
    "dcgan_digits": [
        "recipes/dcgan_celeba.py", "--dataset", "digits", "--batch-size", "64",
        "--latent-dim", "64", "--learning-rate", "2e-4", "--g-learning-rate", "2e-4",
        "--beta-1", "0.5", "--ema", "0.99", "--d-normalization", "batch", "--no-minibatch-std",
        "--d-width", "1", "--augment", "none", "--epochs", "15", "--steps-per-epoch", "100", "--seed", "0", "--deterministic",
        "--out-dir", f"{WORK}/dcgan_digits", "--model-path", f"{WORK}/dcgan_digits.keras",
        "--generator-path", f"{WORK}/dcgan_digits_generator.keras", "--no-export",
        "--verbose", "2"],
    "cvae_digits": ["scripts/make_pretrained.py", "cvae", "--seed", "0"],
}


def command_line(name):
    return "KERAS_BACKEND=tensorflow python " + " ".join(COMMANDS[name])


def env():
    out = dict(os.environ, KERAS_BACKEND="tensorflow")
    out.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return out


def train(names):
    """Run each command; its output goes to the terminal and to outputs/pretrained/<name>.log."""
    os.makedirs(WORK, exist_ok=True)
    for name in names:
        print(f"== {command_line(name)}", flush=True)
        with open(os.path.join(WORK, f"{name}.log"), "w") as log:
            child = subprocess.Popen([PYTHON] + COMMANDS[name], cwd=REPO, env=env(),
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for line in child.stdout:
                sys.stdout.write(line)
                log.write(line)
            if child.wait():
                raise SystemExit(f"{name}: exit status {child.returncode}")


def train_cvae(seed):
    """benchmarks/conditional.py's cVAE run, saved (the benchmark itself saves nothing)."""
    sys.path.insert(0, REPO)
    sys.path.insert(0, os.path.join(REPO, "benchmarks"))
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        tf.config.threading.set_intra_op_parallelism_threads(1)
    import conditional

    from recipes import _common

    x_train, y_train, _, _ = conditional.digits()
    model, seconds, steps = conditional.train("cvae", x_train, y_train, seed,
                                              conditional.GAN_STEPS, conditional.VAE_STEPS)
    path = os.path.join(WORK, "cvae_digits.keras")
    _common.save_keras(model, path, note={"steps": steps, "seconds": round(seconds, 1),
                                          "recipe": "benchmarks/conditional.py cvae"})
    print(f"Trained the cVAE for {steps} steps in {seconds:.0f} s; saved {path}")


# ---------------------------------------------------------------- shipping
# The cheap, backend-independent procedures that tests/test_pretrained.py repeats
# on every backend: NumPy latents (np.random.default_rng(seed)), the package's digits
# classifier as shipped (digits_classifier.keras), float64 arithmetic.
CHECK_SEED = 0
VAE_CHECK_N = 120
GAN_CHECK_N = 300
CVAE_CHECK_N = 100
ALTER_CHECK_N = 50
EXPORT_CHECK_N = 16
EXPORT_ATOL = 1e-5
CLASSIFIER_FILE = "digits_classifier.keras"


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _log(name):
    path = os.path.join(WORK, f"{name}.log")
    with open(path) as f:
        return f.read()


def _search(pattern, text, name):
    import re

    found = re.findall(pattern, text)
    if not found:
        raise SystemExit(f"{name}: no line matching {pattern!r} in {WORK}/{name}.log")
    return found[-1]


def latents(n, latent_dim, seed=CHECK_SEED):
    import numpy as np

    return np.random.default_rng(seed).standard_normal((n, latent_dim)).astype("float32")


def classify(classifier, images):
    """(logits, features) of images in [0, 1] by the shipped two-output classifier."""
    import numpy as np

    logits, features = classifier.predict(np.asarray(images, "float32"), batch_size=256, verbose=0)
    return np.asarray(logits, "float64"), np.asarray(features, "float64")


def gan_samples(generator, z):
    import numpy as np

    return np.clip((generator.predict(z, batch_size=250, verbose=0) + 1.0) / 2.0, 0.0, 1.0)


def check_values(name, model, classifier, x_test, y_test):
    """The recorded values of the backend-independent checks of one shipped model."""
    import numpy as np

    from keras_gen import latent
    from keras_gen import metrics

    if name == "vae_digits":
        x = x_test[:VAE_CHECK_N]
        mse = float(np.mean((np.asarray(model.reconstruct(x), "float64") - x) ** 2))
        return {"test_mse": {
            "value": mse, "rtol": 1e-3, "n": VAE_CHECK_N,
            "procedure": f"mean over the first {VAE_CHECK_N} test digits (keras_gen.data.load_digits("
                         "'test', image_size=28)) and their pixels of (model.reconstruct(x) - x)**2 "
                         "in float64: the mean reconstruction (decoder of the posterior mean)"}}
    if name == "dcgan_digits":
        samples = gan_samples(model, latents(GAN_CHECK_N, model.input_shape[-1]))
        logits, features = classify(classifier, samples)
        _, test_features = classify(classifier, x_test)
        counts = np.bincount(np.argmax(logits, 1), minlength=10)
        return {
            "fid_package": {
                "value": metrics.fid_from_features(test_features, features), "rtol": 1e-3, "n": GAN_CHECK_N,
                "seed": CHECK_SEED,
                "procedure": f"z = np.random.default_rng({CHECK_SEED}).standard_normal(({GAN_CHECK_N}, 64)) "
                             "as float32; samples = clip((generator(z) + 1) / 2, 0, 1); FID "
                             "(np.cov, ddof 1) between the features output of "
                             f"{CLASSIFIER_FILE} on the samples and on the 360 test digits"},
            "class_counts": {
                "value": counts.tolist(), "max_moved": 4, "n": GAN_CHECK_N, "seed": CHECK_SEED,
                "procedure": "argmax of the logits output of " + CLASSIFIER_FILE + " on the same "
                             "samples, counted per digit; max_moved: the largest L1 distance "
                             "between recorded and measured counts accepted"}}
    if name == "cvae_digits":
        labels = np.arange(CVAE_CHECK_N) % 10
        decoded = np.clip(model.decode(latents(CVAE_CHECK_N, model.latent_dim), labels), 0, 1)
        accuracy = float(np.mean(np.argmax(classify(classifier, decoded)[0], 1) == labels))
        alter = alter_accuracy(model, classifier, x_test[:ALTER_CHECK_N], y_test[:ALTER_CHECK_N])
        return {
            "class_accuracy": {
                "value": accuracy, "atol": 2.0 / CVAE_CHECK_N, "n": CVAE_CHECK_N,
                "seed": CHECK_SEED,
                "procedure": f"z = np.random.default_rng({CHECK_SEED}).standard_normal(({CVAE_CHECK_N}, 8)) "
                             f"as float32, labels = np.arange({CVAE_CHECK_N}) % 10; images = clip("
                             "model.decode(z, labels), 0, 1); share whose argmax of the logits "
                             f"output of {CLASSIFIER_FILE} is the label"},
            "alter_accuracy": {
                "value": alter, "atol": 2.0 / ALTER_CHECK_N, "n": ALTER_CHECK_N,
                "procedure": f"the first {ALTER_CHECK_N} test digits x with labels y, redrawn as "
                             "(y + 1) % 10 by keras_gen.latent.transfer_style(model, x, y, "
                             "(y + 1) % 10), clipped to [0, 1]; share classified as the new label"}}
    raise ValueError(name)


def alter_accuracy(model, classifier, x, y):
    """Share of digits x (labels y) redrawn as (y + 1) % 10 that the classifier reads so."""
    import numpy as np

    from keras_gen import latent

    y = np.asarray(y)
    altered = np.clip(latent.transfer_style(model, x, y, (y + 1) % 10), 0, 1)
    return float(np.mean(np.argmax(classify(classifier, altered)[0], 1) == (y + 1) % 10))


def export_artefacts(name, model, ship_dir):
    """Float32 TFLite (and ONNX when keras_gen.export has it) of the shipped part(s)."""
    import numpy as np

    import importlib

    from keras_gen import runtime

    export_module = importlib.import_module("keras_gen.export")  # keras_gen.export is also a function

    parts = {"vae_digits": ["decoder", "encoder"], "dcgan_digits": ["generator"],
             "cvae_digits": []}[name]
    formats = ["tflite"] + (["onnx"] if "onnx" in export_module.FORMATS else [])
    written = []
    for part in parts:
        # The encoder goes as TFLite only (3.3 MB a copy): what an app that
        # reconstructs or encodes needs; the generators and decoders go in both.
        for fmt in formats if part != "encoder" else ["tflite"]:
            stem = "dcgan_digits_generator" if part == "generator" else f"{name}_{part}"
            path = os.path.join(ship_dir, f"{stem}.{fmt}")
            kwargs = {} if part == "generator" else {"part": part}
            export_module.export(model, path, format=fmt, **kwargs)
            runner = runtime.load(path)
            if part == "encoder":
                from keras_gen.data import load_digits

                x = load_digits("test", image_size=28)[0][:EXPORT_CHECK_N]
                mean, sigma = model.encode(x)  # the posterior's mean and standard deviation
                expected = np.concatenate([mean, np.log(sigma)], axis=1)
                got = runner(x)
                got = np.concatenate([got["z_mean"], got["z_log_sigma"]], axis=1)
            else:
                z = latents(EXPORT_CHECK_N, runner.latent_dim)
                expected = (model.predict(z, verbose=0) if part == "generator"
                            else model.decode(z))
                got = runner(z)
            error = float(np.max(np.abs(np.asarray(got) - np.asarray(expected))))
            if error > EXPORT_ATOL:
                raise SystemExit(f"{path}: largest difference to Keras {error:.2e} > {EXPORT_ATOL}")
            written.append({"path": path, "format": fmt, "part": part, "max_abs_error": error})
    return written


def save_without_optimizer_state(source, target):
    """Re-save a trained model without its optimizer (loaded with ``compile=False``).

    The recipes' files carry Adam's two moment estimates per weight (three
    times the size). The shipped file holds the weights and the model's own
    configuration; ``compile`` it again to train on. Returns the loaded model.
    """
    import keras

    from recipes import _common

    model = keras.saving.load_model(source, compile=False)
    _common.save_keras(model, target)
    return keras.saving.load_model(target)


def ship():
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    sys.path.insert(0, REPO)
    sys.path.insert(0, os.path.join(REPO, "benchmarks"))
    import keras
    import numpy as np

    if keras.backend.backend() != "tensorflow":
        raise SystemExit("ship runs on the TensorFlow backend (the models were trained there)")
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    import conditional
    import independent_extractors
    import quality

    import keras_gen
    from keras_gen import metrics
    from keras_gen.data import load_digits

    os.makedirs(SHIP, exist_ok=True)
    x_test, y_test = load_digits("test", image_size=28)
    y_test = np.asarray(y_test, "int32")

    # The package's digits classifier and features as one two-output model.
    package = metrics.digits_feature_extractor()
    independent = independent_extractors.digits_extractor()
    classifier_model = keras.Model(package.classifier.input,
                                   [package.classifier.output, package.output],
                                   name="digits_classifier")
    classifier_path = os.path.join(SHIP, CLASSIFIER_FILE)
    classifier_model.save(classifier_path)
    classifier = keras.saving.load_model(classifier_path)
    extractors = {"package": package, "independent": independent}
    f_tests = {n: metrics.extract_features(e, x_test) for n, e in extractors.items()}

    machine = (f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores shared with "
               f"other jobs (load average {os.getloadavg()[0]:.0f} when shipped); "
               f"TensorFlow {tf.__version__}, Keras {keras.__version__}, Python {platform.python_version()}")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=REPO).stdout.strip()
    entries = []

    # ---- VAE (the quickstart)
    log = _log("vae_digits")
    epochs, seconds = _search(r"Trained (\d+) epochs in (\d+) s", log, "vae_digits")
    val = dict(zip(("reconstruction_loss", "kl_loss", "loss", "neg_elbo"), map(float, _search(
        r"Validation: reconstruction_loss=([\d.]+) kl_loss=([\d.]+) nats, loss=([\d.]+), "
        r"neg_elbo=([\d.]+)", log, "vae_digits"))))
    vae = save_without_optimizer_state(os.path.join(WORK, "vae_digits.keras"),
                                       os.path.join(SHIP, "vae_digits.keras"))
    scores = quality.vae_scores(vae, x_test, SEED)
    entries.append({
        "name": "vae_digits", "class": "keras_gen.VAE", "title": "Quickstart VAE on the digits",
        "keras_file": "vae_digits.keras", "latent_dim": vae.latent_dim,
        "image_shape": [28, 28, 1], "output_range": [0.0, 1.0],
        "command": command_line("vae_digits"), "seed": SEED,
        "budget": {"epochs": int(epochs), "batch_size": 64, "steps": int(epochs) * 23,
                   "train_seconds": int(seconds)},
        "data": "scikit-learn's 1,797 handwritten digits upsampled to 28x28 in [0, 1], stratified "
                "80/20 split (seed 0): 1,437 train, 360 test (keras_gen.data.load_digits)",
        "metrics": {
            "val_neg_elbo": val["neg_elbo"], "val_reconstruction_loss": val["reconstruction_loss"],
            "val_kl_loss": val["kl_loss"],
            "mc_neg_elbo_10": scores["neg_elbo"], "kl": scores["kl"],
            "active_units": scores["active_units"],
        },
        "metric_procedures": {
            "val_neg_elbo": "the recipe's last-epoch Keras validation metrics on the 360 test "
                            "digits (one posterior draw per image, the model's own seed stream)",
            "mc_neg_elbo_10": "keras_gen.metrics.monte_carlo_negative_elbo(model, x_test, "
                              "samples=10, seed=0), nats per image (benchmarks/quality.py vae_scores)",
            "active_units": "latent dimensions whose posterior mean varies across the test digits "
                            "with variance > 0.01",
        },
        "model": vae,
    })

    # ---- DCGAN (generator with the moving average of its weights)
    log = _log("dcgan_digits")
    seconds, per_step = _search(r"Final epoch: .*\((\d+) s, ([\d.]+) s/step\)", log, "dcgan_digits")
    steps = int(_search(r"Generator steps trained in all .*: (\d+)", log, "dcgan_digits"))
    shutil.copyfile(os.path.join(WORK, "dcgan_digits_generator.keras"),
                    os.path.join(SHIP, "dcgan_digits_generator.keras"))
    generator = keras.saving.load_model(os.path.join(SHIP, "dcgan_digits_generator.keras"))
    readme = quality.digit_scores(quality.sample_digits(generator, SEED, 64), extractors,
                                  f_tests, SEED)
    entries.append({
        "name": "dcgan_digits", "class": "keras.Model",
        "title": "DCGAN generator on the digits (README's default DCGAN until session 16)",
        "keras_file": "dcgan_digits_generator.keras", "latent_dim": 64,
        "image_shape": [28, 28, 1], "output_range": [-1.0, 1.0],
        "command": command_line("dcgan_digits"), "seed": SEED,
        "budget": {"generator_steps": steps, "discriminator_steps": steps, "batch_size": 64,
                   "train_seconds": int(seconds), "seconds_per_step": float(per_step)},
        "data": "the same digits scaled to [-1, 1] (keras_gen.data.load('digits', split='train'), "
                "batches of 64 reshuffled each pass, last partial batch dropped)",
        "configuration": "keras_gen.networks.dcgan_generator(64, (28, 28, 1)) and "
                         "dcgan_discriminator((28, 28, 1)) (BatchNorm), standard non-saturating "
                         "objective, Adam(2e-4, beta_1=0.5) for both players, Keras' use_ema on "
                         "G's optimizer with momentum 0.99 (the file holds the moving average): "
                         "benchmarks/quality.py's option set 'ema' (keras-gen's default DCGAN until session 16)",
        "metrics": {
            f"{n}_{k}": v for n, r in readme.items() for k, v in (
                ("fid", r["fid"]), ("kid", r["kid"]), ("class_counts", r["class_counts"]),
                ("all_classes_4pct", r["all_classes"]))},
        "comparison": "README's 'Quality against reference models' reports this configuration "
                      "(`ema`, seed 0, 1,500 steps, trained by benchmarks/quality.py on its own "
                      "tf.data stream of the same digits) at FID 1.12 (package) and 2.44 "
                      "(independent); the tutorial's networks with the paper's Adam, its "
                      "reference, at 1.86 and 4.03.",
        "metric_procedures": {
            "all": "benchmarks/quality.py sample_digits + digit_scores, as README's 'Quality "
                   "against reference models': 1,000 samples from np.random.default_rng(0) latents, "
                   "(G(z) + 1) / 2 clipped to [0, 1]; FID and KID (mean, std; 50 subsets, seed 0) "
                   "against the 360 test digits on the package's digits_feature_extractor() "
                   "(TensorFlow, seed 0, 20 epochs) and on benchmarks/independent_extractors."
                   "digits_extractor(); class counts by each extractor's classifier; "
                   "all_classes_4pct: every digit at least 4% of the samples",
        },
        "model": generator,
    })

    # ---- cVAE
    log = _log("cvae_digits")
    steps, seconds = _search(r"Trained the cVAE for (\d+) steps in (\d+) s", log, "cvae_digits")
    cvae = save_without_optimizer_state(os.path.join(WORK, "cvae_digits.keras"),
                                        os.path.join(SHIP, "cvae_digits.keras"))
    samples, labels = conditional.samples_of("cvae", cvae, SEED)
    bench = conditional.scores(samples, labels, package, independent, f_tests)
    entries.append({
        "name": "cvae_digits", "class": "keras_gen.ConditionalVAE",
        "title": "Conditional VAE on the digits (for altering a digit)",
        "keras_file": "cvae_digits.keras", "latent_dim": cvae.latent_dim, "num_classes": 10,
        "image_shape": [28, 28, 1], "output_range": [0.0, 1.0],
        "command": command_line("cvae_digits"), "seed": SEED,
        "budget": {"steps": int(steps), "batch_size": 64, "train_seconds": int(seconds)},
        "data": "the same 1,437 training digits in [0, 1] with their labels (tf.data, shuffled "
                "each pass, batches of 64)",
        "configuration": "keras_gen.networks.conditional_encoder/conditional_decoder((28, 28, 1), "
                         "latent 8, 10 classes, variational=True), BCE, kl_weight 1/784, Adam(2e-3), "
                         "KLWarmup(300): benchmarks/conditional.py's cVAE",
        "metrics": {"class_accuracy": bench["class_accuracy"],
                    "class_accuracy_independent": bench["class_accuracy_independent"],
                    "worst_class_accuracy": min(bench["per_class_accuracy"]),
                    "fid_package": bench["fid_package"],
                    "fid_independent": bench["fid_independent"]},
        "metric_procedures": {
            "all": "benchmarks/conditional.py samples_of + scores: 1,000 samples "
                   "model.sample(1000, labels=np.arange(1000) % 10, seed=0) (TensorFlow's draws), "
                   "clipped to [0, 1]; class accuracy by the package's digits classifier "
                   "(and the independent one); FID against the 360 test digits on both extractors"},
        "model": cvae,
    })

    # ---- artefacts, checks, index
    index = {"format_version": 1, "created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
             "commit": commit, "backend": "tensorflow", "machine": machine,
             "classifier": {"file": CLASSIFIER_FILE, "sha256": sha256(classifier_path),
                            "size_bytes": os.path.getsize(classifier_path),
                            "what": "keras_gen.metrics.digits_feature_extractor() as trained on "
                                    "TensorFlow (seed 0, 20 epochs): outputs [logits (n, 10), "
                                    "unit-scaled features (n, 64)]; shipped so that the checks "
                                    "score with the same classifier on every backend",
                            "test_accuracy": package.test_accuracy},
             "models": []}
    for entry in entries:
        model = entry.pop("model")
        entry["checks"] = check_values(entry["name"], model, classifier, x_test, y_test)
        if entry["name"] == "cvae_digits":
            entry["metrics"]["alter_accuracy_test"] = alter_accuracy(model, classifier, x_test, y_test)
        artefacts = export_artefacts(entry["name"], model, SHIP)
        files = [{"path": entry["keras_file"], "kind": "keras"}]
        for a in artefacts:
            rel = os.path.basename(a["path"])
            files.append({"path": rel, "kind": a["format"], "part": a["part"],
                          "max_abs_error_vs_keras": a["max_abs_error"]})
            files.append({"path": rel + ".json", "kind": "manifest", "part": a["part"]})
        for f in files:
            full = os.path.join(SHIP, f["path"])
            f["sha256"], f["size_bytes"] = sha256(full), os.path.getsize(full)
        entry["files"] = files
        entry["export_check"] = {"n": EXPORT_CHECK_N, "seed": CHECK_SEED, "atol": EXPORT_ATOL,
                                 "procedure": "z = np.random.default_rng(0).standard_normal((16, "
                                              "latent_dim)) as float32 (encoder: the first 16 "
                                              "test digits); largest |artefact - Keras| output"}
        index["models"].append(entry)
    with open(os.path.join(SHIP, "models.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")
    for entry in index["models"]:
        print(json.dumps({k: entry[k] for k in ("name", "metrics", "checks")}, indent=1))
    print(f"wrote {SHIP}/models.json")
    write_cards()


def recheck():
    """Recompute the recorded checks of the shipped files (no training, no export)."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    sys.path.insert(0, REPO)
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    import keras_gen  # noqa: F401  (registers the model classes)
    from keras_gen.data import load_digits

    path = os.path.join(SHIP, "models.json")
    with open(path) as f:
        index = json.load(f)
    x_test, y_test = load_digits("test", image_size=28)
    classifier = keras.saving.load_model(os.path.join(SHIP, index["classifier"]["file"]))
    for entry in index["models"]:
        model = keras.saving.load_model(os.path.join(SHIP, entry["keras_file"]))
        entry["checks"] = check_values(entry["name"], model, classifier, x_test, y_test)
        if entry["name"] == "cvae_digits":
            entry["metrics"]["alter_accuracy_test"] = alter_accuracy(model, classifier, x_test, y_test)
        print(entry["name"], {k: v["value"] for k, v in entry["checks"].items()})
    with open(path, "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")
    write_cards()


# ------------------------------------------------------------------- cards
def _mb(n):
    return f"{n / 1e6:.2f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


def _kid(v):
    return f"{1000 * v[0]:.1f} ± {1000 * v[1]:.1f}"


def _quality_rows(entry):
    m, c = entry["metrics"], entry["checks"]
    if entry["name"] == "vae_digits":
        return [
            ("validation -ELBO, the recipe's last epoch (one posterior draw per image)",
             f"{m['val_neg_elbo']:.1f} nats per image"),
            ("validation reconstruction loss (BCE per pixel) / KL",
             f"{m['val_reconstruction_loss']:.4f} / {m['val_kl_loss']:.2f} nats"),
            ("test -ELBO, 10 posterior draws (`metrics.monte_carlo_negative_elbo`, seed 0)",
             f"{m['mc_neg_elbo_10']:.1f} nats per image"),
            (f"test MSE of the mean reconstruction (first {c['test_mse']['n']} test digits)",
             f"{c['test_mse']['value']:.5f}"),
            ("active latent units (posterior-mean variance > 0.01)",
             f"{m['active_units']} of {entry['latent_dim']}"),
        ]
    if entry["name"] == "dcgan_digits":
        rows = []
        for ext, label in (("package", "the package's `digits_feature_extractor()`"),
                           ("independent", "`benchmarks/independent_extractors.digits_extractor()`")):
            counts = m[f"{ext}_class_counts"]
            rows += [
                (f"FID / KID x 1000, 1,000 samples vs the 360 test digits, on {label}",
                 f"{m[f'{ext}_fid']:.2f} / {_kid(m[f'{ext}_kid'])}"),
                (f"class coverage by that extractor's classifier (rarest digit; all >= 4%)",
                 f"digit {counts.index(min(counts))}: {min(counts) / 10:.1f}%; "
                 f"{'yes' if m[f'{ext}_all_classes_4pct'] else 'no'}"),
            ]
        return rows
    return [
        ("class accuracy of 1,000 samples (100 per digit), the package's classifier",
         f"{100 * m['class_accuracy']:.1f}% (worst digit {100 * m['worst_class_accuracy']:.0f}%)"),
        ("the same samples, the independent classifier", f"{100 * m['class_accuracy_independent']:.1f}%"),
        ("FID vs the 360 test digits, package / independent extractor",
         f"{m['fid_package']:.2f} / {m['fid_independent']:.2f}"),
        ("altered digits: the 360 test digits redrawn as the next digit ((y + 1) % 10) by "
         "`latent.transfer_style`, read as the new digit by the package's classifier",
         f"{100 * m['alter_accuracy_test']:.1f}%"),
    ]


def _budget(entry):
    b = entry["budget"]
    if "epochs" in b:
        text = f"{b['epochs']} epochs of batch {b['batch_size']} ({b['steps']:,} steps)"
    elif "generator_steps" in b:
        text = (f"{b['generator_steps']:,} generator and discriminator steps of batch "
                f"{b['batch_size']} ({b['seconds_per_step']:.3f} s per step)")
    else:
        text = f"{b['steps']:,} steps of batch {b['batch_size']}"
    return f"{text}; {b['train_seconds']} s of training"


def _usage(entry):
    name = entry["name"]
    path = f"saved_models/pretrained/{entry['keras_file']}"
    if name == "vae_digits":
        return f"""```python
import keras, numpy as np
import keras_gen  # registers keras_gen's model classes with Keras

vae = keras.saving.load_model("{path}")   # any backend
z = np.random.default_rng(0).standard_normal((16, 8)).astype("float32")
images = vae.decode(z)                     # (16, 28, 28, 1) in [0, 1]
x, _ = keras_gen.data.load_digits("test", image_size=28)
recon = vae.reconstruct(x[:16])            # the decoded posterior means

from keras_gen import runtime              # NumPy + LiteRT, no Keras needed
decoder = runtime.load("saved_models/pretrained/vae_digits_decoder.tflite")
images = decoder.generate(16, seed=0)      # z from np.random.default_rng(0)
codes = runtime.load("saved_models/pretrained/vae_digits_encoder.tflite")(x[:16])
# -> {{"z_mean": (16, 8), "z_log_sigma": (16, 8)}}
```"""
    if name == "dcgan_digits":
        return f"""```python
import keras, numpy as np
import keras_gen

generator = keras.saving.load_model("{path}")  # a plain keras.Model, z (n, 64) -> (n, 28, 28, 1)
z = np.random.default_rng(0).standard_normal((64, 64)).astype("float32")
images = generator.predict(z, verbose=0)      # in [-1, 1]
keras_gen.images.save_image_grid(images, "grid.png", cols=8, value_range=(-1, 1))

from keras_gen import runtime                 # NumPy + LiteRT, no Keras needed
images = runtime.load("saved_models/pretrained/dcgan_digits_generator.tflite").generate(64, seed=0)
```"""
    return f"""```python
import keras, numpy as np
import keras_gen
from keras_gen import latent

cvae = keras.saving.load_model("{path}")
sevens = cvae.sample(8, labels=7, seed=0)          # (8, 28, 28, 1) in [0, 1]
x, y = keras_gen.data.load_digits("test", image_size=28)
as_threes = latent.transfer_style(cvae, x[:8], y[:8], new_labels=3)  # same handwriting, digit 3
```"""


CLI = {
    "vae_digits": [
        "python -m keras_gen generate saved_models/pretrained/vae_digits.keras --n 64 --out samples.png",
        "python -m keras_gen reconstruct saved_models/pretrained/vae_digits_decoder.tflite --n 16 --out reconstructions.png",
        "python -m keras_gen interpolate saved_models/pretrained/vae_digits.keras --steps 8 --rows 4 --out interpolation.png",
    ],
    "dcgan_digits": [
        "python -m keras_gen generate saved_models/pretrained/dcgan_digits_generator.tflite --n 64 --out grid.png",
        "python -m keras_gen generate saved_models/pretrained/dcgan_digits_generator.keras --n 64 --out grid_keras.png",
        "python -m keras_gen info saved_models/pretrained/dcgan_digits_generator.onnx",
    ],
    "cvae_digits": [
        "python -m keras_gen generate saved_models/pretrained/cvae_digits.keras --labels 0,1,2,3,4,5,6,7,8,9 --n 100 --out classes.png",
        "python -m keras_gen alter saved_models/pretrained/cvae_digits.keras --from 3 --to 8 --out altered.png",
    ],
}


def _check_row(key, spec):
    tol = (f"±{spec['max_moved']} samples moved (L1)" if "max_moved" in spec
           else f"relative {spec['rtol']:g}" if "rtol" in spec else f"±{spec['atol']:g}")
    value = spec["value"]
    shown = (", ".join(map(str, value)) if isinstance(value, list)
             else f"{value:.6g}")
    return f"| `{key}` | {shown} | {tol} | {spec['procedure']} |"


def write_cards():
    with open(os.path.join(SHIP, "models.json")) as f:
        index = json.load(f)
    for entry in index["models"]:
        lines = [f"# {entry['title']}: `{entry['name']}`", "",
                 f"`{entry['keras_file']}`: a `{entry['class']}`"
                 + (f" with {entry['num_classes']} classes" if "num_classes" in entry else "")
                 + f", latent {entry['latent_dim']}, images {'x'.join(map(str, entry['image_shape']))} "
                 f"in [{entry['output_range'][0]:g}, {entry['output_range'][1]:g}]. Shipped "
                 f"{index['created']} from commit {index['commit']} by "
                 "`scripts/make_pretrained.py ship`; the figures below are in `models.json`.",
                 "", "| | |", "|---|---|",
                 f"| Data | {entry['data']} |"]
        if "configuration" in entry:
            lines.append(f"| Configuration | {entry['configuration']} |")
        lines += [f"| Command | `{entry['command']}` |",
                  f"| Seed | {entry['seed']} (TensorFlow, deterministic ops) |",
                  f"| Budget | {_budget(entry)} |",
                  f"| Machine | {index['machine']} |", "",
                  "## Measured quality", "", "| measure | value |", "|---|---|"]
        lines += [f"| {a} | {b} |" for a, b in _quality_rows(entry)]
        procedures = entry["metric_procedures"]
        if "comparison" in entry:
            lines += ["", entry["comparison"]]
        lines += ["", "How: " + " ".join(f"{v}" if k == "all" else f"*{k}*: {v}."
                                           for k, v in procedures.items()), "",
                  "## Checked on every backend", "",
                  "`tests/test_pretrained.py` loads the file under TensorFlow, JAX and PyTorch and "
                  "repeats these backend-independent measurements (NumPy latents, the package's "
                  f"digits classifier as shipped in `{index['classifier']['file']}`):", "",
                  "| check | recorded | tolerance | procedure |", "|---|---|---|---|"]
        lines += [_check_row(k, v) for k, v in entry["checks"].items()]
        lines += ["", "## Files", "", "| file | size | sha256 | what |", "|---|---|---|---|"]
        for f in entry["files"]:
            what = {"keras": "Keras 3 model file (any backend)",
                    "tflite": f"float32 TFLite {f.get('part')} (LiteRT); largest difference to Keras "
                              f"{f.get('max_abs_error_vs_keras', 0):.1e} on 16 inputs",
                    "onnx": f"ONNX {f.get('part')} (onnxruntime); largest difference to Keras "
                            f"{f.get('max_abs_error_vs_keras', 0):.1e} on 16 inputs",
                    "manifest": "JSON manifest (inputs, outputs, value ranges) read by "
                                "`keras_gen.runtime`"}[f["kind"]]
            lines.append(f"| `{f['path']}` | {_mb(f['size_bytes'])} | `{f['sha256'][:16]}…` | {what} |")
        lines += ["", "## Use it", "", "From the command line (`keras-gen` is the same program; "
                  "latents come from NumPy's `default_rng(--seed)`, as `keras_gen.runtime` draws "
                  "them, so a `.keras` file and its exported artefact give the same grid):", "",
                  "```bash"] + CLI[entry["name"]] + ["```", "", "From Python:", "", _usage(entry), ""]
        with open(os.path.join(SHIP, f"{entry['name']}.md"), "w") as f:
            f.write("\n".join(lines))
        print(f"wrote {SHIP}/{entry['name']}.md")


def check():
    with open(os.path.join(SHIP, "models.json")) as f:
        index = json.load(f)
    bad = 0
    files = [{"path": index["classifier"]["file"], "sha256": index["classifier"]["sha256"],
              "size_bytes": index["classifier"]["size_bytes"]}]
    for entry in index["models"]:
        files += entry["files"]
    for f in files:
        path = os.path.join(SHIP, f["path"])
        ok = os.path.exists(path) and sha256(path) == f["sha256"]
        bad += not ok
        print(f"{'ok ' if ok else 'BAD'} {f['size_bytes'] / 1e6:7.3f} MB  {f['path']}")
    raise SystemExit(1 if bad else 0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    t = sub.add_parser("train", help="train the shipped models into outputs/pretrained/")
    t.add_argument("names", nargs="*", default=list(COMMANDS), help=f"from {list(COMMANDS)}")
    c = sub.add_parser("cvae", help="train the conditional VAE (benchmarks/conditional.py's run)")
    c.add_argument("--seed", type=int, default=SEED)
    sub.add_parser("ship", help="write saved_models/pretrained/ from outputs/pretrained/")
    sub.add_parser("cards", help="write the model cards from models.json")
    sub.add_parser("recheck", help="recompute the recorded checks of the shipped files")
    sub.add_parser("check", help="check models.json against the files")
    args = parser.parse_args(argv)
    os.chdir(REPO)
    if args.step == "train":
        train(args.names)
    elif args.step == "cvae":
        train_cvae(args.seed)
    elif args.step == "ship":
        ship()
    elif args.step == "cards":
        write_cards()
    elif args.step == "recheck":
        recheck()
    else:
        check()


if __name__ == "__main__":
    main()
