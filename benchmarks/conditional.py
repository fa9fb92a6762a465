"""Conditional GAN and VAE on the offline digits, against the unconditional defaults.

Trains, from one seed and for the same steps of batch 64 on the 1,437
training digits (28x28 in [0, 1], stratified 80/20 split, seed 0):

* **cGAN**: ``keras_gen.ConditionalGAN(num_classes=10)`` with
  ``networks.conditional_dcgan_generator`` / ``conditional_dcgan_discriminator``
  (projection discriminator), against **GAN**, the default DCGAN
  (``networks.dcgan_generator`` / ``dcgan_discriminator``); both z of 64,
  Adam 2e-4 with beta_1 0.5 (``--d-lr`` / ``--g-lr`` change it for both
  GANs), an EMA of G's weights (momentum 0.99) used for sampling, 1,500
  steps: the settings of the DCGAN benchmark in ``benchmarks/quality.py``.
* **cVAE**: ``keras_gen.ConditionalVAE(num_classes=10)`` with
  ``networks.conditional_encoder(..., variational=True)`` /
  ``conditional_decoder(..., variational=True)``, against **VAE**, the
  default conv VAE; both latent 8, BCE, lambda = 1/784, Adam 2e-3,
  ``KLWarmup(300)``, 1,000 steps: the VAE benchmark's settings.

Scores, on 1,000 samples (100 per class for the conditional models, labels
``i % 10``):

* **class accuracy**: the share of samples that the package's digits
  classifier (``keras_gen.metrics.digits_feature_extractor().classifier``)
  assigns to the requested class (targets: cGAN >= 95%, cVAE >= 90%); for
  the unconditional models, the share of each class among their samples;
* **FID** against the 360 test digits on two extractors: the package's
  (``digits_feature_extractor``) and the independent one
  (``benchmarks/independent_extractors.digits_extractor``). Target: the
  conditional model's FID no worse than its unconditional default's.

Saves 10x10 grids (row = class) of the cGAN and cVAE under ``docs/images/``
and the results as JSON. Usage::

    KERAS_BACKEND=tensorflow python benchmarks/conditional.py            # ~1 hour on 2 busy cores
    KERAS_BACKEND=tensorflow python benchmarks/conditional.py --parts cgan,cvae --gan-steps 20 --vae-steps 20
    KERAS_BACKEND=tensorflow python benchmarks/conditional.py --parts cgan,gan --g-lr 4e-4   # faster G
"""

import argparse
import json
import os
import sys
import time

import keras
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import independent_extractors  # noqa: E402

import keras_gen  # noqa: E402
from keras_gen import images  # noqa: E402
from keras_gen import metrics  # noqa: E402
from keras_gen.data import load_digits  # noqa: E402

BATCH_SIZE = 64
SHAPE = (28, 28, 1)
NUM_CLASSES = 10
GAN_STEPS = 1500
GAN_LATENT_DIM = 64
GAN_EMA_MOMENTUM = 0.99
GAN_LEARNING_RATE = 2e-4  # Adam, beta_1 0.5, both players unless --d-lr / --g-lr
VAE_STEPS = 1000
VAE_LATENT_DIM = 8
VAE_LEARNING_RATE = 2e-3
VAE_WARMUP_STEPS = 300
VAE_KL_WEIGHT = 1.0 / 784.0
SAMPLES = 1000
PARTS = ("cgan", "cvae", "vae", "gan")


def digits():
    x_train, y_train = load_digits("train", image_size=28)
    x_test, y_test = load_digits("test", image_size=28)
    return x_train, np.asarray(y_train, "int32"), x_test, np.asarray(y_test, "int32")


def dataset(x, y, seed):
    """Shuffled each pass, batches of 64, repeated; (images, labels) or images."""
    import tensorflow as tf

    data = (x, y) if y is not None else x
    ds = tf.data.Dataset.from_tensor_slices(data).shuffle(len(x), seed=seed)
    return ds.batch(BATCH_SIZE).repeat().prefetch(2)


