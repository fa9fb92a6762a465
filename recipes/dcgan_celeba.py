"""DCGAN on CelebA 64x64 (or the offline shapes or digits), with checkpoint and resume.

What a reader of the keras.io DCGAN example expects, on any backend:

    python recipes/dcgan_celeba.py                              # CelebA through TFDS
    python recipes/dcgan_celeba.py --data-dir ~/img_align_celeba  # a folder of images
    python recipes/dcgan_celeba.py --dataset shapes               # offline, 64x64 RGB
    python recipes/dcgan_celeba.py --dataset digits --epochs 40   # offline, 28x28 gray
    python recipes/dcgan_celeba.py --dataset shapes --resume-from saved_models/dcgan_shapes.keras --epochs 5

CelebA images are center-cropped to 140x140 and resized to --image-size;
"shapes" is keras_gen's procedural 64x64 RGB dataset of coloured shapes
with CelebA-style attributes (keras_gen.data.load("shapes"), no download).
Images are scaled to [-1, 1]; the generator and discriminator are
keras_gen.networks' DCGAN builders (Radford et al. 2015), trained with
Adam(beta_1=0.5), a discriminator without normalization and with the
minibatch standard deviation channel (over the whole batch; --minibatch-std-group
N takes it per group of N images, as in StyleGAN), D's Adam at 2e-4 and an EMA (0.99) of
G's weights, and the LeCam regularizer (--lecam 0.1). Colour images (shapes,
celeb_a, cifar10, folders), on which the DCGAN paper's BatchNorm
discriminator wins within the first steps, get G's Adam at 4e-4; grey
images (digits, mnist, fashion_mnist, folders with
--channels 1) get G's Adam at 8e-4, a discriminator twice the builder's
width (--d-width 2), adaptive augmentation of what it sees (--augment ada
--augment-policy translation,cutout: ADA, whose strength grows only while the
discriminator overfits the small data). Both take a 40-dimensional z
(--latent-dim 40) instead of the paper's 100.
Every one of these can be set by its flag (--d-normalization batch
--no-minibatch-std --d-width 1 --g-learning-rate 2e-4 --ema 0 --augment none
--lecam 0 gives the paper's settings). --upsampling resize makes the generator upsample by
resize-convolution (nearest-neighbour upsampling, then a 3x3 convolution)
instead of the paper's 4x4 transposed convolutions. Each epoch writes a
sample grid decoded from a fixed latent batch to --out-dir.

Training options: --objective (standard, hinge, wgan-gp, relativistic),
--r1-gamma (R1 penalty), --consistency (bCR consistency regularization),
--lecam (the LeCam regularizer),
--augment diffaugment|ada with --augment-policy (keras_gen.augment),
--spectral-norm, --d-normalization and --minibatch-std (the discriminator),
--upsampling (the generator's), --d-learning-rate / --g-learning-rate (two
time-scale updates) and --ema (a moving average of G's weights, Keras' use_ema: the grids during training
show G's own weights; the generator file and the export hold the average,
with its BatchNormalization statistics re-estimated for it (GAN.standing_statistics),
the whole-GAN file G's own weights, which a continued run trains on).

Saving and continuing. At the end the whole GAN (both networks, both
optimizers' states, the latent SeedGenerator's state, and the number of
epochs trained) is saved to --model-path (default
saved_models/dcgan_<dataset>.keras), and the generator alone to
--generator-path (default saved_models/dcgan_<dataset>_generator.keras),
which is also exported for mobile to --export-dir (SavedModel and TFLite
fp32/fp16/int8 with JSON manifests; skip with --no-export). Both files are
written atomically and never with NaN/Inf weights.

--resume-from PATH --epochs N continues a finished run from its --model-path
file for N more epochs: the same weights, Adam steps and moments, step
counter and latent stream, the data stream where the saved run left it, and
sample grids numbered on from the saved run's last epoch. Networks and shapes
come from the command line (pass the same --dataset, --image-size,
--latent-dim, --d-normalization, --minibatch-std, --minibatch-std-group, --d-width, --upsampling,
--augment and --augment-policy as the saved run, and --ema, --consistency and
--lecam on or off as it was: a file that does not fit is an error naming the
options that differ);
hyperparameters such as --learning-rate and --d-steps also come from the
command line. A missing file, one that is not a whole keras_gen GAN (the
generator alone cannot resume), or one of other image shape, latent_dim,
discriminator options or EMA setting exits with status 2 and a message
naming the file and what differs. A continued run matches the run that
trains all its epochs at once (bit for bit in the tests, on
TensorFlow, JAX and PyTorch; on TensorFlow, --deterministic keeps it so
whatever the machine's load) when the steps per epoch are known
(--steps-per-epoch, or a dataset whose size is known, such as shapes,
digits and TFDS datasets). Skipping the batches the saved run trained on
takes a moment before the first step (shapes renders them again).

Interruptions. Training state (weights, both optimizers, step count) is
backed up to --checkpoint-dir every epoch and deleted when the run
succeeds; an interrupted run (Ctrl-C, kill -9) resumes where it stopped
when started again with the same arguments. A backup in --checkpoint-dir
wins over --resume-from: it is the later state of an interrupted run with
these arguments (for instance an interrupted continuation, which then ends
at the --resume-from file's epochs + N as first asked); the --resume-from
file is still checked. Delete --checkpoint-dir to start from the file.

Default output paths are relative to the current working directory.
--steps-per-epoch may ask for more batches than one pass over the data
holds: the data then repeats (reshuffled), so --epochs E --steps-per-epoch S
trains exactly E * S generator steps. If the losses or weights become
NaN/Inf, training stops and the recipe exits with an error without saving
or exporting (the last good backup, grid, model files and export stay as
they were).

Several processes (one host or several; any backend): start the recipe once
per process with --distribute, --batch-size being the global batch:

    torchrun --nproc-per-node 2 recipes/dcgan_celeba.py --dataset digits --distribute

Every process reads the same data (the engine gives each its share) and
restores from --checkpoint-dir, which must be a folder every process reads
(one host, or a shared filesystem); only process 0 writes the sample grids,
the backups, the model files and the export. If a process dies, end the
others (torchrun does; with --watchdog SECONDS they end themselves) and start
all of them again with the same arguments: they resume from the last backup.

If CelebA cannot be downloaded (no network, or Google Drive quota), the
error says how to supply it by hand; --data-dir then reads the unpacked
img_align_celeba folder, and --dataset shapes trains offline.
"""

