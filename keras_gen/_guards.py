"""Training guards: stop on non-finite losses, back up and resume exactly.

Public through ``keras_gen.callbacks``.
"""

import json
import math
import numbers
import os
import shutil
import tempfile
import warnings

import keras
from keras import ops

from keras_gen import _checks as checks
from keras_gen import backend
from keras_gen.models._saving import _remove_stale_temporaries


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or Inf during training (raised by ``TerminateOnNaN(raise_error=True)``)."""


class BackupMismatchError(ValueError):
    """A ``BackupAndRestore`` backup does not fit the model being trained.

    Raised at the start of ``fit`` when the backup's weights or optimizer
    state do not match the model's (another architecture, or an optimizer
    with other state, such as an EMA of the weights added or removed).
    """


def _loss_keys(logs, monitor):
    if monitor is not None:
        return [key for key in monitor if key in logs]
    keys = [key for key in logs if str(key).endswith("loss")]
    return keys or list(logs)


class TerminateOnNaN(keras.callbacks.TerminateOnNaN):
    """Stop training at the first NaN or Inf loss, whatever the losses are called.

    ``keras.callbacks.TerminateOnNaN`` reads ``logs["loss"]`` only, which a
    ``GAN`` does not log (it logs ``d_loss`` and ``g_loss``). This callback
    checks every logged key ending in ``"loss"`` after each training batch
    and at the end of each epoch (where ``val_*loss`` keys appear too); when
    the logs have no such key it checks every numeric value. The message
    names the key, the value, the batch and the epoch. At the end of each
    epoch it also checks the model's weights, which can turn NaN while the
    losses stay finite (an activation like TensorFlow's relu maps NaN to 0),
    and stops the same way, naming the first non-finite variable.

    Every keras-gen model's ``fit`` adds one with ``raise_error=True`` unless
    the callbacks already hold one or ``fit(terminate_on_nan=False)``; a plain
    ``keras.callbacks.TerminateOnNaN`` given to ``fit`` is replaced by this
    one with the same ``raise_error``.

    Args:
        raise_error: bool. False (Keras' default): print the message and stop
            training gracefully (``model.stop_training = True``; the epoch's
            end and ``on_train_end`` of the other callbacks still run, so a
            ``keras.callbacks.BackupAndRestore`` deletes its backup). True:
            raise :class:`NonFiniteLossError` at once, before any later
            callback of the same batch runs (a backup or checkpoint of the
            bad step is never written and the last good one stays).
        monitor: None (default: the keys described above) or a list of log
            keys to check.

    Attributes:
        stopped: None, or ``(key, value, epoch, batch)`` of the non-finite
            loss that stopped training.

    Example:

    >>> import keras_gen
    >>> guard = keras_gen.callbacks.TerminateOnNaN(raise_error=True)
    >>> # gan.fit(x, epochs=5, callbacks=[guard])
    """

    def __init__(self, raise_error=False, monitor=None):
        super().__init__(raise_error=checks.boolean("raise_error", raise_error))
        if monitor is not None:
            if isinstance(monitor, str):
                monitor = [monitor]
            if not isinstance(monitor, (list, tuple)) or not all(
                isinstance(key, str) for key in monitor
            ) or not monitor:
                raise checks.ArgumentTypeError(
                    "monitor must be None or a non-empty list of log keys (str). "
                    f"Received: monitor={monitor!r}"
                )
            monitor = list(monitor)
        self.monitor = monitor
        self.stopped = None
        self._epoch = 0

    def on_train_begin(self, logs=None):
        self.stopped = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_batch_end(self, batch, logs=None):
        self._check(logs, batch)

    def on_epoch_end(self, epoch, logs=None):
        self._epoch = epoch
        self._check(logs, None)
        if self.stopped is None:
            self._check_weights()

    def _check_weights(self):
        # A NaN can reach the weights while every logged loss stays finite
        # (TensorFlow's relu maps NaN to 0, so a network whose first layer
        # went NaN outputs a constant): the weights are checked once an epoch.
        from keras_gen.models import _saving

        found = _saving.non_finite_variables(self.model)
        if not found:
            return
        path, n_nan, n_inf = found[0]
        self.stopped = (f"weights:{path}", math.nan if n_nan else math.inf, self._epoch, None)
        message = (
            f"Non-finite weights at the end of epoch {self._epoch + 1} although the "
            f"logged losses are finite: {len(found)} variable(s), the first {path} "
            f"({n_nan} NaN, {n_inf} Inf); training stops. A NaN or Inf in a batch "
            "after the first (only the first batch of a stream is checked before "
            "training) or a diverging step can do this when an activation such as "
            "relu hides it from the loss. Check the data, lower the learning rate, "
            "or resume from a backup made before this."
        )
        self._stop(message)

    def _stop(self, message):
        """Raise ``NonFiniteLossError``, or print ``message`` and stop training."""
        if self.raise_error:
            raise NonFiniteLossError(message)
        print(message, flush=True)
        self.model.stop_training = True

    def _check(self, logs, batch):
        if not logs or self.stopped is not None:
            return
        for key in _loss_keys(logs, self.monitor):
            value = logs[key]
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                try:
                    value = float(value)
                except (TypeError, ValueError):
                    continue
            if math.isfinite(value):
                continue
            self.stopped = (key, float(value), self._epoch, batch)
            where = (
                f"at the end of epoch {self._epoch + 1}"
                if batch is None
                else f"at batch {batch} of epoch {self._epoch + 1}"
            )
            message = (
                f"Non-finite loss: {key}={value} {where}; training stops. The "
                "weights may be non-finite now (saving them raises "
                "keras_gen.NonFiniteWeightsError). Lower the learning rate, check "
                "the data for NaN/Inf, or resume from a backup made before this."
            )
            self._stop(message)
            return


def with_nan_guard(callbacks, terminate_on_nan):
    """``callbacks`` as a list that holds a keras-gen ``TerminateOnNaN`` (first) if asked.

    A plain ``keras.callbacks.TerminateOnNaN`` is replaced by the keras-gen
    one with the same ``raise_error``; without any, a
    ``TerminateOnNaN(raise_error=True)`` is put first, so that it runs
    before backups and checkpoints of the same batch.
    """
    terminate_on_nan = checks.boolean("terminate_on_nan", terminate_on_nan)
    if callbacks is None:
        callbacks = []
    elif isinstance(callbacks, keras.callbacks.Callback):
        callbacks = [callbacks]
    elif isinstance(callbacks, keras.callbacks.CallbackList):
        return callbacks
    else:
        callbacks = list(callbacks)
    if not terminate_on_nan:
        return callbacks
    guarded = False
    for index, callback in enumerate(callbacks):
        if isinstance(callback, TerminateOnNaN):
            guarded = True
        elif isinstance(callback, keras.callbacks.TerminateOnNaN):
            callbacks[index] = TerminateOnNaN(raise_error=callback.raise_error)
            guarded = True
    if not guarded:
        callbacks.insert(0, TerminateOnNaN(raise_error=True))
    return callbacks


class BackupAndRestore(keras.callbacks.BackupAndRestore):
    """``keras.callbacks.BackupAndRestore`` that resumes exactly, even mid-epoch.

    Keras' callback restores the weights of a mid-epoch backup
    (``save_freq=N`` steps) but restarts that epoch from its first batch, so
    the batches before the backup are trained twice. This one records how
    many batches of the epoch the backup holds; on resume it runs those
    batches again only to advance the data (each step's result is discarded:
    the backup is reloaded after the last of them), then trains on from the
    next batch. With keras-gen models the backup holds every random state
    too (latent, prior and ``Sampling`` SeedGenerators), so a run killed at
    any point and resumed ends with the weights of the uninterrupted run,
    provided the resumed epoch sees the same order of data. For an array
    with ``shuffle=True`` on JAX and PyTorch the backup holds the global
    generator state Keras shuffles with (NumPy's, PyTorch's) as it was when
    the epoch began, and restores it, so the order repeats; on TensorFlow
    (``tf.data`` op seeds) it does not: use ``shuffle=False`` or a pipeline
    whose order within an epoch depends only on the epoch. See README,
    "Reliability".

    A ``save_freq=N`` backup that falls on an epoch's last batch is written
    at the end of that epoch (``on_epoch_end``, where ``save_freq="epoch"``
    writes), not at the end of the batch: the next epoch resumes from it and
    must hold the generators as that epoch will shuffle with them, and they
    still move after the last batch (PyTorch draws from its generator when
    Keras makes the next epoch's ``DataLoader`` iterator, and again in
    validation). A run killed in between resumes from the backup before,
    and repeats the batches since. A mid-epoch backup resumes only a run of
    as many steps per epoch as the run that wrote it (the same
    ``batch_size``, ``steps_per_epoch`` and data): otherwise ``fit`` raises a
    ``ValueError`` (where either count is unknown, as for an unsized
    dataset, nothing is checked; a backup at an epoch's end resumes at the
    next epoch's start whatever its length).

    Also: a backup is written atomically (weights first, then the small
    metadata file; a keras-gen model's weights file is renamed into place
    complete, and a kill between the two files is detected from the
    optimizer's step count and corrected); the epoch recorded by a backup
    made in a resumed epoch is that epoch (not 0). Skipped batches are shown
    by the progress bar; the resumed epoch's logged means cover the batches
    after the backup. Exact skipping assumes ``steps_per_execution=1``.

    Several processes (``keras_gen.distribute.initialize``): only the chief
    (process 0) writes and deletes the backup (the others save into a
    scratch folder, deleted at once, so that any collective work of saving
    runs everywhere); every process restores from it at the start of
    ``fit``, so all of them resume from the same state.
    ``backup_dir`` must therefore be one folder that every process reads (one
    host, or a filesystem shared by the hosts). Keras' own
    ``BackupAndRestore`` has every process write the same files.

    Args: as ``keras.callbacks.BackupAndRestore`` (``backup_dir``,
        ``save_freq``, ``double_checkpoint``, ``delete_checkpoint``).
    """

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False,
                 delete_checkpoint=True):
        if not isinstance(backup_dir, (str, os.PathLike)) or not os.fspath(backup_dir):
            raise (ValueError if isinstance(backup_dir, str) else TypeError)(
                f"backup_dir must be a non-empty path. Received: backup_dir={backup_dir!r}")
        backup_dir = os.fspath(backup_dir)
        if save_freq != "epoch":
            save_freq = checks.positive_int("save_freq", save_freq)
        double_checkpoint = checks.boolean("double_checkpoint", double_checkpoint)
        delete_checkpoint = checks.boolean("delete_checkpoint", delete_checkpoint)
        super().__init__(
            backup_dir,
            save_freq=save_freq,
            double_checkpoint=double_checkpoint,
            delete_checkpoint=delete_checkpoint,
        )
        self._steps_done = 0
        self._skip = 0
        self._skip_epoch = None
        self._skipping = False
        self._epoch_rng = None
        self._resume_rng = None
        self._save_at_epoch_end = False

    # ------------------------------------------------------------- restore
    def _load_model(self):
        def mismatch(detail):
            return BackupMismatchError(
                f"The backup in {self.backup_dir} does not fit this model (made by "
                "another model, architecture or optimizer? Use a backup_dir per model, or "
                f"delete it to start afresh). Keras said: {detail}"
            )

        if (os.path.exists(self._training_metadata_path)
                and not os.path.exists(self._weights_path)):
            # The first backup writes its metadata before its weights: a kill
            # between the two leaves metadata of weights that never landed.
            try:
                os.remove(self._training_metadata_path)
            except FileNotFoundError:  # several processes restore: another removed it
                pass
        self._check_steps_per_epoch()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                super()._load_model()
            except ValueError as error:
                raise mismatch(error) from error
        for warning in caught:
            # Keras loads the weights but skips an optimizer whose variables
            # differ in number (for instance an EMA added or removed), with a
            # warning only: training would go on from a fresh optimizer.
            if "Skipping variable loading for optimizer" in str(warning.message):
                raise mismatch(str(warning.message).strip())
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)
        self._skip, self._skip_epoch, self._resume_rng = 0, None, None
        if not os.path.exists(self._training_metadata_path):
            return
        with open(self._training_metadata_path) as f:
            metadata = json.load(f)
        if "steps_done" not in metadata:
            return
        epoch, steps_done = int(metadata["epoch"]), int(metadata["steps_done"])
        recorded_epoch = epoch
        saved = metadata.get("iterations")
        loaded = _iterations(self.model)
        if saved is not None and loaded is not None and loaded != saved:
            steps = metadata.get("steps_per_epoch")
            if not steps:
                warnings.warn(
                    f"The backup in {self.backup_dir} has weights from optimizer step "
                    f"{loaded} but metadata from step {saved} (interrupted between "
                    "the two writes); resuming at the metadata's position.",
                    RuntimeWarning,
                )
            else:
                epoch, steps_done = divmod(epoch * steps + steps_done + loaded - saved, steps)
        self.model._initial_epoch = epoch
        if steps_done:
            self._skip, self._skip_epoch = steps_done, epoch
        if metadata.get("shuffle_rng") is not None:
            if epoch == recorded_epoch:
                self._resume_rng = (epoch, metadata["shuffle_rng"])
            else:
                warnings.warn(
                    f"The backup in {self.backup_dir} resumes in epoch {epoch + 1} but "
                    f"holds the shuffling state of epoch {recorded_epoch + 1}: a "
                    "shuffled epoch will not see the uninterrupted run's order.",
                    RuntimeWarning,
                )

    def _check_steps_per_epoch(self):
        # A backup's position (steps_done) counts batches of the run that
        # wrote it: in an epoch of other length the skipped batches would be
        # other data, and a position past the epoch's end never comes (the
        # skipped batches would be trained on, the backup never reloaded).
        if not os.path.exists(self._training_metadata_path):
            return
        with open(self._training_metadata_path) as f:
            metadata = json.load(f)
        # an epoch-end backup (steps_done 0) holds no position inside an epoch
        recorded = metadata.get("steps_per_epoch") if metadata.get("steps_done") else None
        steps = (self.params or {}).get("steps")
        if recorded and steps and int(recorded) != int(steps):
            raise ValueError(
                f"The backup in {self.backup_dir} was written by a run of {recorded} steps "
                f"per epoch; this run has {steps} (a different batch_size, steps_per_epoch "
                "or dataset). Resume with the same batch_size, steps_per_epoch and data, or "
                f"delete {self.backup_dir} to start over."
            )

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch
        # Keras draws a shuffled epoch's order after this call: restore the
        # generators to their state at the start of the backed-up epoch.
        if self._resume_rng is not None and self._resume_rng[0] == epoch:
            backend.set_shuffle_rng_state(self._resume_rng[1])
        self._resume_rng = None
        self._epoch_rng = backend.shuffle_rng_state()
        self._skipping = bool(self._skip) and epoch == self._skip_epoch
        self._save_at_epoch_end = False

    def on_train_batch_end(self, batch, logs=None):
        if self._skipping:
            if batch + 1 >= self._skip:
                self._end_skip(batch)
            return
        if self._should_save_on_batch(batch):
            steps = (self.params or {}).get("steps")
            if steps and batch + 1 >= steps:
                # The epoch's last batch: the backup resumes at the next
                # epoch, whose shuffling state is only final at on_epoch_end.
                self._save_at_epoch_end = True
                return
            self._steps_done = batch + 1
            self._save_model()
            self._steps_done = 0

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)  # save_freq="epoch" saves here
        if self._save_at_epoch_end:
            self._save_at_epoch_end = False
            self._steps_done = 0
            self._save_model()

    def _end_skip(self, batch):
        model = self.model  # on JAX, reading it writes the jitted state back
        sync = getattr(model, "jax_state_sync", None)
        if sync is not None:
            sync()
        model.load_weights(self._weights_path)
        model.reset_metrics()
        self._skipping = False
        self._skip, self._skip_epoch = 0, None
        self._last_batch_seen = batch
        self._batches_seen_since_last_saving = 0

    # ---------------------------------------------------------------- save
    def on_train_end(self, logs=None):
        # Only the chief deletes the backup it wrote.
        if backend.process_index() == 0 and self.delete_checkpoint:
            self.delete_backup()

    def delete_backup(self):
        """Delete this callback's backup: its own files (weights, metadata, the
        ``double_checkpoint`` copies and temporaries of killed writes), then
        ``backup_dir`` itself if that leaves it empty. Other files in
        ``backup_dir`` are never touched (Keras' callback deletes the whole
        folder)."""
        own = [self._weights_path, self._training_metadata_path, self._prev_weights_path,
               self._prev_training_metadata_path]
        for path in own:
            if os.path.isfile(path):
                os.remove(path)
        if not os.path.isdir(self.backup_dir):
            return
        names = {os.path.basename(path) for path in own}
        # the weights file's atomic-save temporaries of killed processes
        _remove_stale_temporaries(self.backup_dir, os.path.basename(self._weights_path),
                                  ".weights.h5")
        for name in os.listdir(self.backup_dir):
            # metadata / copy temporaries ("<file>.tmp-PID")
            if any(name.startswith(f"{own_name}.tmp-") for own_name in names):
                try:
                    os.remove(os.path.join(self.backup_dir, name))
                except OSError:
                    pass
        try:
            os.rmdir(self.backup_dir)
        except OSError:  # not empty (the user's files), or the working directory
            pass

    def _save_model(self):
        if backend.process_index() == 0:
            return self._write_backup()
        # Several processes: the chief's backup is the one. The others go
        # through the same save (it can hold collective work: on JAX, reading
        # the model syncs the step's state into replicated variables) into a
        # scratch folder, deleted at once.
        paths = ("backup_dir", "_weights_path", "_training_metadata_path",
                 "_prev_weights_path", "_prev_training_metadata_path")
        kept = {name: getattr(self, name) for name in paths}
        scratch = tempfile.mkdtemp(prefix=f"keras_gen-backup-process{backend.process_index()}-")
        try:
            for name in paths:
                setattr(self, name, os.path.join(scratch, os.path.basename(kept[name])))
            self._write_backup()
        finally:
            for name, value in kept.items():
                setattr(self, name, value)
            shutil.rmtree(scratch, ignore_errors=True)

    def _write_backup(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint and os.path.exists(self._weights_path):
            _copy(self._weights_path, self._prev_weights_path)
        if self.double_checkpoint and os.path.exists(self._training_metadata_path):
            _copy(self._training_metadata_path, self._prev_training_metadata_path)
        # Mid-epoch (steps_done batches of the current epoch done), or at an
        # epoch's end (on_epoch_end: _current_epoch is the next one, steps_done 0).
        epoch, steps_done = self._current_epoch, self._steps_done
        metadata = {
            "epoch": epoch,
            "batch": self._last_batch_seen,
            "steps_done": steps_done,
            "steps_per_epoch": (self.params or {}).get("steps"),
            "iterations": _iterations(self.model),
            # The order generators as they were when the epoch to resume in
            # began (at an epoch's end: now, when that epoch has not begun yet
            # and the ended one no longer draws from them).
            "shuffle_rng": backend.shuffle_rng_state() if steps_done == 0 else self._epoch_rng,
        }
        if not os.path.exists(self._weights_path):
            # The first backup: metadata, then weights (a restore ignores
            # metadata without weights), so that a kill between the two never
            # leaves weights without the epoch they belong to. Later backups
            # write weights first; a kill between the two files is corrected
            # from the optimizer's step count (_load_model).
            self._write_metadata(metadata)
        self.model.save_weights(filepath=self._weights_path, overwrite=True)
        self._write_metadata(metadata)

    def _write_metadata(self, metadata):
        temporary = f"{self._training_metadata_path}.tmp-{os.getpid()}"
        with open(temporary, "w") as f:
            f.write(json.dumps(metadata))
        os.replace(temporary, self._training_metadata_path)


def _copy(source, target):
    temporary = f"{target}.tmp-{os.getpid()}"
    with open(source, "rb") as f_in, open(temporary, "wb") as f_out:
        f_out.write(f_in.read())
    os.replace(temporary, target)


def _iterations(model):
    iterations = getattr(getattr(model, "optimizer", None), "iterations", None)
    if iterations is None:
        return None
    return int(ops.convert_to_numpy(iterations))
