"""keras-gen's default models against PCA and plain reference models.

Three comparisons on the offline digits (scikit-learn's 1797 digits at
28x28, stratified 1437 / 360 train / test split, seed 0), each model
trained for a fixed number of steps of batch 64 from a seed:

* **AE vs PCA**: test reconstruction MSE of `keras_gen.AutoEncoder` with the
  default conv networks against PCA with as many components as the
  bottleneck, widths 2, 4, 8, 16. Target: ratio <= 0.5. Reported twice: with
  the encoder's codes, and with those codes after 100 steps of
  `keras_gen.latent.refine_codes` (gradient descent on the codes through
  the frozen decoder; same code size, costlier encoding).
* **VAE vs keras.io**: test negative ELBO (nats per image, BCE decoder,
  10 posterior samples per image, `keras_gen.metrics.monte_carlo_negative_elbo` for
  both models) of `keras_gen.VAE` with the default conv networks, lambda =
  1/784 (the ELBO for the per-pixel-mean BCE) and `KLWarmup`, against
  `reference_models.keras_io_vae` trained for the same steps, latent sizes
  2, 8, 32, 3 seeds. Target: at least 10 nats lower, and no collapse.
  Collapse test: active units (Burda et al., 2016) are the latent
  dimensions whose posterior mean varies across the test split with
  variance above 0.01; a run has collapsed when fewer than
  min(2, latent_dim) units are active or the KL is under 1 nat per image.
* **DCGAN vs TF tutorial**: FID of 1,000 samples against the 360 test
  digits on `keras_gen.metrics.digits_feature_extractor()` features for
  `keras_gen.GAN` with the default DCGAN networks (Adam 2e-4, beta_1 0.5,
  with and without an exponential moving average of the generator's
  weights) against `reference_models.train_tf_tutorial_dcgan`, 1,500 steps,
  2 seeds. Target: FID at most half the tutorial's, and every digit class
  present in the samples (at least 1% of them, by the extractor's
  classifier).

Run it through `python recipes/evaluate.py --reproduce` (TensorFlow backend:
the DCGAN tutorial is TensorFlow code).
"""

import time

import keras
import numpy as np

import keras_gen
import reference_models
from keras_gen import latent
from keras_gen import losses
from keras_gen import metrics
from keras_gen.data import load_digits

BATCH_SIZE = 64
AE_WIDTHS = (2, 4, 8, 16)
AE_SEEDS = (0, 1)
AE_STEPS = 1500
AE_LEARNING_RATE = 3e-3  # cosine-decayed to 0 over the run
AE_REFINE_STEPS = 100  # keras_gen.latent.refine_codes on the test codes
VAE_LATENTS = (2, 8, 32)
VAE_SEEDS = (0, 1, 2)
VAE_STEPS = 1000
VAE_LEARNING_RATE = 2e-3
VAE_WARMUP_STEPS = 300
VAE_KL_WEIGHT = 1.0 / 784.0
ELBO_SAMPLES = 10
GAN_SEEDS = (0, 1)
GAN_STEPS = 1500
GAN_LATENT_DIM = 64
GAN_EMA_MOMENTUM = 0.99
FID_SAMPLES = 1000
ACTIVE_UNIT_THRESHOLD = 0.01
CLASS_SHARE = 0.01
SHAPE = (28, 28, 1)


def digits():
    x_train, y_train = load_digits("train", image_size=28)
    x_test, y_test = load_digits("test", image_size=28)
    return x_train, y_train, x_test, y_test


