"""Evaluate an AE, a VAE and a GAN on the offline digits: one table, and pictures.

Trains small default models on scikit-learn's digits (28x28, stratified
80/20 split) or loads trained ones (--ae / --vae / --gan), then measures
each claim the source notes make (../shared/seed/unsupervised_learning.md) with a
number on the held-out test split:

* reconstruction MSE beside PCA at the same bottleneck width (the source notes'
  first technique: the baseline an AE must beat);
* the VAE's negative ELBO and importance-weighted NLL (nats per image);
* FID / KID of generated samples beside the real-vs-real floor (train vs
  test digits, same number of images), on the features of
  keras_gen.metrics.digits_feature_extractor() (a small CNN trained on the
  training split; its test accuracy is printed);
* linear-probe accuracy and k-means NMI / purity of the latent codes
  ("learn a classifier", "cluster data");

and writes to --out-dir:

    interpolation_{ae,vae}_linear.png, interpolation_vae_slerp.png
                                     test digits 0->6, 1->7, 2->8, 3->9
    interpolation_gan_slerp.png      slerp between random z
    alter_{ae,vae}.png               z = z1 + alpha (z_t,avg - z1), alpha 0..1,
                                     digit d -> mean code of class (d + 5) % 10
    scatter_{ae,vae}.png             test codes projected on their 2 principal
                                     axes, coloured by digit (legend on top)
    samples_{vae,gan}.png            decoded prior samples

Output paths are relative to the current working directory. Each phase
prints a status line as it starts, and training shows Keras' progress.
--deterministic (the default) makes a TensorFlow run repeat its numbers
exactly, whatever the machine's load or number of cores. A model whose training loss becomes
NaN/Inf stops the run with an error.

Runs on any backend: KERAS_BACKEND=jax python recipes/evaluate.py

With --reproduce it instead runs the quality comparisons of
benchmarks/quality.py: the default AE against PCA, the default
VAE against the keras.io VAE, the default DCGAN against the TensorFlow
tutorial's, with fixed seeds and step budgets, and prints the table with
wall times (about an hour on 2 CPU cores; --parts picks a subset). It needs
the TensorFlow backend, the one the DCGAN tutorial is written for.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from recipes import _common  # noqa: E402  (argparse and os only: --help stays fast)

REPO = _common.REPO
status = _common.status

# Ten colours that stay distinct (Tableau 10).
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]


PARTS = ("ae", "vae", "gan")
LATENT_DIM = 8  # --latent-dim's default when no --ae / --vae file sets it
GAN_LONG_STEPS = 5000  # --gan-long-steps' default with --reproduce
# The flags that only --reproduce reads.
REPRODUCE_FLAGS = ("parts", "gan_options", "gan_long_steps")
# The flags that --reproduce does not read (it trains benchmarks/quality.py's
# fixed budgets and scores no saved model).
EVALUATION_FLAGS = ("latent_dim", "ae_epochs", "vae_epochs", "gan_epochs", "gan_latent_dim",
                    "kl_weight", "batch_size", "iw_k", "ae", "vae", "gan", "refine_steps",
                    "verbose")


def build_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=_common.HelpFormatter,
                                epilog=_common.OUTPUTS_NOTE)
    p.add_argument("--latent-dim", type=int, default=None,
                   help=f"AE / VAE bottleneck width (and PCA's); default {LATENT_DIM}, or the "
                        "width of the models given with --ae / --vae")
    p.add_argument("--ae-epochs", type=int, default=20, help="AE training epochs")
    p.add_argument("--vae-epochs", type=int, default=30, help="VAE training epochs")
    p.add_argument("--gan-epochs", type=int, default=20, help="GAN training epochs")
    p.add_argument("--gan-latent-dim", type=int, default=64, help="size of the GAN's z")
    p.add_argument("--kl-weight", type=float, default=0.00128, help="VAE lambda (BCE; ~1/784)")
    p.add_argument("--batch-size", type=int, default=64, help="training batch size")
    p.add_argument("--iw-k", type=int, default=100, help="importance samples of the IW-NLL")
    p.add_argument("--extractor-epochs", type=int, default=20,
                   help="training epochs of the FID/KID feature extractor")
    p.add_argument("--ae", default=None,
                   help="a trained keras_gen.AutoEncoder .keras file for 28x28x1 images instead "
                        "of training one")
    p.add_argument("--vae", default=None,
                   help="a trained (unconditional) keras_gen.VAE .keras file for 28x28x1 images "
                        "instead of training one")
    p.add_argument("--gan", default=None,
                   help="a trained (unconditional) keras_gen.GAN, or its generator alone, as a "
                        ".keras file: z -> 28x28x1 images in [-1, 1], e.g. "
                        "saved_models/dcgan_digits_generator.keras from dcgan_celeba.py --dataset digits")
    p.add_argument("--refine-steps", type=int, default=100,
                   help="steps of keras_gen.latent.refine_codes for the refined-compression line (0: skip)")
    p.add_argument("--seed", type=_common.seed, default=0, help="seed of weights, draws and pictures")
    p.add_argument("--out-dir", default=os.path.join("outputs", "evaluate"), help="where the PNGs go")
    p.add_argument("--verbose", default="auto", help="Keras fit verbosity (auto, 0, 1, 2)")
    p.add_argument("--reproduce", action="store_true",
                   help="run benchmarks/quality.py's comparisons with reference models instead "
                        "(writes quality.json, quality.md and sample grids to --out-dir)")
    p.add_argument("--parts", default=None,
                   help="with --reproduce: which comparisons, comma-separated from ae, vae, gan "
                        "(default: all three)")
    p.add_argument("--gan-options", default=None,
                   help="with --reproduce: keras-gen's DCGAN training options, a name of "
                        "benchmarks/quality.py's GAN_OPTIONS (a+b combines; default: its "
                        "DEFAULT_GAN_OPTIONS, the package's defaults)")
    p.add_argument("--gan-long-steps", type=int, default=None,
                   help="with --reproduce: the first seed's DCGAN also trains on to this many "
                        "steps, scored at the end (no late collapse): 0 (skip) or at least the "
                        f"comparison's 1,500 steps (default {GAN_LONG_STEPS}; --smoke: 6)")
    p.add_argument("--smoke", action="store_true",
                   help="a seconds-long run (1 epoch each, 128 training images) to check the pipeline")
    _common.add_deterministic_flag(p, default=True)
    return p


def parse_args(argv=None, parser=None):
    """The checked arguments; ``parser``: the one to parse with (``build_parser()`` if None)."""
    p = parser or build_parser()
    args = p.parse_args(argv)
    for flag in ("ae", "vae", "gan"):  # checked now, not after minutes of training
        path = getattr(args, flag, None)
        if path is not None and not os.path.isfile(path):
            p.error(f"--{flag} must be an existing .keras file. Received: --{flag}={path}")
    _common.check_flags(p, args, positive_ints=("latent_dim", "gan_latent_dim", "batch_size", "iw_k",
                                                "extractor_epochs"),
                        non_negative_ints=("gan_long_steps",),
                        non_negative_floats=("kl_weight",))
    if args.verbose != "auto":
        args.verbose = int(args.verbose)
    if args.refine_steps < 0:  # checked before any model trains
        p.error(f"--refine-steps must be >= 0. Received: --refine-steps={args.refine_steps}")
    if not args.reproduce:  # these would be ignored: say so instead of running the full evaluation
        given = {f"--{name.replace('_', '-')}": getattr(args, name) for name in REPRODUCE_FLAGS
                 if getattr(args, name) is not None}
        if given:
            p.error(f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} only with "
                    f"--reproduce. Received: {', '.join(f'{k}={v}' for k, v in given.items())}")
    else:
        given = {f"--{name.replace('_', '-')}": getattr(args, name) for name in EVALUATION_FLAGS
                 if getattr(args, name) != p.get_default(name)}
        if given:
            p.error(f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} only "
                    "without --reproduce (which trains benchmarks/quality.py's own settings). "
                    f"Received: {', '.join(f'{k}={v}' for k, v in given.items())}")
        if args.parts is None:
            args.parts = ",".join(PARTS)
        parts = [part.strip() for part in args.parts.split(",") if part.strip()]
        if not parts or set(parts) - set(PARTS):
            p.error(f"--parts takes a comma-separated subset of ae, vae, gan. "
                    f"Received: --parts={args.parts!r}")
        args.parts = ",".join(dict.fromkeys(parts))
        if args.gan_long_steps is None:
            args.gan_long_steps = GAN_LONG_STEPS
    _common.check_out_dir(p, "--out-dir", args.out_dir)
    return args


# ------------------------------------------------------------------ models
def fit(model, what, args, x, epochs):
    """``model.fit`` with Keras' progress, stopping the run on NaN/Inf."""
    status(f"Training the {what} ({epochs} epochs)")
    history = model.fit(x, epochs=epochs, batch_size=args.batch_size, verbose=args.verbose,
                        callbacks=[_common.nan_callback()])
    _common.stop_if_non_finite(model, history, kept=[args.out_dir])
    return model


