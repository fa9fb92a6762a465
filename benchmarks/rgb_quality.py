"""keras-gen's default DCGAN against a tutorial-style DCGAN at 64x64 RGB, on `shapes`.

The comparison of issue #16 (item 5), offline, on the procedural `shapes`
dataset (keras_gen.data.shapes):

* **keras-gen**: `keras_gen.GAN` with the default
  `keras_gen.networks.dcgan_generator` / `dcgan_discriminator` at
  (64, 64, 3) and the colour defaults of `recipes/dcgan_celeba.py`
  (`RECIPE_OPTIONS`: a discriminator without normalization and with the
  minibatch standard deviation channel, Adam(4e-4, beta_1=0.5) for G and
  Adam(2e-4, beta_1=0.5) for D, the LeCam regularizer at 0.1, an EMA
  (0.99) of G's weights for the samples, with G's BatchNorm statistics
  re-estimated for it (`GAN.standing_statistics`); non-saturating generator
  loss, latent_dim 40), batch 64 (the
  recipe's default). `--options` trains other option sets (`paper`: the
  DCGAN paper's settings, what earlier versions of the recipe used on
  colour images).
* **reference**: `reference_models.TutorialDCGAN` at (64, 64, 3), the
  TensorFlow DCGAN tutorial's networks scaled to 64 px and its training
  step (one simultaneous update of both players per step), with the DCGAN
  paper's Adam(2e-4, beta_1=0.5) (`--reference-optimizer paper`, default;
  `tutorial` is the tutorial's own Adam(1e-4)).

Both train on the same batches in the same order (`batch_indices`: the
first `--train-examples` images of the train split in [-1, 1], a fresh
permutation per pass, batches of 64), interleaved in chunks of `--chunk`
steps in one process, so that both see the same load on the shared cores;
seconds per step come from those interleaved chunks (the first chunk,
which traces and compiles, is left out). Each model trains `--steps`
steps; the reference is also scored at keras-gen's wall time: if it is
faster it trains on to the steps that fit in keras-gen's time, if slower
its generator is taken from the chunk boundary nearest to the steps that
fit (weights kept at every chunk boundary).

Measures, on 1,000 samples (images mapped to [0, 1]) against the first
1,000 test images: FID and KID on (a) the package's shapes extractor
(`keras_gen.metrics.shapes_feature_extractor`) and (b) an independent one
(`independent_extractors.shapes_extractor`: another architecture,
objective, seed and draw of the data, never used by the package); coverage,
the share of samples of each shape and colour according to each
extractor's attribute classifier; and the data's floor (the first 1,000
train images against the same test images) on both.

    KERAS_BACKEND=tensorflow python benchmarks/rgb_quality.py

`--phase train` only trains and saves the samples (`--out`), `--phase
measure` only measures saved samples; the default does both. The
reference is TensorFlow code: run with KERAS_BACKEND=tensorflow.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
for path in (HERE, REPO):
    if path not in sys.path:
        sys.path.insert(0, path)

IMAGE_SHAPE = (64, 64, 3)
BATCH_SIZE = 64
LATENT_DIM = 100  # the DCGAN paper's z, for options that name none
NUM_SAMPLES = 1000
TRAIN_EXAMPLES = 20_000
STEPS = 1000
CHUNK = 50
GRID = 64  # samples in the 8x8 grids
# recipes/dcgan_celeba.py's defaults for colour images, as quality.GAN_OPTIONS
# names them (tests/benchmarks/test_rgb_quality.py checks that they agree).
RECIPE_OPTIONS = "nonorm_mbstd+ttur_g+ema+lecam01+standing+z40"


# ------------------------------------------------------------------- data
def batch_indices(num_examples, first_step, steps, batch_size=BATCH_SIZE, seed=0):
    """Row indices of training steps `first_step ... first_step + steps - 1`.

    Each pass over the `num_examples` rows is a fresh permutation
    (`numpy.random.default_rng([seed, pass])`), cut into whole batches (the
    last partial batch of a pass is dropped), so step `s` always gets the
    same rows whichever model asks and however the steps are chunked.

    Returns:
        int64 array `(steps, batch_size)`.
    """
    per_pass = num_examples // batch_size
    if per_pass < 1:
        raise ValueError(
            f"num_examples must be at least batch_size={batch_size}. "
            f"Received: num_examples={num_examples}"
        )
    rows = []
    cache = {}
    for step in range(first_step, first_step + steps):
        epoch, slot = divmod(step, per_pass)
        if epoch not in cache:
            cache[epoch] = np.random.default_rng([seed, epoch]).permutation(num_examples)
        rows.append(cache[epoch][slot * batch_size:(slot + 1) * batch_size])
    return np.asarray(rows, dtype="int64").reshape(steps, batch_size)


def batches(images, first_step, steps, batch_size=BATCH_SIZE, seed=0):
    """A `tf.data.Dataset` of the real batches of those steps (see `batch_indices`)."""
    import tensorflow as tf

    index = batch_indices(len(images), first_step, steps, batch_size, seed)
    return (tf.data.Dataset.from_tensor_slices(index)
            .map(lambda rows: tf.gather(images, rows))
            .prefetch(2))


def training_images(num_examples=TRAIN_EXAMPLES, image_size=IMAGE_SHAPE[:2]):
    """The first `num_examples` shapes train images in [-1, 1], as a tf constant."""
    import tensorflow as tf

    from keras_gen.data.shapes import load_shapes

    x = load_shapes("train", image_size=image_size, value_range=(-1.0, 1.0),
                    num_examples=num_examples, with_labels=False)
    return tf.constant(x)


# ----------------------------------------------------------------- models
def keras_gen_dcgan(image_shape=IMAGE_SHAPE, latent_dim=None, seed=0, options=RECIPE_OPTIONS):
    """keras-gen's DCGAN with the training options `options`, compiled.

    `latent_dim=None` takes the options' z size (`z40`, ...; the
    recipe's colour defaults name `z40`) or else `LATENT_DIM` (the DCGAN
    paper's 100).

    `options` names an entry of `quality.GAN_OPTIONS` (`a+b` combines);
    the default is the recipe's colour defaults (`RECIPE_OPTIONS`);
    `"paper"` is the DCGAN paper's settings with the package's networks
    (Adam(2e-4, beta_1=0.5) for both players, BatchNorm discriminator,
    non-saturating loss), as earlier versions of recipes/dcgan_celeba.py
    trained colour images.
    """
    import quality

    opts = quality.gan_options(options)
    if latent_dim is None:
        latent_dim = opts.get("latent_dim") or LATENT_DIM
    return quality.keras_gen_dcgan(opts, seed, image_shape, latent_dim)


def train_keras_gen(x, steps=STEPS, chunk=CHUNK, seed=0, options=RECIPE_OPTIONS,
                    num_samples=NUM_SAMPLES, log=print):
    """Train keras-gen's DCGAN alone on the batches `train_pair` feeds it.

    One `fit` call (epochs of `chunk` steps), so that an EMA of the
    generator (Keras' `use_ema`) is swapped in only at the end. Returns
    `{"keras_gen": samples, "timing": {...}}`; seconds per step leave out
    the first epoch (tracing).
    """
    import keras

    image_shape = tuple(int(v) for v in x.shape[1:])
    gan = keras_gen_dcgan(image_shape, seed=seed, options=options)
    times = []

    class Log(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.t)
            log(f"  step {(epoch + 1) * chunk}/{steps}: {times[-1]:.1f} s (" + ", ".join(
                f"{k} {float(v):.3f}" for k, v in sorted((logs or {}).items())) + ")")

    gan.fit(batches(x, 0, steps, seed=seed), epochs=steps // chunk, steps_per_epoch=chunk,
            verbose=0, shuffle=False, callbacks=[Log()])
    standing_statistics(gan, options)  # fit ended by writing the average into G
    later = times[1:] or times
    timing = {"steps": steps, "chunk": chunk, "seed": seed, "options": options,
              "keras_gen_s_per_step": sum(later) / (chunk * len(later)),
              "keras_gen_seconds": sum(times)}
    return {"keras_gen": sample(gan.generator, num_samples, seed=seed), "timing": timing}


def standing_statistics(gan, options):
    """With the `standing` option and an EMA of G, G's BatchNorm statistics for the average.

    What recipes/dcgan_celeba.py does before it saves the averaged generator
    (`keras_gen.GAN.standing_statistics`).
    """
    import quality

    if quality.gan_options(options)["standing"] and getattr(gan.g_optimizer, "use_ema", False):
        gan.standing_statistics()


def sample(generator, num=NUM_SAMPLES, latent_dim=None, seed=0):
    """`num` images in [0, 1] from `generator` (inference mode) for fixed z.

    `latent_dim=None` reads the z size from the generator's input.
    """
    if latent_dim is None:
        latent_dim = int(generator.input_shape[-1])
    z = np.random.default_rng([seed, 7]).standard_normal((num, latent_dim)).astype("float32")
    x = generator.predict(z, batch_size=250, verbose=0)
    return np.clip((np.asarray(x, dtype="float32") + 1.0) / 2.0, 0.0, 1.0)


def train_pair(x, steps=STEPS, chunk=CHUNK, seed=0, reference_optimizer="paper",
               num_samples=NUM_SAMPLES, log=print, options=RECIPE_OPTIONS):
    """Train keras-gen and the reference on the same batches, interleaved.

    Returns a dict of `num_samples` samples each (`keras_gen`, `reference`,
    `reference_walltime`) and timings (per-chunk seconds of each model, steps at equal wall time).
    """
    import keras
    import reference_models

    image_shape = tuple(int(v) for v in x.shape[1:])
    gan = keras_gen_dcgan(image_shape, seed=seed, options=options)
    ref = reference_models.TutorialDCGAN(image_shape, reference_optimizer, seed)
    times = {"keras_gen": [], "reference": []}

    class KeepRaw(keras.callbacks.Callback):
        """G's own weights at the epoch's end, before fit swaps in an EMA (use_ema)."""

        def on_epoch_end(self, epoch, logs=None):
            self.weights = gan.generator.get_weights()

    keep_raw = KeepRaw()
    snapshots = {0: ref.generator.get_weights()}
    n_chunks = -(-steps // chunk)
    start = time.perf_counter()
    for c in range(n_chunks):
        first, count = c * chunk, min(chunk, steps - c * chunk)
        order = ("keras_gen", "reference") if c % 2 == 0 else ("reference", "keras_gen")
        for name in order:
            data = batches(x, first, count, seed=seed)
            t = time.perf_counter()
            if name == "keras_gen":
                # fit ends by writing an EMA of G (use_ema) into G: train on the raw weights.
                gan.fit(data, epochs=1, steps_per_epoch=count, verbose=0, shuffle=False,
                        callbacks=[keep_raw])
                gan.generator.set_weights(keep_raw.weights)
            else:
                ref.train(data)
            times[name].append((count, time.perf_counter() - t))
        snapshots[ref.steps] = ref.generator.get_weights()
        logs = gan.get_metrics_result()
        log(f"  step {first + count}/{steps}: keras-gen {times['keras_gen'][-1][1]:.1f} s "
            f"(d_loss {float(logs.get('d_loss', np.nan)):.3f}, g_loss "
            f"{float(logs.get('g_loss', np.nan)):.3f}), reference {times['reference'][-1][1]:.1f} s "
            f"(g_loss {float(ref.losses[0]):.3f}, d_loss {float(ref.losses[1]):.3f}); "
            f"{time.perf_counter() - start:.0f} s in all")
    timing = step_timing(times)
    if getattr(gan.g_optimizer, "use_ema", False):
        gan.g_optimizer.finalize_variable_values(gan.generator.trainable_variables)
    standing_statistics(gan, options)
    out = {"keras_gen": sample(gan.generator, num_samples, seed=seed),
           "reference": sample(ref.generator, num_samples, seed=seed)}
    # The reference at keras-gen's wall time.
    equal = int(round(steps * timing["keras_gen_s_per_step"] / timing["reference_s_per_step"]))
    if equal > steps:
        log(f"  reference is faster: training it on to {equal} steps (keras-gen's wall time)")
        while ref.steps < equal:
            count = min(chunk, equal - ref.steps)
            ref.train(batches(x, ref.steps, count, seed=seed))
        out["reference_walltime"] = sample(ref.generator, num_samples, seed=seed)
        walltime_steps = ref.steps
    else:
        walltime_steps = min(snapshots, key=lambda s: (abs(s - equal), s))
        log(f"  reference is slower: {equal} steps fit in keras-gen's wall time; "
            f"scoring its generator at step {walltime_steps} (nearest chunk boundary)")
        ref.generator.set_weights(snapshots[walltime_steps])
        out["reference_walltime"] = sample(ref.generator, num_samples, seed=seed)
    timing.update({"steps": steps, "reference_walltime_steps": walltime_steps,
                   "reference_equal_time_steps": equal, "chunk": chunk,
                   "reference_optimizer": reference_optimizer, "seed": seed,
                   "options": options})
    out["timing"] = timing
    return out


def step_timing(times):
    """Seconds per step of both models from interleaved chunk timings.

    `times` maps `"keras_gen"` and `"reference"` to lists of `(steps,
    seconds)`, one per chunk, in the same rounds. The first round (tracing,
    compiling) is left out when there are more; the ratio is the median
    over rounds of keras-gen's over the reference's seconds per step, which
    cancels load that changes from round to round.
    """
    kg, ref = times["keras_gen"], times["reference"]
    rounds = list(range(1, len(kg))) if len(kg) > 1 else [0]
    per_step = lambda rows: sum(rows[i][1] for i in rounds) / sum(rows[i][0] for i in rounds)  # noqa: E731
    ratios = [(kg[i][1] / kg[i][0]) / (ref[i][1] / ref[i][0]) for i in rounds]
    return {
        "keras_gen_s_per_step": per_step(kg),
        "reference_s_per_step": per_step(ref),
        "ratio_median": float(np.median(ratios)),
        "keras_gen_seconds": sum(s for _, s in kg),
        "reference_seconds": sum(s for _, s in ref),
    }


# ---------------------------------------------------------------- measure
def coverage(shape_index, colour_index):
    """Shares of samples per shape and per colour from class indices.

    Returns:
        `{"shapes": {name: share}, "colors": {name: share}, "min_shape",
        "min_color", "all_present"}`; a class is present when at least one
        sample has it.
    """
    from keras_gen.data.shapes import COLORS
    from keras_gen.data.shapes import SHAPES

    n = len(shape_index)
    shapes = np.bincount(np.asarray(shape_index, dtype=int), minlength=len(SHAPES)) / n
    colors = np.bincount(np.asarray(colour_index, dtype=int), minlength=len(COLORS)) / n
    return {"shapes": dict(zip(SHAPES, shapes.tolist())),
            "colors": dict(zip(COLORS, colors.tolist())),
            "min_shape": float(shapes.min()), "min_color": float(colors.min()),
            "all_present": bool(shapes.min() > 0 and colors.min() > 0)}


def package_groups(images, extractor):
    """Shape and colour indices from the package's `predict_attributes`."""
    from keras_gen import metrics
    from keras_gen.data.shapes import COLORS
    from keras_gen.data.shapes import SHAPES

    attrs = np.asarray(metrics.predict_attributes(images, extractor))
    return (np.argmax(attrs[:, :len(SHAPES)], axis=1),
            np.argmax(attrs[:, len(SHAPES):len(SHAPES) + len(COLORS)], axis=1))


def scores(real_features, images, extractor, groups):
    """FID, KID and coverage of `images` against precomputed real features."""
    from keras_gen import metrics

    features = metrics.extract_features(extractor, images)
    kid_mean, kid_std = metrics.kid_from_features(real_features, features, seed=0)
    result = {"fid": metrics.fid_from_features(real_features, features),
              "kid": kid_mean, "kid_std": kid_std}
    result.update(coverage(*groups(images, extractor)))
    return result


def measure(sample_sets, test_images, floor_images, extractors):
    """Scores of every sample set (and the floor) on every extractor.

    `extractors` maps a name to `(extractor, groups)`, `groups(images,
    extractor)` returning shape and colour indices. Returns
    `{extractor name: {set name: scores}}`.
    """
    from keras_gen import metrics

    results = {}
    for name, (extractor, groups) in extractors.items():
        real = metrics.extract_features(extractor, test_images)
        sets = dict(sample_sets, floor=floor_images)
        results[name] = {k: scores(real, v, extractor, groups) for k, v in sets.items()}
    return results


def _cov(r):
    return f"{r['min_shape']:.0%} / {r['min_color']:.0%}{'' if r['all_present'] else ' (missing)'}"


def table(results, timing):
    """The markdown results table (one seed): rows per model, columns per extractor."""
    names = list(results)
    steps = timing["steps"]
    rows = [("keras_gen", f"keras-gen DCGAN (options {timing.get('options', 'paper')})", steps,
             timing["keras_gen_s_per_step"]),
            ("reference", "tutorial DCGAN, same steps", steps, timing["reference_s_per_step"]),
            ("reference_walltime", "tutorial DCGAN, keras-gen's wall time",
             timing["reference_walltime_steps"], timing["reference_s_per_step"]),
            ("floor", "data floor (1,000 train vs test)", None, None)]
    head = ["model", "steps", "s/step"]
    for name in names:
        head += [f"FID ({name})", f"KID ({name})", f"min shape / colour share ({name})"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, label, n, sps in rows:
        if key not in results[names[0]]:
            continue
        cells = [label, "" if n is None else str(n), "" if sps is None else f"{sps:.3f}"]
        for name in names:
            r = results[name][key]
            cells += [f"{r['fid']:.3f}", f"{r['kid']:.4f} ± {r['kid_std']:.4f}", _cov(r)]
        lines.append("| " + " | ".join(cells) + " |")
    ratio_cells = []
    for name in names:
        res = results[name]
        ratio_cells.append(
            f"{name}: FID ratio keras-gen / reference {res['keras_gen']['fid'] / res['reference']['fid']:.2f} "
            f"(same steps), {res['keras_gen']['fid'] / res['reference_walltime']['fid']:.2f} (same wall time)")
    lines += ["", "; ".join(ratio_cells) + f"; s/step ratio keras-gen / reference "
              f"{timing['ratio_median']:.2f} ("
              + ("median of interleaved rounds)." if not timing.get("reference_from") else
                 f"keras-gen timed alone; the reference's from {timing['reference_from']}).")]
    return "\n".join(lines)


def coverage_table(results):
    """Per-class shares of every sample set on every extractor (markdown)."""
    from keras_gen.data.shapes import COLORS
    from keras_gen.data.shapes import SHAPES

    head = ["extractor", "samples"] + list(SHAPES) + list(COLORS)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, sets in results.items():
        for key, r in sets.items():
            cells = [name, key] + [f"{r['shapes'][s]:.1%}" for s in SHAPES] + [
                f"{r['colors'][c]:.1%}" for c in COLORS]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def passes(results):
    """Issue #16's target: FID <= half the reference's (same steps and same
    wall time) on every extractor, every shape and colour in the samples."""
    return all(
        r["keras_gen"]["fid"] <= 0.5 * r["reference"]["fid"]
        and r["keras_gen"]["fid"] <= 0.5 * r["reference_walltime"]["fid"]
        and r["keras_gen"]["all_present"]
        for r in results.values())


# -------------------------------------------------------------------- run
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--phase", choices=("all", "train", "measure"), default="all")
    p.add_argument("--steps", type=int, default=STEPS, help="training steps of each model")
    p.add_argument("--chunk", type=int, default=CHUNK, help="steps per interleaved chunk")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--train-examples", type=int, default=TRAIN_EXAMPLES)
    p.add_argument("--reference-optimizer", choices=("paper", "tutorial"), default="paper",
                   help="paper: Adam(2e-4, beta_1=0.5); tutorial: the tutorial's Adam(1e-4)")
    p.add_argument("--options", default=RECIPE_OPTIONS,
                   help="keras-gen's DCGAN training options: a name of benchmarks/quality.py's "
                        "GAN_OPTIONS, a+b combines (default: the recipe's colour defaults; "
                        "paper: the DCGAN paper's settings)")
    p.add_argument("--reference-from", default=None,
                   help="train keras-gen only and take the reference's samples and timing from "
                        "this earlier run's --out folder (same seed and --steps)")
    p.add_argument("--out", default="/tmp/rgb_quality", help="samples and results folder")
    p.add_argument("--wait", action="store_true",
                   help="measure: train the extractors, then wait for the samples of a "
                        "training run still going (--phase train in another process)")
    p.add_argument("--grids", default=os.path.join(REPO, "docs", "images"),
                   help="where the 8x8 sample grids go ('' to skip)")
    return p.parse_args(argv)


def reference_run(folder, seed, steps):
    """The reference's samples and timing from an earlier run's `folder` (same seed, steps)."""
    data = np.load(os.path.join(folder, f"samples_seed{seed}.npz"))
    with open(os.path.join(folder, f"timing_seed{seed}.json")) as f:
        timing = json.load(f)
    if timing["steps"] != steps or timing["seed"] != seed:
        raise ValueError(f"reference_from must hold a run of {steps} steps, seed {seed}. "
                         f"Received: {folder} with steps={timing['steps']}, seed={timing['seed']}")
    keep = ("reference_s_per_step", "reference_seconds", "reference_walltime_steps",
            "reference_optimizer")
    return {"reference": data["reference"], "reference_walltime": data["reference_walltime"],
            "reference_timing": {k: timing[k] for k in keep if k in timing}}


def run_training(args, log=print):
    x = training_images(args.train_examples)
    log(f"Training on {x.shape[0]} shapes images {tuple(x.shape[1:])}, batch {BATCH_SIZE}, "
        f"{args.steps} steps each, seeds {args.seeds}")
    for seed in args.seeds:
        if args.reference_from:
            out = train_keras_gen(x, args.steps, args.chunk, seed, args.options, log=log)
            out.update(reference_run(args.reference_from, seed, args.steps))
        else:
            out = train_pair(x, args.steps, args.chunk, seed, args.reference_optimizer, log=log,
                             options=args.options)
        path = os.path.join(args.out, f"samples_seed{seed}.npz")
        timing = out.pop("timing")
        timing.update(out.pop("reference_timing", {}))
        if "reference_s_per_step" in timing and "ratio_median" not in timing:
            timing["ratio_median"] = timing["keras_gen_s_per_step"] / timing["reference_s_per_step"]
            timing["reference_from"] = args.reference_from
        np.savez_compressed(path, **out)
        with open(os.path.join(args.out, f"timing_seed{seed}.json"), "w") as f:
            json.dump(timing, f, indent=1)
        out["timing"] = timing
        log(f"  seed {seed}: {json.dumps(out['timing'])}; samples in {path}")


def run_measure(args, log=print):
    import keras_gen
    import independent_extractors
    from keras_gen.data.shapes import load_shapes

    test = load_shapes("test", num_examples=NUM_SAMPLES, with_labels=False)
    floor = load_shapes("train", num_examples=NUM_SAMPLES, with_labels=False)
    t = time.perf_counter()
    package = keras_gen.metrics.shapes_feature_extractor()
    log(f"Package shapes extractor: test accuracy {package.test_accuracy} "
        f"({time.perf_counter() - t:.0f} s)")
    extractors = {"package": (package, package_groups)}
    t = time.perf_counter()
    independent = independent_extractors.shapes_extractor()
    log(f"Independent shapes extractor: test accuracy {independent.test_accuracy} "
        f"({time.perf_counter() - t:.0f} s)")
    extractors["independent"] = (independent, independent_extractors.shapes_groups)
    report = []
    for seed in args.seeds:
        timing_path = os.path.join(args.out, f"timing_seed{seed}.json")
        while args.wait and not os.path.exists(timing_path):  # a training run still going
            time.sleep(30)
        data = np.load(os.path.join(args.out, f"samples_seed{seed}.npz"))
        with open(timing_path) as f:
            timing = json.load(f)
        sets = {k: data[k] for k in ("keras_gen", "reference", "reference_walltime")}
        results = measure(sets, test, floor, extractors)
        with open(os.path.join(args.out, f"results_seed{seed}.json"), "w") as f:
            json.dump({"results": results, "timing": timing}, f, indent=1)
        text = (f"### Seed {seed}\n\n{table(results, timing)}\n\nTarget met: "
                f"{'yes' if passes(results) else 'no'}\n\n{coverage_table(results)}\n")
        log(text)
        report.append(text)
        if args.grids and seed == args.seeds[0]:
            from keras_gen.images import save_image_grid

            for key, name in (("keras_gen", "shapes_dcgan_keras_gen.png"),
                              ("reference", "shapes_dcgan_reference.png")):
                log(f"  grid: {save_image_grid(sets[key][:GRID], os.path.join(args.grids, name), cols=8, scale=1)}")
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write("\n".join(report))


def main(argv=None):
    args = parse_args(argv)
    import keras

    if keras.backend.backend() != "tensorflow":
        raise SystemExit("rgb_quality.py needs KERAS_BACKEND=tensorflow (the reference is "
                         f"the TensorFlow tutorial's code). Received: {keras.backend.backend()}")
    os.makedirs(args.out, exist_ok=True)
    log = lambda *a: print(*a, flush=True)  # noqa: E731
    start = time.perf_counter()
    if args.phase in ("all", "train"):
        run_training(args, log)
    if args.phase in ("all", "measure"):
        run_measure(args, log)
    log(f"Total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
