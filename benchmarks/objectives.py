"""GAN objectives on digits at the same training time: standard DCGAN, hinge, WGAN-GP.

Each run trains `keras_gen.GAN` with the default DCGAN networks
(`dcgan_generator(64, (28, 28, 1))`, `dcgan_discriminator((28, 28, 1))`) on
the 1,437 offline training digits (`keras_gen.data.load_digits`, scaled to
[-1, 1]) in batches of 64, for the same time budget (compilation included),
with an exponential moving average of the generator's weights (momentum
0.99, Keras' `use_ema`, as the default DCGAN of benchmarks/quality.py). The
runs (named configurations, `CONFIGS`):

* `standard`: the default DCGAN, `Adam(2e-4, beta_1=0.5)` for both players;
* `hinge`: `objective="hinge"`, the same networks and optimizers;
* `wgan-gp`: `objective="wgan-gp"` with the paper's settings (Gulrajani et
  al. 2017): lambda 10, 5 critic steps per generator step,
  `Adam(1e-4, beta_1=0.0, beta_2=0.9)` for both players, and a critic
  without BatchNormalization (`normalization="layer"`, the paper's advice);
* `wgan-gp-ttur`: the same objective (critic loss, lambda 10 penalty on
  random interpolates, LayerNorm critic) trained as in the two time-scale
  update rule (TTUR, Heusel et al. 2017): one critic step per generator
  step, the critic's learning rate above the generator's
  (`Adam(4e-4, 0.5, 0.9)` for the critic, `Adam(1e-4, 0.5, 0.9)` for G);
* `wgan-gp-n1`, `wgan-gp-n2`: the same objective with 1 or 2 critic steps
  and `Adam(2e-4, 0.5, 0.9)` for both players (the DCGAN's rate, the
  paper's beta_2).

`--d-steps`, `--d-lr`, `--g-lr`, `--beta1`, `--beta2`, `--critic-norm` and
`--gp-weight` override a configuration's values (with `--name` naming the
run) to try others.

The budget is either wall-clock seconds (`--seconds`) or CPU seconds of the
training process (`--cpu-seconds`, `time.process_time`, every thread of the
process counted). Both are checked after every step and count from the start
of `fit`. `--threads N` pins TensorFlow's, PyTorch's and XLA's thread pools
(and tf.data's) to N threads; with `--threads 1 --cpu-seconds S` every run
gets the same S seconds of one core whatever else the machine is doing,
which is the same as S seconds of wall time on an idle core. A wall budget
shared by runs on a busy machine is not: each run gets the share of the
cores the scheduler gives it.

Then 1,000 samples of each are scored against the 360 test digits: FID and
KID on the package's digits extractor (`keras_gen.metrics`) and on the
independent one (`benchmarks/independent_extractors.py`). Loss curves (the
mean of each logged loss over blocks of `CHUNK` steps, against the budget's
clock) go to `docs/images/objectives_curves.png`, one panel per run, every
seed found under `--out` drawn in the same panel.

Usage (separate processes, so that runs can go side by side):

    python benchmarks/objectives.py train standard --threads 1 --cpu-seconds 600 --seed 0 --out OUT
    python benchmarks/objectives.py train hinge --threads 1 --cpu-seconds 600 --seed 0 --out OUT
    python benchmarks/objectives.py train wgan-gp-ttur --threads 1 --cpu-seconds 600 --seed 0 --out OUT
    python benchmarks/objectives.py score --out OUT

Each run writes `OUT/seed{seed}/{name}.json` and `{name}_samples.npy`;
`score` scores every run under OUT, seed by seed, each against that seed's
`standard`. `python benchmarks/objectives.py all --out OUT [budget]` trains
`standard`, `hinge` and `wgan-gp` in parallel, then scores.
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BATCH_SIZE = 64
LATENT_DIM = 64
CHUNK = 25  # steps per logged block (Keras' trackers average over a fit epoch)
EMA_MOMENTUM = 0.99
FID_SAMPLES = 1000
PNG = os.path.join(REPO, "docs", "images", "objectives_curves.png")
COLUMNS = 3  # panels per row of the curves figure

_DCGAN = dict(objective="standard", d_steps=1, d_lr=2e-4, g_lr=2e-4, beta1=0.5, beta2=0.999,
              critic_norm="batch", gp_weight=None)
_WGAN = dict(objective="wgan-gp", critic_norm="layer", gp_weight=10.0)
CONFIGS = {
    "standard": _DCGAN,
    "hinge": dict(_DCGAN, objective="hinge"),
    # Gulrajani et al. 2017, Algorithm 1.
    "wgan-gp": dict(_WGAN, d_steps=5, d_lr=1e-4, g_lr=1e-4, beta1=0.0, beta2=0.9),
    # The same objective with cheaper training: one critic step and a faster
    # critic (the two time-scale update rule), or one / two critic steps at
    # the DCGAN's rate with the paper's beta_2.
    "wgan-gp-ttur": dict(_WGAN, d_steps=1, d_lr=4e-4, g_lr=1e-4, beta1=0.5, beta2=0.9),
    "wgan-gp-n1": dict(_WGAN, d_steps=1, d_lr=2e-4, g_lr=2e-4, beta1=0.5, beta2=0.9),
    "wgan-gp-n2": dict(_WGAN, d_steps=2, d_lr=2e-4, g_lr=2e-4, beta1=0.5, beta2=0.9),
}
OVERRIDES = ("d_steps", "d_lr", "g_lr", "beta1", "beta2", "critic_norm", "gp_weight")


def describe(config):
    """A one-line description of a configuration, as the README table states it."""
    text = (f"{config['objective']}, {config['d_steps']} D step(s), D Adam({config['d_lr']:g}, "
            f"{config['beta1']:g}, {config['beta2']:g}), G Adam({config['g_lr']:g}, "
            f"{config['beta1']:g}, {config['beta2']:g}), D norm {config['critic_norm']}")
    if config["objective"] == "wgan-gp":
        text += f", lambda {config['gp_weight']:g}"
    return text


def limit_threads(threads):
    """Pin every backend's CPU thread pools to ``threads``; call before importing keras."""
    if not threads:
        return
    sys.path.insert(0, HERE)
    from handwritten_loops import thread_env

    os.environ.update(thread_env(threads))
    import tensorflow as tf  # the data pipeline's runtime, on every backend

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    if os.environ.get("KERAS_BACKEND") == "torch":
        import torch

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(threads)


