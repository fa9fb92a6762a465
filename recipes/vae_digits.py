"""Quickstart: train a VAE on scikit-learn's handwritten digits, offline.

Trains keras_gen.VAE with the default convolutional encoder/decoder on the
digits bundled with scikit-learn (upsampled to 28x28, stratified 80/20
split), with Keras' progress bar, then writes three pictures and saves the
model:

    outputs/vae_digits/samples.png          decoded from a fixed latent batch
    outputs/vae_digits/reconstructions.png  test inputs (odd rows) above their
                                            reconstructions (even rows)
    outputs/vae_digits/interpolation.png    decoding the straight line between
                                            the latent means of test digits
    saved_models/vae_digits.keras           the trained model
    saved_models/vae_digits_{decoder,encoder}[...]  SavedModel and TFLite
                                            (fp32, fp16, int8) exports with
                                            JSON manifests (skip: --no-export)

These paths are relative to the current working directory. --deterministic
(the default) makes a TensorFlow run repeat its numbers exactly, whatever
the machine's load or number of cores. Training stops with an error, saving nothing, if the
losses or weights become NaN/Inf; a model file is replaced only by a
complete, finite one.

Runs on any backend: KERAS_BACKEND=jax python recipes/vae_digits.py

Several processes (one host or several; any backend), --batch-size being the
global batch and only process 0 writing files:

    torchrun --nproc-per-node 2 recipes/vae_digits.py --distribute
"""

import argparse
import contextlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from recipes import _common  # noqa: E402  (argparse and os only: --help stays fast)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=_common.HelpFormatter,
                                epilog=_common.OUTPUTS_NOTE)
    p.add_argument("--epochs", type=int, default=60, help="training epochs")
    p.add_argument("--batch-size", type=int, default=64, help="batch size")
    p.add_argument("--latent-dim", type=int, default=8, help="latent dimensions")
    p.add_argument("--kl-weight", type=float, default=0.00128,
                   help="lambda in L_rec + lambda * KL; about 1/784, which makes the loss the negative ELBO / 784 with BCE (see the VAE docstring)")
    p.add_argument("--reconstruction", choices=["mse", "bce"], default="bce",
                   help="reconstruction loss")
    p.add_argument("--learning-rate", type=float, default=2e-3, help="Adam learning rate")
    p.add_argument("--seed", type=_common.seed, default=0, help="seed of weights, noise and pictures")
    p.add_argument("--out-dir", default=os.path.join("outputs", "vae_digits"),
                   help="where the PNGs go")
    p.add_argument("--model-path", default=os.path.join("saved_models", "vae_digits.keras"),
                   help="where the trained model is saved")
    p.add_argument("--export-dir", default="saved_models",
                   help="where the decoder and encoder are exported (SavedModel, TFLite fp32/fp16/int8, JSON manifests)")
    p.add_argument("--no-export", action="store_true", help="skip the SavedModel/TFLite export")
    p.add_argument("--verbose", default="auto", help="Keras fit verbosity (auto, 0, 1, 2)")
    _common.add_distribute_flag(p)
    p.add_argument("--smoke", action="store_true",
                   help="a seconds-long run (2 epochs, 256 images) to check the pipeline")
    _common.add_deterministic_flag(p, default=True)
    args = p.parse_args(argv)
    _common.check_flags(p, args, positive_ints=("epochs", "batch_size", "latent_dim"),
                        positive_floats=("learning_rate",), non_negative_floats=("kl_weight",))
    if args.watchdog is not None and not args.watchdog > 0:
        p.error(f"--watchdog must be > 0 seconds. Received: --watchdog={args.watchdog}")
    if args.verbose != "auto":
        args.verbose = int(args.verbose)
    return args