def train_ae(args, x_train):
    import keras

    import keras_gen

    encoder = keras_gen.networks.encoder((28, 28, 1), args.latent_dim)
    decoder = keras_gen.networks.decoder(args.latent_dim, (28, 28, 1))
    ae = keras_gen.AutoEncoder(encoder, decoder, reconstruction="mse")
    ae.compile(optimizer=keras.optimizers.Adam(2e-3))
    return fit(ae, "AE", args, x_train, args.ae_epochs)


def train_vae(args, x_train):
    import keras

    import keras_gen

    encoder = keras_gen.networks.encoder((28, 28, 1), args.latent_dim, variational=True)
    decoder = keras_gen.networks.decoder(args.latent_dim, (28, 28, 1), variational=True)
    vae = keras_gen.VAE(encoder, decoder, kl_weight=args.kl_weight, reconstruction="bce",
                        seed=args.seed)
    vae.compile(optimizer=keras.optimizers.Adam(2e-3))
    return fit(vae, "VAE", args, x_train, args.vae_epochs)


def train_gan(args, x_train):
    import keras

    import keras_gen

    shape = (28, 28, 1)
    gan = keras_gen.GAN(keras_gen.networks.dcgan_generator(args.gan_latent_dim, shape),
                        keras_gen.networks.dcgan_discriminator(shape),
                        latent_dim=args.gan_latent_dim, seed=args.seed)
    gan.compile(d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
                g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5))
    return fit(gan, "GAN", args, x_train * 2.0 - 1.0, args.gan_epochs)


