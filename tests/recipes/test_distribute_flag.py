"""The recipes' --distribute flag: two virtual CPU devices (JAX, TensorFlow), one replica alone (PyTorch)."""

import keras
import pytest

from tests import helpers
from tests.recipes.test_vae_digits import load_recipe

BACKEND = keras.backend.backend()

TWO_DEVICES = {
    "jax": """
import os
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
""",
    "tensorflow": """
import tensorflow as tf
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
""",
}

RUN_BOTH = """
import contextlib, io, json, sys
from tests.recipes.test_vae_digits import load_recipe
tmp = sys.argv[1] if len(sys.argv) > 1 else {tmp!r}
out = {{}}
for name, args in (
    ("vae_digits", ["--smoke", "--distribute", "--no-export", "--verbose", "0",
                    "--out-dir", tmp + "/vae", "--model-path", tmp + "/vae.keras"]),
    ("dcgan_celeba", ["--smoke", "--distribute", "--no-export", "--verbose", "0",
                      "--dataset", "digits", "--latent-dim", "8", "--out-dir", tmp + "/gan",
                      "--generator-path", tmp + "/g.keras"]),
):
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        model, history = load_recipe(name).main(args)
    out[name] = {{"printed": buffer.getvalue(), "epochs": len(next(iter(history.history.values())))}}
buffer = io.StringIO()
with contextlib.redirect_stdout(buffer):
    tuner, best = load_recipe("tune_vae").main(
        ["--smoke", "--distribute", "--batch-size", "32", "--directory", tmp + "/tune",
         "--model-path", tmp + "/best.keras"])
import keras
if keras.backend.backend() == "jax":
    replicas = [int(v.value.sharding.mesh.size) for v in best.trainable_variables]
else:
    replicas = [best.distribute_strategy.num_replicas_in_sync]
out["tune_vae"] = {{"printed": buffer.getvalue(), "replicas": replicas,
                   "trials": sum(t.status == "COMPLETED" for t in tuner.oracle.trials.values())}}
print(json.dumps(out))
"""


@pytest.mark.skipif(BACKEND == "torch", reason="two virtual devices in one process: a PyTorch process has one device (several: tests/test_distribute_resume.py)")
def test_recipes_train_data_parallel(tmp_path):
    code = TWO_DEVICES[BACKEND] + RUN_BOTH.format(tmp=str(tmp_path))
    out = helpers.run_in_backend(BACKEND, code, timeout=300)
    for name in ("vae_digits", "dcgan_celeba", "tune_vae"):
        assert "Data-parallel on 2 devices; global batch" in out[name]["printed"], out[name]["printed"]
    for name in ("vae_digits", "dcgan_celeba"):
        assert out[name]["epochs"] == 2
    assert (tmp_path / "vae.keras").exists() and (tmp_path / "g.keras").exists()
    # Every trial is built data-parallel (keras-tuner clears the session
    # before each build), and so is the best model it reloads.
    tune = out["tune_vae"]
    assert tune["trials"] == 2
    assert set(tune["replicas"]) == {2}, tune["replicas"]
    assert (tmp_path / "best.keras").exists()


@pytest.mark.skipif(BACKEND != "torch", reason="checks the one-process torch engine")
def test_distribute_flag_alone_on_torch_changes_nothing(tmp_path):
    # A PyTorch process started alone has one replica: --distribute trains
    # exactly as without it (the same script runs with and without torchrun).
    import numpy as np

    recipe = load_recipe("vae_digits")
    runs = {}
    for flag in ([], ["--distribute"]):
        model, history = recipe.main(["--smoke", "--no-export", "--verbose", "0", *flag,
                                      "--out-dir", str(tmp_path / f"out{len(flag)}"),
                                      "--model-path", str(tmp_path / f"v{len(flag)}.keras")])
        runs[len(flag)] = ([np.asarray(w) for w in model.get_weights()], history.history)
    (w0, h0), (w1, h1) = runs[0], runs[1]
    assert h1 == h0
    for a, b in zip(w0, w1):
        np.testing.assert_array_equal(a, b)


def test_help_lists_distribute(capsys):
    for name in ("vae_digits", "dcgan_celeba", "tune_vae"):
        try:
            load_recipe(name).parse_args(["--help"])
        except SystemExit:
            pass
        assert "--distribute" in capsys.readouterr().out