def build(config, seed):
    import keras

    import keras_gen

    keras.utils.set_random_seed(seed)
    shape = (28, 28, 1)
    norm = None if config["critic_norm"] in (None, "none") else config["critic_norm"]
    disc = keras_gen.networks.dcgan_discriminator(shape, normalization=norm)

    def adam(lr, **kw):
        return keras.optimizers.Adam(lr, beta_1=config["beta1"], beta_2=config["beta2"], **kw)

    kwargs = {"gp_weight": config["gp_weight"]} if config["objective"] == "wgan-gp" else {}
    gan = keras_gen.GAN(keras_gen.networks.dcgan_generator(LATENT_DIM, shape), disc,
                        latent_dim=LATENT_DIM, seed=seed, objective=config["objective"],
                        d_steps=config["d_steps"], **kwargs)
    gan.compile(d_optimizer=adam(config["d_lr"]),
                g_optimizer=adam(config["g_lr"], use_ema=True, ema_momentum=EMA_MOMENTUM))
    return gan


def train(name, config, out, seed=0, seconds=None, cpu_seconds=None, threads=None):
    """Train one configuration until its budget is spent; save its samples and curve."""
    if (seconds is None) == (cpu_seconds is None):
        raise ValueError("Give one budget: seconds (wall) or cpu_seconds. Received: "
                         f"seconds={seconds!r}, cpu_seconds={cpu_seconds!r}")
    limit_threads(threads)
    import keras
    import tensorflow as tf

    from keras_gen.data import load_digits

    x, _ = load_digits("train", image_size=28)
    x = (x * 2.0 - 1.0).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices(x).shuffle(len(x), seed=seed)
    ds = ds.batch(BATCH_SIZE, drop_remainder=True).repeat().prefetch(2)
    if threads:
        options = tf.data.Options()
        options.threading.private_threadpool_size = threads
        options.threading.max_intra_op_parallelism = 1
        ds = ds.with_options(options)
    gan = build(config, seed)
    curve = []
    start_wall, start_cpu = time.perf_counter(), time.process_time()

    def clocks():
        return time.perf_counter() - start_wall, time.process_time() - start_cpu

    class Budget(keras.callbacks.Callback):
        steps = 0

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1
            wall, cpu = clocks()
            if (cpu if seconds is None else wall) >= (cpu_seconds if seconds is None else seconds):
                self.model.stop_training = True  # checked after every batch

        def on_epoch_end(self, epoch, logs=None):
            wall, cpu = clocks()
            curve.append({"step": self.steps, "seconds": wall, "cpu_seconds": cpu,
                          **{k: float(v) for k, v in (logs or {}).items()}})

    budget = Budget()
    gan.fit(ds, epochs=10**6, steps_per_epoch=CHUNK, verbose=0, callbacks=[budget])
    wall, cpu = clocks()
    # fit ends with the generator holding the moving average (use_ema).
    z = np.random.default_rng(seed).standard_normal((FID_SAMPLES, LATENT_DIM)).astype("float32")
    samples = np.clip((gan.generator.predict(z, batch_size=250, verbose=0) + 1.0) / 2.0, 0.0, 1.0)
    folder = os.path.join(out, f"seed{seed}")
    os.makedirs(folder, exist_ok=True)
    np.save(os.path.join(folder, f"{name}_samples.npy"), samples)
    with open(os.path.join(folder, f"{name}.json"), "w") as f:
        json.dump({"name": name, "objective": config["objective"], "config": config,
                   "description": describe(config), "seed": seed,
                   "budget": {"seconds": seconds, "cpu_seconds": cpu_seconds, "threads": threads},
                   "seconds": wall, "cpu_seconds": cpu, "steps": budget.steps,
                   "backend": keras.backend.backend(), "curve": curve}, f)
    print(f"{name} seed {seed}: {budget.steps} steps in {wall:.0f} s wall, {cpu:.0f} s CPU",
          flush=True)


