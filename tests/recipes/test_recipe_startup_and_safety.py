"""Every recipe: --help without the heavy imports, outputs under the working
directory, NaN stops without touching earlier artefacts, --steps-per-epoch
past the data."""

import json
import os
import subprocess
import sys

import keras
import pytest

import keras_gen  # noqa: F401  (registers the model classes that load_model reads)
from tests import helpers
from tests.recipes.test_vae_digits import load_recipe

RECIPES = ("vae_digits", "dcgan_celeba", "evaluate", "tune_vae", "alter_attributes")
HEAVY = ("keras", "tensorflow", "jax", "torch", "keras_gen", "keras_tuner", "sklearn")

RUN_HELP = """
import json, runpy, sys
path = sys.argv[1]
sys.argv = [path, "--help"]
try:
    runpy.run_path(path, run_name="__main__")
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "loaded": sorted(m for m in %r if m in sys.modules)}))
""" % (HEAVY,)


def recipe_path(name):
    return os.path.join(helpers.REPO, "recipes", f"{name}.py")


@pytest.mark.parametrize("name", RECIPES)
def test_help_loads_no_framework(name, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", RUN_HELP, recipe_path(name)], capture_output=True, text=True,
        timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    assert result == {"code": 0, "loaded": []}, result
    text = "\n".join(lines[:-1])
    assert "usage:" in text
    assert "relative to the current working directory" in " ".join(text.split())
    assert "--deterministic" in text
    # Nothing was written where the recipe was asked for help.
    assert os.listdir(tmp_path) == []


def test_default_outputs_are_relative_paths():
    # The recipe's own directory never appears in a default path.
    for name, attrs in (("vae_digits", ("out_dir", "model_path", "export_dir")),
                        ("dcgan_celeba", ("out_dir", "checkpoint_dir", "generator_path", "model_path",
                                          "export_dir")),
                        ("alter_attributes", ("out_dir",)),
                        ("evaluate", ("out_dir",)),
                        ("tune_vae", ("directory", "model_path"))):
        args = load_recipe(name).parse_args([])
        if isinstance(args, tuple):  # alter_attributes returns (parser, args)
            args = args[-1]
        for attr in attrs:
            value = getattr(args, attr)
            assert not os.path.isabs(value), (name, attr, value)
            assert value.split(os.sep)[0] in ("outputs", "saved_models"), (name, attr, value)


def test_quickstart_and_evaluate_are_deterministic_by_default():
    assert load_recipe("vae_digits").parse_args([]).deterministic is True
    assert load_recipe("evaluate").parse_args([]).deterministic is True
    assert load_recipe("vae_digits").parse_args(["--no-deterministic"]).deterministic is False
    assert load_recipe("dcgan_celeba").parse_args([]).deterministic is False


def test_nan_training_exits_non_zero_and_keeps_earlier_artefacts(tmp_path):
    # Artefacts of an earlier good run: they must come out byte-identical.
    generator = tmp_path / "saved_models" / "dcgan_digits_generator.keras"
    exported = tmp_path / "saved_models" / "dcgan_digits_generator.tflite"
    grid = tmp_path / "outputs" / "dcgan_digits" / "epoch_001.png"
    earlier = {}
    for i, path in enumerate((generator, exported, grid)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes(range(256)) * (i + 3))
        earlier[path] = path.read_bytes()
    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend(), TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, recipe_path("dcgan_celeba"), "--dataset", "digits", "--learning-rate", "1e12",
         "--epochs", "2", "--steps-per-epoch", "3", "--batch-size", "16", "--latent-dim", "8",
         "--verbose", "0"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "error: training diverged at epoch 1" in proc.stderr, proc.stderr
    assert "nothing was saved" in proc.stderr and "Try a lower --learning-rate" in proc.stderr
    for path, content in earlier.items():
        assert path.read_bytes() == content, path
    # No other file appeared: no grid of the diverged epoch, no temporary file, no export.
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == sorted(str(p.relative_to(tmp_path)) for p in earlier), written


def test_steps_per_epoch_past_the_data_repeats_it(tmp_path, capsys):
    recipe = load_recipe("dcgan_celeba")
    # 1437 training digits in batches of 256 (remainder dropped): 5 batches a pass, so
    # 4 epochs of 3 steps need the data 2.4 times. 16x16 digits (not the default
    # 28x28): the step count is what is checked, and the networks are a third the work.
    gan, history = recipe.main(
        ["--dataset", "digits", "--batch-size", "256", "--steps-per-epoch", "3", "--epochs", "4",
         "--latent-dim", "8", "--image-size", "16", "--out-dir", str(tmp_path),
         "--generator-path", str(tmp_path / "g.keras"), "--no-export", "--verbose", "0"])
    assert len(history.history["d_loss"]) == 4
    assert int(keras.ops.convert_to_numpy(gan.g_optimizer.iterations)) == 12
    assert int(keras.ops.convert_to_numpy(gan.d_optimizer.iterations)) == 12
    assert "Generator steps trained in all (this run and any it resumed): 12" in capsys.readouterr().out


@pytest.mark.parametrize("name", RECIPES)
@pytest.mark.parametrize("value, message", [
    ("-1", "must be an int in [0, 2**31). Received: --seed=-1"),
    ("2147483648", "must be an int in [0, 2**31). Received: --seed=2147483648"),
    ("1.5", "must be an int. Received: --seed=1.5"),
])
def test_a_seed_outside_what_every_backend_takes_is_a_usage_error(name, value, message, capsys):
    recipe = load_recipe(name)
    with pytest.raises(SystemExit) as info:
        recipe.parse_args(["--seed", value])
    assert info.value.code == 2
    assert f"argument --seed: {message}" in capsys.readouterr().err
    parsed = recipe.parse_args(["--seed", "2147483647"])
    args = parsed[-1] if isinstance(parsed, tuple) else parsed  # alter_attributes: (parser, args)
    assert args.seed == 2**31 - 1


def test_non_positive_steps_per_epoch_is_refused(capsys):
    with pytest.raises(SystemExit) as info:
        load_recipe("dcgan_celeba").parse_args(["--steps-per-epoch", "0"])
    assert info.value.code == 2
    assert "--steps-per-epoch must be >= 1. Received: --steps-per-epoch=0" in capsys.readouterr().err


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="--deterministic sets TensorFlow's op determinism and threads")
@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs two CPUs to compare one busy core against two")
def test_deterministic_quickstart_repeats_itself_on_a_busy_smaller_machine(tmp_path):
    # TensorFlow sizes its thread pool by the CPUs a process may use, and the
    # pool size changes the rounding; a second run confined to one CPU that a
    # busy loop shares stands for a busier, smaller machine.
    import numpy as np

    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    one_cpu = {min(os.sched_getaffinity(0))}

    def pin():
        os.sched_setaffinity(0, one_cpu)

    # The two runs go side by side (the thread pool is sized by the CPUs a
    # process may use, not by the load; the load is what the test varies).
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=pin)
    procs = []
    try:
        for run, busy in enumerate((False, True)):
            command = [sys.executable, recipe_path("vae_digits"), "--smoke", "--no-export",
                       "--verbose", "0", "--deterministic", "--model-path", f"run{run}.keras"]
            procs.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True, cwd=tmp_path, env=env,
                                          preexec_fn=pin if busy else None))
        outputs = [proc.communicate(timeout=300) for proc in procs]
    finally:
        for proc in procs + [burner]:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    printed, weights = [], []
    for run, (proc, (stdout, stderr)) in enumerate(zip(procs, outputs)):
        assert proc.returncode == 0, stderr
        printed.append([line for line in stdout.splitlines()
                        if line.startswith(("Validation:", "Test-set MSE"))])
        model = keras.saving.load_model(tmp_path / f"run{run}.keras")
        weights.append([keras.ops.convert_to_numpy(v) for v in model.weights])
    assert len(printed[0]) == 2 and printed[0] == printed[1], printed
    assert len(weights[0]) == len(weights[1])
    for a, b in zip(*weights):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("name,argv,message", [
    ("vae_digits", ["--learning-rate", "-1"],
     "--learning-rate must be a finite number > 0. Received: --learning-rate=-1.0"),
    ("vae_digits", ["--batch-size", "0"], "--batch-size must be >= 1. Received: --batch-size=0"),
    ("alter_attributes", ["--kl-weight", "nan"], "--kl-weight must be a finite number >= 0. Received: --kl-weight=nan"),
    ("alter_attributes", ["--alphas", "nan", "1"], "--alphas must be finite. Received: --alphas=nan 1.0"),
    ("alter_attributes", ["--load-model", "nothere.keras"],
     "--load-model must be an existing .keras file. Received: --load-model=nothere.keras"),
    ("evaluate", ["--iw-k", "0"], "--iw-k must be >= 1. Received: --iw-k=0"),
    ("evaluate", ["--ae", "nothere.keras"], "--ae must be an existing .keras file. Received: --ae=nothere.keras"),
    # ignored without --reproduce: --parts ae started the full evaluation
    ("evaluate", ["--parts", "ae"], "--parts applies only with --reproduce. Received: --parts=ae"),
    ("evaluate", ["--reproduce", "--gan-long-steps", "-1"],
     "--gan-long-steps must be >= 0. Received: --gan-long-steps=-1"),
    # raw Keras tracebacks after training
    ("alter_attributes", ["--save-model", "vae.h5"],
     "--save-model must be a .keras file path. Received: --save-model=vae.h5"),
])
def test_bad_flags_are_usage_errors_before_any_work(name, argv, message, capsys):
    """They used to train (a negative learning rate ascended), or fail after minutes of training."""
    with pytest.raises(SystemExit) as info:
        load_recipe(name).parse_args(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("name", ["evaluate", "alter_attributes"])
def test_an_out_dir_that_is_a_file_is_a_usage_error_before_any_work(name, tmp_path, capsys):
    """It used to fail with FileExistsError when the pictures were written, after training."""
    path = tmp_path / "results"
    path.write_text("")
    for out_dir, message in ((path, f"--out-dir must be a folder; {path} is a file. "
                                    f"Received: --out-dir={path}"),
                             (path / "sub", f"--out-dir cannot be written to ({path} is a file). "
                                            f"Received: --out-dir={path / 'sub'}")):
        with pytest.raises(SystemExit) as info:
            load_recipe(name).parse_args(["--out-dir", str(out_dir)])
        assert info.value.code == 2
        assert message in capsys.readouterr().err
