"""DCGAN on CelebA 64x64 (or the offline digits), with checkpoint and resume.

What a reader of the keras.io DCGAN example expects, on any backend:

    python recipes/dcgan_celeba.py                              # CelebA through TFDS
    python recipes/dcgan_celeba.py --data-dir ~/img_align_celeba  # a folder of images
    python recipes/dcgan_celeba.py --dataset digits --epochs 40   # offline

Images are center-cropped to 140x140 and resized to --image-size (CelebA),
scaled to [-1, 1]; the generator and discriminator are keras_gen.networks'
DCGAN builders (Radford et al. 2015); both players use Adam(2e-4, beta_1=0.5).
Each epoch writes a sample grid decoded from a fixed latent batch to
--out-dir; training state (weights and both optimizers) is backed up to
--checkpoint-dir every epoch, so an interrupted run resumes where it stopped
when started again with the same arguments. At the end the generator is
saved to --generator-path (default saved_models/dcgan_<dataset>_generator.keras)
and exported for mobile to --export-dir (SavedModel and TFLite fp32/fp16/int8
with JSON manifests; skip with --no-export).

Default output paths are relative to the current working directory.
--steps-per-epoch may ask for more batches than one pass over the data
holds: the data then repeats (reshuffled), so --epochs E --steps-per-epoch S
trains exactly E * S generator steps. If the losses or weights become
NaN/Inf, training stops and the recipe exits with an error without saving
or exporting (the last good backup, grid, generator and export stay as they
were); the generator file is replaced only by a complete, finite one.

If CelebA cannot be downloaded (no network, or Google Drive quota), the
error says how to supply it by hand; --data-dir then reads the unpacked
img_align_celeba folder.
"""

import argparse
import contextlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from recipes import _common  # noqa: E402  (argparse and os only: --help stays fast)

DATASETS = ("celeb_a", "digits", "mnist", "fashion_mnist", "cifar10")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=_common.HelpFormatter,
                                epilog=_common.OUTPUTS_NOTE)
    p.add_argument("--dataset", choices=DATASETS, default="celeb_a",
                   help="named dataset (TFDS; digits is offline); ignored with --data-dir")
    p.add_argument("--data-dir", default=None,
                   help="a folder of images (e.g. an unpacked img_align_celeba) instead of --dataset")
    p.add_argument("--tfds-data-dir", default=None, help="TFDS data_dir for --dataset")
    p.add_argument("--image-size", type=int, default=None,
                   help="image side in px (default: 64 for celeb_a/folders, 28 digits/mnist, 32 cifar10)")
    p.add_argument("--channels", type=int, choices=(1, 3), default=None,
                   help="channels for --data-dir images (default 3)")
    p.add_argument("--epochs", type=int, default=10, help="training epochs")
    p.add_argument("--steps-per-epoch", type=int, default=None, help="generator steps per epoch (default: one pass over the data); "
                        "more than one pass holds repeats the data")
    p.add_argument("--batch-size", type=int, default=128, help="batch size")
    p.add_argument("--latent-dim", type=int, default=100, help="size of z")
    p.add_argument("--d-steps", type=int, default=1, help="K discriminator steps per generator step")
    p.add_argument("--generator-loss", choices=("non_saturating", "minimax"), default="non_saturating",
                   help="generator loss")
    p.add_argument("--label-smoothing", type=float, default=0.0, help="one-sided label smoothing")
    p.add_argument("--learning-rate", type=float, default=2e-4, help="Adam learning rate (both players)")
    p.add_argument("--beta-1", type=float, default=0.5, help="Adam beta_1 (both players)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, latent draws and the sample grid")
    p.add_argument("--out-dir", default=None, help="sample grids (default outputs/dcgan_<dataset>)")
    p.add_argument("--checkpoint-dir", default=None,
                   help="BackupAndRestore folder (default <out-dir>/backup); delete it to start over")
    p.add_argument("--generator-path", default=None,
                   help="where the trained generator is saved (default saved_models/dcgan_<dataset>_generator.keras)")
    p.add_argument("--export-dir", default="saved_models",
                   help="where the generator is exported (SavedModel, TFLite fp32/fp16/int8, JSON manifests)")
    p.add_argument("--no-export", action="store_true", help="skip the SavedModel/TFLite export")
    p.add_argument("--verbose", default="auto", help="Keras fit verbosity (auto, 0, 1, 2)")
    p.add_argument("--distribute", action="store_true",
                   help="train data-parallel on every local device (keras_gen.distribute.data_parallel; "
                        "jax and tensorflow); --batch-size is the global batch")
    p.add_argument("--smoke", action="store_true", help="2 epochs of 2 small steps, to check the pipeline")
    _common.add_deterministic_flag(p, default=False)
    args = p.parse_args(argv)
    if args.steps_per_epoch is not None and args.steps_per_epoch < 1:
        p.error(f"--steps-per-epoch must be >= 1. Received: --steps-per-epoch={args.steps_per_epoch}")
    if args.verbose != "auto":
        args.verbose = int(args.verbose)
    name = "folder" if args.data_dir else args.dataset
    args.image_size = args.image_size or {"digits": 28, "mnist": 28, "fashion_mnist": 28, "cifar10": 32}.get(name, 64)
    args.out_dir = args.out_dir or os.path.join("outputs", f"dcgan_{name}")
    args.checkpoint_dir = args.checkpoint_dir or os.path.join(args.out_dir, "backup")
    args.generator_path = args.generator_path or os.path.join(
        "saved_models", f"dcgan_{name}_generator.keras")
    if args.smoke:
        args.epochs, args.steps_per_epoch, args.batch_size = 2, 2, min(args.batch_size, 16)
    return args