def main(argv=None):
    args = parse_args(argv)
    keras = _common.start(args)
    import numpy as np

    import keras_gen
    from keras_gen import images
    from keras_gen.data import load_digits

    x_train, y_train = load_digits("train", image_size=28)
    x_test, y_test = load_digits("test", image_size=28)
    if args.smoke:
        args.epochs, x_train = 2, x_train[:256]

    scope = keras_gen.distribute.data_parallel() if args.distribute else contextlib.nullcontext()
    with scope:
        encoder = keras_gen.networks.encoder((28, 28, 1), args.latent_dim, variational=True)
        decoder = keras_gen.networks.decoder(args.latent_dim, (28, 28, 1), variational=True)
        vae = keras_gen.VAE(
            encoder, decoder, kl_weight=args.kl_weight,
            reconstruction=args.reconstruction, seed=args.seed,
        )
        vae.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
    x_val = x_test
    if args.distribute:
        _common.status(_common.data_parallel_line(keras_gen, scope, args.batch_size))
        # one process on TensorFlow / JAX: the devices must share every batch evenly
        replicas = (keras_gen.backend.replica_count(vae)
                    if keras_gen.distribute.process_count() == 1 else 1)
        x_train = _common.whole_batches(x_train, args.batch_size, "training digits", replicas)
        x_val = _common.whole_batches(x_test, args.batch_size, "validation digits", replicas)

    _common.status(f"Training a VAE on {len(x_train)} digits (backend: {keras.backend.backend()}, "
          f"latent_dim={args.latent_dim}, kl_weight={args.kl_weight}, "
          f"reconstruction={args.reconstruction})")
    callbacks = [_common.nan_callback()] + _common.watchdog_callbacks(args)
    start = time.perf_counter()
    history = vae.fit(
        x_train, validation_data=(x_val,), epochs=args.epochs,
        batch_size=args.batch_size, verbose=args.verbose, callbacks=callbacks,
    )
    seconds = time.perf_counter() - start
    _common.stop_if_non_finite(vae, history, kept=[args.out_dir, args.model_path] + (
        [] if args.no_export else [os.path.join(args.export_dir, "vae_digits_*")]))
    _common.status(f"Trained {args.epochs} epochs in {seconds:.0f} s; writing pictures to {args.out_dir}")

    # Pictures. A fixed latent batch, so runs are comparable. Every process
    # computes them (prediction may be collective work under several
    # processes); the chief writes them.
    chief = _common.is_chief()
    rng = np.random.default_rng(args.seed)
    z_fixed = rng.standard_normal((64, args.latent_dim)).astype("float32")
    samples = vae.decode(z_fixed)
    inputs = x_test[:16]
    recon = vae.reconstruct(inputs)
    pairs = np.concatenate([inputs[:8], recon[:8], inputs[8:], recon[8:]])
    z_mean, _ = vae.encode(x_test)
    starts = [np.flatnonzero(y_test == d)[0] for d in (0, 1, 2, 3)]
    ends = [np.flatnonzero(y_test == d)[0] for d in (6, 7, 8, 9)]
    t = np.linspace(0.0, 1.0, 10, dtype="float32")[:, None]
    lines = [(1 - t) * z_mean[a] + t * z_mean[b] for a, b in zip(starts, ends)]
    interpolation = vae.decode(np.concatenate(lines))
    test_mse = np.mean((vae.reconstruct(x_test) - x_test) ** 2)
    paths = {}
    if chief:
        os.makedirs(args.out_dir, exist_ok=True)
        paths["samples"] = images.save_image_grid(
            samples, os.path.join(args.out_dir, "samples.png"), cols=8)
        paths["reconstructions"] = images.save_image_grid(
            pairs, os.path.join(args.out_dir, "reconstructions.png"), cols=8)
        paths["interpolation"] = images.save_image_grid(
            interpolation, os.path.join(args.out_dir, "interpolation.png"), cols=10)

        _common.status(f"Saving the model to {args.model_path}")
        _common.save_keras(vae, args.model_path)
    exported = {}
    if not args.no_export and chief:
        _common.status(f"Exporting the decoder and encoder to {args.export_dir} "
                       "(SavedModel, TFLite fp32/fp16/int8)")
        _common.check_finite(vae, "export")
        exported = keras_gen.export_for_mobile(vae, args.export_dir, name="vae_digits")
    if not chief:
        return vae, history

    final = {k: v[-1] for k, v in history.history.items()}
    print(f"\nTrained {args.epochs} epochs in {seconds:.0f} s"
          f"{' (deterministic)' if args.deterministic else ''}.")
    print(f"Validation: reconstruction_loss={final['val_reconstruction_loss']:.4f} "
          f"kl_loss={final['val_kl_loss']:.2f} nats, loss={final['val_loss']:.4f}, "
          f"neg_elbo={final['val_neg_elbo']:.1f} nats per image")
    print(f"Test-set MSE of the mean reconstruction: {test_mse:.4f}")
    for name, path in paths.items():
        print(f"{name:>16}: {os.path.relpath(path)}")
    print(f"{'model':>16}: {os.path.relpath(args.model_path)}")
    for path in exported:
        print(f"{'exported':>16}: {os.path.relpath(path)}")
    return vae, history


if __name__ == "__main__":
    main()
