"""Data-parallel step time of 1 and N processes on the same cores (or GPUs), and the communication share.

For each backend, one GAN (keras-gen's default DCGAN pair, 28x28x1 by
default, latent 64, global batch 64; both players' gradients are all-reduced
every step) trains in three set-ups. On the CPU each is pinned to the same
N cores (``--processes``, default 2) with ``os.sched_setaffinity`` and the
backend's thread settings:

* ``1 proc``: one process, N compute threads on the N cores, the global batch;
* ``N procs``: N processes started like ``torchrun --nproc-per-node N``
  (``keras_gen.distribute.initialize()`` + ``data_parallel()``; gloo /
  jax.distributed CPU collectives / MultiWorkerMirroredStrategy), one
  thread and one core each, each with 1/N of the global batch;
* ``local``: one process, 1 thread on 1 core, 1/N of the global batch alone:
  the computing one process of ``N procs`` does, without the others.

With ``--gpus`` each process gets one GPU instead (``1 proc``: one GPU and
the global batch; ``local``: one GPU and 1/N of it); ``benchmarks/gpu.sh``
runs that on a machine with several GPUs.

Communication share = (``N procs`` step - ``local`` step) / ``N procs`` step:
the part of a data-parallel step spent on what one process alone would not
do (the all-reduce of the gradients and the metrics, waiting for the slower
process, the engine's per-step overhead). Speed-up = ``1 proc`` step /
``N procs`` step (above 1: N processes beat one with the same cores).

Each set-up runs a warm-up fit (tracing, compiling), then ``--rounds`` fits
of ``--steps`` steps; the step time is the median over rounds of the wall
time per step (process 0's clock for ``N procs``). Prints one JSON line per
(backend, set-up) and a table; ``--json PATH`` also writes the lines there.

    nice -n 5 .venv/bin/python benchmarks/distributed.py [--backends jax,torch] [--rounds 5]
    .venv/bin/python benchmarks/distributed.py --quick --backends torch   # seconds: a smoke test

On a machine shared with other work the processes also wait for each other's
cores, so the ``N procs`` rows are noisy there; the first line says which
cores were used and the machine's load average.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKENDS = ("tensorflow", "jax", "torch")
SETUPS = ("1 proc", "procs", "local")

WORKER = r"""
import json, os, sys, time
cores, threads, batch, steps, rounds, size, image, channels = (
    json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]),
    int(sys.argv[5]), sys.argv[6], int(sys.argv[7]), int(sys.argv[8]))
if cores:
    os.sched_setaffinity(0, cores)
import keras, numpy as np
backend = keras.backend.backend()
# Thread settings first: TensorFlow's MultiWorkerMirroredStrategy starts its runtime.
if backend == "tensorflow" and cores:
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(2)
elif backend == "torch" and cores:
    import torch
    torch.set_num_threads(threads)
import keras_gen
processes = keras_gen.distribute.initialize()
if size == "quick":
    shape, latent = (8, 8, 1), 4
    def build():
        g = keras.Sequential([keras.Input((latent,)), keras.layers.Dense(64, activation="tanh"),
                              keras.layers.Reshape(shape)])
        d = keras.Sequential([keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(1)])
        return g, d
else:
    shape, latent = (image, image, channels), 64
    def build():
        return (keras_gen.networks.dcgan_generator(latent, shape),
                keras_gen.networks.dcgan_discriminator(shape))
keras.utils.set_random_seed(0)
x = np.random.default_rng(0).uniform(-1, 1, (steps * batch,) + shape).astype("float32")
import contextlib
scope = keras_gen.distribute.data_parallel() if processes > 1 else contextlib.nullcontext()
with scope:
    g, d = build()
    gan = keras_gen.GAN(g, d, latent_dim=latent, seed=0)
    gan.compile(d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
                g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5))
fit = dict(batch_size=batch, epochs=1, verbose=0, shuffle=False)
gan.fit(x[: 2 * batch], **fit)  # warm-up: tracing, compiling
times = []
for _ in range(rounds):
    start = time.perf_counter()
    gan.fit(x, **fit)
    times.append((time.perf_counter() - start) / steps)