def load_data(args):
    import keras_gen

    if args.data_dir:
        return keras_gen.data.from_folder(
            args.data_dir, image_size=args.image_size, batch_size=args.batch_size,
            value_range=(-1.0, 1.0), channels=args.channels or 3, center_crop=140,
            seed=args.seed, drop_remainder=True)
    return keras_gen.data.load(
        args.dataset, split="train", batch_size=args.batch_size, image_size=args.image_size,
        value_range=(-1.0, 1.0), seed=args.seed, data_dir=args.tfds_data_dir, drop_remainder=True)


def main(argv=None):
    args = parse_args(argv)
    keras = _common.start(args)
    import keras_gen

    _common.status(f"Loading {args.data_dir or args.dataset}")
    try:
        dataset = load_data(args)
    except keras_gen.data.DatasetUnavailableError as e:
        print(f"error: {e}", file=sys.stderr)
        print("With this recipe, pass the unpacked folder as --data-dir /path/to/img_align_celeba, "
              "or train offline with --dataset digits.", file=sys.stderr)
        raise SystemExit(2)
    image_shape = tuple(dataset.element_spec.shape[1:])
    if args.steps_per_epoch is not None:
        # Past the end of the data, start another (reshuffled) pass rather
        # than end the epoch early: every epoch trains --steps-per-epoch steps.
        dataset = dataset.repeat()

    scope = keras_gen.distribute.data_parallel() if args.distribute else contextlib.nullcontext()
    with scope:
        generator = keras_gen.networks.dcgan_generator(args.latent_dim, image_shape)
        discriminator = keras_gen.networks.dcgan_discriminator(image_shape)
        gan = keras_gen.GAN(
            generator, discriminator, latent_dim=args.latent_dim, d_steps=args.d_steps,
            generator_loss=args.generator_loss, label_smoothing=args.label_smoothing, seed=args.seed)
        gan.compile(
            d_optimizer=keras.optimizers.Adam(args.learning_rate, beta_1=args.beta_1),
            g_optimizer=keras.optimizers.Adam(args.learning_rate, beta_1=args.beta_1))
    if args.distribute:
        print(f"Data-parallel on {scope.num_replicas} devices; global batch {args.batch_size}")

    grid = keras_gen.callbacks.SampleGrid(args.out_dir, num_images=64, cols=8, seed=args.seed)
    # The NaN check runs first; a diverged epoch writes no grid and no backup.
    callbacks = [_common.nan_callback(), _common.skip_non_finite_epochs(grid),
                 _common.skip_non_finite_epochs(keras_gen.callbacks.BackupAndRestore(args.checkpoint_dir),
                                                also_train_end=True)]
    print(f"Training a DCGAN on {args.data_dir or args.dataset} {image_shape} "
          f"(backend: {keras.backend.backend()}); resumes from {args.checkpoint_dir} if present")
    start = time.perf_counter()
    history = gan.fit(dataset, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
                      callbacks=callbacks, verbose=args.verbose,
                      shuffle=False)  # the tf.data pipeline shuffles
    seconds = time.perf_counter() - start
    name = "folder" if args.data_dir else args.dataset
    _common.stop_if_non_finite(gan, history, kept=[args.generator_path, args.checkpoint_dir] + (
        [] if args.no_export else [os.path.join(args.export_dir, f"dcgan_{name}_*")]))

    _common.status(f"Saving the generator to {args.generator_path}")
    _common.save_keras(gan.generator, args.generator_path)
    exported = {}
    if not args.no_export:
        _common.status(f"Exporting the generator to {args.export_dir} "
                       "(SavedModel, TFLite fp32/fp16/int8)")
        _common.check_finite(gan, "export")
        exported = keras_gen.export_for_mobile(gan, args.export_dir, name=f"dcgan_{name}")
    if history.history:
        final = {k: v[-1] for k, v in history.history.items()}
        print(f"\nFinal epoch: d_loss={final['d_loss']:.3f} g_loss={final['g_loss']:.3f} "
              f"D(x)={final['d_real']:.3f} D(G(z))={final['d_fake']:.3f} ({seconds:.0f} s)")
    steps = int(keras.ops.convert_to_numpy(gan.g_optimizer.iterations))
    print(f"Generator steps trained in all (this run and any it resumed): {steps}")
    for path in grid.paths[-1:]:
        print(f"    samples: {os.path.relpath(path)}")
    print(f"  generator: {os.path.relpath(args.generator_path)}")
    for path in exported:
        print(f"   exported: {os.path.relpath(path)}")
    return gan, history


if __name__ == "__main__":
    main()