def fit_steps(model, x, y, steps, seed, callbacks=()):
    start = time.perf_counter()
    model.fit(dataset(x, y, seed), epochs=1, steps_per_epoch=steps, verbose=0,
              callbacks=list(callbacks))
    return time.perf_counter() - start


def gan_optimizers(d_lr=GAN_LEARNING_RATE, g_lr=GAN_LEARNING_RATE):
    """Adam(beta_1 0.5) for each player, the generator's with an EMA of its weights."""
    return {"d_optimizer": keras.optimizers.Adam(d_lr, beta_1=0.5),
            "g_optimizer": keras.optimizers.Adam(g_lr, beta_1=0.5, use_ema=True,
                                                 ema_momentum=GAN_EMA_MOMENTUM)}


def train(part, x, y, seed, gan_steps, vae_steps, d_lr=GAN_LEARNING_RATE,
          g_lr=GAN_LEARNING_RATE):
    keras.utils.set_random_seed(seed)
    if part in ("cgan", "gan"):
        x = x * 2.0 - 1.0
        if part == "cgan":
            model = keras_gen.ConditionalGAN(
                keras_gen.networks.conditional_dcgan_generator(GAN_LATENT_DIM, SHAPE, NUM_CLASSES),
                keras_gen.networks.conditional_dcgan_discriminator(SHAPE, NUM_CLASSES),
                latent_dim=GAN_LATENT_DIM, num_classes=NUM_CLASSES, seed=seed)
        else:
            model = keras_gen.GAN(keras_gen.networks.dcgan_generator(GAN_LATENT_DIM, SHAPE),
                                  keras_gen.networks.dcgan_discriminator(SHAPE),
                                  latent_dim=GAN_LATENT_DIM, seed=seed)
        model.compile(**gan_optimizers(d_lr, g_lr))
        seconds = fit_steps(model, x, y if part == "cgan" else None, gan_steps, seed)
        return model, seconds, gan_steps
    if part == "cvae":
        model = keras_gen.ConditionalVAE(
            keras_gen.networks.conditional_encoder(SHAPE, VAE_LATENT_DIM, NUM_CLASSES,
                                                   variational=True),
            keras_gen.networks.conditional_decoder(VAE_LATENT_DIM, SHAPE, NUM_CLASSES,
                                                   variational=True),
            num_classes=NUM_CLASSES, kl_weight=VAE_KL_WEIGHT, reconstruction="bce", seed=seed)
    else:
        model = keras_gen.VAE(keras_gen.networks.encoder(SHAPE, VAE_LATENT_DIM, variational=True),
                              keras_gen.networks.decoder(VAE_LATENT_DIM, SHAPE, variational=True),
                              kl_weight=VAE_KL_WEIGHT, reconstruction="bce", seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(VAE_LEARNING_RATE))
    seconds = fit_steps(model, x, y if part == "cvae" else None, vae_steps, seed,
                        callbacks=[keras_gen.callbacks.KLWarmup(VAE_WARMUP_STEPS)])
    return model, seconds, vae_steps


def samples_of(part, model, seed):
    """1,000 samples in [0, 1] and the labels asked for (None when unconditional)."""
    labels = np.arange(SAMPLES) % NUM_CLASSES if part in ("cgan", "cvae") else None
    if labels is None:
        out = model.sample(SAMPLES, seed=seed, batch_size=250)
    else:
        out = model.sample(SAMPLES, labels=labels, seed=seed, batch_size=250)
    if part in ("cgan", "gan"):
        out = (out + 1.0) / 2.0
    return np.clip(out, 0.0, 1.0), labels