print(json.dumps({"rank": keras_gen.distribute.process_index(), "processes": processes,
                  "step_times": times}))
"""


def _free_port(span=3):
    """A port P with P .. P + span - 1 free (the engines listen above MASTER_PORT)."""
    from keras_gen.backend import _devices

    return _devices.free_port_span(span)


def run_setup(backend, setup, processes, cores, global_batch, steps, rounds, size, timeout,
              gpus=False, image=28, channels=1):
    """Step times (list, one per round) of one set-up; starts its processes, bounded.

    ``setup``: ``"1 proc"`` (one process, the global batch, every core or
    one GPU), ``"procs"`` (``processes`` processes, one core or one GPU each)
    or ``"local"`` (one process, one core or GPU, the global batch divided by
    ``processes``).
    """
    count = processes if setup == "procs" else 1
    batch = global_batch // processes if setup == "local" else global_batch
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR",
                 "MASTER_PORT", "TF_CONFIG"):
        env.pop(name, None)
    threads = processes if setup == "1 proc" else 1
    if not gpus:
        env["OMP_NUM_THREADS"] = str(threads)
        if backend == "jax" and threads == 1:
            env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false "
                                "intra_op_parallelism_threads=1").strip()
    port = _free_port(processes + 1)
    procs = []
    for rank in range(count):
        proc_env = dict(env)
        if count > 1:  # as torchrun --nproc-per-node <count> sets them
            proc_env.update(WORLD_SIZE=str(count), RANK=str(rank), LOCAL_RANK=str(rank),
                            LOCAL_WORLD_SIZE=str(count), MASTER_ADDR="127.0.0.1",
                            MASTER_PORT=str(port))
        if gpus:
            own = []
            # One GPU per process: each backend's engine takes GPU LOCAL_RANK
            # when LOCAL_WORLD_SIZE > 1; a lone process is shown GPU 0 only.
            if count == 1:
                proc_env["CUDA_VISIBLE_DEVICES"] = "0"
        elif not cores:
            own = []  # not pinned (a smoke test)
        else:
            own = cores if setup == "1 proc" else [cores[rank % len(cores)]]
        # Files, not pipes: a process blocked on a full pipe would stall the others.
        files = (tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+"))
        proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, json.dumps(own), str(threads), str(batch),
             str(steps), str(rounds), size, str(image), str(channels)],
            env=proc_env, cwd=REPO, stdout=files[0], stderr=files[1], text=True)
        proc.files = files
        procs.append(proc)
    processes = count
    deadline = time.monotonic() + timeout
    outputs = [None] * processes
    try:
        while any(o is None for o in outputs):
            for i, proc in enumerate(procs):
                if outputs[i] is None and proc.poll() is not None:
                    outputs[i] = tuple(_read(f) for f in proc.files)
                    if proc.returncode != 0:
                        raise RuntimeError(
                            f"{backend} {setup}: process {i} exited {proc.returncode}:\n"
                            f"{outputs[i][1][-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{backend} {setup}: still running after {timeout} s")
            time.sleep(0.05)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    result = json.loads(outputs[0][0].strip().splitlines()[-1])
    if result["processes"] != processes:
        raise RuntimeError(f"{backend} {setup}: {result['processes']} processes joined, "
                           f"expected {processes}")
    return result["step_times"]


def _read(file):
    file.seek(0)
    text = file.read()
    file.close()
    return text


def median(values):
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else 0.5 * (values[n // 2 - 1] + values[n // 2])


def summarize(backend, medians):
    """The table row of one backend from its set-ups' median step times (seconds)."""
    one, two, local = (medians.get(s) for s in SETUPS)
    row = {"backend": backend, "1 proc": one, "procs": two, "local": local,
           "speedup": None, "comm_share": None}
    if one and two:
        row["speedup"] = one / two
    if two and local is not None:
        row["comm_share"] = (two - local) / two
    return row


