"""Generator inference: Keras vs SavedModel vs TFLite fp32 / fp16 / int8 vs ONNX.

Exports a DCGAN generator (``keras_gen.networks.dcgan_generator``, 28x28x1:
Dense + BatchNorm + Conv2DTranspose, tanh) with
``keras_gen.export.export_for_mobile`` and, under each requested Keras
backend, with ``keras_gen.export.export(..., format="onnx")`` (Keras' own
ONNX exporter: tf2onnx, jax2onnx, torch.onnx), and measures, on the same
random latents:

* latency at batch 1 (median milliseconds per call), and
* throughput at batch 64 (images per second, from the median call time),

for ``model.predict`` and the direct call ``model(z, training=False)`` on each
requested Keras backend (each in its own process), the SavedModel
(``keras_gen.runtime``, TensorFlow), the TFLite files run by LiteRT
(``keras_gen.runtime``, ``ai_edge_litert``) and the ONNX files run by
onnxruntime (``keras_gen.runtime``, CPU execution provider), plus the
artefacts' sizes and each artefact's largest absolute difference to the
Keras outputs. By default the generator is the trained one that
``recipes/dcgan_celeba.py --dataset digits`` saves, else the shipped
``saved_models/pretrained/dcgan_digits_generator.keras`` (a freshly
initialised one if neither exists). Run:

    .venv/bin/python benchmarks/export_latency.py [--backends tensorflow,jax,torch]
        [--repeats 50] [--threads 2] [--no-onnx]

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
LATENT, SHAPE = 100, (28, 28, 1)  # of a freshly initialised generator
MODELS = [
    os.path.join(REPO, "saved_models", "dcgan_digits_generator.keras"),
    os.path.join(REPO, "saved_models", "pretrained", "dcgan_digits_generator.keras"),
]

KERAS_WORKER = r"""
import json, sys, time
import numpy as np, keras
path, repeats, onnx_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
model = keras.saving.load_model(path, compile=False)
latent = int(model.input_shape[-1])
rng = np.random.default_rng(0)
z1 = rng.standard_normal((1, latent)).astype("float32")
z64 = rng.standard_normal((64, latent)).astype("float32")

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
if onnx_path != "-":
    # ONNX is exported under this backend, by Keras' own exporter.
    from keras_gen.export import export
    start = time.perf_counter()
    export(model, onnx_path, format="onnx")
    out["onnx_export_s"] = time.perf_counter() - start
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


def keras_rows(backend, keras_path, repeats, onnx_path="-"):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, "-c", KERAS_WORKER, keras_path, str(repeats), onnx_path],
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
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="LiteRT and onnxruntime threads")
    parser.add_argument(
        "--model",
        default=next((m for m in MODELS if os.path.exists(m)), MODELS[0]),
        help="a trained generator .keras file (default: the one recipes/dcgan_celeba.py "
        "--dataset digits writes, else the shipped pretrained one); a freshly initialised "
        "DCGAN generator if it does not exist",
    )
    parser.add_argument("--no-onnx", action="store_true",
                        help="skip the ONNX export and rows")
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
    if len(generator.input_shape) != 2 or len(generator.output_shape) != 4:
        raise SystemExit("--model must map (batch, latent) to (batch, H, W, C).")
    latent, shape = int(generator.input_shape[-1]), tuple(generator.output_shape[1:])
    rng = np.random.default_rng(0)
    z1 = rng.standard_normal((1, latent)).astype("float32")
    z64 = rng.standard_normal((64, latent)).astype("float32")

    rows = []
    with tempfile.TemporaryDirectory() as work:
        keras_path = os.path.join(work, "generator.keras")
        generator.save(keras_path)
        onnx_files, onnx_export_s = {}, {}
        for backend in args.backends.split(","):
            onnx_path = "-" if args.no_onnx else os.path.join(work, f"dcgan_{backend}.onnx")
            result = keras_rows(backend, keras_path, args.repeats, onnx_path)
            if "onnx_export_s" in result:
                onnx_export_s[backend] = result.pop("onnx_export_s")
                onnx_files[backend] = onnx_path
            for name, (t1, t64) in result.items():
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
        for backend, path in onnx_files.items():
            label = f"ONNX fp32, exported under {backend} (onnxruntime)"
            runner = runtime.load(path, num_threads=args.threads)
            errors[label] = float(np.max(np.abs(runner(z64) - reference)))
            t1 = median_s(runner, z1, args.repeats)
            t64 = median_s(runner, z64, max(5, args.repeats // 5))
            rows.append((label, t1, t64, os.path.getsize(path)))

    print(
        f"DCGAN generator ({os.path.relpath(source, REPO) if source != 'untrained' else source}), "
        f"latent {latent} -> {shape}; "
        f"{platform.machine()}, {os.cpu_count()} CPU cores; Python {platform.python_version()}, "
        f"Keras {keras.__version__}; LiteRT / onnxruntime threads {args.threads}; "
        f"export_for_mobile took {export_s:.1f} s under {keras.backend.backend()}"
        + "".join(f"; ONNX export {s:.1f} s under {b}" for b, s in onnx_export_s.items())
        + "\n"
    )
    print("| runtime | batch 1 latency (ms) | batch 64 throughput (images/s) | size (MB) | max abs error vs Keras |")
    print("|---|---:|---:|---:|---:|")
    for label, t1, t64, size in rows:
        error = errors.get(label)
        error = "(reference)" if error is None else f"{error:.1e}"
        print(f"| {label} | {t1 * 1e3:.2f} | {64 / t64:.0f} | {size / 1e6:.2f} | {error} |")


if __name__ == "__main__":
    main()