import argparse
import contextlib
import math
import os
import sys
import time
import warnings
import zipfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from recipes import _common  # noqa: E402  (argparse and os only: --help stays fast)

DATASETS = ("celeb_a", "shapes", "digits", "mnist", "fashion_mnist", "cifar10")
GREY_DATASETS = ("digits", "mnist", "fashion_mnist")
# Defaults that differ between colour and grey images (README, "The DCGAN at
# 64x64x3" and "Quality against reference models"): on colour images the
# paper's BatchNorm discriminator wins within the first steps and the
# generator draws one noise texture, so colour runs default to a
# discriminator without normalization and with the minibatch standard
# deviation channel (over the whole batch: groups of 4 measured no better on
# shapes), a generator learning twice as fast as the discriminator,
# an EMA of the generator's weights and the LeCam regularizer at 0.1. Grey
# images (the digits) get the same discriminator at twice the builder's
# widths and a generator learning four times as fast, with adaptive
# augmentation (ADA: translation and cutout) against the drift of long runs
# on small data. Both take a 40-dimensional z instead of the paper's 100
# (measured against the paper's settings and the tutorial DCGAN in README). The
# colour policy is --augment-policy's default there for when --augment is given.
COLOUR_DEFAULTS = {"d_normalization": "none", "minibatch_std": True, "minibatch_std_group": 0,
                   "g_learning_rate_factor": 2.0,
                   "ema": 0.99, "d_width": 1, "augment": "none",
                   "augment_policy": "color,translation,cutout", "lecam": 0.1, "latent_dim": 40}
GREY_DEFAULTS = {"d_normalization": "none", "minibatch_std": True, "minibatch_std_group": 0,
                 "g_learning_rate_factor": 4.0,
                 "ema": 0.99, "d_width": 2, "augment": "ada", "augment_policy": "translation,cutout",
                 "lecam": 0.1, "latent_dim": 40}