def table(rows, processes=2, gpus=False):
    def ms(v):
        return "-" if v is None else f"{1000 * v:.1f}"

    unit = "GPU" if gpus else "core"
    one = "1 proc, 1 GPU" if gpus else f"1 proc x {processes} threads"
    lines = [
        f"| backend | {one} (ms/step) | {processes} procs x 1 {unit} (ms/step) "
        f"| 1 proc x 1 {unit}, 1/{processes} batch (ms/step) | speed-up | communication share |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        speedup = "-" if r["speedup"] is None else f"{r['speedup']:.2f}x"
        share = "-" if r["comm_share"] is None else f"{100 * r['comm_share']:.0f}%"
        lines.append(f"| {r['backend']} | {ms(r['1 proc'])} | {ms(r['procs'])} | "
                     f"{ms(r['local'])} | {speedup} | {share} |")
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backends", default=",".join(BACKENDS))
    p.add_argument("--processes", type=int, default=2,
                   help="processes of the data-parallel set-up (one core, or one GPU, each)")
    p.add_argument("--gpus", action="store_true",
                   help="one GPU per process instead of one core (the GPU build of each backend)")
    p.add_argument("--batch-size", type=int, default=64,
                   help="global batch (a multiple of --processes)")
    p.add_argument("--image-size", type=int, default=28, help="image side of the DCGAN")
    p.add_argument("--channels", type=int, default=1, choices=(1, 3))
    p.add_argument("--steps", type=int, default=20, help="steps per timed fit")
    p.add_argument("--rounds", type=int, default=5, help="timed fits per set-up")
    p.add_argument("--timeout", type=float, default=900, help="seconds per set-up")
    p.add_argument("--json", default=None, help="also write the JSON lines to this file")
    p.add_argument("--quick", action="store_true",
                   help="a tiny dense GAN, batch 16, 3 steps, 1 round: a smoke test")
    args = p.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    for b in args.backends:
        if b not in BACKENDS:
            p.error(f"--backends must name backends from {', '.join(BACKENDS)}. Received: {b!r}")
    if args.quick:
        args.batch_size, args.steps, args.rounds = 16, 3, 1
    if args.processes < 2:
        p.error(f"--processes must be >= 2. Received: {args.processes}")
    if args.batch_size < args.processes or args.batch_size % args.processes:
        p.error(f"--batch-size must be a multiple of --processes ({args.processes}). "
                f"Received: {args.batch_size}")
    for flag in ("steps", "rounds"):
        if getattr(args, flag) < 1:
            p.error(f"--{flag} must be >= 1. Received: {getattr(args, flag)}")
    return args


def main(argv=None):
    args = parse_args(argv)
    n = args.processes
    if args.gpus:
        cores = []
        where = f"{n} GPUs, one per process"
    else:
        available = sorted(os.sched_getaffinity(0))
        if len(available) < n:
            raise SystemExit(f"error: --processes {n} needs {n} cores; this process may use "
                             f"{len(available)} (os.sched_getaffinity)")
        cores = available[:n]
        where = f"cores {cores} of the machine's {os.cpu_count()}"
    size = "quick" if args.quick else "dcgan"
    print(f"# {where}; load average {', '.join(f'{v:.1f}' for v in os.getloadavg())}; "
          f"global batch {args.batch_size}, {args.steps} steps x {args.rounds} rounds; "
          f"network: {size}" + ("" if args.quick else f" {args.image_size}x{args.image_size}x{args.channels}"),
          flush=True)
    lines, rows = [], []
    for backend in args.backends:
        medians = {}
        for setup in SETUPS:
            times = run_setup(backend, setup, n, cores, args.batch_size, args.steps, args.rounds,
                              size, args.timeout, gpus=args.gpus, image=args.image_size,
                              channels=args.channels)
            medians[setup] = median(times)
            line = {"backend": backend, "setup": setup if setup != "procs" else f"{n} procs",
                    "network": size, "global_batch": args.batch_size,
                    "batch_per_process": args.batch_size // (1 if setup == "1 proc" else n),
                    "device": "gpu" if args.gpus else "cpu",
                    "step_times": times, "median": medians[setup]}
            lines.append(line)
            print(json.dumps(line), flush=True)
        rows.append(summarize(backend, medians))
    if args.json:
        with open(args.json, "w") as f:
            f.write("".join(json.dumps(line) + "\n" for line in lines))
    print()
    print(table(rows, n, args.gpus))
    return rows


if __name__ == "__main__":
    main()
