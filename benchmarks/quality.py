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
CLASS_SHARE = 0.04
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
# Training options of keras-gen's DCGAN, by name. Keys: d_lr / g_lr (Adam
# learning rates; different values = two time-scale updates),
# ema (momentum of Keras' use_ema on g_optimizer, None for none),
# normalization / minibatch_std / dropout / spectral_norm (of
# dcgan_discriminator), augment (None, or ("diff" | "ada", policy):
# keras_gen.augment.DiffAugment / AdaptiveAugment with that policy),
# objective and r1_gamma (keras_gen.GAN), g_filters / d_filters (the
# networks' `filters`, None for their automatic widths), lr_decay (None, or
# "linear" / "cosine": both Adam learning rates decay to 0 over the run's
# total steps with keras.optimizers.schedules.PolynomialDecay (power 1) /
# CosineDecay; "linear_half": constant for the first half, then linear to 0;
# the run's steps are passed to keras_gen_dcgan), beta_1 / beta_2 (both
# players' Adam), label_smoothing (keras_gen.GAN's one-sided smoothing),
# consistency (keras_gen.GAN's bCR weight, 0 for none), lecam (keras_gen.GAN's LeCam
# weight, 0 for none), standing (score the EMA generator with its
# BatchNormalization statistics re-estimated for the averaged weights,
# keras_gen.GAN.standing_statistics, as recipes/dcgan_celeba.py saves it),
# g_network (None for dcgan_generator, "tutorial" for tutorial_generator),
# latent_dim (None for GAN_LATENT_DIM).
# "paper" is the DCGAN paper's settings with the paper's networks;
# DEFAULT_GAN_OPTIONS names the one the comparison reports as keras-gen's
# default: recipes/dcgan_celeba.py's defaults for grey images, its 40-dimensional
# z included (the references keep GAN_LATENT_DIM).
PAPER = {"d_lr": 2e-4, "g_lr": 2e-4, "ema": None, "normalization": "batch",
         "minibatch_std": False, "dropout": 0.0, "spectral_norm": False, "augment": None,
         "objective": None, "r1_gamma": None, "g_filters": None, "d_filters": None,
         "reuse_fakes": False, "lr_decay": None, "beta_1": 0.5, "beta_2": 0.999,
         "label_smoothing": 0.0, "g_upsampling": None, "top_k": None, "top_k_steps": 0,
         "d_steps": 1, "consistency": 0.0, "lecam": 0.0, "standing": False, "g_network": None,
         "latent_dim": None, "minibatch_std_group": None}