# keras_gen.augment.POLICIES, here so that --augment-policy is checked before
# Keras is imported.
AUGMENT_TRANSFORMS = ("color", "translation", "cutout")
# The generator's kernel size per --upsampling: the paper's 4x4 transposed
# convolutions (divisible by the stride), 3x3 convolutions after a resize.
UPSAMPLING_KERNEL = {"transpose": 4, "resize": 3}
# The penalty weights float32 holds as normal numbers (its largest value and
# its smallest normal one; TensorFlow flushes smaller ones to 0), checked
# before Keras is imported.
FLOAT32_MAX, FLOAT32_TINY = 3.4028234663852886e38, 1.1754943508222875e-38


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=_common.HelpFormatter,
                                epilog=_common.OUTPUTS_NOTE)
    p.add_argument("--dataset", choices=DATASETS, default="celeb_a",
                   help="named dataset (TFDS; shapes and digits are offline); ignored with --data-dir")
    p.add_argument("--data-dir", default=None,
                   help="a folder of images (e.g. an unpacked img_align_celeba) instead of --dataset")
    p.add_argument("--tfds-data-dir", default=None, help="TFDS data_dir for --dataset")
    p.add_argument("--image-size", type=int, default=None,
                   help="image side in px (default: 64 for celeb_a/shapes/folders, 28 digits/mnist, 32 cifar10)")
    p.add_argument("--channels", type=int, choices=(1, 3), default=None,
                   help="channels for --data-dir images (default 3)")
    _common.add_center_crop_flag(p)
    p.add_argument("--epochs", type=int, default=10,
                   help="training epochs (with --resume-from: epochs to train on top of the file's)")
    p.add_argument("--steps-per-epoch", type=int, default=None, help="generator steps per epoch (default: one pass over the data); "
                        "more than one pass holds repeats the data")
    p.add_argument("--batch-size", type=int, default=64,
                   help="batch size (the global batch with --distribute)")
    p.add_argument("--latent-dim", type=int, default=None,
                   help="size of z. Default: 40 (the DCGAN paper's 100 trained worse on both "
                        "the digits and the 64x64 shapes; README)")
    p.add_argument("--d-steps", type=int, default=None,
                   help="K discriminator steps per generator step (default: 5 with --objective "
                        "wgan-gp, the paper's n_critic; 1 otherwise)")
    p.add_argument("--generator-loss", choices=("non_saturating", "minimax"), default=None,
                   help="generator loss of --objective standard (default non_saturating)")
    p.add_argument("--objective", choices=("standard", "hinge", "wgan-gp", "relativistic"),
                   default="standard",
                   help="GAN objective (keras_gen.GAN(objective=...)): the cross-entropy GAN, "
                        "the hinge loss, WGAN with gradient penalty, or the relativistic "
                        "average GAN (RaSGAN)")
    p.add_argument("--r1-gamma", type=float, default=0.0,
                   help="weight of the R1 penalty on D's gradient at real images (0: none)")
    p.add_argument("--consistency", type=float, default=0.0,
                   help="weight of balanced consistency regularization: D's outputs on each "
                        "image and on a copy shifted by up to 1/8 agree (keras_gen.GAN("
                        "consistency=...); the paper's weight is 10; 0: none)")
    p.add_argument("--lecam", type=float, default=None,
                   help="weight of the LeCam regularizer: D's outputs on real and on generated "
                        "images are pulled towards the moving average of its outputs on the "
                        "other kind (keras_gen.GAN(lecam=...); 0: none). Default: 0.1 (grey and "
                        "colour images)")
    p.add_argument("--augment", choices=("none", "diffaugment", "ada"), default=None,
                   help="differentiable augmentation of every image D sees while training "
                        "(keras_gen.augment.DiffAugment, or AdaptiveAugment whose strength "
                        "follows D's overfitting). Default: ada on grey images (none with "
                        "--objective wgan-gp, whose critic has no overfitting sign), none on colour ones")
    p.add_argument("--augment-policy", default=None,
                   help="transforms of --augment, comma-separated from color, translation, cutout. "
                        "Default: translation,cutout on grey images, color,translation,cutout on "
                        "colour ones")
    p.add_argument("--spectral-norm", action="store_true",
                   help="spectral normalization of the discriminator's layers")
    p.add_argument("--ema", type=float, default=None,
                   help="momentum of an exponential moving average of G's weights, used for "
                        "the samples and the saved generator (Keras' use_ema; 0: none). "
                        "Default: 0.99")
    p.add_argument("--label-smoothing", type=float, default=0.0, help="one-sided label smoothing")
    p.add_argument("--d-normalization", choices=("batch", "layer", "none"), default=None,
                   help="normalization in the discriminator's blocks (keras_gen.networks.dcgan_discriminator). "
                        "Default: none (the DCGAN paper's is batch; with it the discriminator "
                        "wins at once on shapes)")
    p.add_argument("--minibatch-std", action=argparse.BooleanOptionalAction, default=None,
                   help="the minibatch standard deviation channel in the discriminator (against "
                        "mode collapse). Default: on")
    p.add_argument("--minibatch-std-group", type=int, default=None,
                   help="images per group of that channel's statistic (StyleGAN's form; 0: the "
                        "whole batch). Default: 0")
    p.add_argument("--d-width", type=int, default=None,
                   help="multiplier of the discriminator's filters (the builder's defaults for the "
                        "image size, e.g. 64, 128 at 28 px). Default: 2 on grey images, 1 on colour ones")
    p.add_argument("--upsampling", choices=("transpose", "resize"), default="transpose",
                   help="the generator's upsampling (keras_gen.networks.dcgan_generator): 4x4 "
                        "transposed convolutions (the DCGAN paper's), or nearest-neighbour "
                        "resize then a 3x3 convolution")
    p.add_argument("--learning-rate", type=float, default=2e-4,
                   help="Adam learning rate of D (G gets twice it on colour images, four times "
                        "it on grey ones); see --d-learning-rate / --g-learning-rate")
    p.add_argument("--d-learning-rate", type=float, default=None,
                   help="D's Adam learning rate (default --learning-rate; two time-scale updates)")
    p.add_argument("--g-learning-rate", type=float, default=None,
                   help="G's Adam learning rate (default: 2 x --learning-rate on colour images, "
                        "4 x on grey ones)")
    p.add_argument("--beta-1", type=float, default=0.5, help="Adam beta_1 (both players)")
    p.add_argument("--beta-2", type=float, default=0.999, help="Adam beta_2 (both players)")
    p.add_argument("--seed", type=_common.seed, default=0, help="seed of weights, latent draws and the sample grid")
    p.add_argument("--out-dir", default=None, help="sample grids (default outputs/dcgan_<dataset>)")
    p.add_argument("--checkpoint-dir", default=None,
                   help="BackupAndRestore folder (default <out-dir>/backup); delete it to start over")
    p.add_argument("--model-path", default=None,
                   help="where the whole GAN (networks, both optimizers, latent RNG state, epochs "
                        "trained) is saved (default saved_models/dcgan_<dataset>.keras)")
    p.add_argument("--resume-from", default=None, metavar="PATH",
                   help="a --model-path file of a finished run: continue it for --epochs more "
                        "epochs (same --dataset/--image-size/--latent-dim/--d-normalization/"
                        "--minibatch-std/--minibatch-std-group/--d-width/--upsampling/--augment/"
                        "--augment-policy, and "
                        "--ema, --consistency and --lecam on or off as it was). A backup in "
                        "--checkpoint-dir (an interrupted run) wins over it")
    p.add_argument("--generator-path", default=None,
                   help="where the trained generator is saved (default saved_models/dcgan_<dataset>_generator.keras)")
    p.add_argument("--export-dir", default="saved_models",
                   help="where the generator is exported (SavedModel, TFLite fp32/fp16/int8, JSON manifests)")
    p.add_argument("--no-export", action="store_true", help="skip the SavedModel/TFLite export")
    p.add_argument("--verbose", default="auto", help="Keras fit verbosity (auto, 0, 1, 2)")
    _common.add_distribute_flag(p)
    p.add_argument("--smoke", action="store_true", help="2 epochs of 2 small steps, to check the pipeline")
    _common.add_deterministic_flag(p, default=False)
    args = p.parse_args(argv)
    if args.steps_per_epoch is not None and args.steps_per_epoch < 1:
        p.error(f"--steps-per-epoch must be >= 1. Received: --steps-per-epoch={args.steps_per_epoch}")
    for flag in ("epochs", "image_size", "batch_size", "latent_dim", "d_steps", "d_width"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            option = "--" + flag.replace("_", "-")
            p.error(f"{option} must be >= 1. Received: {option}={value}")
    if args.minibatch_std_group is not None and args.minibatch_std_group < 0:
        p.error("--minibatch-std-group must be >= 0 (0: the whole batch). "
                f"Received: --minibatch-std-group={args.minibatch_std_group}")
    if args.minibatch_std_group is not None and args.minibatch_std is False:
        p.error("--minibatch-std-group applies only with the minibatch standard deviation channel. "
                f"Received: --minibatch-std-group={args.minibatch_std_group} with --no-minibatch-std")
    for flag in ("r1_gamma", "consistency", "lecam"):
        value = getattr(args, flag)
        option = "--" + flag.replace("_", "-")
        if value is not None and not (math.isfinite(value) and value >= 0):
            p.error(f"{option} must be a finite number >= 0. Received: {option}={value}")
        # float32, where the loss uses it, makes larger weights inf and smaller ones 0
        if value is not None and not (value == 0 or FLOAT32_TINY <= value <= FLOAT32_MAX):
            p.error(f"{option} must be 0 or between {FLOAT32_TINY:g} and {FLOAT32_MAX:g} "
                    f"(float32's range). Received: {option}={value}")
    if args.watchdog is not None and not args.watchdog > 0:
        p.error(f"--watchdog must be > 0 seconds. Received: --watchdog={args.watchdog}")
    for flag in ("learning_rate", "d_learning_rate", "g_learning_rate"):
        value = getattr(args, flag)
        if value is not None and not value > 0:  # also NaN
            option = "--" + flag.replace("_", "-")
            p.error(f"{option} must be > 0. Received: {option}={value}")
    for flag in ("ema", "beta_1", "beta_2"):  # --ema is None until the image kind's default
        value = getattr(args, flag)
        if value is not None and not 0.0 <= value < 1.0:  # also NaN
            option = "--" + flag.replace("_", "-")
            p.error(f"{option} must be in [0, 1). Received: {option}={value}")
    if args.verbose != "auto":
        args.verbose = int(args.verbose)
    name = "folder" if args.data_dir else args.dataset
    args.colour = (args.channels or 3) == 3 if args.data_dir else name not in GREY_DATASETS
    defaults = COLOUR_DEFAULTS if args.colour else GREY_DEFAULTS
    args.defaulted = set()
    if args.objective == "wgan-gp" and args.augment == "ada":
        p.error("--augment ada does not apply to --objective wgan-gp: ADA steers its strength by "
                "the sign of D's outputs, which means nothing for a critic. Use --augment "
                "diffaugment or none. Received: --augment ada --objective wgan-gp")
    for flag in ("d_normalization", "minibatch_std", "minibatch_std_group", "ema", "d_width",
                 "augment", "augment_policy", "lecam", "latent_dim"):
        if getattr(args, flag) is None:
            setattr(args, flag, defaults[flag])
            args.defaulted.add(flag)
    if args.objective == "wgan-gp" and args.augment == "ada":  # the grey defaults' ADA
        args.augment = "none"
    names = [name.strip() for name in args.augment_policy.split(",")]
    if args.augment != "none" and (any(n not in AUGMENT_TRANSFORMS for n in names)
                                   or len(set(names)) != len(names)):
        p.error(f"--augment-policy must name one or more of {', '.join(AUGMENT_TRANSFORMS)}, "
                f"comma-separated, each at most once. Received: --augment-policy={args.augment_policy!r}")
    args.augment_policy = ",".join(names)  # as AdaptiveAugment's .policy reads back
    if args.g_learning_rate is None:
        args.g_learning_rate = args.learning_rate * defaults["g_learning_rate_factor"]
        args.defaulted.add("g_learning_rate")
    if args.d_learning_rate is None:
        args.d_learning_rate = args.learning_rate
    args.image_size = args.image_size or {"digits": 28, "mnist": 28, "fashion_mnist": 28, "cifar10": 32}.get(name, 64)
    args.out_dir = args.out_dir or os.path.join("outputs", f"dcgan_{name}")
    args.checkpoint_dir = args.checkpoint_dir or os.path.join(args.out_dir, "backup")
    args.model_path = args.model_path or os.path.join("saved_models", f"dcgan_{name}.keras")
    args.generator_path = args.generator_path or os.path.join(
        "saved_models", f"dcgan_{name}_generator.keras")
    for flag, path in (("--model-path", args.model_path), ("--generator-path", args.generator_path)):
        # checked now: a bad path found when the files are written, after
        # training, would lose the run
        if not path.endswith(".keras"):
            p.error(f"{flag} must be a .keras file path. Received: {flag}={path!r}")
        if os.path.isdir(path):
            p.error(f"{flag} {path} is a folder (expected a .keras file path)")
        _common.check_keras_path(p, flag, path)  # and no file or read-only folder on the way
    if os.path.abspath(args.model_path) == os.path.abspath(args.generator_path):
        p.error(f"--model-path and --generator-path must differ. Received: {args.model_path!r} for both")
    # checked now too: a folder that cannot be made would stop the run at its first grid or backup
    _common.check_out_dir(p, "--out-dir", args.out_dir)
    _common.check_out_dir(p, "--checkpoint-dir", args.checkpoint_dir)
    if args.smoke:
        args.epochs, args.steps_per_epoch, args.batch_size = 2, 2, min(args.batch_size, 16)
    return args


def check_data_dir(args):
    """--data-dir's checks (usage errors) and ``args.crop``, from_folder's ``center_crop``."""
    args.crop = _common.center_crop(args, fail) if args.data_dir else None
    if args.data_dir and not args.distribute:
        count = len(_common.folder_images(args.data_dir))
        if count < args.batch_size:  # whole batches only: the folder would yield none
            fail(f"--batch-size must be at most the {count} images of --data-dir "
                 f"{args.data_dir}. Received: --batch-size={args.batch_size}")


def load_data(args):
    import keras_gen

    if args.data_dir:
        if not hasattr(args, "crop"):  # main checks the folder first; a caller may not have
            check_data_dir(args)
        return keras_gen.data.from_folder(
            args.data_dir, image_size=args.image_size, batch_size=args.batch_size,
            value_range=(-1.0, 1.0), channels=args.channels or 3, center_crop=args.crop,
            seed=args.seed, drop_remainder=True)
    return keras_gen.data.load(
        args.dataset, split="train", batch_size=args.batch_size, image_size=args.image_size,
        value_range=(-1.0, 1.0), seed=args.seed, data_dir=args.tfds_data_dir, drop_remainder=True)


def fail(message):
    """Exit with status 2 (a usage error) and ``message`` on stderr."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _builder_filters(image_shape):
    """``dcgan_discriminator``'s default filters for the image size."""
    from keras_gen.networks import dcgan

    return list(dcgan._auto_discriminator_filters(*image_shape[:2]))


def discriminator_filters(args, image_shape):
    """The discriminator's filters: ``--d-width`` times the builder's defaults for the image size."""
    return [args.d_width * f for f in _builder_filters(image_shape)]


def saved_discriminator_filters(discriminator):
    """The filters of a ``dcgan_discriminator``'s convolutions (inside spectral norm too)."""
    import keras

    inner = [getattr(layer, "layer", layer) for layer in discriminator.layers]
    return [layer.filters for layer in inner if isinstance(layer, keras.layers.Conv2D)]


def discriminator_options(discriminator):
    """``(normalization, group)`` of a ``dcgan_discriminator``, from its layers.

    ``group`` is the minibatch standard deviation's group size (0: the
    whole batch; None without that layer).
    """
    import keras
    from keras_gen.layers import MinibatchStdDev

    layers = discriminator.layers
    if any(isinstance(layer, keras.layers.BatchNormalization) for layer in layers):
        normalization = "batch"
    elif any(isinstance(layer, keras.layers.LayerNormalization) for layer in layers):
        normalization = "layer"
    else:
        normalization = None
    std = [layer for layer in layers if isinstance(layer, MinibatchStdDev)]
    return normalization, (std[0].group_size or 0) if std else None


def read_saved_run(args, image_shape, steps_per_epoch):
    """Check the --resume-from file; return ``(GAN, epochs trained, generator steps)``.

    Exits with status 2, naming the file, when it is not a whole keras_gen
    GAN with optimizer state, or made for other images or another latent_dim.
    """
    import keras
    import keras_gen

    path = args.resume_from
    try:
        saved = keras.saving.load_model(path)
    except Exception as error:  # noqa: BLE001  (Keras raises many kinds for a bad file)
        detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
        fail(f"--resume-from {path} is not a Keras model file this Keras can load "
             f"({type(error).__name__}: {detail[:300]})")
    if not isinstance(saved, keras_gen.GAN):
        fail(f"--resume-from {path} holds a {type(saved).__name__}, not a whole keras_gen.GAN; "
             "resume from the --model-path file (the --generator-path file holds the "
             "generator alone, without the discriminator and optimizer states)")
    differences = resume_differences(args, saved)
    if tuple(saved.image_shape) != tuple(image_shape) or saved.latent_dim != args.latent_dim:
        flags = "--data-dir, --channels" if args.data_dir else "--dataset"
        # one message for every difference: fixing one flag must not reveal the next
        also = (f"; it was also trained with other settings than this run's "
                f"({'; '.join(differences)})" if differences else "")
        fail(f"--resume-from {path} holds a GAN for images {tuple(saved.image_shape)} with "
             f"latent_dim={saved.latent_dim}, but this run trains on images {tuple(image_shape)} "
             f"with --latent-dim {args.latent_dim}; pass the {flags}, --image-size and "
             f"--latent-dim of the run that wrote it{also}")
    if differences:
        fail(f"--resume-from {path} was trained with other settings than this run's "
             f"({'; '.join(differences)}). Pass the settings of the run that wrote it")
    if saved.g_optimizer is None or saved.d_optimizer is None:
        fail(f"--resume-from {path} holds a GAN saved before compile(): it has no optimizer "
             "state to continue from")
    # Adam's betas are settings, not state: the file's slots continue under
    # this run's, which a run saved with other defaults did not train with.
    asked_betas, trained_betas = (args.beta_1, args.beta_2), set()
    for player, flag, asked in (("g", "--g-learning-rate", args.g_learning_rate),
                                ("d", "--d-learning-rate", args.d_learning_rate)):
        optimizer = getattr(saved, f"{player}_optimizer")
        trained = _learning_rate(optimizer)
        if trained is not None and not math.isclose(trained, asked, rel_tol=1e-6):
            print(f"note: --resume-from {path} trained {player.upper()} at learning rate "
                  f"{trained:g}; this run uses {asked:g} (pass {flag} {trained:g} to keep it)")
        betas = tuple(getattr(optimizer, b, None) for b in ("beta_1", "beta_2"))
        if None not in betas:  # an Adam-like optimizer (the recipe's)
            trained_betas.add(tuple(float(b) for b in betas))
        else:  # Keras skips loading slots of another layout into the recipe's Adam
            print(f"note: --resume-from {path} trained {player.upper()} with "
                  f"{type(optimizer).__name__}, not Adam; this run's Adam starts {player.upper()} "
                  "from fresh moments")
    # The objective is a setting too (no state): said, and this run's used.
    saved_objective = getattr(saved, "objective", "standard")
    if saved_objective != args.objective:
        print(f"note: --resume-from {path} trained with --objective {saved_objective}; this run "
              f"uses {args.objective} (pass --objective {saved_objective} to keep it)")
    for trained in sorted(trained_betas):
        if not all(math.isclose(t, a, rel_tol=1e-6) for t, a in zip(trained, asked_betas)):
            print(f"note: --resume-from {path} trained with Adam beta_1 {trained[0]:g}, beta_2 "
                  f"{trained[1]:g}; this run uses {args.beta_1:g}, {args.beta_2:g} (pass "
                  f"--beta-1 {trained[0]:g} --beta-2 {trained[1]:g} to keep them)")
    steps = int(keras.ops.convert_to_numpy(saved.g_optimizer.iterations))
    note = _common.read_note(path) or {}
    epochs = note.get("epochs")
    if not isinstance(epochs, int) or epochs < 0:
        # A GAN file that keras_gen's GAN.save wrote elsewhere: number the
        # epochs on from the steps it holds.
        epochs = -(-steps // (steps_per_epoch or 1))
        print(f"{path} does not record its epochs; counting {steps} generator steps "
              f"as {epochs} epochs")
    return saved, epochs, steps


def generator_upsampling(generator):
    """``"resize"`` or ``"transpose"``: how a ``dcgan_generator`` upsamples, from its layers."""
    import keras

    resize = any(isinstance(layer, keras.layers.UpSampling2D) for layer in generator.layers)
    return "resize" if resize else "transpose"


def _std_flag(on, group=None):
    if not on:
        return "--no-minibatch-std"
    return "--minibatch-std" + ("" if group is None else f" --minibatch-std-group {group}")


def _image_kind(args):
    return "colour" if args.colour else "grey"


def settings_line(args):
    """The discriminator, learning-rate, EMA, upsampling, augmentation, LeCam and latent-size settings of this run, in flags."""
    flags = (f"--d-normalization {args.d_normalization} "
             f"{_std_flag(args.minibatch_std, args.minibatch_std_group)} "
             f"--d-learning-rate {args.d_learning_rate:g} --g-learning-rate {args.g_learning_rate:g} "
             f"--ema {args.ema:g} --d-width {args.d_width} --upsampling {args.upsampling} "
             f"--augment {args.augment}")
    if args.augment != "none":
        flags += f" --augment-policy {args.augment_policy}"
    flags += f" --lecam {args.lecam:g} --latent-dim {args.latent_dim}"
    defaulted = args.defaulted - ({"augment_policy"} if args.augment == "none" else set())
    defaulted -= set() if args.minibatch_std else {"minibatch_std_group"}
    unset = sorted(f"--{d.replace('_', '-')}" for d in defaulted)
    source = f" ({', '.join(unset)}: the defaults for {_image_kind(args)} images)" if unset else ""
    return f"Settings: {flags}{source}"


def _learning_rate(optimizer):
    """An optimizer's constant learning rate as a float (None for a schedule)."""
    import keras

    if isinstance(optimizer._learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        return None
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def resume_differences(args, saved):
    """What differs between a saved GAN and this run's discriminator (spectral norm included), upsampling, EMA, augment, consistency and LeCam flags.

    A list of ``"file: ..., this run: ..."`` strings, empty when they match;
    a flag left unset is marked as the default for colour or grey images.
    """
    def this_run(text, dest):
        if dest in args.defaulted:
            return f"{text} (the default for {_image_kind(args)} images)"
        return text

    normalization, group = discriminator_options(saved.discriminator)
    minibatch_std = group is not None
    wanted = None if args.d_normalization == "none" else args.d_normalization
    differences = []
    if normalization != wanted:
        differences.append(f"file: --d-normalization {normalization or 'none'}, this run: "
                           + this_run(f"--d-normalization {args.d_normalization}",
                                      "d_normalization"))
    if minibatch_std != args.minibatch_std:
        differences.append(f"file: {_std_flag(minibatch_std)}, this run: "
                           + this_run(_std_flag(args.minibatch_std), "minibatch_std"))
    elif minibatch_std and group != args.minibatch_std_group:
        differences.append(f"file: --minibatch-std-group {group}, this run: "
                           + this_run(f"--minibatch-std-group {args.minibatch_std_group}",
                                      "minibatch_std_group"))
    saved_filters = saved_discriminator_filters(saved.discriminator)
    wanted_filters = discriminator_filters(args, saved.image_shape)
    if saved_filters != wanted_filters:
        builder = _builder_filters(saved.image_shape)
        widths = {f / b for f, b in zip(saved_filters, builder)} if len(saved_filters) == len(builder) else set()
        file_width = f"--d-width {widths.pop():g} " if len(widths) == 1 else ""
        differences.append(f"file: {file_width}(filters {saved_filters}), this run: "
                           + this_run(f"--d-width {args.d_width} (filters {wanted_filters})",
                                      "d_width"))
    from keras_gen.layers import SpectralNormalization

    def spectral_flag(on):
        return "--spectral-norm" if on else "no --spectral-norm"

    spectral = any(isinstance(layer, SpectralNormalization) for layer in saved.discriminator.layers)
    if spectral != args.spectral_norm:
        differences.append(f"file: {spectral_flag(spectral)}, this run: {spectral_flag(args.spectral_norm)}")
    upsampling = generator_upsampling(saved.generator)
    if upsampling != args.upsampling:
        differences.append(f"file: --upsampling {upsampling}, this run: "
                           + this_run(f"--upsampling {args.upsampling}", "upsampling"))
    # G's optimizer holds the moving average as state: it cannot be added or dropped.
    saved_ema = bool(getattr(saved.g_optimizer, "use_ema", False))
    if saved.g_optimizer is not None and saved_ema != bool(args.ema):
        momentum = saved.g_optimizer.ema_momentum if saved_ema else 0
        differences.append(f"file: --ema {momentum:g}, this run: "
                           + this_run(f"--ema {args.ema:g}", "ema"))
    # The augmentation layer's state (ADA's probability, its random stream)
    # is part of the GAN's weights.
    saved_augment = saved_augmentation(saved)
    wanted_augment = ((args.augment,) if args.augment == "none"
                      else (args.augment, args.augment_policy))
    if saved_augment != wanted_augment:
        differences.append(f"file: {_augment_flags(saved_augment)}, this run: "
                           + this_run(_augment_flags(wanted_augment), "augment"))
    # So are the consistency term's transform (its random stream) and LeCam's
    # moving averages (a weight of the GAN), when on.
    for flag in ("consistency", "lecam"):
        saved_weight, weight = float(getattr(saved, flag, 0.0)), getattr(args, flag)
        if (saved_weight > 0) != (weight > 0):
            differences.append(f"file: --{flag} {saved_weight:g}, this run: "
                               + this_run(f"--{flag} {weight:g}", flag))
    return differences


def saved_augmentation(gan):
    """A GAN's augmentation as ``("none",)`` or ``(--augment value, --augment-policy value)``."""
    import keras_gen

    layer = gan.augment
    if layer is None:
        return ("none",)
    kind = "ada" if isinstance(layer, keras_gen.augment.AdaptiveAugment) else "diffaugment"
    return kind, ",".join(layer.policy)


def _augment_flags(augmentation):
    if augmentation == ("none",):
        return "--augment none"
    return f"--augment {augmentation[0]} --augment-policy {augmentation[1]}"


def backed_up_steps(backup, gan):
    """Generator steps of the backup in ``backup.backup_dir`` (None when there is none).

    Read from the backup's weights (loaded into ``gan``, as ``fit`` will load
    them): a kill between the backup's two files leaves metadata of the
    backup before. The metadata's count when the weights do not load (``fit``
    then names the problem).
    """
    import json

    import keras

    if not os.path.exists(backup._weights_path):
        return None
    try:
        if gan.optimizer is not None and not gan.optimizer.built:
            gan.optimizer.build(gan.trainable_variables)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gan.load_weights(backup._weights_path)
        return int(keras.ops.convert_to_numpy(gan.g_optimizer.iterations))
    except Exception:  # noqa: BLE001  (a backup of other networks: fit says so)
        pass
    try:
        with open(backup._training_metadata_path) as f:
            return json.load(f).get("iterations")
    except (OSError, ValueError):
        return None


RUN_FILE = "recipe_run.json"


def run_start(args, backup_steps, initial_epoch, saved_steps):
    """``(initial_epoch, saved_steps)`` the run (or the interrupted run it resumes) started from.

    A run records them in its backup folder; a rerun that resumes the backup
    takes them from there, so that a continuation (``--resume-from``) whose
    file was already overwritten with the result (killed while exporting)
    still ends at the first start's epoch + ``--epochs``.
    """
    import json

    path = os.path.join(args.checkpoint_dir, RUN_FILE)
    if backup_steps is not None:
        try:
            with open(path) as f:
                start = json.load(f)
            return int(start["initial_epoch"]), int(start["saved_steps"])
        except (OSError, ValueError, KeyError, TypeError):
            return initial_epoch, saved_steps
    if _common.is_chief():
        os.makedirs(args.checkpoint_dir, exist_ok=True)
        temporary = f"{path}.tmp-{os.getpid()}"
        with open(temporary, "w") as f:
            json.dump({"initial_epoch": initial_epoch, "saved_steps": saved_steps}, f)
        os.replace(temporary, path)
    return initial_epoch, saved_steps


def forget_run_start(args):
    """Remove the run's start record, and ``--checkpoint-dir`` if that empties it."""
    if not _common.is_chief():
        return
    path = os.path.join(args.checkpoint_dir, RUN_FILE)
    if os.path.exists(path):
        os.remove(path)
    try:
        os.rmdir(args.checkpoint_dir)
    except OSError:  # other files in it, or it is in use
        pass


def delete_backup(args, backup):
    """Delete the backup once every file of the run is written (the chief's)."""
    if not _common.is_chief():
        return
    forget_run_start(args)
    backup.delete_backup()


def _RawGenerator(generator):
    """A callback keeping G's own weights at each epoch's end (before fit writes an EMA)."""
    import keras

    class RawGenerator(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.weights = None

        def on_train_begin(self, logs=None):
            # after the backup's restore: a resumed run whose backup holds
            # its last epoch trains no epoch, and fit still writes the EMA
            self.weights = generator.get_weights()

        def on_epoch_end(self, epoch, logs=None):
            self.weights = generator.get_weights()

    return RawGenerator()


def _CommandLineRates(gan, d_learning_rate, g_learning_rate):
    """A callback setting both optimizers' learning rates to the command line's as fit starts.

    Loading a saved GAN (``--resume-from``) or a backup restores each
    optimizer's ``learning_rate`` variable with the file's value; this runs
    after those loads, so the rates the command line names are the ones
    trained with.
    """
    import keras

    class CommandLineRates(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            gan.d_optimizer.learning_rate = d_learning_rate
            gan.g_optimizer.learning_rate = g_learning_rate

    return CommandLineRates()


def main(argv=None):
    args = parse_args(argv)
    if args.resume_from is not None and os.path.isdir(args.resume_from):
        fail(f"--resume-from {args.resume_from} is a folder (expected the whole-GAN .keras "
             "file that --model-path of an earlier run wrote)")
    if args.resume_from is not None and not os.path.isfile(args.resume_from):
        fail(f"--resume-from {args.resume_from} does not exist (expected the whole-GAN .keras "
             "file that --model-path of an earlier run wrote)")
    if (args.resume_from is not None and args.resume_from.endswith(".keras")
            and not zipfile.is_zipfile(args.resume_from)):
        # Keras' own message for such a file is "File not found"
        fail(f"--resume-from {args.resume_from} is not a complete .keras file (a .keras file is "
             "a zip archive; this one is truncated, empty or another format)")
    check_data_dir(args)
    keras = _common.start(args)
    import keras_gen

    _common.status(f"Loading {args.data_dir or args.dataset}")
    try:
        dataset = load_data(args)
    except keras_gen.data.DatasetUnavailableError as e:
        print(f"error: {e}", file=sys.stderr)
        print("With this recipe, pass the unpacked folder as --data-dir /path/to/img_align_celeba, "
              "or train offline with --dataset shapes.", file=sys.stderr)
        raise SystemExit(2)
    image_shape = tuple(dataset.element_spec.shape[1:])
    steps_per_epoch = args.steps_per_epoch
    if steps_per_epoch is None:
        batches = int(dataset.cardinality())
        steps_per_epoch = batches if batches > 0 else None
    initial_epoch, saved_steps, saved = 0, 0, None
    if args.resume_from is not None:
        saved, initial_epoch, saved_steps = read_saved_run(args, image_shape, steps_per_epoch)
    if steps_per_epoch is not None:
        # One stream of batches, reshuffled at each pass: past the end of the
        # data another pass starts rather than the epoch ending early, and a
        # continued run can pick the stream up where the saved one left it.
        dataset = dataset.repeat()

    scope = keras_gen.distribute.data_parallel() if args.distribute else contextlib.nullcontext()
    with scope:
        generator = keras_gen.networks.dcgan_generator(
            args.latent_dim, image_shape, kernel_size=UPSAMPLING_KERNEL[args.upsampling],
            upsampling=args.upsampling)
        discriminator = keras_gen.networks.dcgan_discriminator(
            image_shape, filters=discriminator_filters(args, image_shape),
            minibatch_std=args.minibatch_std, spectral_norm=args.spectral_norm,
            minibatch_std_group=(args.minibatch_std_group or None) if args.minibatch_std else None,
            normalization=None if args.d_normalization == "none" else args.d_normalization)
        augment = None
        if args.augment != "none":
            layer = {"diffaugment": keras_gen.augment.DiffAugment,
                     "ada": keras_gen.augment.AdaptiveAugment}[args.augment]
            augment = layer(args.augment_policy, seed=args.seed)
        gan = keras_gen.GAN(
            generator, discriminator, latent_dim=args.latent_dim, d_steps=args.d_steps,
            generator_loss=args.generator_loss, label_smoothing=args.label_smoothing,
            seed=args.seed, augment=augment, objective=args.objective, r1_gamma=args.r1_gamma,
            consistency=args.consistency, lecam=args.lecam)
        ema = {"use_ema": True, "ema_momentum": args.ema} if args.ema else {}
        gan.compile(
            d_optimizer=keras.optimizers.Adam(args.d_learning_rate,
                                              beta_1=args.beta_1, beta_2=args.beta_2),
            g_optimizer=keras.optimizers.Adam(args.g_learning_rate,
                                              beta_1=args.beta_1, beta_2=args.beta_2, **ema))
        if saved is not None or os.path.exists(os.path.join(args.checkpoint_dir, "latest.weights.h5")):
            # a file or backup to load: the optimizers' slots made here, in the scope
            gan.optimizer.build(gan.trainable_variables)
        if saved is not None:
            # Weights, both optimizers' slots and step counts, and the latent
            # SeedGenerator's state, into the networks this command line built.
            try:
                gan.load_weights(args.resume_from)
            except ValueError as error:
                fail(f"--resume-from {args.resume_from} holds networks that differ from this "
                     f"recipe's DCGAN for {image_shape} (Keras said: "
                     f"{str(error).strip().splitlines()[0][:300]})")
            loaded = [int(keras.ops.convert_to_numpy(o.iterations))
                      for o in (gan.d_optimizer, gan.g_optimizer)]
            expected = [int(keras.ops.convert_to_numpy(o.iterations))
                        for o in (saved.d_optimizer, saved.g_optimizer)]
            if loaded != expected:
                fail(f"--resume-from {args.resume_from} holds optimizer states that do not fit "
                     f"Adam for both players (steps loaded {loaded}, in the file {expected})")
            del saved
    if args.distribute:
        _common.status(_common.data_parallel_line(keras_gen, scope, args.batch_size))

    # Deleted by the recipe once every file is written (delete_backup): a run
    # killed while saving or exporting resumes from it.
    backup = keras_gen.callbacks.BackupAndRestore(args.checkpoint_dir, delete_checkpoint=False)
    # Every generator step reads one batch: skip the batches the state to
    # continue from (the backup of an interrupted run, else the saved run) has
    # trained on, so that the stream goes on as in one uninterrupted run.
    backup_steps = backed_up_steps(backup, gan)
    initial_epoch, saved_steps = run_start(args, backup_steps, initial_epoch, saved_steps)
    consumed = backup_steps if backup_steps is not None else saved_steps
    if consumed and steps_per_epoch is not None:
        _common.status(f"Skipping the {consumed} batches of the data stream already trained on")
        dataset = dataset.skip(consumed)

    grid = keras_gen.callbacks.SampleGrid(args.out_dir, num_images=64, cols=8, seed=args.seed)
    # The NaN check runs first; a diverged epoch writes no grid and no backup.
    callbacks = [_common.nan_callback(), _common.skip_non_finite_epochs(grid),
                 _common.skip_non_finite_epochs(backup, also_train_end=True),
                 _CommandLineRates(gan, args.d_learning_rate, args.g_learning_rate)]
    callbacks += _common.watchdog_callbacks(args)
    raw = _RawGenerator(gan.generator) if args.ema else None
    if raw is not None:
        callbacks.append(raw)
    epochs = initial_epoch + args.epochs
    if backup_steps is not None:
        resuming = f"resuming the interrupted run backed up in {args.checkpoint_dir}"
    elif args.resume_from is not None:
        resuming = (f"continuing {args.resume_from} (epoch {initial_epoch}, "
                    f"{saved_steps} generator steps) for {args.epochs} more epochs")
    else:
        resuming = f"resumes from {args.checkpoint_dir} if interrupted"
    _common.status(f"Training a DCGAN on {args.data_dir or args.dataset} {image_shape} "
          f"(backend: {keras.backend.backend()}); {resuming}")
    _common.status(settings_line(args))
    start = time.perf_counter()
    try:
        history = gan.fit(dataset, epochs=epochs, initial_epoch=initial_epoch,
                          steps_per_epoch=steps_per_epoch, callbacks=callbacks,
                          verbose=args.verbose, shuffle=False)  # the tf.data pipeline shuffles
    except keras_gen.callbacks.BackupMismatchError as error:
        # Raised as fit starts, before any step: nothing was written.
        fail(f"--checkpoint-dir {args.checkpoint_dir} holds the backup of an interrupted run "
             "made with other networks or optimizer settings than this command line's "
             "(--d-normalization, --minibatch-std, --d-width, --upsampling, --ema on or off, "
             "--augment, --lecam on or off, --latent-dim, --image-size). Run the interrupted command "
             "again as it was (a run interrupted before LeCam was its default: add --lecam 0), "
             f"or delete {args.checkpoint_dir} to start afresh. ({str(error)[:400]})")
    seconds = time.perf_counter() - start
    name = "folder" if args.data_dir else args.dataset
    if not os.path.exists(backup._weights_path):
        forget_run_start(args)  # no backup was made (diverged in epoch 1): leave nothing behind
    _common.stop_if_non_finite(gan, history, kept=[args.model_path, args.generator_path,
                                                   args.checkpoint_dir] + (
        [] if args.no_export else [os.path.join(args.export_dir, f"dcgan_{name}_*")]))

    steps = int(keras.ops.convert_to_numpy(gan.g_optimizer.iterations))
    if not _common.is_chief():
        return gan, history  # several processes: the chief writes the files
    _common.status(f"Saving the GAN to {args.model_path} and the generator to {args.generator_path}")
    averaged = None
    if raw is not None and raw.weights is not None:
        # fit ended by writing G's moving average into G: the whole-GAN file
        # keeps G's own weights (what training continues from), the
        # generator file and the export the average.
        averaged = gan.generator.get_weights()
        gan.generator.set_weights(raw.weights)
    _common.save_keras(gan, args.model_path, note={"epochs": epochs, "generator_steps": steps,
                                                   "recipe": "dcgan_celeba"})
    if averaged is not None:
        gan.generator.set_weights(averaged)
        # G's BatchNormalization statistics were collected by its own weights:
        # re-estimate them for the average (GAN.standing_statistics).
        gan.standing_statistics()
    _common.save_keras(gan.generator, args.generator_path)
    exported = {}
    if not args.no_export:
        _common.status(f"Exporting the generator to {args.export_dir} "
                       "(SavedModel, TFLite fp32/fp16/int8)")
        _common.check_finite(gan, "export")
        exported = keras_gen.export_for_mobile(gan, args.export_dir, name=f"dcgan_{name}")
    delete_backup(args, backup)
    if history.history:
        final = {k: v[-1] for k, v in history.history.items()}
        per_step = ""
        if steps_per_epoch:
            trained = len(history.history["d_loss"]) * steps_per_epoch
            per_step = f", {seconds / trained:.3f} s/step"
        print(f"\nFinal epoch: d_loss={final['d_loss']:.3f} g_loss={final['g_loss']:.3f} "
              f"D(x)={final['d_real']:.3f} D(G(z))={final['d_fake']:.3f} ({seconds:.0f} s{per_step})")
    print(f"Generator steps trained in all (this run and any it resumed): {steps}")
    for path in grid.paths[-1:]:
        print(f"    samples: {os.path.relpath(path)}")
    print(f"  whole GAN: {os.path.relpath(args.model_path)} (epoch {epochs})")
    print(f"  generator: {os.path.relpath(args.generator_path)}")
    for path in exported:
        print(f"   exported: {os.path.relpath(path)}")
    return gan, history


if __name__ == "__main__":
    main()