IMAGE_SHAPE = (28, 28, 1)  # the digits every model here is trained and scored on
# What --ae, --vae and --gan take.
EXPECTED = {
    "ae": "a saved keras_gen.AutoEncoder for 28x28x1 images",
    "vae": "a saved unconditional keras_gen.VAE for 28x28x1 images",
    "gan": "a saved unconditional keras_gen.GAN, or a generator network, for 28x28x1 images",
}


def load_models(parser, args, x_test):
    """The models of --ae, --vae and --gan (None for a flag not given), checked.

    Each is checked as soon as it loads, before anything trains: a usage
    error (exit 2, through ``parser``) names the flag, the path and what the
    file holds when it does not load, is not the kind the flag asks for (an
    AutoEncoder; an unconditional VAE; an unconditional GAN or a generator
    network from z to images), or does not take or make 28x28x1 images (its
    declared shapes, then two test digits run through it). Returns
    ``(ae, vae, gan)``, ``gan`` as ``(generator, latent_dim)``.
    """
    import numpy as np

    import keras
    import keras_gen
    import keras_gen.saving
    from keras_gen import latent
    from keras_gen.models.base import known_input_shape

    def fail(flag, path, what):
        parser.error(f"--{flag} must be {EXPECTED[flag]}. Received: --{flag}={path}, {what}")

    def read(flag):
        path = getattr(args, flag)
        status(f"Loading {path}")
        try:  # keras_gen.saving.load_model names the path of a missing or damaged file
            return path, keras_gen.saving.load_model(path)
        except Exception as error:  # noqa: BLE001  (Keras raises many kinds for a bad file)
            detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
            fail(flag, path, f"which could not be loaded ({type(error).__name__}: {detail[:300]})")

    def check_images(flag, path, model, run, declared, inputs):
        """``declared``: the input or output image shape the model states, or None;
        ``run``: makes images from ``inputs`` (what it is given, in words)."""
        if declared is not None and tuple(declared) != IMAGE_SHAPE:
            fail(flag, path, f"a {type(model).__name__} for images of shape {tuple(declared)}")
        try:
            made = run()
        except Exception as error:  # noqa: BLE001  (the backend's error for a wrong shape)
            detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
            fail(flag, path, f"a {type(model).__name__} that fails on {inputs} "
                             f"({type(error).__name__}: {detail[:300]})")
        if tuple(made.shape[1:]) != IMAGE_SHAPE:
            fail(flag, path, f"a {type(model).__name__} that makes images of shape "
                             f"{tuple(made.shape[1:])}")

    conditional = (keras_gen.ConditionalVAE, keras_gen.ConditionalGAN)
    probe = x_test[:2]
    models = {}
    for flag, kind in (("ae", keras_gen.AutoEncoder), ("vae", keras_gen.VAE)):
        if getattr(args, flag) is None:
            models[flag] = None
            continue
        path, model = read(flag)
        if not isinstance(model, kind) or isinstance(model, conditional):
            fail(flag, path, f"a {type(model).__name__}")
        shape = known_input_shape(model.encoding_network)
        check_images(flag, path, model, lambda m=model: latent.decode(m, latent.encode(m, probe)),
                     None if shape is None else shape[1:], "28x28x1 images")
        models[flag] = model
    _settle_latent_dim(args, {flag: model for flag, model in models.items() if model is not None},
                       fail)
    gan = None
    if args.gan is not None:
        path, model = read("gan")
        if isinstance(model, keras_gen.GAN) and not isinstance(model, conditional):
            generator, latent_dim = model.generator, model.latent_dim
            declared = getattr(model, "image_shape", None)
        elif isinstance(model, keras.Model) and not isinstance(model, keras_gen.GenerativeModel):
            generator, shape = model, known_input_shape(model)
            if shape is None or len(shape) != 2 or not isinstance(shape[-1], int):
                what = "without a declared input" if shape is None else f"of input shape {shape}"
                fail("gan", path, f"a {type(model).__name__} {what} (a generator takes "
                                  "(batch, latent_dim) codes)")
            latent_dim, declared = shape[-1], None
        else:
            fail("gan", path, f"a {type(model).__name__}")
        z = np.zeros((2, latent_dim), "float32")
        check_images("gan", path, model, lambda: np.asarray(generator.predict(z, verbose=0)),
                     declared, f"codes of latent_dim {latent_dim}")
        gan = generator, int(latent_dim)
    return models["ae"], models["vae"], gan