def _runs(out):
    runs = []
    for path in sorted(glob.glob(os.path.join(out, "seed*", "*.json"))):
        if os.path.basename(path) == "scores.json":
            continue
        with open(path) as f:
            run = json.load(f)
        run["_samples"] = path[: -len(".json")] + "_samples.npy"
        runs.append(run)
    order = {n: i for i, n in enumerate(CONFIGS)}
    return sorted(runs, key=lambda r: (r["seed"], order.get(r["name"], len(order)), r["name"]))


def score(out, quick=False):
    """FID / KID of every run under ``out``; ratios to the same seed's ``standard``."""
    sys.path.insert(0, HERE)
    import independent_extractors

    from keras_gen import metrics
    from keras_gen.data import load_digits

    x_test, _ = load_digits("test", image_size=28)
    if quick:  # a check of this script only: extractors trained for 1 epoch
        extractors = {"package": metrics.digits_feature_extractor((28, 28), 1, 0),
                      "independent": independent_extractors.digits_extractor(epochs=1, num_examples=200)}
    else:
        extractors = {"package": metrics.digits_feature_extractor((28, 28), 20, 0),
                      "independent": independent_extractors.digits_extractor()}
    f_tests = {n: metrics.extract_features(e, x_test) for n, e in extractors.items()}
    rows = []
    for run in _runs(out):
        samples = np.load(run["_samples"])
        row = {k: run[k] for k in ("name", "objective", "description", "seed", "steps", "seconds",
                                   "cpu_seconds", "budget", "backend")}
        for name, extractor in extractors.items():
            features = metrics.extract_features(extractor, samples)
            kid = metrics.kid_from_features(f_tests[name], features, seed=0)
            counts = np.bincount(np.argmax(extractor.classifier.predict(samples, batch_size=250, verbose=0),
                                           axis=1), minlength=10)
            row[name] = {"fid": float(metrics.fid_from_features(f_tests[name], features)),
                         "kid": float(kid[0]), "min_class_share": float(counts.min() / len(samples))}
        rows.append(row)
    print("| seed | run | G steps | CPU s | wall s | FID package | FID independent | KID package "
          "| KID independent | FID / standard (package, independent) | within 1.5x |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        base = next((b for b in rows if b["name"] == "standard" and b["seed"] == r["seed"]), None)
        if base is None:
            r["ratio"], within = None, "-"
        else:
            r["ratio"] = [r[n]["fid"] / base[n]["fid"] for n in ("package", "independent")]
            within = "yes" if max(r["ratio"]) <= 1.5 else "no"
        ratio = "-" if r["ratio"] is None else f"{r['ratio'][0]:.2f}, {r['ratio'][1]:.2f}"
        print(f"| {r['seed']} | {r['name']} | {r['steps']} | {r['cpu_seconds']:.0f} | {r['seconds']:.0f} "
              f"| {r['package']['fid']:.2f} | {r['independent']['fid']:.2f} | {r['package']['kid']:.4f} "
              f"| {r['independent']['kid']:.4f} | {ratio} | {within} |")
    with open(os.path.join(out, "scores.json"), "w") as f:
        json.dump(rows, f, indent=1)
    plot(out)
    return rows


def plot(out, png=PNG):
    """Loss curves against the budget's clock, one panel per run (3 a row), drawn with PIL."""
    from PIL import Image, ImageDraw

    panels = {}
    for run in _runs(out):
        panels.setdefault(run["name"], []).append(run)
    width, height, margin = 380, 300, 44
    colours = {"d_loss": (200, 40, 40), "g_loss": (40, 70, 200), "gp": (30, 150, 60)}
    columns = max(min(len(panels), COLUMNS), 1)
    rows = max(-(-len(panels) // columns), 1)
    image = Image.new("RGB", (width * columns, height * rows), "white")
    draw = ImageDraw.Draw(image)
    for i, (name, runs) in enumerate(panels.items()):
        x0, y0 = (i % columns) * width, (i // columns) * height
        cpu = runs[0]["budget"].get("cpu_seconds") is not None
        clock = "cpu_seconds" if cpu else "seconds"
        keys = [k for k in colours if runs[0]["curve"] and k in runs[0]["curve"][0]]
        values = [c[k] for r in runs for c in r["curve"] for k in keys]
        steps = ", ".join(f"{r['steps']}" for r in runs)
        draw.text((x0 + margin, y0 + 4), f"{name}: G steps {steps}", fill="black")
        draw.text((x0 + margin, y0 + 14), f"seeds {', '.join(str(r['seed']) for r in runs)} "
                  "(later seeds lighter)", fill="gray")
        box = (x0 + margin, y0 + 28, x0 + width - 10, y0 + height - margin)
        draw.rectangle(box, outline="black")
        if not values:
            continue
        lo, hi = min(values), max(values)
        hi = hi if hi > lo else lo + 1.0
        top = max(max(r[clock] for r in runs), 1e-9)

        def point(t, value):
            return (box[0] + (box[2] - box[0]) * t / top,
                    box[3] - (box[3] - box[1]) * (value - lo) / (hi - lo))

        for s, run in enumerate(runs):
            fade = min(0.6, 0.45 * s)
            for key in keys:
                colour = tuple(int(c + (255 - c) * fade) for c in colours[key])
                line = [point(c[clock], c[key]) for c in run["curve"]]
                if len(line) > 1:
                    draw.line(line, fill=colour, width=2 if s == 0 else 1)
                elif line:
                    draw.ellipse([line[0][0] - 2, line[0][1] - 2, line[0][0] + 2, line[0][1] + 2],
                                 fill=colour)
        for j, key in enumerate(keys):
            draw.text((box[0] + 6 + 70 * j, box[3] + 22), key, fill=colours[key])
        draw.text((x0 + 2, box[1]), f"{hi:.2f}", fill="black")
        draw.text((x0 + 2, box[3] - 10), f"{lo:.2f}", fill="black")
        unit = "CPU s" if cpu else "s"
        draw.text((box[2] - 60, box[3] + 4), f"{top:.0f} {unit}", fill="black")
        draw.text((box[0], box[3] + 4), f"0; mean per {CHUNK} steps", fill="gray")
    os.makedirs(os.path.dirname(png), exist_ok=True)
    image.save(png)
    print(f"curves: {png}")


def _config(args):
    config = dict(CONFIGS[args.run])
    for key in OVERRIDES:
        value = getattr(args, key)
        if value is not None:
            config[key] = value
    if config["objective"] != "wgan-gp":
        config["gp_weight"] = None
    return config


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("train", "score", "all"))
    parser.add_argument("run", nargs="?", choices=tuple(CONFIGS))
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--seconds", type=float, help="wall-clock training budget per run")
    budget.add_argument("--cpu-seconds", type=float,
                        help="training budget in CPU seconds of the training process (use with --threads 1)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads of every backend's CPU pools (1: a single-core run)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="objectives_out")
    parser.add_argument("--name", help="the run's name in OUT (default: the configuration's)")
    parser.add_argument("--d-steps", type=int)
    parser.add_argument("--d-lr", type=float)
    parser.add_argument("--g-lr", type=float)
    parser.add_argument("--beta1", type=float)
    parser.add_argument("--beta2", type=float)
    parser.add_argument("--critic-norm", choices=("batch", "layer", "none"))
    parser.add_argument("--gp-weight", type=float)
    parser.add_argument("--quick-extractors", action="store_true",
                        help="train the FID extractors for 1 epoch (checks the script, not a measurement)")
    args = parser.parse_args(argv)
    if args.command != "score" and args.seconds is None and args.cpu_seconds is None:
        args.seconds = 900.0
    if args.command == "train":
        if args.run is None:
            parser.error("train needs a run: " + ", ".join(CONFIGS))
        train(args.name or args.run, _config(args), args.out, args.seed, args.seconds,
              args.cpu_seconds, args.threads)
    elif args.command == "score":
        score(args.out, args.quick_extractors)
    else:
        flags = ["--seed", str(args.seed), "--out", args.out]
        flags += (["--seconds", str(args.seconds)] if args.seconds is not None
                  else ["--cpu-seconds", str(args.cpu_seconds)])
        if args.threads:
            flags += ["--threads", str(args.threads)]
        procs = [subprocess.Popen([sys.executable, __file__, "train", r, *flags])
                 for r in ("standard", "hinge", "wgan-gp")]
        if any(p.wait() for p in procs):
            raise SystemExit("a training run failed")
        score(args.out, args.quick_extractors)


if __name__ == "__main__":
    main()
