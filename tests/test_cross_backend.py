"""A .keras file saved under any backend loads, predicts and trains under every backend.

One run covers the nine (save backend, load backend) pairs: under PyTorch
(the cheapest backend to train in-process) the test saves its files, two
child processes (TensorFlow, JAX) load them and save their own, two more
load each other's and their own, and this process loads all three. The
TensorFlow and JAX runs of the suite skip it: they would repeat the same
nine pairs.
"""

import json

import keras
import numpy as np
import pytest

import keras_gen
from tests import helpers
from tests.models.test_gan import tiny_gan

HOST = "torch"

CHILD = """
import json
import numpy as np
from tests.test_cross_backend import load_and_train, save_models
with open(TASK) as f:
    task = json.load(f)
out = {"loaded": {saver: load_and_train(cases) for saver, cases in task["load"].items()}}
if task["save"]:
    out["saved"] = save_models(np.load(task["images"]), task["directory"])
print(json.dumps(out))
"""


def _iterations(optimizers):
    return [int(keras.ops.convert_to_numpy(o.iterations)) for o in optimizers]


def save_models(images, directory):
    """Train an AutoEncoder, a VAE and a GAN one epoch here and save them.

    Returns ``{kind: {"path", "inputs", "train", "predict"}}`` (JSON-ready):
    the file, the .npy files of the inputs ``predict`` is compared on and of
    the training data, and this backend's predictions.
    """
    keras.utils.set_random_seed(0)
    here = keras.backend.backend()
    x = images[:4]
    z = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    ae = keras_gen.AutoEncoder(helpers.tiny_encoder(), helpers.tiny_decoder())
    vae = keras_gen.VAE(helpers.tiny_encoder(variational=True), helpers.tiny_decoder(), kl_weight=0.1, seed=0)
    gan = tiny_gan(d_steps=2)
    ae.compile(optimizer="adam")
    vae.compile(optimizer="adam")
    # Two optimizer classes: each is stored backend-neutral.
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.RMSprop(1e-3))
    saved = {}
    for kind, model, inputs, train in (
        ("AutoEncoder", ae, x, images),
        ("VAE", vae, x, images),
        ("GAN", gan, z, np.tanh(images[..., :1][:, :4, :4])),
    ):
        model.fit(train, epochs=1, batch_size=32, verbose=0)
        # No backend-specific class (keras.src.backend.torch.optimizers...)
        # in what the file records.
        assert "keras.src.backend" not in json.dumps(model.get_compile_config()), (here, kind)
        prefix = f"{directory}/{here}_{kind}"
        model.save(prefix + ".keras")
        np.save(prefix + "_inputs.npy", np.asarray(inputs, "float32"))
        np.save(prefix + "_train.npy", np.asarray(train, "float32"))
        saved[kind] = {"path": prefix + ".keras", "inputs": prefix + "_inputs.npy",
                       "train": prefix + "_train.npy",
                       "predict": model.predict(inputs, verbose=0).tolist()}
    return saved


def load_and_train(cases):
    """Load each saved file here: its type, optimizer steps, predictions and one more epoch."""
    out = {}
    for kind, case in cases.items():
        model = keras.saving.load_model(case["path"])
        opts = [getattr(model, n) for n in ("d_optimizer", "g_optimizer") if getattr(model, n, None)]
        opts = opts or [model.optimizer]
        loaded_iterations = _iterations(opts)
        predict = model.predict(np.load(case["inputs"]), verbose=0).tolist()
        history = model.fit(np.load(case["train"]), epochs=1, batch_size=32, verbose=0).history
        out[kind] = {
            "type": type(model).__name__,
            "predict": predict,
            "iterations": loaded_iterations,
            "iterations_after_fit": _iterations(opts),
            "history": {k: [float(v) for v in vs] for k, vs in history.items()},
        }
    return out


def _check_loaded(kind, result, saved, where):
    # Loaded with the saved optimizer state (one epoch of 2 batches: 2 steps,
    # 4 for the GAN's discriminator with d_steps=2), then one more epoch
    # doubles every count.
    assert result["type"] == kind, where
    assert result["iterations"] == ([4, 2] if kind == "GAN" else [2]), where
    assert result["iterations_after_fit"] == [2 * n for n in result["iterations"]], where
    assert result["history"] and all(
        np.all(np.isfinite(v)) for v in result["history"].values()
    ), (where, result["history"])
    np.testing.assert_allclose(
        np.asarray(result["predict"]), np.asarray(saved["predict"]), rtol=1e-4, atol=1e-5,
        err_msg=where,
    )


@pytest.mark.skipif(keras.backend.backend() != HOST,
                    reason=f"the {HOST} run covers all nine (save, load) backend pairs in child processes")
def test_saved_models_load_and_train_under_every_backend(images, tmp_path):
    images_path = str(tmp_path / "images.npy")
    np.save(images_path, images)
    directory = str(tmp_path)
    saved = {HOST: save_models(images, directory)}
    others = [b for b in helpers.BACKENDS if b != HOST]

    def task(loader, load, save):
        path = f"{directory}/task_{loader}_{'save' if save else 'load'}.json"
        with open(path, "w") as f:
            json.dump({"load": load, "save": save, "images": images_path, "directory": directory}, f)
        return f"TASK = {path!r}" + CHILD

    loaded = {}  # (saver, loader) -> {kind: result}
    # Each other backend loads this one's files and saves its own...
    for loader, out in helpers.run_in_backends(
            {b: task(b, {HOST: saved[HOST]}, save=True) for b in others}, timeout=600).items():
        loaded[HOST, loader] = out["loaded"][HOST]
        saved[loader] = out["saved"]
    # ...then loads the other one's and its own, side by side again.
    for loader, out in helpers.run_in_backends(
            {b: task(b, {s: saved[s] for s in others}, save=False) for b in others}, timeout=600).items():
        for saver in others:
            loaded[saver, loader] = out["loaded"][saver]
    # This backend loads every file, its own included.
    for saver in helpers.BACKENDS:
        loaded[saver, HOST] = load_and_train(saved[saver])

    assert sorted(loaded) == sorted((s, l) for s in helpers.BACKENDS for l in helpers.BACKENDS)
    for (saver, loader), results in loaded.items():
        assert sorted(results) == ["AutoEncoder", "GAN", "VAE"]
        for kind, result in results.items():
            _check_loaded(kind, result, saved[saver][kind],
                          f"{kind} saved under {saver}, loaded under {loader}")