GAN_OPTIONS = {
    "paper": dict(PAPER),
    "ema": dict(PAPER, ema=GAN_EMA_MOMENTUM),
    "ema995": dict(PAPER, ema=0.995),
    "ema999": dict(PAPER, ema=0.999),
    "ttur": dict(PAPER, d_lr=4e-4, g_lr=1e-4),
    "ttur_g": dict(PAPER, d_lr=2e-4, g_lr=4e-4),
    "nonorm_mbstd": dict(PAPER, normalization=None, minibatch_std=True),
    "layer": dict(PAPER, normalization="layer"),
    "dropout": dict(PAPER, dropout=0.3),
    "diffaug": dict(PAPER, augment=("diff", "color,translation,cutout")),
    "diffaug_tc": dict(PAPER, augment=("diff", "translation,cutout")),
    "diffaug_t": dict(PAPER, augment=("diff", "translation")),
    "ada": dict(PAPER, augment=("ada", "color,translation,cutout")),
    "r1": dict(PAPER, r1_gamma=0.1),
    "r1_1": dict(PAPER, r1_gamma=1.0),
    "sn": dict(PAPER, spectral_norm=True),
    "hinge": dict(PAPER, objective="hinge"),
    # session 8 screen (helper "quality"): smaller R1 weights, spectral norm
    # without BatchNorm, minibatch std alone, faster learning rates, EMA 0.98.
    "r1_005": dict(PAPER, r1_gamma=0.05),
    "r1_02": dict(PAPER, r1_gamma=0.2),
    "sn_nonorm": dict(PAPER, spectral_norm=True, normalization=None),
    "mbstd": dict(PAPER, minibatch_std=True),
    "g8": dict(PAPER, g_lr=8e-4),
    "d4g8": dict(PAPER, d_lr=4e-4, g_lr=8e-4),
    "ema98": dict(PAPER, ema=0.98),
    "g_wide": dict(PAPER, g_filters=(256, 128)),
    "d_wide": dict(PAPER, d_filters=(128, 256)),
    # keras_gen.GAN(reuse_fakes=True): the G step trains on the D step's fakes
    # (combine: "ema+reuse", "ttur_g+ema+reuse").
    "reuse": dict(PAPER, reuse_fakes=True),
    # session 9 screen (helper "quality"), around nonorm_mbstd+g8+ema+d_wide:
    # a faster G (1.2e-3), a still wider D.
    "g12": dict(PAPER, g_lr=1.2e-3),
    "d_wider": dict(PAPER, d_filters=(192, 384)),
    # session 10 (helper "quality"): learning-rate decay to 0 over the run, so
    # that the 1,500-step quality of a fast G / wide D holds to 5,000 steps.
    "decay": dict(PAPER, lr_decay="linear"),
    "cosine": dict(PAPER, lr_decay="cosine"),
    "decay_half": dict(PAPER, lr_decay="linear_half"),
    # session 11 (64x64 RGB, benchmarks/rgb_quality.py): twice the default
    # discriminator widths at 64 px ((32, 64, 128, 256) -> (64, 128, 256, 512)).
    "d_wide64": dict(PAPER, d_filters=(64, 128, 256, 512)),
    # session 12 (digits, seed 1): both players' Adam betas (0, 0.99); one-sided
    # label smoothing of D's real targets (1 -> 0.9, 0.95).
    "beta0": dict(PAPER, beta_1=0.0, beta_2=0.99),
    "ls": dict(PAPER, label_smoothing=0.1),
    "ls05": dict(PAPER, label_smoothing=0.05),
    "resize3": dict(PAPER, g_upsampling=("resize", 3)),
    # session 14 (digits): top-k training (Sinha et al. 2020), G learns from the
    # fakes D rates highest, the share falling from all to half over 1,500 steps
    # (about their 0.99 per epoch to 0.5 at 1,437 images), then held.
    "topk": dict(PAPER, top_k=0.5, top_k_steps=1500),
    "d1": dict(PAPER, d_lr=1e-4),
    "d2": dict(PAPER, d_steps=2),
    # session 17 (digits, 5,000 steps): adaptive augmentation (keras_gen.augment.
    # AdaptiveAugment, p steered by sign(D(real)) towards 0.6) against the late drift.
    "ada_tc": dict(PAPER, augment=("ada", "translation,cutout")),
    # Balanced consistency regularization (keras_gen.GAN's consistency=),
    # translation by up to 1/8; the paper's lambda 10, and a lighter one.
    "bcr": dict(PAPER, consistency=10.0),
    "bcr1": dict(PAPER, consistency=1.0),
    # Relativistic average GAN (keras_gen.GAN(objective="relativistic")).
    "ragan": dict(PAPER, objective="relativistic"),
    # LeCam regularization (keras_gen.GAN(lecam=...)) at weights 0.3, 0.1, 0.03.
    "lecam": dict(PAPER, lecam=0.3),
    "lecam01": dict(PAPER, lecam=0.1),
    "lecam003": dict(PAPER, lecam=0.03),
    "standing": dict(PAPER, standing=True),
    # session 22 (digits): G's transposed convolutions 5x5 (the TF tutorial's
    # size) instead of 4x4; both players' Adam beta_2 0.99; the TF tutorial's
    # generator (reference_models.tf_tutorial_dcgan, fed the run's latent size)
    # in place of dcgan_generator.
    "g_k5": dict(PAPER, g_upsampling=("transpose", 5)),
    "b2_99": dict(PAPER, beta_2=0.99),
    "g_tut": dict(PAPER, g_network="tutorial"),
    "z16": dict(PAPER, latent_dim=16),
    "z32": dict(PAPER, latent_dim=32),
    "z40": dict(PAPER, latent_dim=40),
    "z48": dict(PAPER, latent_dim=48),
    "z100": dict(PAPER, latent_dim=100),
    # session 27 (64x64 RGB, benchmarks/rgb_quality.py): z of 64; G twice the
    # default widths at 64 px ((256, 128, 64, 32) -> (512, 256, 128, 64)).
    "z64": dict(PAPER, latent_dim=64),
    "g_wide64": dict(PAPER, g_filters=(512, 256, 128, 64)),
    # session 29 (64x64 RGB): Adam's beta_1 0 alone (beta_2 kept at 0.999); `beta0`
    # sets both (0, 0.99), `b2_99` beta_2 alone.
    "beta1_0": dict(PAPER, beta_1=0.0),
    # session 31 (64x64 RGB): the minibatch standard deviation per group of 4 images
    # (StyleGAN's form; dcgan_discriminator(minibatch_std_group=4)), with `mbstd`.
    "mbstd4": dict(PAPER, minibatch_std_group=4),
}
DEFAULT_GAN_OPTIONS = "nonorm_mbstd+g8+ema+d_wide+ada_tc+lecam01+standing+z40"