def scores(samples, labels, package, independent, f_test):
    predicted = np.argmax(package.classifier.predict(samples, batch_size=250, verbose=0), axis=1)
    counts = np.bincount(predicted, minlength=NUM_CLASSES)
    result = {
        "fid_package": metrics.fid_from_features(
            f_test["package"], metrics.extract_features(package, samples)),
        "fid_independent": metrics.fid_from_features(
            f_test["independent"], metrics.extract_features(independent, samples)),
        "class_counts": counts.tolist(),
    }
    if labels is not None:
        hits = predicted == labels
        result["class_accuracy"] = float(hits.mean())
        result["per_class_accuracy"] = [float(hits[labels == c].mean()) for c in range(NUM_CLASSES)]
        independent_predicted = np.argmax(
            independent.classifier.predict(samples, batch_size=250, verbose=0), axis=1)
        result["class_accuracy_independent"] = float(np.mean(independent_predicted == labels))
    return result


def grid(part, model, seed, out_dir):
    """10 x 10 samples, row = class, column = one z shared down the column."""
    labels = np.repeat(np.arange(NUM_CLASSES), 10)
    z = np.random.default_rng(seed + 1).standard_normal((10, model.latent_dim)).astype("float32")
    out = model.decode(np.tile(z, (NUM_CLASSES, 1)), labels)
    value_range = (-1.0, 1.0) if part == "cgan" else (0.0, 1.0)
    path = os.path.join(out_dir, f"conditional_{part[1:]}_digits.png")
    images.save_png(images.image_grid(out, cols=10, value_range=value_range), path, scale=2)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gan-steps", type=int, default=GAN_STEPS)
    parser.add_argument("--vae-steps", type=int, default=VAE_STEPS)
    parser.add_argument("--d-lr", type=float, default=GAN_LEARNING_RATE,
                        help="Adam learning rate of both GANs' discriminators")
    parser.add_argument("--g-lr", type=float, default=GAN_LEARNING_RATE,
                        help="Adam learning rate of both GANs' generators (4e-4 with the "
                             "default --d-lr: benchmarks/quality.py's ttur_g)")
    parser.add_argument("--images-dir", default=os.path.join(HERE, "..", "docs", "images"))
    parser.add_argument("--output", default="conditional_results.json",
                        help="JSON file the results are written to after each part")
    args = parser.parse_args(argv)
    parts = [p for p in args.parts.split(",") if p]
    for p in parts:
        if p not in PARTS:
            parser.error(f"--parts must list names from {PARTS}. Received: {p!r}")

    x_train, y_train, x_test, _ = digits()
    start = time.perf_counter()
    package = metrics.digits_feature_extractor()
    independent = independent_extractors.digits_extractor()
    print(f"extractors: package test accuracy {package.test_accuracy:.3f}, independent "
          f"{independent.test_accuracy:.3f} ({time.perf_counter() - start:.0f} s)", flush=True)
    f_test = {"package": metrics.extract_features(package, x_test),
              "independent": metrics.extract_features(independent, x_test)}
    results = {"backend": keras.backend.backend(), "seed": args.seed,
               "gan_learning_rates": {"d": args.d_lr, "g": args.g_lr},
               "extractor_test_accuracy": {"package": package.test_accuracy,
                                           "independent": independent.test_accuracy},
               "parts": {}}
    for part in parts:
        model, seconds, steps = train(part, x_train, y_train, args.seed, args.gan_steps,
                                      args.vae_steps, args.d_lr, args.g_lr)
        samples, labels = samples_of(part, model, args.seed)
        result = scores(samples, labels, package, independent, f_test)
        result.update({"steps": steps, "seconds": seconds})
        if labels is not None:
            result["grid"] = grid(part, model, args.seed, args.images_dir)
        results["parts"][part] = result
        accuracy = (f"class accuracy {result['class_accuracy']:.3f} (independent "
                    f"{result['class_accuracy_independent']:.3f}, worst class "
                    f"{min(result['per_class_accuracy']):.2f}), " if labels is not None else "")
        print(f"{part}: {accuracy}FID {result['fid_package']:.3f} (package) / "
              f"{result['fid_independent']:.3f} (independent); classes {result['class_counts']}; "
              f"{steps} steps in {seconds:.0f} s", flush=True)
        with open(args.output, "w") as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main()
