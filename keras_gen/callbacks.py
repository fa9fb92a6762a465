"""Keras callbacks that show what a generative model has learned, and guard training."""

import os
import sys
import threading
import time

import keras
import numpy as np

from keras_gen import _checks as checks
from keras_gen import backend
from keras_gen import images
from keras_gen._guards import BackupAndRestore  # noqa: F401 (public)
from keras_gen._guards import BackupMismatchError  # noqa: F401 (public)
from keras_gen._guards import NonFiniteLossError  # noqa: F401 (public)
from keras_gen._guards import TerminateOnNaN  # noqa: F401 (public)
from keras_gen.models.base import GenerativeModel


class SampleGrid(keras.callbacks.Callback):
    """Decode a fixed latent batch into a PNG grid at the end of epochs.

    The latent batch is drawn once, from ``seed``, so grids are comparable
    across epochs and runs. The model is asked through the keras-gen model
    protocol: its ``latent_dim``, its ``decoding_network`` (a GAN's
    generator, a VAE's or AutoEncoder's decoder) and its ``output_range``
    (see ``keras_gen.models.GenerativeModel.output_range``).

    Args:
        out_dir: str, folder for the PNGs (created if missing).
        num_images: int > 0, images per grid. Defaults to 64.
        cols: int or None, images per row (default: square-ish).
        seed: int, seed of the fixed latent batch. Defaults to 0.
        every: int > 0, write a grid every ``every`` epochs (and after the
            last one). Defaults to 1.
        value_range: pair or None, the decoder's output range; None takes
            the model's ``output_range``.
        log_dir: str or None, also log the grid as a TensorBoard image there.
        filename: str, file name pattern with ``{epoch}`` (1-based).
            Defaults to ``"epoch_{epoch:03d}.png"``.
        scale: int >= 1, pixel enlargement of the PNG. Defaults to 2.
        labels: what a conditional model (``keras_gen.ConditionalGAN``,
            ``ConditionalVAE``) generates: one label for all images, or one
            per image (class ids or attribute vectors). None (default) means
            classes ``0, 1, ..., num_classes - 1`` in turn for a class-
            conditional model (with ``cols=num_classes`` a row shows every
            class); an attribute-conditional model needs labels. Must be
            None for an unconditional model.

    Several processes (``keras_gen.distribute.initialize``): every process
    decodes the grid (so that any collective work stays in step), only the
    chief (process 0) writes the PNG and the TensorBoard image; ``paths``
    stays empty in the others.

    Example:

    >>> import keras_gen
    >>> cb = keras_gen.callbacks.SampleGrid("outputs/samples", num_images=16, seed=1)
    >>> # model.fit(x, epochs=5, callbacks=[cb])
    """

    def __init__(
        self,
        out_dir,
        num_images=64,
        cols=None,
        seed=0,
        every=1,
        value_range=None,
        log_dir=None,
        filename="epoch_{epoch:03d}.png",
        scale=2,
        labels=None,
    ):
        super().__init__()
        num_images = checks.positive_int("num_images", num_images)
        cols = checks.positive_int("cols", cols, allow_none=True)
        seed = checks.seed("seed", seed)
        every = checks.positive_int("every", every)
        scale = checks.positive_int("scale", scale)
        if value_range is not None:
            value_range = checks.value_range("value_range", value_range)
        if not isinstance(filename, str):
            raise TypeError(f"filename must be a str. Received: filename={filename!r}")
        try:
            # checked now, not at the end of the first epoch
            names = {filename.format(epoch=epoch) for epoch in (1, 2)}
        except (KeyError, IndexError, ValueError, AttributeError, TypeError) as error:
            raise ValueError(
                "filename must be a str.format pattern whose only field is {epoch} (an int). "
                f"Received: filename={filename!r} ({type(error).__name__}: {error})"
            ) from None
        if "{epoch" not in filename or len(names) < 2:
            raise ValueError(
                f"filename must contain an {{epoch}} field. Received: filename={filename!r}"
            )
        self.out_dir = str(out_dir)
        self.num_images = num_images
        self.cols = cols
        self.seed = seed
        self.every = every
        self.value_range = value_range
        self.log_dir = log_dir
        self.filename = filename
        self.scale = scale
        self.labels = labels
        self.paths = []
        self._z = None
        self._writer = None

    def _check_model(self):
        if not isinstance(self.model, GenerativeModel):
            raise ValueError(
                "SampleGrid needs a keras-gen model (keras_gen.GAN, VAE, AutoEncoder: "
                "one with a latent_dim, a decoding_network and an output_range). "
                f"Received: {type(self.model).__name__}"
            )
        return self.model

    def latent_batch(self):
        """The fixed latent batch (NumPy ``(num_images, latent_dim)``)."""
        if self._z is None:
            rng = np.random.default_rng(self.seed)
            self._z = rng.standard_normal((self.num_images, self.model.latent_dim)).astype("float32")
        return self._z

    def on_epoch_end(self, epoch, logs=None):
        last = self.params.get("epochs") if self.params else None
        if (epoch + 1) % self.every and (last is None or epoch + 1 != last):
            return
        model = self._check_model()
        value_range = self.value_range or model.output_range
        samples = self._samples(model)
        if backend.process_index() != 0:
            return  # several processes: the chief writes
        grid = images.image_grid(samples, cols=self.cols, value_range=value_range)
        path = os.path.join(self.out_dir, self.filename.format(epoch=epoch + 1))
        images.save_png(grid, path, scale=self.scale)
        self.paths.append(path)
        if self.log_dir:
            self._log_image(grid, epoch)

    def on_train_begin(self, logs=None):
        # The model and labels are checked now, not at the end of the first epoch.
        model = self._check_model()
        labels = self._labels(model, self.num_images)
        if labels is not None:
            model.condition_vectors(labels, self.num_images, name="labels")

    def _labels(self, model, n):
        """The labels the grid is generated for (None: an unconditional model)."""
        spec = getattr(model, "condition_spec", None)
        if spec is None:
            if self.labels is not None:
                raise ValueError(
                    f"labels must be None: a {type(model).__name__} is unconditional. "
                    f"Received: labels={self.labels!r}"
                )
            return None
        if self.labels is None and spec.get("kind") == "classes":
            return np.arange(n) % spec["num_classes"]
        if self.labels is None:
            raise ValueError(
                f"labels is required: a {type(model).__name__} conditioned on attributes "
                "generates the grid for given attribute vectors (one (k,) vector for every "
                f"image, or ({n}, k)). Received: labels=None"
            )
        return self.labels

    def _samples(self, model):
        z = self.latent_batch()
        labels = self._labels(model, len(z))
        if labels is None:
            return backend.predict(model.decoding_network, z, verbose=0)
        return model.decode(z, labels)

    def _log_image(self, grid, epoch):
        import tensorflow as tf

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default():
            tf.summary.image("samples", grid[None], step=epoch + 1)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


