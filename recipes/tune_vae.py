"""Search a VAE's bottleneck width and lambda on digits with keras-tuner, offline.

Trains one keras_gen.VAE per trial on scikit-learn's handwritten digits
(upsampled to 28x28, stratified 80/20 split, the test split for validation),
with latent_dim and kl_weight (lambda) drawn by a keras-tuner tuner, and ranks
the trials by the validation negative ELBO (nats per image), which does not
depend on lambda; the total loss does, so it cannot rank them (docs/tuning.md).
Prints the trials as a Markdown table (width, lambda, objective,
reconstruction and KL at the best epoch) and the best setting, and saves the
best trial's model (its best epoch):

    outputs/tune_vae/search/        the tuner's trials; rerunning resumes them
    saved_models/tune_vae_best.keras

(paths relative to the current working directory). A trial whose loss
becomes NaN/Inf stops; the best model is saved only when its weights are
finite, through a temporary file, so an earlier file is never replaced by
a broken one.

Rerunning with the same --directory resumes the search: finished trials are
kept, an interrupted one is retried, and a larger --max-trials adds trials.
Use --overwrite (or another --project-name) to start over after changing
any other setting.

Each of --latent-dim, --kl-weight and --learning-rate takes one value
(fixed) or two (a range: a keras-tuner Int or Float, sampled log-uniformly).

Runs on any backend: KERAS_BACKEND=jax python recipes/tune_vae.py
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from recipes import _common  # noqa: E402  (argparse and os only: --help stays fast)

# keras_tuner class names; keras_tuner is imported after argument parsing.
TUNERS = {
    "random": "RandomSearch",
    "bayesian": "BayesianOptimization",
    "hyperband": "Hyperband",
}
# Settings a resumed search must share with the one it resumes.
SEARCH_SETTINGS = ("tuner", "objective", "latent_dim", "kl_weight", "learning_rate",
                   "reconstruction", "kind", "image_size", "epochs", "batch_size",
                   "train_size", "seed", "smoke")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=_common.HelpFormatter,
                                epilog=_common.OUTPUTS_NOTE)
    p.add_argument("--tuner", choices=sorted(TUNERS), default="random",
                   help="keras-tuner search algorithm")
    p.add_argument("--max-trials", type=int, default=10,
                   help="trials to run (random, bayesian; hyperband sets its own from --epochs)")
    p.add_argument("--epochs", type=int, default=20,
                   help="epochs per trial (hyperband: the most any trial gets)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size")
    p.add_argument("--latent-dim", type=int, nargs="+", default=[2, 32], metavar="N",
                   help="bottleneck width: one value (fixed) or LOW HIGH (searched, log scale)")
    p.add_argument("--kl-weight", type=float, nargs="+", default=[1e-4, 1.0], metavar="L",
                   help="lambda in L_rec + lambda * KL: one value or LOW HIGH (log scale)")
    p.add_argument("--learning-rate", type=float, nargs="+", default=[2e-3], metavar="LR",
                   help="Adam learning rate: one value or LOW HIGH (log scale)")
    p.add_argument("--objective", default="val_neg_elbo",
                   help="the logged metric that ranks trials (see docs/tuning.md)")
    p.add_argument("--reconstruction", choices=["bce", "mse"], default="bce",
                   help="reconstruction loss (bce makes neg_elbo the Bernoulli ELBO)")
    p.add_argument("--kind", choices=["dense", "conv"], default="dense",
                   help="default encoder/decoder networks")
    p.add_argument("--image-size", type=int, default=28, help="digits are resized to this")
    p.add_argument("--train-size", type=int, default=None,
                   help="use only the first N training digits (None: all 1437)")
    p.add_argument("--seed", type=_common.seed, default=0, help="seed of the weights and noise; the tuner's is SEED + 1 "
                   "(keras-tuner takes 0 as no seed)")
    p.add_argument("--directory", default=os.path.join("outputs", "tune_vae"),
                   help="the tuner's results directory (rerun to resume)")
    p.add_argument("--project-name", default="search", help="subdirectory of --directory")
    p.add_argument("--overwrite", action="store_true", help="start the search over")
    p.add_argument("--model-path",
                   default=os.path.join("saved_models", "tune_vae_best.keras"),
                   help="where the best model is saved")
    p.add_argument("--distribute", action="store_true",
                   help="train every trial data-parallel on every local device "
                        "(keras_gen.distribute.data_parallel; jax and tensorflow; a PyTorch process has one device); --batch-size is the global batch")
    p.add_argument("--verbose", type=int, default=0, choices=[0, 1, 2],
                   help="keras-tuner and Keras fit verbosity")
    p.add_argument("--smoke", action="store_true",
                   help="a seconds-long run (2 trials, 1 epoch, 256 digits, 8x8 images)")
    _common.add_deterministic_flag(p, default=False)
    args = p.parse_args(argv)
    _common.check_flags(p, args, positive_ints=("max_trials", "epochs", "batch_size", "latent_dim",
                                                "image_size", "train_size"),
                        positive_floats=("learning_rate",), non_negative_floats=("kl_weight",))
    if args.image_size > 256:  # keras_gen.data.load_digits' limit (all digits in memory)
        p.error(f"--image-size must be <= 256. Received: --image-size={args.image_size}")
    if args.smoke:
        args.max_trials, args.epochs, args.train_size, args.image_size = 2, 1, 256, 8
    return args


def space(values, name):
    """One value -> fixed; LOW HIGH -> a log-scale keras-tuner Int/Float range."""
    from keras_tuner.engine.hyperparameters import Float, Int

    if len(values) == 1:
        return values[0]
    if len(values) == 2:
        return (Int if name == "latent_dim" else Float)(name, *values, sampling="log")
    raise SystemExit(f"--{name.replace('_', '-')} takes one value or LOW HIGH. "
                     f"Received: {values}")


def check_resumable(args, project_dir):
    """Refuse to resume a search that was run with other settings."""
    path = os.path.join(project_dir, "recipe_settings.json")
    settings = {k: getattr(args, k) for k in SEARCH_SETTINGS}
    if os.path.exists(path) and not args.overwrite:
        with open(path) as f:
            saved = json.load(f)
        changed = {k: (saved.get(k), v) for k, v in settings.items() if saved.get(k) != v}
        if changed:
            raise SystemExit(
                f"{project_dir} holds a search run with other settings "
                f"(setting: (saved, now)): {changed}. Pass --overwrite to start over "
                "or --project-name to keep both.")
    return path, settings


def trial_report(objective):
    """A callback printing a line per epoch and per finished trial (deep-copied per trial)."""
    import keras

    class TrialReport(keras.callbacks.Callback):
        def __init__(self, objective):
            super().__init__()
            self.objective = objective

        def on_epoch_end(self, epoch, logs=None):
            value = (logs or {}).get(self.objective, float("nan"))
            print(f"    epoch {epoch + 1}/{self.params.get('epochs')}: {self.objective}={value:.4g}",
                  flush=True)

        def on_train_end(self, logs=None):
            value = (logs or {}).get(self.objective, float("nan"))
            print(f"  trial done: latent_dim={self.model.latent_dim:<3d} "
                  f"kl_weight={self.model.kl_weight:<9.3g} last-epoch {self.objective}={value:.4g}",
                  flush=True)

    return TrialReport(objective)


def main(argv=None):
    args = parse_args(argv)
    keras = _common.start(args)
    import keras_tuner

    import keras_gen
    from keras_gen import tuning
    from keras_gen.data import load_digits

    size = args.image_size
    x_train = load_digits("train", image_size=size, with_labels=False)
    x_val = load_digits("test", image_size=size, with_labels=False)
    if args.train_size is not None:
        x_train = x_train[:args.train_size]

    try:  # bad ranges or objective: a clear error before any trial starts
        hypermodel = tuning.VAEHyperModel(
            (size, size, 1),
            latent_dim=space(args.latent_dim, "latent_dim"),
            kl_weight=space(args.kl_weight, "kl_weight"),
            learning_rate=space(args.learning_rate, "learning_rate"),
            reconstruction=args.reconstruction, kind=args.kind, seed=args.seed,
            data_parallel=args.distribute,
        )
        objective = tuning.objective(args.objective, hypermodel)
    except (TypeError, ValueError) as error:
        raise SystemExit(f"error: {error}")
    if args.distribute:
        replicas = keras_gen.distribute.data_parallel().num_replicas
        print(f"Data-parallel on {replicas} devices; global batch {args.batch_size}")
        # one process on TensorFlow / JAX: the devices must share every batch evenly
        even = (keras.backend.backend() != "torch" and keras_gen.distribute.process_count() == 1)
        x_train = _common.whole_batches(x_train, args.batch_size, "training digits",
                                        replicas if even else 1)
        x_val = _common.whole_batches(x_val, args.batch_size, "validation digits",
                                      replicas if even else 1)
    project_dir = os.path.join(args.directory, args.project_name)
    settings_path, settings = check_resumable(args, project_dir)
    budget = ({"max_epochs": args.epochs, "factor": 3} if args.tuner == "hyperband"
              else {"max_trials": args.max_trials})
    tuner = getattr(keras_tuner, TUNERS[args.tuner])(
        # keras-tuner takes seed=0 as "no seed" (it draws one at random), so
        # --seed S seeds the tuner with S + 1: every --seed is reproducible
        hypermodel, objective=objective, seed=args.seed + 1, directory=args.directory,
        project_name=args.project_name, overwrite=args.overwrite, **budget,
    )
    os.makedirs(project_dir, exist_ok=True)
    with open(settings_path, "w") as f:
        json.dump(settings, f, indent=1)

    done = sum(t.status == "COMPLETED" for t in tuner.oracle.trials.values())
    print(f"Searching latent_dim={args.latent_dim} kl_weight={args.kl_weight} "
          f"learning_rate={args.learning_rate} (two values: a log-scale range) "
          f"with {args.tuner} by {objective.name} "
          f"on {len(x_train)} {size}x{size} digits (backend: {keras.backend.backend()}; "
          f"{done} finished trials found in {project_dir})", flush=True)
    start = time.perf_counter()
    tuner.search(
        x_train, validation_data=(x_val,), epochs=args.epochs, batch_size=args.batch_size,
        callbacks=[trial_report(objective.name), _common.nan_callback()], verbose=args.verbose,
    )
    seconds = time.perf_counter() - start

    print(f"\nSearch finished in {seconds:.0f} s.\n")
    print(tuning.trial_table(tuner, metrics=("val_reconstruction_loss", "val_kl_loss")))
    completed = [t for t in tuner.oracle.trials.values() if t.status == "COMPLETED"]
    if not completed:
        print(f"error: no trial of the search in {project_dir} completed (each one's error is "
              "printed above); nothing to save", file=sys.stderr)
        raise SystemExit(1)
    best_trial = tuner.oracle.get_best_trials(1)[0]
    best = tuner.get_best_models(1)[0]
    hp = best_trial.hyperparameters.values
    print(f"\nBest: latent_dim={hp['latent_dim']} kl_weight={hp['kl_weight']:.4g} "
          f"learning_rate={hp['learning_rate']:.4g} -> {objective.name}={best_trial.score:.4g} "
          f"(trial {best_trial.trial_id}, epoch {best_trial.best_step + 1})")
    try:
        _common.save_keras(best, args.model_path)
    except ValueError as error:  # non-finite weights: every trial diverged
        raise SystemExit(f"error: {error} {args.model_path} was left as it was.")
    print(f"Saved the best model to {os.path.relpath(args.model_path)}")
    return tuner, best


if __name__ == "__main__":
    main()