def _settle_latent_dim(args, loaded, fail):
    """``args.latent_dim``: the width of the loaded AE / VAE (``loaded``, by flag),
    which must agree with each other and with an explicit --latent-dim (the
    comparison has one PCA row of that width and trains any missing model at it)."""
    widths = {flag: int(model.latent_dim) for flag, model in loaded.items()}
    for flag, width in widths.items():
        path, kind = getattr(args, flag), type(loaded[flag]).__name__
        kind = ("an " if kind[0] in "AEIOU" else "a ") + kind
        if args.latent_dim is not None and width != args.latent_dim:
            fail(flag, path, f"{kind} of latent_dim {width} where --latent-dim="
                             f"{args.latent_dim} asks for {args.latent_dim} (leave out "
                             "--latent-dim to use the file's width)")
        others = {other: w for other, w in widths.items() if other != flag and w != width}
        if others:
            (other, w), = others.items()
            fail(flag, path, f"{kind} of latent_dim {width} where --{other}'s has "
                             f"latent_dim {w} (the comparison has one width: give models of one)")
    if args.latent_dim is None:
        args.latent_dim = next(iter(widths.values()), LATENT_DIM)


# ---------------------------------------------------------------- pictures
def scatter(points, labels, path, size=360, margin=14):
    """Draw 2-D points coloured by label (digits 0-9 as a legend on top) with PIL."""
    import numpy as np
    from PIL import Image, ImageDraw

    from keras_gen import images

    image = Image.new("RGB", (size, size + 16), "white")
    draw = ImageDraw.Draw(image)
    lo, hi = points.min(axis=0), points.max(axis=0)
    xy = (points - lo) / np.maximum(hi - lo, 1e-9) * (size - 2 * margin) + margin
    for (px, py), label in zip(xy, labels):
        py = size - py + 16
        draw.ellipse([px - 2, py - 2, px + 2, py + 2], fill=PALETTE[int(label) % 10])
    for digit in range(10):
        draw.text((8 + 34 * digit, 2), str(digit), fill=PALETTE[digit])
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    return images.save_png(np.asarray(image), path, scale=2)