# EX_TEMPFAIL of sysexits.h: a temporary failure, try again.
WATCHDOG_EXIT_CODE = 75


class Watchdog(keras.callbacks.Callback):
    """End the process when ``fit`` makes no progress for ``timeout`` seconds.

    Under several processes (``keras_gen.distribute``) a process whose peer
    died (killed, out of memory, a lost host) can wait for it inside a
    collective operation for as long as the backend's own timeout allows,
    which may be many minutes. The watchdog is a thread that expects
    progress (a training or validation batch or an epoch beginning or
    ending) at least every ``timeout`` seconds while ``fit`` runs. When none
    comes it prints one line to stderr naming the process, epoch and batch,
    and ends the process at once with ``os._exit(exit_code)``: a thread
    blocked in a collective cannot be interrupted otherwise, and nothing is
    written on the way out. Start every process again; with
    ``keras_gen.callbacks.BackupAndRestore`` training resumes from the last
    backup. Once ``fit`` has returned or raised, the watchdog does nothing.

    It works in a single process too (a hung data pipeline, a stalled
    file system).

    Args:
        timeout: seconds > 0 allowed between two progress events.
        startup_timeout: seconds > 0 allowed from the start of ``fit`` to
            the end of its first training batch (which includes tracing and
            compiling the step). Defaults to ``timeout``.
        exit_code: int in [1, 255], the process's exit status when the
            watchdog fires. Defaults to 75 (``EX_TEMPFAIL``: try again).

    Attributes:
        fired: None, or the message printed when the watchdog fired.

    Example:

    >>> import keras_gen
    >>> watchdog = keras_gen.callbacks.Watchdog(timeout=120, startup_timeout=600)
    >>> # model.fit(x, epochs=5, callbacks=[watchdog, backup])
    """

    def __init__(self, timeout, startup_timeout=None, exit_code=WATCHDOG_EXIT_CODE):
        super().__init__()
        self.timeout = checks.real("timeout", timeout, minimum=0.0, min_inclusive=False)
        if startup_timeout is None:
            startup_timeout = self.timeout
        self.startup_timeout = checks.real(
            "startup_timeout", startup_timeout, minimum=0.0, min_inclusive=False
        )
        exit_code = checks.positive_int("exit_code", exit_code)
        if exit_code > 255:
            raise ValueError(
                f"exit_code must be an int between 1 and 255. Received: exit_code={exit_code!r}"
            )
        self.exit_code = exit_code
        self.fired = None
        self._exit = os._exit  # replaced in tests
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        self._fit_frame = None
        self._fit_thread = None
        self._deadline = None
        self._where = (0, None)
        self._started = False

    # ------------------------------------------------------------ progress
    def _progress(self, epoch=None, batch=None):
        with self._lock:
            if epoch is not None:
                self._where = (epoch, None)
            if batch is not None:
                self._where = (self._where[0], batch)
            allowance = self.timeout if self._started else self.startup_timeout
            self._deadline = time.monotonic() + allowance

    def on_train_begin(self, logs=None):
        self.fired = None
        self._started = False
        frame = sys._getframe(1)
        while frame is not None and frame.f_code.co_name != "fit":
            frame = frame.f_back
        self._fit_frame = frame
        self._fit_thread = threading.get_ident()
        self._progress(epoch=0)
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="keras_gen-watchdog", daemon=True)
        self._thread.start()

    def on_epoch_begin(self, epoch, logs=None):
        self._progress(epoch=epoch)

    def on_epoch_end(self, epoch, logs=None):
        self._progress(epoch=epoch)

    def on_train_batch_begin(self, batch, logs=None):
        self._progress(batch=batch)

    def on_train_batch_end(self, batch, logs=None):
        self._started = True
        self._progress(batch=batch)

    def on_test_begin(self, logs=None):
        self._progress()

    def on_test_batch_end(self, batch, logs=None):
        self._progress()

    def on_test_end(self, logs=None):
        self._progress()

    def on_train_end(self, logs=None):
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self._fit_frame = None

    # -------------------------------------------------------------- thread
    def _fit_running(self):
        """Whether the ``fit`` that began the watch is still on its thread's stack."""
        if self._fit_frame is None:
            return not self._stop.is_set()
        frame = sys._current_frames().get(self._fit_thread)
        while frame is not None:
            if frame is self._fit_frame:
                return True
            frame = frame.f_back
        return False

    def _watch(self):
        while not self._stop.wait(min(1.0, self.timeout / 4)):
            with self._lock:
                late = time.monotonic() > self._deadline
                epoch, batch = self._where
                allowance = self.timeout if self._started else self.startup_timeout
            if not self._fit_running():
                self._fit_frame = None
                return
            if late and not self._stop.is_set():
                where = f"epoch {epoch + 1}" + ("" if batch is None else f", batch {batch}")
                self.fired = (
                    f"keras_gen Watchdog: process {backend.process_index()} of "
                    f"{backend.process_count()} made no training progress for {allowance:g} s "
                    f"(last: {where}); a peer process may have died and left this one "
                    f"waiting in a collective. Ending this process (exit {self.exit_code}); "
                    "start every process again to resume from the last backup."
                )
                print(self.fired, file=sys.stderr, flush=True)
                self._exit(self.exit_code)
                return


