"""benchmarks/handwritten_loops.py: its quick mode runs and keras-gen matches the hand-written loops.

The benchmark trains keras-gen's VAE and DCGAN and a plain loop written by
hand for the running backend from the same initial weights, data and noise
seeds; after the same steps the two must hold the same weights (the check
../shared/DESIGN.md calls cheap and valuable). Runs the running backend only.
"""

import importlib.util
import json
import os
import subprocess
import sys

import keras
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "benchmarks", "handwritten_loops.py")


def _load():
    spec = importlib.util.spec_from_file_location("handwritten_loops", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_network_flops_counts_multiply_adds():
    bench = _load()
    inputs = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(3, 4, strides=2, padding="same")(inputs)  # 4x4x3 out
    x = keras.layers.Conv2DTranspose(5, 4, strides=2, padding="same")(x)  # 4x4x3 in
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(7)(x)
    model = keras.Model(inputs, outputs)
    macs = 4 * 4 * 4 * 4 * 2 * 3 + 4 * 4 * 4 * 4 * 3 * 5 + 8 * 8 * 5 * 7
    assert bench.network_flops(model) == 2 * macs
    nets = {"generator": model, "discriminator": model}
    assert bench.step_flops("dcgan", nets) == 12 * 2 * macs


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    backend = keras.backend.backend()
    out = tmp_path_factory.mktemp("bench") / "results.json"
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, SCRIPT, "--quick", "--backends", backend, "--tf-xla", "off", "--json", str(out)],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return backend, proc.stdout, json.loads(out.read_text())


def test_quick_mode_prints_the_tables(quick_run):
    backend, stdout, rows = quick_run
    assert ("| backend | model | compile | busy procs | `fit` input | keras-gen `fit` img/s | hand-written img/s | "
            "ratio, `fit` (median) | "
            "ratio, `fit` (best rounds) | ratio, keras-gen `train_step` w/o `fit` | ratio, whole calls | "
            "`fit` set-up ms/call |") in stdout
    assert "| backend | compile | matmul peak GFLOP/s | keras-gen GFLOP/s | % of peak |" in stdout
    for model in ("VAE", "DCGAN"):
        assert f"| {backend} | {model} |" in stdout
        label = {"tensorflow": "XLA off", "jax": "jit", "torch": "eager"}[backend]
        # Default: no competing processes, fit on NumPy arrays.
        assert f"| {backend} | {model} | {label} | 0 | numpy |" in stdout
    assert {r["model"] for r in rows} == {"vae", "dcgan"}
    for r in rows:
        for pair in r["pairs"]:
            assert pair["keras_gen_images_per_s"] > 0 and pair["hand_images_per_s"] > 0
    (gan,) = [r for r in rows if r["model"] == "dcgan"]
    assert gan["matmul_peak_flops"] > 0 and gan["flops_per_image"] > 0


@pytest.mark.parametrize("model", ["vae", "dcgan"])
def test_keras_gen_and_the_hand_written_loop_end_with_the_same_weights(quick_run, model):
    _, _, rows = quick_run
    (row,) = [r for r in rows if r["model"] == model]
    for pair in row["pairs"]:
        # keras-gen through fit, and keras-gen's train_step called directly.
        for key in ("weight_diff", "step_weight_diff"):
            max_abs, relative = pair[key]
            # relative = ||keras-gen - hand-written|| / ||keras-gen - initial||:
            # a number (not NaN) means training moved the weights.
            assert relative == relative, "the weights did not move"
            assert max_abs <= 1e-5 and relative <= 1e-4, (model, pair["label"], key, pair[key])


def test_steps_below_two_are_refused_with_the_value(capsys):
    # Per-step time is (t_steps - t_1) / (steps - 1): one step cannot give it.
    bench = _load()
    with pytest.raises(SystemExit):
        bench.parse(["--steps", "1"])
    err = capsys.readouterr().err
    assert "--steps must be at least 2" in err and "received: 1" in err


_ONCE = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                           reason="the parent side of the benchmark does not depend on the backend; tested once")


@_ONCE
def test_busy_and_feeds_are_parsed_and_checked(capsys):
    bench = _load()
    args = bench.parse(["--busy", "0,2", "--feeds", "numpy,keras_gen.data"])
    assert args.busy == [0, 2] and args.feeds == ["numpy", "keras_gen.data"]
    assert bench.parse([]).busy == [0] and bench.parse([]).feeds == ["numpy"]
    for bad in (["--busy=-1"], ["--busy", "x"], ["--feeds", "arrays"]):
        with pytest.raises(SystemExit):
            bench.parse(bad)
    err = capsys.readouterr().err
    assert "received: -1" in err and "received: x" in err and "unknown feed 'arrays'" in err


@_ONCE
def test_busy_processes_use_a_core_until_stopped():
    import time

    bench = _load()
    procs = bench._start_busy(1)
    try:
        (proc,) = procs
        assert proc.poll() is None

        def cpu_s():
            with open(f"/proc/{proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

        before, start = cpu_s(), time.perf_counter()
        time.sleep(0.3)
        # CPU-bound: it runs whenever it gets a core (any share > 0 on a busy machine).
        assert cpu_s() - before > 0.0 and time.perf_counter() - start >= 0.3
    finally:
        bench._stop_busy(procs)
    assert proc.poll() is not None