def principal_axes(codes):
    import numpy as np

    centred = codes - codes.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T


def first_of(y, digits):
    import numpy as np

    return np.array([np.flatnonzero(y == d)[0] for d in digits])


# ------------------------------------------------------------------- table
def fmt(value, spec=".4f"):
    return "n/a" if value is None else format(value, spec)


def fmt_kid(value):
    return "n/a" if value is None else f"{value[0]:.3f} ± {value[1]:.3f}"


def pca_codes_scores(x_train, y_train, x_test, y_test, width, seed):
    """Linear-probe accuracy and k-means NMI of PCA codes of the same width."""
    from sklearn.cluster import KMeans
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import normalized_mutual_info_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from keras_gen import latent, metrics

    _, pca = metrics.pca_reconstruction_mse(x_train, x_test, width, return_model=True)
    c_train = pca.transform(x_train.reshape(len(x_train), -1))
    c_test = pca.transform(x_test.reshape(len(x_test), -1))
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    accuracy = probe.fit(c_train, y_train).score(c_test, y_test)
    assignments = KMeans(10, n_init=10, random_state=seed).fit_predict(c_test)
    return float(accuracy), float(normalized_mutual_info_score(y_test, assignments)), \
        latent.purity_score(y_test, assignments)


def reproduce(args, parser):
    """The quality comparisons of benchmarks/quality.py, one table.

    ``--gan-options`` and ``--gan-long-steps`` are checked against quality.py
    first (usage errors through ``parser``), before any data loads.
    """
    import json

    import keras
    import numpy as np

    from keras_gen import images, metrics

    sys.path.insert(0, os.path.join(REPO, "benchmarks"))
    import quality

    parts = args.parts.split(",")
    if args.gan_options is not None:
        try:
            quality.gan_options(args.gan_options)
        except ValueError:
            parser.error(f"--gan-options must be names of benchmarks/quality.py's GAN_OPTIONS "
                         f"joined by '+': {', '.join(sorted(quality.GAN_OPTIONS))}. "
                         f"Received: --gan-options={args.gan_options}")
    if not args.smoke and 0 < args.gan_long_steps < quality.GAN_STEPS:
        parser.error(f"--gan-long-steps must be 0 (skip) or at least the comparison's "
                     f"{quality.GAN_STEPS} steps. Received: --gan-long-steps={args.gan_long_steps}")
    if keras.backend.backend() != "tensorflow":
        raise SystemExit("error: --reproduce trains the TensorFlow DCGAN tutorial as a reference; "
                         f"run it with KERAS_BACKEND=tensorflow. Received: backend="
                         f"{keras.backend.backend()}")
    start = time.perf_counter()
    x_train, _, x_test, _ = quality.digits()
    budgets = {}
    if args.smoke:  # seconds: one seed, a few steps, small widths
        budgets = dict(ae=dict(widths=(2,), seeds=(0,), steps=3, refine_steps=2),
                       vae=dict(latents=(2,), seeds=(0,), steps=3, grid_latent=2),
                       gan=dict(seeds=(0,), steps=3, long_steps=6))
    results, grids = {}, {}
    print(f"Reproducing {', '.join(parts)} on {len(x_train)} training / {len(x_test)} test digits")
    if "ae" in parts:
        results["ae"] = quality.autoencoder_vs_pca(x_train, x_test, **budgets.get("ae", {}))
    if "vae" in parts:
        results["vae"], grids["vae"] = quality.vae_vs_keras_io(x_train, x_test,
                                                               **budgets.get("vae", {}))
    if "gan" in parts:
        import independent_extractors

        extractors = {
            "package": metrics.digits_feature_extractor(
                (28, 28), 1 if args.smoke else args.extractor_epochs, args.seed),
            "independent": independent_extractors.digits_extractor(
                epochs=1 if args.smoke else independent_extractors.DIGITS_EPOCHS,
                num_examples=128 if args.smoke else None),
        }
        gan_budget = budgets.get("gan", {"long_steps": args.gan_long_steps or None})
        results["gan"], grids["gan"] = quality.dcgan_vs_reference(
            x_train, x_test, extractors, options=args.gan_options, **gan_budget)
    text = quality.table(results) + "\n" + quality.seconds_summary(results) + \
        f"; total {time.perf_counter() - start:.0f} s ({keras.backend.backend()}, {os.cpu_count()} CPUs)."
    os.makedirs(args.out_dir, exist_ok=True)
    paths = []
    names = {"vae": ("vae_samples_keras_gen.png", "vae_samples_keras_io.png"),
             "gan": ("dcgan_samples_keras_gen.png", "dcgan_samples_tutorial_paper_adam.png")}
    for part, (ours, ref) in names.items():
        if part in grids:
            for name, key in ((ours, "ours"), (ref, "reference")):
                paths.append(images.save_image_grid(np.clip(grids[part][key], 0.0, 1.0),
                                                    os.path.join(args.out_dir, name), cols=8))
    for name, content in (("quality.json", json.dumps(results, indent=1)), ("quality.md", text)):
        path = os.path.join(args.out_dir, name)
        with open(path + ".tmp", "w") as f:
            f.write(content + "\n")
        os.replace(path + ".tmp", path)
        paths.append(path)
    print("\n" + text)
    for p in paths:
        print(f"  {os.path.relpath(p)}")
    return results, text