def _sampling_layers(layer, found=None):
    """Every ``keras_gen.layers.Sampling`` inside ``layer``, depth first."""
    from keras_gen.layers import Sampling

    found = [] if found is None else found
    if isinstance(layer, Sampling):
        if all(layer is not f for f in found):
            found.append(layer)
        return found
    for child in getattr(layer, "layers", None) or ():
        _sampling_layers(child, found)
    return found


class KLWarmup(keras.callbacks.Callback):
    """Ramp the VAE's KL weight from ``start * lambda`` to lambda (KL warm-up).

    KL annealing (Bowman et al., 2016, "Generating Sentences from a
    Continuous Space"; Sonderby et al., 2016, "Ladder Variational
    Autoencoders"): early in training the KL term of L_VAE = L_rec +
    lambda * L_reg (source notes, "Variational Auto-Encoders") pulls every
    posterior to the prior before the decoder has learnt to use the codes,
    which is how posterior collapse starts. The callback multiplies the
    added KL term by a factor that grows linearly from ``start`` to 1 over
    the first ``warmup_steps`` training batches, then stays at 1, so the
    end of training optimises the model's own L_VAE. It sets the
    ``kl_anneal`` variable of every ``keras_gen.layers.Sampling`` layer in
    the model (a ``keras_gen.VAE`` or a user model that contains one). The
    logged ``kl_loss`` and ``neg_elbo`` are the unweighted KL and bound
    throughout; ``loss`` uses the current factor.

    The step count follows the epoch (``initial_epoch`` times the steps per
    epoch when Keras knows them), so a run resumed by
    ``keras.callbacks.BackupAndRestore`` continues the ramp where it was.

    Args:
        warmup_steps: int > 0, training batches to reach the full weight.
        start: float in [0, 1], the factor at the first batch. Defaults
            to 0.0.

    Example:

    >>> import keras_gen
    >>> warmup = keras_gen.callbacks.KLWarmup(warmup_steps=500)
    >>> # vae.fit(x, epochs=50, callbacks=[warmup])
    """

    def __init__(self, warmup_steps, start=0.0):
        super().__init__()
        self.warmup_steps = checks.positive_int("warmup_steps", warmup_steps)
        self.start = checks.real("start", start, minimum=0.0, maximum=1.0)
        self.step = 0
        self._layers = []
        self._current = None

    def factor(self, step):
        """The KL factor at training batch ``step`` (0-based)."""
        if step >= self.warmup_steps:
            return 1.0
        return self.start + (1.0 - self.start) * step / self.warmup_steps

    def on_train_begin(self, logs=None):
        self._layers = _sampling_layers(self.model)
        if not self._layers:
            raise ValueError(
                "KLWarmup needs a model with a keras_gen.layers.Sampling layer (a "
                f"keras_gen.VAE). Received: model of type {type(self.model).__name__}"
            )
        self._current = None

    def on_epoch_begin(self, epoch, logs=None):
        steps = (self.params or {}).get("steps")
        if steps:
            self.step = epoch * int(steps)

    def on_train_batch_begin(self, batch, logs=None):
        value = self.factor(self.step)
        if value != self._current:
            for layer in self._layers:
                backend.assign_during_fit(self.model, layer.kl_anneal, value)
            self._current = value
        self.step += 1

    def on_train_end(self, logs=None):
        # Leave the layers at the model's own lambda for later evaluation.
        if self._current != 1.0:
            for layer in self._layers:
                backend.assign_during_fit(self.model, layer.kl_anneal, 1.0)
        self._current = None
