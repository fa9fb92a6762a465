"""Training throughput (images/s) of keras-gen's AE, VAE and GAN on each backend.

Every backend runs in its own process (KERAS_BACKEND is fixed per process) on
the same networks (keras_gen.networks conv encoder/decoder, 28x28x1, latent 16;
the DCGAN generator/discriminator, latent 100, one D step per G step),
the same batch size and the same random data. A plain functional
keras.Model of the same network trained with Keras' own train_step on (x, x)
is the reference for the cost of keras-gen's train step. Each model trains one
warm-up epoch (tracing / compilation); then, in each of ``--repeats`` rounds,
every model in turn trains ``--steps`` steps of ``model.fit`` and the best
round is reported as images per second. Run:

    .venv/bin/python benchmarks/train_throughput.py [--steps 50] [--batch-size 128]

and it prints a Markdown table (README's "Benchmarks" section holds one).
"""

import argparse
import json
import os
import platform
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WORKER = r"""
import json, sys, time
import numpy as np, keras, keras_gen
steps, batch, repeats = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
keras.utils.set_random_seed(0)
x = np.random.default_rng(0).random((steps * batch, 28, 28, 1), dtype=np.float32)
models = {}
for kind in ("plain Keras AE", "AutoEncoder", "VAE", "GAN (DCGAN)"):
    variational = kind == "VAE"
    # No BatchNorm (the VAE default) so that every row times the same networks.
    enc = keras_gen.networks.encoder((28, 28, 1), 16, variational=variational, batch_norm=False)
    dec = keras_gen.networks.decoder(16, (28, 28, 1))
    if kind == "GAN (DCGAN)":
        model = keras_gen.GAN(keras_gen.networks.dcgan_generator(100, (28, 28, 1)),
                              keras_gen.networks.dcgan_discriminator((28, 28, 1)), latent_dim=100, seed=0)
        model.compile(d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
                      g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5))
        args = (x * 2.0 - 1.0,)
    elif kind == "plain Keras AE":
        # Reference: the same network as a plain functional keras.Model
        # trained by Keras' own train_step on (x, x) with the MSE loss.
        inputs = keras.Input((28, 28, 1))
        model = keras.Model(inputs, dec(enc(inputs)))
        model.compile(optimizer="adam", loss="mse")
        args = (x, x)
    else:
        model = keras_gen.VAE(enc, dec, seed=0) if variational else keras_gen.AutoEncoder(enc, dec)
        model.compile(optimizer="adam")
        args = (x,)
    warm = tuple(a[: 5 * batch] for a in args)
    model.fit(*warm, batch_size=batch, epochs=1, verbose=0)  # warm-up: trace/compile
    models[kind] = (model, args)

# Interleave the models in every repeat and keep each one's best time: CPU
# speed drifts during a run (thread pools, caches, other load), and timing
# one model's repeats back to back would charge the drift to that model.
best = {kind: float("inf") for kind in models}
for _ in range(repeats):
    for kind, (model, args) in models.items():
        start = time.perf_counter()
        model.fit(*args, batch_size=batch, epochs=1, verbose=0, shuffle=False)
        best[kind] = min(best[kind], time.perf_counter() - start)
results = {
    kind: {"images_per_s": steps * batch / best[kind], "ms_per_step": 1000 * best[kind] / steps,
           "jit": bool(model.jit_compile)}
    for kind, (model, _) in models.items()
}
print(json.dumps(results))
"""


def run_backend(backend, steps, batch_size, repeats):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-c", WORKER, str(steps), str(batch_size), str(repeats)],
        env=env, capture_output=True, text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{backend} benchmark failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=50, help="timed steps per repeat (default: 50)")
    parser.add_argument("--batch-size", type=int, default=128, help="batch size (default: 128)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats, best kept (default: 3)")
    parser.add_argument("--backends", default="tensorflow,jax,torch", help="comma-separated (default: all three)")
    args = parser.parse_args(argv)

    rows = []
    for backend in args.backends.split(","):
        for model, r in run_backend(backend, args.steps, args.batch_size, args.repeats).items():
            rows.append((backend, model, r))
    fastest = {m: max(r["images_per_s"] for b, mm, r in rows if mm == m) for _, m, _ in rows}
    plain = {b: r["images_per_s"] for b, m, r in rows if m == "plain Keras AE"}

    def vs_plain(backend, model, r):
        # Only the AE and VAE share the plain model's network.
        return "n/a" if model.startswith("GAN") else f"{r['images_per_s'] / plain[backend]:.2f}"
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}; "
          f"batch {args.batch_size}, {args.steps} timed steps, best of {args.repeats}")
    print()
    print("| backend | model | jit | images/s | ms/step | vs plain Keras AE, same backend | vs fastest backend |")
    print("|---|---|---|---:|---:|---:|---:|")
    for backend, model, r in rows:
        print(f"| {backend} | {model} | {'yes' if r['jit'] else 'no'} | {r['images_per_s']:.0f} | "
              f"{r['ms_per_step']:.1f} | {vs_plain(backend, model, r)} | "
              f"{r['images_per_s'] / fastest[model]:.2f} |")


if __name__ == "__main__":
    main()
