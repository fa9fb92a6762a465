"""GAN objectives on digits at the same wall time: standard DCGAN, hinge, WGAN-GP.

Each run trains `keras_gen.GAN` with the default DCGAN networks
(`dcgan_generator(64, (28, 28, 1))`, `dcgan_discriminator((28, 28, 1))`) on
the 1,437 offline training digits (`keras_gen.data.load_digits`, scaled to
[-1, 1]) in batches of 64, for the same wall-clock budget (compilation
included), with an exponential moving average of the generator's weights
(momentum 0.99, Keras' `use_ema`, as the default DCGAN of benchmarks/quality.py):

* `standard`: the default DCGAN, `Adam(2e-4, beta_1=0.5)` for both players;
* `hinge`: `objective="hinge"`, the same networks and optimizers;
* `wgan-gp`: `objective="wgan-gp"` with the paper's settings (Gulrajani et
  al. 2017): lambda 10, 5 critic steps per generator step,
  `Adam(1e-4, beta_1=0.0, beta_2=0.9)` for both players, and a critic
  without BatchNormalization (`normalization="layer"`, the paper's advice).

Then 1,000 samples of each are scored against the 360 test digits: FID and
KID on the package's digits extractor (`keras_gen.metrics`) and on the
independent one (`benchmarks/independent_extractors.py`). Loss curves (the
mean of each logged loss over blocks of `CHUNK` steps; the budget is checked
after every step) go to
`docs/images/objectives_curves.png`.

Usage (the runs are separate processes so that they can run side by side,
under the same machine load):

    python benchmarks/objectives.py train standard --seconds 900 --out OUT
    python benchmarks/objectives.py train hinge --seconds 900 --out OUT
    python benchmarks/objectives.py train wgan-gp --seconds 900 --out OUT
    python benchmarks/objectives.py score --out OUT

`python benchmarks/objectives.py all --seconds S --out OUT` does the same,
the three trainings in parallel.
"""

import argparse
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
OBJECTIVES = ("standard", "hinge", "wgan-gp")
PNG = os.path.join(REPO, "docs", "images", "objectives_curves.png")


def build(objective, seed):
    import keras

    import keras_gen

    keras.utils.set_random_seed(seed)
    shape = (28, 28, 1)
    if objective == "wgan-gp":
        disc = keras_gen.networks.dcgan_discriminator(shape, normalization="layer")
        make = lambda **kw: keras.optimizers.Adam(1e-4, beta_1=0.0, beta_2=0.9, **kw)  # noqa: E731
    else:
        disc = keras_gen.networks.dcgan_discriminator(shape)
        make = lambda **kw: keras.optimizers.Adam(2e-4, beta_1=0.5, **kw)  # noqa: E731
    gan = keras_gen.GAN(keras_gen.networks.dcgan_generator(LATENT_DIM, shape), disc,
                        latent_dim=LATENT_DIM, seed=seed, objective=objective)
    gan.compile(d_optimizer=make(), g_optimizer=make(use_ema=True, ema_momentum=EMA_MOMENTUM))
    return gan


def train(objective, seconds, out, seed=0):
    import keras
    import tensorflow as tf

    from keras_gen.data import load_digits

    x, _ = load_digits("train", image_size=28)
    x = (x * 2.0 - 1.0).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices(x).shuffle(len(x), seed=seed)
    ds = ds.batch(BATCH_SIZE, drop_remainder=True).repeat().prefetch(2)
    gan = build(objective, seed)
    curve = []
    start = time.perf_counter()

    class Budget(keras.callbacks.Callback):
        steps = 0

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1
            if time.perf_counter() - start >= seconds:
                self.model.stop_training = True  # checked after every batch

        def on_epoch_end(self, epoch, logs=None):
            curve.append({"step": self.steps, "seconds": time.perf_counter() - start,
                          **{k: float(v) for k, v in (logs or {}).items()}})

    budget = Budget()
    gan.fit(ds, epochs=10**6, steps_per_epoch=CHUNK, verbose=0, callbacks=[budget])
    elapsed = time.perf_counter() - start
    # fit ends with the generator holding the moving average (use_ema).
    z = np.random.default_rng(seed).standard_normal((FID_SAMPLES, LATENT_DIM)).astype("float32")
    samples = np.clip((gan.generator.predict(z, batch_size=250, verbose=0) + 1.0) / 2.0, 0.0, 1.0)
    os.makedirs(out, exist_ok=True)
    np.save(os.path.join(out, f"{objective}_samples.npy"), samples)
    with open(os.path.join(out, f"{objective}.json"), "w") as f:
        json.dump({"objective": objective, "seed": seed, "budget_seconds": seconds,
                   "seconds": elapsed, "steps": budget.steps,
                   "d_steps": gan.d_steps, "backend": keras.backend.backend(),
                   "curve": curve}, f)
    print(f"{objective}: {budget.steps} steps in {elapsed:.0f} s", flush=True)