def gan_options(name):
    """The option dict of `GAN_OPTIONS[name]`; `a+b` merges entries left to right."""
    options = dict(PAPER)
    for part in name.split("+"):
        if part not in GAN_OPTIONS:
            raise ValueError(f"name must be made of {sorted(GAN_OPTIONS)} joined by '+'. "
                             f"Received: name={name!r}")
        options.update({k: v for k, v in GAN_OPTIONS[part].items() if v != PAPER[k]})
    return options


@keras.saving.register_keras_serializable(package="keras_gen_benchmarks")
class HoldThenLinear(keras.optimizers.schedules.LearningRateSchedule):
    """`initial` for the first `hold_steps`, then linear to 0 at `total_steps`."""

    def __init__(self, initial, hold_steps, total_steps):
        self.initial, self.hold_steps, self.total_steps = initial, hold_steps, total_steps

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        span = max(self.total_steps - self.hold_steps, 1)
        left = keras.ops.clip((self.total_steps - step) / span, 0.0, 1.0)
        return self.initial * left

    def get_config(self):
        return {"initial": self.initial, "hold_steps": self.hold_steps,
                "total_steps": self.total_steps}


def learning_rate(value, decay, total_steps):
    """`value`, or a schedule from it that reaches 0 at `total_steps` (see GAN_OPTIONS)."""
    if decay is None:
        return value
    if not isinstance(total_steps, int) or total_steps < 1:
        raise ValueError("total_steps must be a positive int when the options decay the "
                         f"learning rate. Received: total_steps={total_steps!r}")
    if decay == "linear":
        return keras.optimizers.schedules.PolynomialDecay(value, total_steps, end_learning_rate=0.0,
                                                          power=1.0)
    if decay == "cosine":
        return keras.optimizers.schedules.CosineDecay(value, total_steps, alpha=0.0)
    if decay == "linear_half":
        return HoldThenLinear(value, total_steps // 2, total_steps)
    raise ValueError("lr_decay must be None, 'linear', 'cosine' or 'linear_half'. "
                     f"Received: lr_decay={decay!r}")


def tutorial_generator(latent_dim, shape, seed):
    """The TF tutorial's generator (`reference_models.tf_tutorial_dcgan`) taking `latent_dim` codes."""
    tutorial, _ = reference_models.tf_tutorial_dcgan(seed, shape)
    layers = [keras.Input((latent_dim,))]
    layers += [layer.__class__.from_config(layer.get_config()) for layer in tutorial.layers]
    return keras.Sequential(layers, name="tutorial_generator")


def keras_gen_dcgan(options, seed, shape=SHAPE, latent_dim=GAN_LATENT_DIM, total_steps=None):
    """keras_gen.GAN with the default DCGAN networks and `options`, compiled.

    `total_steps`: the generator steps of the run; needed when
    `options["lr_decay"]` is set (with one D step per G step, both
    optimizers' `iterations` count G steps).
    """
    keras.utils.set_random_seed(seed)
    d_kwargs = {"normalization": options["normalization"],
                "minibatch_std": options["minibatch_std"], "dropout": options["dropout"]}
    if options.get("d_filters") is not None:
        d_kwargs["filters"] = options["d_filters"]
    if options.get("minibatch_std_group") is not None:
        d_kwargs["minibatch_std_group"] = options["minibatch_std_group"]
    g_kwargs = {} if options.get("g_filters") is None else {"filters": options["g_filters"]}
    if options.get("g_upsampling") is not None:
        g_kwargs["upsampling"], g_kwargs["kernel_size"] = options["g_upsampling"]
    if options["spectral_norm"]:
        d_kwargs["spectral_norm"] = True
    gan_kwargs = {}
    if options["augment"] is not None:
        from keras_gen import augment as augment_module

        kind, policy = options["augment"]
        layer = augment_module.AdaptiveAugment if kind == "ada" else augment_module.DiffAugment
        gan_kwargs["augment"] = layer(policy, seed=seed)
    if options["objective"] is not None:
        gan_kwargs["objective"] = options["objective"]
    if options["r1_gamma"] is not None:
        gan_kwargs["r1_gamma"] = options["r1_gamma"]
    if options.get("reuse_fakes"):
        gan_kwargs["reuse_fakes"] = True
    if options["label_smoothing"]:
        gan_kwargs["label_smoothing"] = options["label_smoothing"]
    if options.get("d_steps", 1) != 1:
        gan_kwargs["d_steps"] = options["d_steps"]
    if options.get("consistency"):
        gan_kwargs["consistency"] = options["consistency"]
    if options.get("lecam"):
        gan_kwargs["lecam"] = options["lecam"]
    if options.get("top_k") is not None:
        gan_kwargs["top_k"], gan_kwargs["top_k_steps"] = options["top_k"], options["top_k_steps"]
    if options.get("g_network") == "tutorial":
        if g_kwargs:
            raise ValueError(f"g_filters / g_upsampling do not apply to the tutorial's generator "
                             f"(g_network='tutorial'). Received: {g_kwargs}")
        generator = tutorial_generator(latent_dim, shape, seed)
    else:
        generator = keras_gen.networks.dcgan_generator(latent_dim, shape, **g_kwargs)
    gan = keras_gen.GAN(generator, keras_gen.networks.dcgan_discriminator(shape, **d_kwargs),
                        latent_dim=latent_dim, seed=seed, **gan_kwargs)
    ema = {} if options["ema"] is None else {"use_ema": True, "ema_momentum": options["ema"]}
    decay = options.get("lr_decay")
    d_steps = gan.d_steps
    betas = {"beta_1": options["beta_1"], "beta_2": options["beta_2"]}
    gan.compile(d_optimizer=keras.optimizers.Adam(
                    learning_rate(options["d_lr"], decay, total_steps and total_steps * d_steps),
                    **betas),
                g_optimizer=keras.optimizers.Adam(
                    learning_rate(options["g_lr"], decay, total_steps), **betas, **ema))
    return gan


class _Checkpoints(keras.callbacks.Callback):
    """Score the generator at chosen step counts (its EMA weights when it has them).

    `score(generator, step)` is called with the moving average swapped in
    (Keras' optimizer EMA; with `standing`, also its BatchNormalization
    statistics re-estimated for it) and the raw weights restored after; at the last
    epoch the raw weights are kept in `raw_weights` (Keras then overwrites
    the generator with the average).
    """

    def __init__(self, gan, steps_per_epoch, at, score, standing=False):
        super().__init__()
        self.gan, self.steps_per_epoch, self.at, self.score = gan, steps_per_epoch, set(at), score
        self.standing = standing
        self.raw_weights = None
        self.results = {}
        self.scoring_seconds = 0.0

    def on_epoch_end(self, epoch, logs=None):
        step = (epoch + 1) * self.steps_per_epoch
        generator = self.gan.generator
        self.raw_weights = generator.get_weights()
        if step not in self.at:
            return
        start = time.perf_counter()
        optimizer = self.gan.g_optimizer
        if getattr(optimizer, "use_ema", False):
            optimizer.finalize_variable_values(generator.trainable_variables)
            if self.standing:
                self.gan.standing_statistics()
        self.results[step] = self.score(generator, step)
        generator.set_weights(self.raw_weights)
        self.scoring_seconds += time.perf_counter() - start
        print(f"    step {step}: " + "; ".join(
            f"{n} FID {r['fid']:.2f}, min class {min(r['class_counts'])}"
            for n, r in self.results[step].items())
            + "".join(f"; {k} {float(logs[k]):.3f}" for k in ("augment_p", "d_real")
                      if k in (logs or {})), flush=True)


def sample_digits(generator, seed, latent_dim):
    z = np.random.default_rng(seed).standard_normal((FID_SAMPLES, latent_dim)).astype("float32")
    samples = (generator.predict(z, batch_size=250, verbose=0) + 1.0) / 2.0
    return np.clip(samples, 0.0, 1.0)


def digit_scores(samples, extractors, f_tests, seed):
    """FID, KID and class counts of `samples` on each named extractor."""
    out = {}
    for name, extractor in extractors.items():
        f = metrics.extract_features(extractor, samples)
        kid = metrics.kid_from_features(f_tests[name], f, seed=seed)
        classes = np.argmax(extractor.classifier.predict(samples, batch_size=250, verbose=0), axis=1)
        counts = np.bincount(classes, minlength=10)
        out[name] = {"fid": metrics.fid_from_features(f_tests[name], f),
                     "kid": [float(kid[0]), float(kid[1])], "class_counts": counts.tolist(),
                     "all_classes": bool(np.all(counts >= CLASS_SHARE * FID_SAMPLES))}
    return out


def train_options(x, options, seed, steps, extractors, f_tests, at=None, chunk=100):
    """Train keras-gen's DCGAN with `options`; score at the steps in `at` (default: the end).

    Returns `(scores_by_step, seconds, samples, raw_scores_at_the_end)`:
    seconds of training (scoring left out), the samples of the first
    checkpoint; the raw scores (the generator's own weights, not their
    moving average) are None without EMA.
    """
    at = sorted(set(at or ()) | {steps})
    chunk = int(np.gcd.reduce([chunk] + list(at)))
    latent_dim = options.get("latent_dim") or GAN_LATENT_DIM
    gan = keras_gen_dcgan(options, seed, latent_dim=latent_dim, total_steps=steps)
    last = {}

    def score(generator, step):
        samples = sample_digits(generator, seed, latent_dim)
        last.setdefault("samples", samples)  # the first checkpoint's
        return digit_scores(samples, extractors, f_tests, seed)

    keep = _Checkpoints(gan, chunk, at, score, standing=options["standing"])
    start = time.perf_counter()
    gan.fit(dataset(x, seed), epochs=steps // chunk, steps_per_epoch=chunk, verbose=0,
            shuffle=False, callbacks=[keep])
    seconds = time.perf_counter() - start - keep.scoring_seconds
    raw = None
    if options["ema"] is not None:
        gan.generator.set_weights(keep.raw_weights)
        raw = digit_scores(sample_digits(gan.generator, seed, latent_dim), extractors,
                           f_tests, seed)
    return keep.results, seconds, last["samples"], raw


def digit_extractors(epochs=20, seed=0):
    """The package's digits extractor and the independent one, by name."""
    import independent_extractors

    return {"package": metrics.digits_feature_extractor((28, 28), epochs, seed),
            "independent": independent_extractors.digits_extractor()}


def dcgan_vs_reference(x_train, x_test, extractors, seeds=GAN_SEEDS, steps=GAN_STEPS,
                       options=None, tutorial=True, long_steps=None):
    """keras-gen's DCGAN (`options`) against the tutorial DCGAN, paper and tutorial Adam.

    Each is trained `steps` steps of 64 from each seed and scored on 1,000
    samples against the test digits with every extractor of `extractors`
    (name -> extractor with `.classifier`). `options`: a name for
    `gan_options`, None for `DEFAULT_GAN_OPTIONS`. The tutorial's own Adam(1e-4) is
    trained too when `tutorial`. With `long_steps`, keras-gen's run of the
    first seed goes on to `long_steps` and is scored at `steps` and at the
    end (no late collapse: FID at the end no worse than at `steps`).
    """
    options = options or DEFAULT_GAN_OPTIONS
    f_tests = {name: metrics.extract_features(e, x_test) for name, e in extractors.items()}
    x = x_train * 2.0 - 1.0
    opts = gan_options(options)
    rows, grids = [], {}
    for seed in seeds:
        run_steps = long_steps if (long_steps and seed == seeds[0]) else steps
        at = sorted({steps, run_steps} | set(range(steps, run_steps + 1, 1000)) - {0})
        by_step, ours_s, samples, raw = train_options(x, opts, seed, run_steps, extractors,
                                                      f_tests, at=at)
        row = {"seed": seed, "steps": steps, "options": options, "ours": by_step[steps],
               "ours_raw": raw if run_steps == steps else None, "ours_seconds": ours_s,
               "ours_steps_trained": run_steps}
        if run_steps != steps:
            row["long"] = {str(k): v for k, v in by_step.items()}
        refs = {"paper": None, "tutorial": None} if tutorial else {"paper": None}
        for optimizer in refs:
            start = time.perf_counter()
            generator = reference_models.train_tf_tutorial_dcgan(x, steps, BATCH_SIZE, seed,
                                                                 optimizer=optimizer)
            ref_samples = sample_digits(generator, seed, reference_models.TUTORIAL_NOISE_DIM)
            refs[optimizer] = digit_scores(ref_samples, extractors, f_tests, seed)
            row[f"{optimizer}_seconds"] = time.perf_counter() - start
            if seed == seeds[0] and optimizer == "paper":
                grids["reference"] = ref_samples[:64]
        row["reference"] = refs
        ours = by_step[steps]
        row["ratio"] = {name: ours[name]["fid"] / refs["paper"][name]["fid"] for name in extractors}
        row["pass"] = all(row["ratio"][n] <= 0.5 and ours[n]["all_classes"] for n in extractors)
        if run_steps != steps:
            row["no_late_collapse"] = all(by_step[run_steps][n]["fid"] <= by_step[steps][n]["fid"]
                                          for n in extractors)
        rows.append(row)
        print(f"  DCGAN ({options}) seed {seed}: " + "; ".join(
            f"{n}: FID {ours[n]['fid']:.2f} vs paper {refs['paper'][n]['fid']:.2f}"
            f" (ratio {row['ratio'][n]:.2f})" for n in extractors)
            + f" ({ours_s:.0f} + {row['paper_seconds']:.0f} s)", flush=True)
        if seed == seeds[0]:
            grids["ours"] = samples[:64]
    return rows, grids


def dcgan_vs_tutorial(x_train, x_test, extractor, seeds=GAN_SEEDS, steps=GAN_STEPS):
    """The earlier comparison: one extractor; see `dcgan_vs_reference`."""
    return dcgan_vs_reference(x_train, x_test, {"package": extractor}, seeds, steps)


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
        rows = results["gan"]
        names = list(rows[0]["ours"])
        lines += [f"**DCGAN vs the tutorial DCGAN** (keras-gen options `{rows[0]['options']}`; "
                  f"FID / KID x 1000 of {FID_SAMPLES} samples vs the test split; "
                  f"{rows[0]['steps']} steps of {BATCH_SIZE}; reference: the tutorial's networks "
                  "with the DCGAN paper's Adam(2e-4, beta_1 0.5), the stronger; tutorial: its own "
                  "Adam(1e-4); target: keras-gen FID <= 0.50 x the paper reference's on every "
                  f"extractor, each class >= {CLASS_SHARE:.0%} of the samples)", "",
                  "| seed | extractor | keras-gen FID | KID | reference (paper Adam) FID | KID | "
                  "tutorial Adam FID | ratio to reference | smallest class share | pass |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            for n in names:
                o, p = r["ours"][n], r["reference"]["paper"][n]
                t = r["reference"].get("tutorial")
                ok = r["ratio"][n] <= 0.5 and o["all_classes"]
                lines.append(
                    f"| {r['seed']} | {n} | {o['fid']:.2f} | {1000 * o['kid'][0]:.1f} | "
                    f"{p['fid']:.2f} | {1000 * p['kid'][0]:.1f} | "
                    f"{'n/a' if t is None else format(t[n]['fid'], '.2f')} | {r['ratio'][n]:.2f} | "
                    f"{min(o['class_counts']) / FID_SAMPLES:.1%} | {'yes' if ok else 'no'} |")
        for r in rows:
            if "long" in r:
                steps = sorted(r["long"], key=int)
                lines += ["", f"Longer run (seed {r['seed']}, same options): FID by step, "
                          + "; ".join(f"{n}: " + ", ".join(f"{s} -> {r['long'][s][n]['fid']:.2f}"
                                                            for s in steps) for n in names)
                          + f"; no late collapse: {'yes' if r['no_late_collapse'] else 'no'}"]
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
        rows = results["gan"]
        parts.append(f"DCGAN {sum(r['ours_seconds'] for r in rows):.0f} s for "
                     f"{sum(r['ours_steps_trained'] for r in rows)} steps (paper-Adam reference "
                     f"{sum(r['paper_seconds'] for r in rows):.0f} s, tutorial "
                     f"{sum(r.get('tutorial_seconds', 0) for r in rows):.0f} s)")
    return "Training wall time: " + ", ".join(parts)



def screen(names, seeds, steps, at, reference, out):
    """Train keras-gen's DCGAN with each option set of `names`; print and save the scores."""
    import json

    x_train, _, x_test, _ = digits()
    extractors = digit_extractors()
    f_tests = {n: metrics.extract_features(e, x_test) for n, e in extractors.items()}
    x = x_train * 2.0 - 1.0
    for seed in seeds:
        if reference:
            start = time.perf_counter()
            generator = reference_models.train_tf_tutorial_dcgan(x, steps, BATCH_SIZE, seed,
                                                                 optimizer=reference)
            seconds = time.perf_counter() - start
            r = digit_scores(sample_digits(generator, seed, reference_models.TUTORIAL_NOISE_DIM),
                             extractors, f_tests, seed)
            record = {"name": f"reference_{reference}", "seed": seed, "steps": steps,
                      "seconds": seconds, "scores": {str(steps): r}}
            print(json.dumps(record), flush=True)
            if out:
                with open(out, "a") as f:
                    f.write(json.dumps(record) + "\n")
        for name in names:
            by_step, seconds, _, raw = train_options(x, gan_options(name), seed, steps,
                                                     extractors, f_tests, at=at)
            record = {"name": name, "seed": seed, "steps": steps, "seconds": seconds,
                      "scores": {str(k): v for k, v in by_step.items()}, "raw": raw}
            print(json.dumps(record), flush=True)
            if out:
                with open(out, "a") as f:
                    f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Screen DCGAN training options on the digits "
                                                 "(both extractors); KERAS_BACKEND=tensorflow.")
    parser.add_argument("names", nargs="*", default=[DEFAULT_GAN_OPTIONS],
                        help=f"option sets, from {sorted(GAN_OPTIONS)} (a+b combines)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--steps", type=int, default=GAN_STEPS)
    parser.add_argument("--at", type=int, nargs="*", default=[], help="also score at these steps")
    parser.add_argument("--reference", choices=("paper", "tutorial"), default=None,
                        help="also train the tutorial DCGAN with these Adam settings")
    parser.add_argument("--out", default=None, help="append JSON lines here")
    a = parser.parse_args()
    screen(a.names, a.seeds, a.steps, a.at, a.reference, a.out)