def main(argv=None):
    parser = build_parser()
    args = parse_args(argv, parser)
    keras = _common.start(args)
    if args.reproduce:
        return reproduce(args, parser)
    import numpy as np

    from keras_gen import images, latent, metrics
    from keras_gen.data import load_digits

    start = time.perf_counter()

    x_train, y_train = load_digits("train", image_size=28)
    x_test, y_test = load_digits("test", image_size=28)
    if args.smoke:
        args.ae_epochs = args.vae_epochs = args.gan_epochs = args.extractor_epochs = 1
        args.iw_k = min(args.iw_k, 5)
        args.refine_steps = min(args.refine_steps, 3)
        x_train, y_train = x_train[:128], y_train[:128]
        x_test, y_test = x_test[:64], y_test[:64]
    n = len(x_test)
    timings = {}

    def timed(name, fn, *a):
        t = time.perf_counter()
        out = fn(*a)
        timings[name] = time.perf_counter() - t
        return out

    # Every model given is loaded and checked before any other trains.
    ae, vae, gan = load_models(parser, args, x_test)
    print(f"Evaluating on {len(x_train)} training / {n} test digits "
          f"(backend: {keras.backend.backend()}, latent_dim={args.latent_dim})")
    if ae is None:
        ae = timed("train AE", train_ae, args, x_train)
    if vae is None:
        vae = timed("train VAE", train_vae, args, x_train)
    if gan is None:
        gan = timed("train GAN", train_gan, args, x_train).generator, args.gan_latent_dim
    generator, gan_latent_dim = gan

    status(f"Training the FID/KID feature extractor (a digits CNN, {args.extractor_epochs} epochs)")
    extractor = timed("feature extractor", metrics.digits_feature_extractor, (28, 28),
                      args.extractor_epochs, args.seed)
    rng = np.random.default_rng(args.seed)

    def feature_scores(fake):
        f_fake = metrics.extract_features(extractor, fake)
        return (metrics.fid_from_features(f_test, f_fake),
                metrics.kid_from_features(f_test, f_fake, seed=args.seed))

    t = time.perf_counter()
    status("Scoring the real-data floor and PCA")
    f_test = metrics.extract_features(extractor, x_test)
    real = x_train[rng.choice(len(x_train), min(n, len(x_train)), replace=False)]
    rows = {"real train vs test (floor)": {"fid": feature_scores(real)}}

    pca_mse = metrics.pca_reconstruction_mse(x_train, x_test, args.latent_dim)
    probe, nmi, purity = pca_codes_scores(x_train, y_train, x_test, y_test, args.latent_dim, args.seed)
    rows[f"PCA, {args.latent_dim} components"] = {
        "mse": pca_mse, "probe": probe, "nmi": nmi, "purity": purity}

    for name, model in (("AE", ae), ("VAE", vae)):
        status(f"Scoring the {name}: reconstruction, linear probe, k-means, "
               + ("FID/KID" if name == "AE" else f"-ELBO, IW-NLL (k={args.iw_k}), FID/KID"))
        clusters = latent.cluster(model, x_test, 10, labels=y_test, seed=args.seed)
        row = {
            "mse": metrics.reconstruction_mse(model, x_test),
            "pca": pca_mse,
            "probe": latent.linear_probe(model, x_train, y_train, x_test, y_test),
            "nmi": clusters.nmi, "purity": clusters.purity,
        }
        if name == "AE":
            # An AE has no prior (source notes: not for synthesis): sample a Gaussian fitted to its codes.
            codes = latent.encode(ae, x_train)
            z = rng.multivariate_normal(codes.mean(0), np.cov(codes, rowvar=False), n)
            samples_ae = latent.decode(ae, z.astype("float32"))
            row["fid"] = feature_scores(samples_ae)
            rows["AE (z ~ Gaussian fit to codes)"] = row
        else:
            row["neg_elbo"] = metrics.monte_carlo_negative_elbo(vae, x_test, samples=1, seed=args.seed)
            row["iw_nll"] = metrics.importance_weighted_nll(vae, x_test, k=args.iw_k, seed=args.seed)
            samples_vae = vae.sample(n, seed=args.seed)
            row["fid"] = feature_scores(samples_vae)
            rows["VAE (z ~ N(0, I))"] = row
    status("Scoring the GAN: FID/KID")
    z_gan = rng.standard_normal((n, gan_latent_dim)).astype("float32")
    samples_gan = (generator.predict(z_gan, verbose=0) + 1.0) / 2.0
    rows["GAN (z ~ N(0, I))"] = {"fid": feature_scores(samples_gan)}
    timings["metrics"] = time.perf_counter() - t

    header = ("| model | test MSE | PCA MSE, same width | -ELBO (nats) | "
              f"IW-NLL k={args.iw_k} (nats) | FID | KID (mean ± std) | linear probe acc. | k-means NMI / purity |")
    lines = [header, "|" + "---|" * 9]
    for name, r in rows.items():
        fid, kid = r.get("fid", (None, None))
        cluster_cell = "n/a" if r.get("nmi") is None else f"{r['nmi']:.3f} / {r['purity']:.3f}"
        lines.append(
            f"| {name} | {fmt(r.get('mse'))} | {fmt(r.get('pca'))} | {fmt(r.get('neg_elbo'), '.1f')} | "
            f"{fmt(r.get('iw_nll'), '.1f')} | {fmt(fid, '.3f')} | {fmt_kid(kid)} | "
            f"{fmt(r.get('probe'), '.3f')} | {cluster_cell} |")
    table = "\n".join(lines)

    status("Compressing the AE's test codes" + (
        f", then refining them ({args.refine_steps} steps)" if args.refine_steps else ""))
    packed = latent.compress(ae, x_test, code_dtype="float16")
    restored_mse = metrics.reconstruction_mse(ae, x_test)
    half_mse = float(np.mean((latent.decompress(ae, packed) - x_test) ** 2))
    compression = (f"Compression (AE): {int(np.prod(x_test.shape[1:]))} float32 pixels -> "
                   f"{args.latent_dim} float16 codes, ratio {packed.ratio:.0f}:1; test MSE "
                   f"{half_mse:.4f} (float32 codes, ratio {packed.ratio / 2:.0f}:1: {restored_mse:.4f})")
    if args.refine_steps:
        refined = timed("refine", latent.compress, ae, x_test, "float16", None, args.refine_steps)
        refined_mse = float(np.mean((latent.decompress(ae, refined) - x_test) ** 2))
        compression += (f"; codes refined by {args.refine_steps} steps of latent.refine_codes, "
                        f"same ratio: test MSE {refined_mse:.4f}")

    # The numbers first: a picture that cannot be written must not lose them.
    print(f"\nFeature extractor: digits CNN, test accuracy {extractor.test_accuracy:.3f}; "
          f"FID/KID on {n} generated vs the {n} test images.\n")
    print(table)
    print("\n" + compression)

    # Pictures.
    status(f"Drawing pictures in {args.out_dir}")
    os.makedirs(args.out_dir, exist_ok=True)
    paths = []
    starts, ends = first_of(y_test, (0, 1, 2, 3)), first_of(y_test, (6, 7, 8, 9))
    for name, model, method in (("ae", ae, "linear"), ("vae", vae, "linear"), ("vae", vae, "slerp")):
        strip = latent.interpolate(model, x_test[starts], x_test[ends], steps=10, method=method)
        paths.append(images.save_image_grid(
            strip.reshape((-1, 28, 28, 1)), os.path.join(args.out_dir, f"interpolation_{name}_{method}.png"),
            cols=10))
    za, zb = rng.standard_normal((2, 4, gan_latent_dim)).astype("float32")
    path = latent.interpolate_codes(za, zb, steps=10, method="slerp").reshape(-1, gan_latent_dim)
    paths.append(images.save_image_grid(
        generator.predict(path, verbose=0), os.path.join(args.out_dir, "interpolation_gan_slerp.png"),
        cols=10, value_range=(-1, 1)))
    sources = first_of(y_test, (0, 1, 2, 3, 4))
    alphas = np.linspace(0.0, 1.0, 8)
    for name, model in (("ae", ae), ("vae", vae)):
        strips = [latent.alter(model, x_test[i], x_train[y_train == (y_test[i] + 5) % 10], alpha=alphas)
                  for i in sources]
        paths.append(images.save_image_grid(
            np.concatenate(strips), os.path.join(args.out_dir, f"alter_{name}.png"), cols=len(alphas)))
        paths.append(scatter(principal_axes(latent.encode(model, x_test)), y_test,
                             os.path.join(args.out_dir, f"scatter_{name}.png")))
    paths.append(images.save_image_grid(samples_vae[:64], os.path.join(args.out_dir, "samples_vae.png"), cols=8))
    paths.append(images.save_image_grid(samples_gan[:64], os.path.join(args.out_dir, "samples_gan.png"), cols=8))

    seconds = time.perf_counter() - start
    print("\nWall time: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
          + f"; total {seconds:.0f} s.")
    for p in paths:
        print(f"  {os.path.relpath(p)}")
    return rows, table


if __name__ == "__main__":
    main()