def score(out, seed=0, quick=False):
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
    for objective in OBJECTIVES:
        path = os.path.join(out, f"{objective}.json")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            run = json.load(f)
        samples = np.load(os.path.join(out, f"{objective}_samples.npy"))
        row = {k: run[k] for k in ("objective", "steps", "seconds", "d_steps", "backend")}
        for name, extractor in extractors.items():
            features = metrics.extract_features(extractor, samples)
            kid = metrics.kid_from_features(f_tests[name], features, seed=seed)
            counts = np.bincount(np.argmax(extractor.classifier.predict(samples, batch_size=250, verbose=0),
                                           axis=1), minlength=10)
            row[name] = {"fid": float(metrics.fid_from_features(f_tests[name], features)),
                         "kid": float(kid[0]), "min_class_share": float(counts.min() / len(samples))}
        rows.append(row)
    base = next((r for r in rows if r["objective"] == "standard"), None)
    print("| objective | steps (G) | seconds | FID package | KID package | FID independent "
          "| KID independent | FID / standard (package, independent) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = ("-" if base is None else
                 f"{r['package']['fid'] / base['package']['fid']:.2f}, "
                 f"{r['independent']['fid'] / base['independent']['fid']:.2f}")
        r["ratio"] = ratio
        print(f"| {r['objective']} | {r['steps']} | {r['seconds']:.0f} | {r['package']['fid']:.2f} | "
              f"{r['package']['kid']:.4f} | {r['independent']['fid']:.2f} | "
              f"{r['independent']['kid']:.4f} | {ratio} |")
    with open(os.path.join(out, "scores.json"), "w") as f:
        json.dump(rows, f, indent=1)
    plot(out)
    return rows


def plot(out, png=PNG):
    """Loss curves, one panel per objective, drawn with PIL (no plotting library needed)."""
    from PIL import Image, ImageDraw

    runs = []
    for objective in OBJECTIVES:
        path = os.path.join(out, f"{objective}.json")
        if os.path.exists(path):
            with open(path) as f:
                runs.append(json.load(f))
    width, height, margin = 380, 280, 44
    colours = {"d_loss": (200, 40, 40), "g_loss": (40, 70, 200), "gp": (30, 150, 60)}
    image = Image.new("RGB", (width * max(len(runs), 1), height), "white")
    draw = ImageDraw.Draw(image)
    for i, run in enumerate(runs):
        x0, curve = i * width, run["curve"]
        keys = [k for k in colours if curve and k in curve[0]]
        values = [c[k] for c in curve for k in keys]
        steps = [c["step"] for c in curve]
        draw.text((x0 + margin, 6), f"{run['objective']}: {run['steps']} steps, {run['seconds']:.0f} s",
                  fill="black")
        box = (x0 + margin, 24, x0 + width - 10, height - margin)
        draw.rectangle(box, outline="black")
        if not values or len(steps) < 1:
            continue
        lo, hi = min(values), max(values)
        hi = hi if hi > lo else lo + 1.0
        top = max(steps[-1], 1)

        def point(step, value):
            return (box[0] + (box[2] - box[0]) * step / top,
                    box[3] - (box[3] - box[1]) * (value - lo) / (hi - lo))

        for j, key in enumerate(keys):
            line = [point(st, c[key]) for st, c in zip(steps, curve)]
            if len(line) > 1:
                draw.line(line, fill=colours[key], width=2)
            else:
                draw.ellipse([line[0][0] - 2, line[0][1] - 2, line[0][0] + 2, line[0][1] + 2],
                             fill=colours[key])
            draw.text((box[0] + 6 + 70 * j, box[3] + 20), key, fill=colours[key])
        draw.text((x0 + 2, box[1]), f"{hi:.2f}", fill="black")
        draw.text((x0 + 2, box[3] - 10), f"{lo:.2f}", fill="black")
        draw.text((box[2] - 60, box[3] + 4), f"step {top}", fill="black")
        draw.text((box[0], box[3] + 4), f"mean per {CHUNK} steps", fill="gray")
    os.makedirs(os.path.dirname(png), exist_ok=True)
    image.save(png)
    print(f"curves: {png}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("train", "score", "all"))
    parser.add_argument("objective", nargs="?", choices=OBJECTIVES)
    parser.add_argument("--seconds", type=float, default=900.0,
                        help="wall-clock training budget per objective (compilation included)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="objectives_out")
    parser.add_argument("--quick-extractors", action="store_true",
                        help="train the FID extractors for 1 epoch (checks the script, not a measurement)")
    args = parser.parse_args(argv)
    if args.command == "train":
        if args.objective is None:
            parser.error("train needs an objective")
        train(args.objective, args.seconds, args.out, args.seed)
    elif args.command == "score":
        score(args.out, args.seed, args.quick_extractors)
    else:
        procs = [subprocess.Popen([sys.executable, __file__, "train", o, "--seconds", str(args.seconds),
                                   "--seed", str(args.seed), "--out", args.out]) for o in OBJECTIVES]
        if any(p.wait() for p in procs):
            raise SystemExit("a training run failed")
        score(args.out, args.seed, args.quick_extractors)


if __name__ == "__main__":
    main()
