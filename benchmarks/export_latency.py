"""Generator inference: Keras vs SavedModel vs TFLite fp32 / fp16 / int8.

Exports a DCGAN generator (``keras_gen.networks.dcgan_generator``, latent 100,
28x28x1: Dense + BatchNorm + Conv2DTranspose, tanh) with
``keras_gen.export.export_for_mobile`` and measures, on the same random
latents:

* latency at batch 1 (median milliseconds per call), and
* throughput at batch 64 (images per second, from the median call time),

for ``model.predict`` and the direct call ``model(z, training=False)`` on each
requested Keras backend (each in its own process), the SavedModel
(``keras_gen.runtime``, TensorFlow) and the TFLite files run by LiteRT
(``keras_gen.runtime``, ``ai_edge_litert``), plus the artefacts' sizes and
each artefact's largest absolute difference to the Keras outputs. By default
the generator is the trained one that ``recipes/dcgan_celeba.py --dataset
digits`` saves (a freshly initialised one if that file is missing). Run:

    .venv/bin/python benchmarks/export_latency.py [--backends tensorflow,jax,torch]
        [--repeats 50] [--threads 2]

and it prints a Markdown table (README.md's "Latency and size" holds one;
docs/export.md describes the export itself).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LATENT, SHAPE = 100, (28, 28, 1)

KERAS_WORKER = r"""
import json, sys, time
import numpy as np, keras
path, repeats = sys.argv[1], int(sys.argv[2])
model = keras.saving.load_model(path, compile=False)
rng = np.random.default_rng(0)
z1 = rng.standard_normal((1, 100)).astype("float32")
z64 = rng.standard_normal((64, 100)).astype("float32")

def median_s(fn, z, n):
    for _ in range(3):
        fn(z)  # warm-up: tracing / compilation
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn(z)
        times.append(time.perf_counter() - start)
    return float(np.median(times))

def predict(z):
    return model.predict(z, batch_size=len(z), verbose=0)

def direct(z):
    return keras.ops.convert_to_numpy(model(z, training=False))

out = {}
for name, fn in (("predict", predict), ("direct call", direct)):
    out[name] = [median_s(fn, z1, repeats), median_s(fn, z64, max(5, repeats // 5))]
print(json.dumps(out))
"""


def median_s(fn, z, n):
    import numpy as np

    for _ in range(3):
        fn(z)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn(z)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def keras_rows(backend, keras_path, repeats):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, "-c", KERAS_WORKER, keras_path, str(repeats)],
        env=env, capture_output=True, text=True, timeout=1800,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{backend} worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="tensorflow,jax,torch",
                        help="Keras backends for the predict / direct-call rows")
    parser.add_argument("--repeats", type=int, default=50, help="timed calls at batch 1")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="LiteRT threads")
    parser.add_argument(
        "--model",
        default=os.path.join(REPO, "saved_models", "dcgan_digits_generator.keras"),
        help="a trained generator .keras file (recipes/dcgan_celeba.py --dataset digits "
        "writes the default); a freshly initialised DCGAN generator if it does not exist",
    )
    args = parser.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import importlib

    import keras
    import numpy as np

    import keras_gen
    from keras_gen import runtime

    export = importlib.import_module("keras_gen.export")
    keras.utils.set_random_seed(0)
    if os.path.exists(args.model):
        generator, source = keras.saving.load_model(args.model, compile=False), args.model
    else:
        generator, source = keras_gen.networks.dcgan_generator(LATENT, SHAPE), "untrained"
    if tuple(generator.input_shape[1:]) != (LATENT,) or tuple(generator.output_shape[1:]) != SHAPE:
        raise SystemExit(f"--model must map (batch, {LATENT}) to (batch, *{SHAPE}).")
    rng = np.random.default_rng(0)
    z1 = rng.standard_normal((1, LATENT)).astype("float32")
    z64 = rng.standard_normal((64, LATENT)).astype("float32")

    rows = []
    with tempfile.TemporaryDirectory() as work:
        keras_path = os.path.join(work, "generator.keras")
        generator.save(keras_path)
        for backend in args.backends.split(","):
            for name, (t1, t64) in keras_rows(backend, keras_path, args.repeats).items():
                rows.append((f"Keras {name} ({backend})", t1, t64, os.path.getsize(keras_path)))

        start = time.perf_counter()
        files = export.export_for_mobile(generator, work, "dcgan")
        export_s = time.perf_counter() - start
        labels = {
            "dcgan_generator": "SavedModel (TensorFlow)",
            "dcgan_generator.tflite": "TFLite fp32 (LiteRT)",
            "dcgan_generator_fp16.tflite": "TFLite fp16 (LiteRT)",
            "dcgan_generator_int8.tflite": "TFLite dynamic int8 (LiteRT)",
        }
        reference = keras.ops.convert_to_numpy(generator(z64, training=False))
        errors = {}
        for path, manifest in files.items():
            base = os.path.basename(path)
            runner = (
                runtime.load(path)
                if base == "dcgan_generator"
                else runtime.load(path, num_threads=args.threads)
            )
            errors[labels[base]] = float(np.max(np.abs(runner(z64) - reference)))
            t1 = median_s(runner, z1, args.repeats)
            t64 = median_s(runner, z64, max(5, args.repeats // 5))
            rows.append((labels[base], t1, t64, manifest["size_bytes"]))

    print(
        f"DCGAN generator ({os.path.relpath(source, REPO) if source != 'untrained' else source}), "
        f"latent {LATENT} -> {SHAPE}; "
        f"{platform.machine()}, {os.cpu_count()} CPU cores; Python {platform.python_version()}, "
        f"Keras {keras.__version__}; LiteRT threads {args.threads}; "
        f"export_for_mobile took {export_s:.1f} s under {keras.backend.backend()}\n"
    )
    print("| runtime | batch 1 latency (ms) | batch 64 throughput (images/s) | size (MB) | max abs error vs Keras |")
    print("|---|---:|---:|---:|---:|")
    for label, t1, t64, size in rows:
        error = errors.get(label)
        error = "(reference)" if error is None else f"{error:.1e}"
        print(f"| {label} | {t1 * 1e3:.2f} | {64 / t64:.0f} | {size / 1e6:.2f} | {error} |")


if __name__ == "__main__":
    main()