def dataset(x, seed, targets=False):
    """The training stream: shuffled each pass, batches of 64, repeated."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(x).shuffle(len(x), seed=seed)
    ds = ds.batch(BATCH_SIZE).repeat()
    if targets:
        ds = ds.map(lambda b: (b, b))
    return ds.prefetch(2)


def fit_steps(model, x, steps, seed, targets=False, callbacks=()):
    """Train `model` for exactly `steps` batches; returns the wall time."""
    start = time.perf_counter()
    model.fit(dataset(x, seed, targets), epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False,
              callbacks=list(callbacks))
    return time.perf_counter() - start


# ---------------------------------------------------------------------- AE
def autoencoder_vs_pca(x_train, x_test, widths=AE_WIDTHS, seeds=AE_SEEDS, steps=AE_STEPS,
                       refine_steps=AE_REFINE_STEPS):
    rows = []
    for width in widths:
        pca = metrics.pca_reconstruction_mse(x_train, x_test, width)
        for seed in seeds:
            keras.utils.set_random_seed(seed)
            ae = keras_gen.AutoEncoder(keras_gen.networks.encoder(SHAPE, width),
                                       keras_gen.networks.decoder(width, SHAPE))
            schedule = keras.optimizers.schedules.CosineDecay(AE_LEARNING_RATE, steps)
            ae.compile(optimizer=keras.optimizers.Adam(schedule))
            seconds = fit_steps(ae, x_train, steps, seed)
            mse = metrics.reconstruction_mse(ae, x_test)
            start = time.perf_counter()
            codes = latent.refine_codes(ae, x_test, steps=refine_steps)
            refine_seconds = time.perf_counter() - start
            refined = float(np.mean(np.square(ae.decode(codes) - x_test)))
            rows.append({"width": width, "seed": seed, "steps": steps, "ae_mse": mse,
                         "pca_mse": pca, "ratio": mse / pca, "seconds": seconds,
                         "pass": mse <= 0.5 * pca, "refine_steps": refine_steps,
                         "refined_mse": refined, "refined_ratio": refined / pca,
                         "refine_seconds": refine_seconds, "refined_pass": refined <= 0.5 * pca})
            print(f"  AE width {width} seed {seed}: MSE {mse:.5f}, PCA {pca:.5f}, "
                  f"ratio {mse / pca:.3f} ({seconds:.0f} s); refined codes {refined:.5f}, "
                  f"ratio {refined / pca:.3f} ({refine_seconds:.0f} s)", flush=True)
    return rows


# --------------------------------------------------------------------- VAE
def keras_gen_vae(latent_dim, seed):
    keras.utils.set_random_seed(seed)
    vae = keras_gen.VAE(keras_gen.networks.encoder(SHAPE, latent_dim, variational=True),
                        keras_gen.networks.decoder(latent_dim, SHAPE, variational=True),
                        kl_weight=VAE_KL_WEIGHT, reconstruction="bce", seed=seed)
    vae.compile(optimizer=keras.optimizers.Adam(VAE_LEARNING_RATE))
    return vae


def as_keras_gen_vae(encoder, decoder):
    """View the keras.io model (mean, log variance) as a keras_gen.VAE (mean, log sigma).

    Only for evaluation: both models' bounds then come from the same code.
    """
    images = keras.Input(SHAPE)
    z_mean, z_log_var = encoder(images)
    z_log_sigma = keras.layers.Rescaling(0.5, name="log_sigma")(z_log_var)
    wrapped = keras.Model(images, [z_mean, z_log_sigma])
    return keras_gen.VAE(wrapped, decoder, kl_weight=VAE_KL_WEIGHT, reconstruction="bce")


def vae_scores(vae, x_test, seed):
    mean, sigma = vae.encode(x_test)
    kl = keras.ops.convert_to_numpy(losses.kl_divergence(mean, np.log(sigma)))
    active = int(np.sum(mean.var(axis=0) > ACTIVE_UNIT_THRESHOLD))
    latent_dim = mean.shape[1]
    collapsed = active < min(2, latent_dim) or float(kl.mean()) < 1.0
    return {
        "neg_elbo": metrics.monte_carlo_negative_elbo(vae, x_test, samples=ELBO_SAMPLES, seed=seed),
        "kl": float(kl.mean()),
        "active_units": active,
        "collapsed": bool(collapsed),
    }


def vae_vs_keras_io(x_train, x_test, latents=VAE_LATENTS, seeds=VAE_SEEDS, steps=VAE_STEPS,
                    grid_latent=8):
    """Returns the rows and 64 prior samples of each model (first seed, `grid_latent`)."""
    rows, grids = [], {}
    for latent_dim in latents:
        for seed in seeds:
            vae = keras_gen_vae(latent_dim, seed)
            ours_s = fit_steps(vae, x_train, steps, seed,
                               callbacks=[keras_gen.callbacks.KLWarmup(VAE_WARMUP_STEPS)])
            ours = vae_scores(vae, x_test, seed)
            encoder, decoder, plain = reference_models.keras_io_vae(latent_dim, seed)
            ref_s = fit_steps(plain, x_train, steps, seed, targets=True)
            ref = vae_scores(as_keras_gen_vae(encoder, decoder), x_test, seed)
            margin = ref["neg_elbo"] - ours["neg_elbo"]
            rows.append({"latent_dim": latent_dim, "seed": seed, "steps": steps,
                         "ours": ours, "reference": ref, "margin": margin,
                         "ours_seconds": ours_s, "reference_seconds": ref_s,
                         "pass": margin >= 10.0 and not ours["collapsed"]})
            print(f"  VAE latent {latent_dim} seed {seed}: -ELBO {ours['neg_elbo']:.1f} vs "
                  f"keras.io {ref['neg_elbo']:.1f} (margin {margin:.1f}); KL {ours['kl']:.1f}, "
                  f"active {ours['active_units']}/{latent_dim} ({ours_s:.0f} + {ref_s:.0f} s)",
                  flush=True)
            if seed == seeds[0] and (latent_dim == grid_latent or not grids):
                z = np.random.default_rng(seed).standard_normal((64, latent_dim)).astype("float32")
                grids = {"ours": vae.decoder.predict(z, verbose=0),
                         "reference": decoder.predict(z, verbose=0)}
    return rows, grids


# --------------------------------------------------------------------- GAN
class _KeepRawWeights(keras.callbacks.Callback):
    """Copy the generator's own weights at the last epoch's end.

    Keras overwrites them with their moving average after that (the
    optimizer's `use_ema`), so both versions can be scored from one run.
    """

    def __init__(self, generator):
        super().__init__()
        self.generator = generator
        self.weights = None

    def on_epoch_end(self, epoch, logs=None):
        self.weights = self.generator.get_weights()


def gan_scores(generator, extractor, f_test, seed, latent_dim):
    z = np.random.default_rng(seed).standard_normal((FID_SAMPLES, latent_dim)).astype("float32")
    samples = (generator.predict(z, batch_size=250, verbose=0) + 1.0) / 2.0
    samples = np.clip(samples, 0.0, 1.0)
    fid = metrics.fid_from_features(f_test, metrics.extract_features(extractor, samples))
    classes = np.argmax(extractor.classifier.predict(samples, batch_size=250, verbose=0), axis=1)
    counts = np.bincount(classes, minlength=10)
    return {"fid": fid, "class_counts": counts.tolist(),
            "all_classes": bool(np.all(counts >= CLASS_SHARE * FID_SAMPLES))}, samples


def dcgan_vs_tutorial(x_train, x_test, extractor, seeds=GAN_SEEDS, steps=GAN_STEPS):
    f_test = metrics.extract_features(extractor, x_test)
    x = x_train * 2.0 - 1.0
    rows, grids = [], {}
    for seed in seeds:
        keras.utils.set_random_seed(seed)
        gan = keras_gen.GAN(keras_gen.networks.dcgan_generator(GAN_LATENT_DIM, SHAPE),
                            keras_gen.networks.dcgan_discriminator(SHAPE),
                            latent_dim=GAN_LATENT_DIM, seed=seed)
        gan.compile(d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
                    g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5, use_ema=True,
                                                      ema_momentum=GAN_EMA_MOMENTUM))
        keep = _KeepRawWeights(gan.generator)
        ours_s = fit_steps(gan, x, steps, seed, callbacks=[keep])
        ema, ema_samples = gan_scores(gan.generator, extractor, f_test, seed, GAN_LATENT_DIM)
        gan.generator.set_weights(keep.weights)
        raw, raw_samples = gan_scores(gan.generator, extractor, f_test, seed, GAN_LATENT_DIM)

        start = time.perf_counter()
        tutorial = reference_models.train_tf_tutorial_dcgan(x, steps, BATCH_SIZE, seed)
        ref_s = time.perf_counter() - start
        ref, ref_samples = gan_scores(tutorial, extractor, f_test, seed,
                                      reference_models.TUTORIAL_NOISE_DIM)
        rows.append({"seed": seed, "steps": steps, "ours_ema": ema, "ours_raw": raw,
                     "reference": ref, "ratio": ema["fid"] / ref["fid"],
                     "ours_seconds": ours_s, "reference_seconds": ref_s,
                     "pass": ema["fid"] <= 0.5 * ref["fid"] and ema["all_classes"]})
        print(f"  DCGAN seed {seed}: FID {ema['fid']:.2f} (EMA) / {raw['fid']:.2f} (raw) vs "
              f"tutorial {ref['fid']:.2f}, ratio {ema['fid'] / ref['fid']:.2f}; classes "
              f"{ema['class_counts']} ({ours_s:.0f} + {ref_s:.0f} s)", flush=True)
        if seed == seeds[0]:
            grids = {"ours": ema_samples[:64], "reference": ref_samples[:64]}
    return rows, grids


# ------------------------------------------------------------------- table
def table(results):
    lines = []
    if "ae" in results:
        lines += ["**AE vs PCA** (test MSE; target ratio <= 0.50; "
                  f"{results['ae'][0]['steps']} steps of {BATCH_SIZE}, Adam 3e-3 cosine-decayed, "
                  f"seeds {', '.join(sorted({str(r['seed']) for r in results['ae']}))}; refined: the encoder's "
                  f"codes after {results['ae'][0]['refine_steps']} steps of latent.refine_codes)", "",
                  "| width | PCA | AE, encoder's codes (per seed) | ratio (worst) | AE, refined codes (per seed) "
                  "| ratio (worst) | pass (encoder / refined) |", "|---|---|---|---|---|---|---|"]
        for width in sorted({r["width"] for r in results["ae"]}):
            rs = [r for r in results["ae"] if r["width"] == width]
            cells = []
            for key in ("", "refined_"):
                cells.append(" / ".join(format(r[f"{key or 'ae_'}mse"], ".5f") for r in rs))
                cells.append(format(max(r[f"{key}ratio"] for r in rs), ".3f"))
            passed = ["yes" if all(r[f"{key}pass"] for r in rs) else "no" for key in ("", "refined_")]
            lines.append(f"| {width} | {rs[0]['pca_mse']:.5f} | {' | '.join(cells)} | {' / '.join(passed)} |")
        lines.append("")
    if "vae" in results:
        lines += [f"**VAE vs keras.io VAE** (test -ELBO, nats per image, {ELBO_SAMPLES} samples; "
                  f"{results['vae'][0]['steps']} steps of {BATCH_SIZE} each, keras-gen with "
                  f"KLWarmup({VAE_WARMUP_STEPS}) and Adam {VAE_LEARNING_RATE:g}; target margin >= 10 and no collapse)", "",
                  "| latent | seed | keras-gen -ELBO | keras.io -ELBO | margin | keras-gen KL / active units "
                  "| keras.io KL / active units | pass |", "|---|---|---|---|---|---|---|---|"]
        for r in results["vae"]:
            o, f = r["ours"], r["reference"]
            lines.append(f"| {r['latent_dim']} | {r['seed']} | {o['neg_elbo']:.1f} | {f['neg_elbo']:.1f} | "
                         f"{r['margin']:.1f} | {o['kl']:.1f} / {o['active_units']} | "
                         f"{f['kl']:.1f} / {f['active_units']} | {'yes' if r['pass'] else 'no'} |")
        lines.append("")
    if "gan" in results:
        lines += [f"**DCGAN vs TF-tutorial DCGAN** (FID of {FID_SAMPLES} samples vs the test split; "
                  f"{results['gan'][0]['steps']} steps of {BATCH_SIZE}; target ratio <= 0.50 with all 10 classes)", "",
                  "| seed | keras-gen (G EMA) | keras-gen (raw G) | tutorial | ratio | "
                  "smallest class share (EMA) | pass |", "|---|---|---|---|---|---|---|"]
        for r in results["gan"]:
            share = min(r["ours_ema"]["class_counts"]) / FID_SAMPLES
            lines.append(f"| {r['seed']} | {r['ours_ema']['fid']:.2f} | {r['ours_raw']['fid']:.2f} | "
                         f"{r['reference']['fid']:.2f} | {r['ratio']:.2f} | {share:.1%} | "
                         f"{'yes' if r['pass'] else 'no'} |")
        lines.append("")
    return "\n".join(lines)


def seconds_summary(results):
    parts = []
    if "ae" in results:
        parts.append(f"AE {sum(r['seconds'] for r in results['ae']):.0f} s "
                     f"(+ refining test codes {sum(r['refine_seconds'] for r in results['ae']):.0f} s)")
    if "vae" in results:
        parts.append(f"VAE {sum(r['ours_seconds'] for r in results['vae']):.0f} s "
                     f"(keras.io {sum(r['reference_seconds'] for r in results['vae']):.0f} s)")
    if "gan" in results:
        parts.append(f"DCGAN {sum(r['ours_seconds'] for r in results['gan']):.0f} s "
                     f"(tutorial {sum(r['reference_seconds'] for r in results['gan']):.0f} s)")
    return "Training wall time: " + ", ".join(parts)

