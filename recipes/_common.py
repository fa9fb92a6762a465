"""What every recipe shares: start-up, determinism, NaN handling, safe writes.

Kept free of Keras, TensorFlow and keras_gen imports at module level, so a
recipe parses its arguments (and answers ``--help``) before any of them load.
"""

import argparse
import json
import math
import os
import sys
import zipfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

OUTPUTS_NOTE = (
    "Relative output paths (the defaults included) are relative to the current "
    "working directory, not to the checkout."
)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter,
                    argparse.RawDescriptionHelpFormatter):
    """Defaults after each option (none when the default is None: the help says
    what an unset option means); the description as written."""

    def _get_help_string(self, action):
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


# TensorFlow splits an op's work (sums included) into one block per intra-op
# thread, so the thread count changes the rounding: pinning it makes a run
# repeat its numbers on any machine, whatever its cores or load. Two is the
# count the README's numbers were measured with.
DETERMINISTIC_THREADS = 2


def seed(text):
    """argparse type of ``--seed``: an int in ``[0, 2**31)``, what every backend's seeding takes."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an int. Received: --seed={text}") from None
    if not 0 <= value < 2**31:
        raise argparse.ArgumentTypeError(f"must be an int in [0, 2**31). Received: --seed={text}")
    return value


def check_flags(parser, args, positive_ints=(), non_negative_ints=(), positive_floats=(),
                non_negative_floats=(), finite_floats=()):
    """Usage errors (exit 2, one line) for flags outside their range, named by flag.

    Each tuple holds ``args`` attribute names; a None value (a flag's "unset")
    passes, a list (``nargs``) is checked item by item. Floats must be finite.
    """
    import math

    rules = [(positive_ints, lambda v: v >= 1, "must be >= 1"),
             (non_negative_ints, lambda v: v >= 0, "must be >= 0"),
             (positive_floats, lambda v: math.isfinite(v) and v > 0, "must be a finite number > 0"),
             (non_negative_floats, lambda v: math.isfinite(v) and v >= 0, "must be a finite number >= 0"),
             (finite_floats, math.isfinite, "must be finite")]
    for names, ok, rule in rules:
        for name in names:
            value = getattr(args, name)
            for item in (value if isinstance(value, list) else [value]):
                if item is not None and not ok(item):
                    flag = "--" + name.replace("_", "-")
                    shown = " ".join(str(v) for v in value) if isinstance(value, list) else value
                    parser.error(f"{flag} {rule}. Received: {flag}={shown}")


def _blocking_ancestor(path):
    """Why a folder cannot be made at ``path`` (its nearest existing ancestor is
    a file, or a folder this process may not write), or None."""
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        return f"{parent} is a file"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"the folder {parent} is not writable"
    return None


def check_out_dir(parser, flag, path):
    """Usage error (exit 2) unless ``path`` is a folder or one can be made there.

    For an output folder checked before any work: ``os.makedirs`` would fail
    only when the files are written, after training.
    """
    if not path:
        parser.error(f"{flag} must name a folder. Received: {flag}=''")
    if os.path.exists(path) and not os.path.isdir(path):
        parser.error(f"{flag} must be a folder; {path} is a file. Received: {flag}={path}")
    if os.path.isdir(path):
        writable = os.access(path, os.W_OK | os.X_OK)
        reason = None if writable else f"the folder {os.path.abspath(path)} is not writable"
    else:
        reason = _blocking_ancestor(path)
    if reason:
        parser.error(f"{flag} cannot be written to ({reason}). Received: {flag}={path}")


def check_keras_path(parser, flag, path):
    """Usage error (exit 2) unless :func:`save_keras` can write a ``.keras`` file at ``path``.

    The name must end in ``.keras`` and not be a folder; a missing folder on
    the way is fine (``save_keras`` makes it), a file in its place is not.
    """
    if not path.endswith(".keras"):
        parser.error(f"{flag} must be a .keras file path. Received: {flag}={path}")
    if os.path.isdir(path):
        parser.error(f"{flag} must be a .keras file path; {path} is a folder. Received: {flag}={path}")
    reason = _blocking_ancestor(path)
    if reason:
        parser.error(f"{flag} cannot be written ({reason}). Received: {flag}={path}")


CELEBA_ALIGNED_SIZE = (178, 218)  # img_align_celeba's images, width x height
CELEBA_CROP = 140  # the usual central face crop of them


def add_center_crop_flag(parser):
    parser.add_argument(
        "--center-crop", type=int, default=None,
        help="crop each --data-dir image to its central N x N pixels before resizing (0: no "
             f"crop); default {CELEBA_CROP} (the usual face crop) when the folder's first image "
             f"is CelebA's aligned {CELEBA_ALIGNED_SIZE[0]}x{CELEBA_ALIGNED_SIZE[1]}, else no crop")


def folder_images(folder):
    """The sorted names of the image files ``from_folder`` reads in ``folder``."""
    from keras_gen.data.folder import IMAGE_EXTENSIONS

    return sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS))


def center_crop(args, error):
    """``from_folder``'s ``center_crop`` for ``args.data_dir`` (a usage error
    unless it is a folder): --center-crop as given (0: None), else CELEBA_CROP
    when the first image (by name) is CelebA-sized. ``error(message)``
    reports a usage error (exit 2)."""
    if not os.path.isdir(args.data_dir):
        error(f"--data-dir must be an existing folder of images. "
                     f"Received: --data-dir={args.data_dir}")
    if args.center_crop is not None:
        if args.center_crop < 0:
            error(f"--center-crop must be >= 0. Received: --center-crop={args.center_crop}")
        return args.center_crop or None
    from PIL import Image

    try:
        names = folder_images(args.data_dir)
    except OSError:
        return None  # from_folder names the folder
    for name in names[:1]:
        try:
            with Image.open(os.path.join(args.data_dir, name)) as image:
                size = image.size
        except OSError:
            return None  # from_folder names the file
        if size == CELEBA_ALIGNED_SIZE:
            return CELEBA_CROP
    return None


def add_deterministic_flag(parser, default):
    parser.add_argument(
        "--deterministic", action=argparse.BooleanOptionalAction, default=default,
        help="TensorFlow: deterministic ops (tf.config.experimental.enable_op_determinism) "
             f"and {DETERMINISTIC_THREADS} intra-op threads whatever the machine, so a run "
             "repeats its numbers exactly (the README's included), whatever the machine's "
             "load or number of cores; on a machine with more cores it uses only "
             f"{DETERMINISTIC_THREADS} per op. JAX and PyTorch: seeds only, as without it")


def add_distribute_flag(parser):
    parser.add_argument(
        "--distribute", action="store_true",
        help="train data-parallel (keras_gen.distribute.data_parallel): on every local device "
             "(jax and tensorflow), or, started once per process by a launcher such as "
             "'torchrun --nproc-per-node 2' (any backend), across the processes; --batch-size "
             "is the global batch. Only process 0 writes files")
    parser.add_argument(
        "--watchdog", type=float, default=None, metavar="SECONDS",
        help="end the process (exit 75) when training makes no progress for SECONDS "
             "(keras_gen.callbacks.Watchdog; the first step may take 10x as long): under "
             "several processes, a process whose peer died stops instead of waiting")


def launched_processes():
    """The number of processes a launcher started (torchrun's WORLD_SIZE), 1 if none."""
    world_size = os.environ.get("WORLD_SIZE")
    try:
        return max(1, int(world_size)) if world_size else 1
    except ValueError:
        return 1  # keras_gen.distribute.initialize names the malformed variable


def start(args):
    """Import Keras after argument parsing; join the processes; seed; apply --deterministic.

    Returns the ``keras`` module. Must run before any TensorFlow op executes:
    thread settings cannot change once TensorFlow's runtime has started.
    With ``--distribute`` under a launcher (``WORLD_SIZE`` set) it calls
    ``keras_gen.distribute.initialize()`` before anything runs on the
    backend; without ``--distribute`` such a launch is an error (each
    process would train alone and write the same files). In a process other
    than the chief, ``args.verbose`` becomes 0 and :func:`status` is quiet.
    """
    global _CHIEF
    if REPO not in sys.path:
        sys.path.insert(0, REPO)  # run from a checkout without installing
    # Keep TensorFlow's C++ info logs (XLA, SavedModel loading) out of the output.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    processes = launched_processes()
    if processes > 1 and not getattr(args, "distribute", False):
        print(f"error: this process is one of {processes} started together (WORLD_SIZE={processes}, "
              "as torchrun sets it); pass --distribute to train them together, or start one "
              "process without a launcher", file=sys.stderr)
        raise SystemExit(2)
    import keras

    if getattr(args, "deterministic", False) and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        if tf.config.threading.get_intra_op_parallelism_threads() != DETERMINISTIC_THREADS:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(DETERMINISTIC_THREADS)
            except RuntimeError as error:  # TensorFlow's runtime started before this call
                raise SystemExit(
                    "error: --deterministic must set TensorFlow's intra-op threads before "
                    f"TensorFlow runs any op ({error}); run the recipe in a fresh process "
                    "or pass --no-deterministic") from None
    if getattr(args, "distribute", False) and processes > 1:
        import keras_gen

        keras_gen.distribute.initialize()
        _CHIEF = keras_gen.distribute.is_chief()
        if not _CHIEF:
            args.verbose = 0
    keras.utils.set_random_seed(args.seed)
    return keras


_CHIEF = True


def is_chief():
    """Whether this process writes the recipe's files (process 0, or the only one)."""
    return _CHIEF


def status(message):
    """One progress line, shown at once (by the chief only)."""
    if _CHIEF:
        print(message, flush=True)


def data_parallel_line(keras_gen, scope, batch_size):
    """The line that says how a ``--distribute`` run trains."""
    processes = keras_gen.distribute.process_count()
    replicas = getattr(scope, "num_replicas", None)
    if processes > 1:
        return (f"Data-parallel over {processes} processes"
                f"{f' ({replicas} replicas)' if replicas else ''}; global batch {batch_size}")
    return f"Data-parallel on {replicas} devices; global batch {batch_size}"


def whole_batches(x, batch_size, what, replicas):
    """``x`` cut to whole batches for ``--distribute`` over ``replicas`` devices
    of one process (a last, smaller batch does not split evenly over them on
    TensorFlow and JAX), with a status line; unchanged for one replica."""
    if replicas <= 1:
        return x
    keep = len(x) - len(x) % batch_size
    if keep < len(x):
        status(f"--distribute: training on {keep} of the {len(x)} {what} (whole batches of "
               f"{batch_size}; the last {len(x) - keep} would not split evenly over the devices)")
    return x[:keep]


def watchdog_callbacks(args):
    """``[keras_gen.callbacks.Watchdog]`` when ``--watchdog`` is given, else ``[]``.

    The first step (tracing, compiling) may take ten times ``--watchdog``.
    """
    if getattr(args, "watchdog", None) is None:
        return []
    import keras_gen

    return [keras_gen.callbacks.Watchdog(args.watchdog, startup_timeout=10 * args.watchdog)]


def nan_callback():
    """keras_gen's TerminateOnNaN: stops at the first NaN/Inf loss of any model kind.

    It stops gracefully (the epoch's end still runs), so callbacks that write
    files go through :func:`skip_non_finite_epochs`, and :func:`stop_if_non_finite`
    runs after ``fit``.
    """
    import keras_gen

    return keras_gen.callbacks.TerminateOnNaN()


def _non_finite(logs):
    """The logged values that are NaN or infinite, by name."""
    bad = {}
    for key, value in (logs or {}).items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if not math.isfinite(number):
            bad[key] = number
    return bad


def skip_non_finite_epochs(callback, also_train_end=False):
    """Run ``callback.on_epoch_end`` only after an epoch with finite logs and weights.

    A sample grid or backup of a diverged model would otherwise overwrite
    the one a good earlier run left. With ``also_train_end``,
    ``on_train_end`` is skipped too when the weights are non-finite (so
    ``BackupAndRestore`` keeps the last good backup instead of deleting it).
    Returns ``callback``.
    """
    on_epoch_end, on_train_end = callback.on_epoch_end, callback.on_train_end

    def guarded_epoch_end(epoch, logs=None):
        if _non_finite(logs) or not weights_finite(callback.model):
            return None
        return on_epoch_end(epoch, logs)

    def guarded_train_end(logs=None):
        if not weights_finite(callback.model):
            return None
        return on_train_end(logs)

    callback.on_epoch_end = guarded_epoch_end
    if also_train_end:
        callback.on_train_end = guarded_train_end
    return callback


def weights_finite(model):
    """True when every floating-point weight of ``model`` is finite."""
    from keras_gen.models._saving import non_finite_variables

    return not non_finite_variables(model)


def check_finite(model, action):
    """Raise when ``model`` holds non-finite weights (before saving or exporting)."""
    from keras_gen.models.base import check_finite_weights

    check_finite_weights(model, action)


def stop_if_non_finite(model, history, kept):
    """Exit with a message when training produced NaN/Inf losses or weights.

    ``kept`` names the artefacts left as they were. Nothing is saved after
    this point when it fires.
    """
    bad_epochs = [
        (epoch, {k: v[epoch] for k, v in history.history.items()
                 if epoch < len(v) and not math.isfinite(float(v[epoch]))})
        for epoch in range(max((len(v) for v in history.history.values()), default=0))
    ]
    bad_epochs = [(e, b) for e, b in bad_epochs if b]
    weights_ok = weights_finite(model)
    if not bad_epochs and weights_ok:
        return
    where = (f"at epoch {bad_epochs[0][0] + 1} ({', '.join(f'{k}={v}' for k, v in bad_epochs[0][1].items())})"
             if bad_epochs else "with finite losses but non-finite weights")
    raise SystemExit(
        f"error: training diverged {where}: the losses or weights are NaN/Inf, so training "
        f"stopped and nothing was saved ({', '.join(kept)} left as they were). "
        "Try a lower --learning-rate.")


def save_keras(model, path, note=None):
    """Save ``model`` to ``path`` through a temporary sibling, then os.replace.

    A failed or interrupted save leaves any earlier file at ``path`` intact,
    and a model with non-finite weights is refused before anything is written.
    The write is keras-gen's own atomic save (``models._saving``), which a
    plain ``keras.Model`` such as a GAN's generator does not get from
    ``model.save``.

    ``note``: None or a JSON-serialisable dict (e.g. how many epochs the
    model has trained) stored as the ZIP comment of the ``.keras`` archive,
    inside the same atomic write; Keras ignores it when loading, and
    :func:`read_note` reads it back.
    """
    from keras_gen.models._saving import _write_atomically

    check_finite(model, "save")
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    comment = None if note is None else json.dumps(note, sort_keys=True).encode()

    def write(target):
        model.save(target)
        if comment is not None:
            with zipfile.ZipFile(target, "a") as archive:
                archive.comment = comment

    _write_atomically(write, path, ".keras", overwrite=True)
    return path


def read_note(path):
    """The dict that ``save_keras(..., note=...)`` stored in ``path``, or None.

    None too when ``path`` is not a ZIP archive or has no such note.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            comment = archive.comment
    except (OSError, zipfile.BadZipFile):
        return None
    try:
        note = json.loads(comment.decode("utf-8"))
    except ValueError:  # no comment (b""), or not JSON
        return None
    return note if isinstance(note, dict) else None
