"""Step time of keras_gen.GAN with reuse_fakes=False (fresh z) and True, per backend.

Networks: the keras.io "DCGAN to generate face images" pair (64x64x3, latent
128, batch 32; benchmarks/peers.py's kerasio_networks, D ending in logits) and
keras-gen's default DCGAN digits pair (28x28x1, latent 64, batch 64). The two
models of a pair start from the same weights; after one warm-up fit each
(tracing / compilation), rounds alternate them (the order flips every round)
and each round times `fit` on `steps` batches, wall clock and process CPU time
(one compute thread per process, so CPU time measures the work on a shared
machine). Prints one JSON line per (backend, network) with the medians, the
best round and the ratios.

    nice -n 5 .venv/bin/python benchmarks/reuse_speed.py [--rounds 5]
"""

import argparse
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WORKER = r"""
import json, sys, time
sys.path.insert(0, "benchmarks")
import numpy as np, keras, keras_gen
if keras.backend.backend() == "tensorflow":
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
elif keras.backend.backend() == "torch":
    import torch
    torch.set_num_threads(1)
net, rounds, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if net == "kerasio":
    from peers import kerasio_networks
    build, latent, batch, shape = (lambda: kerasio_networks()), 128, 32, (64, 64, 3)
    opt = lambda: keras.optimizers.Adam(1e-4)
else:
    shape, latent, batch = (28, 28, 1), 64, 64
    build = lambda: (keras_gen.networks.dcgan_generator(latent, shape),
                     keras_gen.networks.dcgan_discriminator(shape))
    opt = lambda: keras.optimizers.Adam(2e-4, beta_1=0.5)
low = 0.0 if net == "kerasio" else -1.0  # the keras.io G ends in a sigmoid
x = np.random.default_rng(0).uniform(low, 1, (steps * batch,) + shape).astype("float32")
keras.utils.set_random_seed(0)
g, d = build()
weights = (g.get_weights(), d.get_weights())
models = {}
for reuse in (False, True):
    g, d = build()
    g.set_weights(weights[0]); d.set_weights(weights[1])
    gan = keras_gen.GAN(g, d, latent_dim=latent, seed=0, reuse_fakes=reuse)
    gan.compile(d_optimizer=opt(), g_optimizer=opt())
    gan.fit(x[:batch], batch_size=batch, epochs=1, verbose=0)  # warm-up
    models[reuse] = gan
times = {False: [], True: []}
cpu = {False: [], True: []}
for r in range(rounds):
    for reuse in ((False, True) if r % 2 == 0 else (True, False)):
        start, start_cpu = time.perf_counter(), time.process_time()
        models[reuse].fit(x, batch_size=batch, epochs=1, verbose=0, shuffle=False)
        times[reuse].append((time.perf_counter() - start) / steps)
        cpu[reuse].append((time.process_time() - start_cpu) / steps)
med = {k: float(np.median(v)) for k, v in times.items()}
best = {k: min(v) for k, v in times.items()}
cmed = {k: float(np.median(v)) for k, v in cpu.items()}
print("@@" + json.dumps({"backend": keras.backend.backend(), "net": net, "batch": batch,
      "steps": steps, "rounds": rounds, "fresh_s": med[False], "reuse_s": med[True],
      "speedup_median": med[False] / med[True], "fresh_best_s": best[False],
      "reuse_best_s": best[True], "speedup_best": best[False] / best[True],
      "cpu_fresh_s": cmed[False], "cpu_reuse_s": cmed[True], "cpu_speedup": cmed[False] / cmed[True],
      "times": {"fresh": times[False], "reuse": times[True]},
      "cpu": {"fresh": cpu[False], "reuse": cpu[True]}}), flush=True)
"""


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--backends", nargs="+", default=["tensorflow", "jax", "torch"])
    p.add_argument("--nets", nargs="+", default=["digits", "kerasio"])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--kerasio-rounds", type=int, default=3)
    p.add_argument("--steps", type=int, nargs=2, default=[10, 1],
                   help="steps per round for digits, kerasio")
    a = p.parse_args()
    rows = []
    for net in a.nets:
        steps = a.steps[0] if net == "digits" else a.steps[1]
        rounds = a.rounds if net == "digits" else a.kerasio_rounds
        for backend in a.backends:
            # One compute thread per process: on a shared 2-core machine the
            # process CPU time per step then measures the work done.
            env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
                       PYTHONPATH=REPO, OMP_NUM_THREADS="1",
                       XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
            out = subprocess.run([sys.executable, "-c", WORKER, net, str(rounds), str(steps)],
                                 cwd=REPO, env=env, capture_output=True, text=True)
            lines = [l[2:] for l in out.stdout.splitlines() if l.startswith("@@")]
            if not lines:
                print(json.dumps({"backend": backend, "net": net, "error": out.stderr[-2000:]}))
            for line in lines:
                print(line, flush=True)
                rows.append(json.loads(line))
    print("\n| network | backend | fresh z, s/step (CPU) | reuse_fakes, s/step (CPU) | ratio (CPU) | ratio (wall, median) |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['net']} | {r['backend']} | {r['cpu_fresh_s']:.3f} | {r['cpu_reuse_s']:.3f} "
              f"| {r['cpu_speedup']:.2f}x | {r['speedup_median']:.2f}x |")


if __name__ == "__main__":
    main()
