"""Saving that never writes a bad file: finite-weight checks, atomic writes, RNG state.

``GenerativeModel`` inherits :class:`SafeSaving`; the functions here work on
any Keras model (``check_finite_weights`` is also used by the exporters).
"""

import os
import warnings

import keras
import numpy as np
from keras import ops

from keras_gen import _checks as checks

# How many non-finite variables an error message lists by path.
_LISTED = 5
# Key prefix of the SeedGenerator states a model stores in its own slot of
# a weights file (``.keras``, ``.weights.h5``, BackupAndRestore backups).
_SEED_KEY = "seed_generator_state_"


class NonFiniteWeightsError(ValueError):
    """A model's weights hold NaN or Inf where they were about to be saved or exported."""


def non_finite_variables(model):
    """``[(path, n_nan, n_inf)]`` for every floating weight of ``model`` that is not finite."""
    found = []
    seen = set()
    for variable in model.weights:
        if id(variable) in seen:
            continue
        seen.add(id(variable))
        if not np.issubdtype(np.dtype(keras.backend.standardize_dtype(variable.dtype)), np.floating):
            continue
        value = np.asarray(ops.convert_to_numpy(variable))
        if value.dtype.kind != "f":
            value = value.astype("float32")
        finite = np.isfinite(value)
        if not finite.all():
            n_nan = int(np.isnan(value).sum())
            found.append((getattr(variable, "path", variable.name), n_nan, int((~finite).sum()) - n_nan))
    return found


def check_finite_weights(model, action, allow_non_finite=False):
    """Refuse to ``action`` (``"save"``, ``"export"``, ...) a model whose weights are not finite.

    Every floating-point weight of ``model`` (trainable and not, e.g.
    BatchNorm statistics; optimizer slots and metrics are not weights) is
    checked. With ``allow_non_finite=True`` the problem is reported as a
    ``RuntimeWarning`` instead of an error.

    Args:
        model: a ``keras.Model`` or layer.
        action: str, what was about to happen, e.g. ``"save"`` or ``"export"``.
            The message tells the user to pass ``allow_non_finite=True`` to it.
        allow_non_finite: bool, warn instead of raising.

    Returns:
        The list of ``(variable path, NaN count, Inf count)`` found (empty
        when every weight is finite).

    Raises:
        NonFiniteWeightsError: some weight holds NaN or Inf and
            ``allow_non_finite`` is False.
    """
    allow_non_finite = checks.boolean("allow_non_finite", allow_non_finite)
    found = non_finite_variables(model)
    if not found:
        return found
    listed = ", ".join(
        f"{path} ({n_nan} NaN, {n_inf} Inf)" for path, n_nan, n_inf in found[:_LISTED]
    )
    more = f" and {len(found) - _LISTED} more" if len(found) > _LISTED else ""
    name = f"{type(model).__name__} '{getattr(model, 'name', '?')}'"
    problem = (
        f"{name} has {len(found)} weight variable(s) holding NaN or Inf: "
        f"{listed}{more}. Training probably diverged (lower the learning rate; "
        "keras_gen.callbacks.TerminateOnNaN stops training at the first "
        "non-finite loss)."
    )
    if allow_non_finite:
        warnings.warn(
            f"{problem} Proceeding with {action} because allow_non_finite=True.",
            RuntimeWarning,
            stacklevel=3,
        )
        return found
    raise NonFiniteWeightsError(
        f"Cannot {action}: {problem} To {action} it anyway, pass "
        f"allow_non_finite=True to {action}()."
    )


def owned_seed_generators(model):
    """Every ``keras.random.SeedGenerator`` of ``model`` and its layers, in a fixed order."""
    try:
        layers = model._flatten_layers(include_self=True, recursive=True)
    except AttributeError:  # pragma: no cover - older Keras
        layers = [model]
    generators = []
    seen = set()
    for layer in layers:
        for generator in getattr(layer, "_seed_generators", None) or ():
            if id(generator) not in seen:
                seen.add(id(generator))
                generators.append(generator)
    return generators


def _destination(filepath):
    """The file a write to ``filepath`` lands in: ``filepath`` with every
    symbolic link resolved (Keras writes through a link, to its target)."""
    return os.path.realpath(os.fspath(filepath))


def _atomic_target(filepath, suffix):
    """A temporary path beside the file ``filepath`` names (same folder, same ``suffix``), or None.

    ``filepath`` may be a symbolic link: the temporary is then beside the
    link's target (its real path), so that renaming it replaces the target
    and leaves the link in place. None when ``filepath`` is not a local file
    path ending in ``suffix`` (remote paths, sharded weights): Keras then
    writes in place.
    """
    if not isinstance(filepath, (str, os.PathLike)):
        return None
    path = os.fspath(filepath)
    if "://" in path or not path.endswith(suffix) or os.path.isdir(path):
        return None
    folder, base = os.path.split(_destination(path))
    if not os.path.isdir(folder):
        return None
    # a link's target need not end in suffix; the temporary must (Keras checks it)
    stem = base[: -len(suffix)] if base.endswith(suffix) else base
    _remove_stale_temporaries(folder, stem + suffix, suffix)
    return os.path.join(folder, f".{stem}.tmp-{os.getpid()}{suffix}")


def _remove_stale_temporaries(folder, base, suffix):
    """Delete temporaries of ``base`` left by killed processes (their pid is gone).

    Also a temporary's own temporary (``..base.tmp-PID.tmp-PID.keras``: a
    caller's atomic write around a keras-gen model's atomic ``save``), by the
    outer pid.
    """
    prefix = f".{base[: -len(suffix)]}.tmp-"
    for name in os.listdir(folder):
        inner = name[1:] if name.startswith("." + prefix) else name
        if not (inner.startswith(prefix) and inner.endswith(suffix)):
            continue
        pid = inner[len(prefix) : -len(suffix)].split(".tmp-")[0]
        if not pid.isdigit() or pid_alive(int(pid)):
            continue
        try:
            os.remove(os.path.join(folder, name))
        except OSError:
            pass


def pid_alive(pid):
    """Whether process ``pid`` still runs (this process does; a zombie does not).

    Used to tell the temporaries of a killed process from those of a live
    one (here and by ``keras_gen.export``).
    """
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    try:  # a zombie has exited: it is only waiting for its parent
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _write_atomically(write, filepath, suffix, overwrite):
    """Run ``write(path)`` on a temporary beside ``filepath``, then rename it over ``filepath``.

    A symbolic link ``filepath`` is written through, as Keras writes it: the
    temporary is renamed over the link's target and the link stays. A
    failure or a kill mid-write leaves ``filepath`` (and a link's target) as
    it was (a killed process's temporary is removed by the next save to the
    same path).
    """
    temporary = _atomic_target(filepath, suffix) if overwrite else None
    if temporary is None:
        return write(filepath)
    try:
        result = write(temporary)
        os.replace(temporary, _destination(filepath))
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return result


def _call_signature(model):
    """``input_signature`` of ``model.call`` for Keras' exporter, from its build shape."""
    shapes = getattr(model, "_build_shapes_dict", None) if model.built else None
    if not shapes:
        raise ValueError(
            f"{type(model).__name__}.export needs a built model: fit it, or call it once "
            "on a batch. Received: an unbuilt model"
        )
    (shape,) = shapes.values()
    if isinstance(shape, dict):  # built from {"images": ..., "condition": ...}
        shape = list(shape.values())

    def spec(shape, dtype=model.input_dtype):
        return keras.InputSpec(shape=(None,) + tuple(shape)[1:], dtype=dtype)

    if _is_pair(shape):  # [inputs, condition]
        return [[spec(shape[0]), spec(shape[1], "float32")]]
    if _is_conditional(model):  # built from the inputs' shape alone
        return [[spec(shape), spec((None, model.condition_dim), "float32")]]
    return [spec(shape)]


def _is_conditional(model):
    return getattr(model, "condition_spec", None) is not None


def _is_pair(shape):
    """Whether a recorded build shape is ``[inputs shape, condition shape]``."""
    return bool(shape) and isinstance(shape[0], (list, tuple))


class SafeSaving:
    """Mixin of ``GenerativeModel``: safe ``save``/``save_weights`` and saved RNG state.

    * ``save`` and ``save_weights`` refuse non-finite weights with
      :class:`NonFiniteWeightsError` (``allow_non_finite=True`` forces it),
      and write a local file atomically: to a temporary beside the target,
      renamed over it once complete, so a crash or ``kill -9`` never leaves a
      half-written file in place of a good one. ``keras.callbacks``
      ``ModelCheckpoint`` and ``BackupAndRestore`` save through these
      methods, so a checkpoint of non-finite weights raises inside ``fit``
      and the previous checkpoint stays.
    * The state of every ``keras.random.SeedGenerator`` in the model (the
      latent and prior generators, ``Sampling``'s, ``Dropout``'s, ...) is
      stored with the weights (Keras itself saves none), so a model
      reloaded from a ``.keras`` file or a backup continues the same random
      stream. Files without these states load as before.
    """

    def save(self, filepath, overwrite=True, zipped=None, allow_non_finite=False, **kwargs):
        """Save to a ``.keras`` file (``keras.Model.save``), refusing non-finite weights.

        Args:
            filepath: path of the ``.keras`` file.
            overwrite: bool, replace an existing file. Defaults to True.
            zipped: as ``keras.Model.save``.
            allow_non_finite: bool, save even if some weight is NaN or Inf
                (with a ``RuntimeWarning``). Defaults to False.
            **kwargs: other ``keras.Model.save`` arguments.

        Raises:
            NonFiniteWeightsError: a weight is NaN or Inf and
                ``allow_non_finite`` is False; nothing is written.
        """
        check_finite_weights(self, "save", allow_non_finite)
        if zipped is False:
            return super().save(filepath, overwrite=overwrite, zipped=zipped, **kwargs)
        return _write_atomically(
            lambda path: super(SafeSaving, self).save(
                path, overwrite=overwrite, zipped=zipped, **kwargs
            ),
            filepath,
            ".keras",
            overwrite,
        )

    def save_weights(self, filepath, overwrite=True, max_shard_size=None, allow_non_finite=False):
        """Save the weights (``keras.Model.save_weights``), refusing non-finite ones.

        Args:
            filepath: path ending in ``.weights.h5`` (or ``.weights.json``
                when sharding).
            overwrite: bool, replace an existing file. Defaults to True.
            max_shard_size: as ``keras.Model.save_weights``.
            allow_non_finite: bool, save even if some weight is NaN or Inf
                (with a ``RuntimeWarning``). Defaults to False.

        Raises:
            NonFiniteWeightsError: a weight is NaN or Inf and
                ``allow_non_finite`` is False; nothing is written.
        """
        check_finite_weights(self, "save_weights", allow_non_finite)
        if max_shard_size is not None:
            return super().save_weights(
                filepath, overwrite=overwrite, max_shard_size=max_shard_size
            )
        return _write_atomically(
            lambda path: super(SafeSaving, self).save_weights(path, overwrite=overwrite),
            filepath,
            ".weights.h5",
            overwrite,
        )

    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None,
               allow_non_finite=False, **kwargs):
        """Export ``call`` with Keras' exporter (``keras.Model.export``), safely.

        What is exported is the model's ``call``: images from z for a GAN,
        reconstructions for an autoencoder or a VAE, ``[inputs, condition]``
        for a conditional model. Unlike ``keras.Model.export`` on a subclassed
        model, it needs no prior ``model(x)`` call: the input signature is the
        built input shape with a free batch size (a conditional model adds
        ``(batch, k)`` float32). For a single network with a manifest that
        ``keras_gen.runtime`` reads, use :func:`keras_gen.export.export`.

        Args:
            filepath: where the artefact goes (a folder for
                ``"tf_saved_model"``, a ``.tflite`` file for ``"litert"``, ...).
            format, verbose, input_signature, **kwargs: as ``keras.Model.export``.
            allow_non_finite: bool, export even if some weight is NaN or Inf
                (with a ``RuntimeWarning``). Defaults to False.

        Raises:
            NonFiniteWeightsError: a weight is NaN or Inf and
                ``allow_non_finite`` is False; nothing is written.
            ValueError: the model is not built yet.

        The artefact is written beside ``filepath`` and moved into place once
        complete: a failure or a kill leaves what was at ``filepath`` as it was.
        """
        check_finite_weights(self, "export", allow_non_finite)
        from keras_gen.export import _publish  # the export package imports this module

        final = os.path.realpath(os.fspath(filepath))  # through a symbolic link, as Keras writes
        folder = os.path.dirname(final)
        _publish.check_replaceable(final, format == "tf_saved_model")
        if format == "litert" and not final.endswith(".tflite"):  # Keras would name the staging path
            raise ValueError("The LiteRT export requires the filepath to end with '.tflite'. "
                             f"Received: filepath={os.fspath(filepath)!r}")
        signature = _call_signature(self)
        if input_signature is None:
            input_signature = signature
        recorded = self._build_shapes_dict
        with _publish.sigterm_raises():
            staging = _publish.open_staging(folder, filepath)
            try:
                if _is_conditional(self):
                    # Keras' TensorFlow exporter also traces call from the
                    # recorded build shape: both inputs, as call takes them.
                    self._build_shapes_dict = {"input_shape": [
                        list(spec.shape) for spec in signature[0]]}
                super().export(staging.path(final), format=format, verbose=False,
                               input_signature=input_signature, **kwargs)
                finals = staging.staged()  # some formats write more than one file
                for entry in finals:
                    _publish.check_replaceable(entry, os.path.isdir(staging.path(entry)))
                _publish.publish(staging, finals)
            finally:
                self._build_shapes_dict = recorded
                staging.remove()
        if verbose is None or verbose:
            print(f"Saved artifact at '{final}'.")

    def save_own_variables(self, store):
        super().save_own_variables(store)
        for index, generator in enumerate(owned_seed_generators(self)):
            store[f"{_SEED_KEY}{index}"] = ops.convert_to_numpy(generator.state.value)

    def load_own_variables(self, store):
        keys = list(store.keys())
        generators = owned_seed_generators(self)
        for key in keys:
            if key.startswith(_SEED_KEY):
                index = int(key[len(_SEED_KEY) :])
                if index < len(generators):
                    state = generators[index].state
                    state.assign(np.asarray(store[key]).astype(state.dtype))
        own = [key for key in keys if not key.startswith(_SEED_KEY)]
        if len(own) == len(keys):
            return super().load_own_variables(store)
        return super().load_own_variables({key: store[key] for key in own})


class GuardedFit:
    """Mixin of ``GenerativeModel``: ``fit`` stops at the first non-finite loss by default."""

    def fit(self, *args, terminate_on_nan=True, **kwargs):
        """``keras.Model.fit`` that stops at the first NaN or Inf loss.

        Unless ``terminate_on_nan=False``, the callbacks get a
        ``keras_gen.callbacks.TerminateOnNaN(raise_error=True)`` first (or
        keep the one they hold; a plain ``keras.callbacks.TerminateOnNaN`` is
        replaced by the keras-gen one with the same ``raise_error``), which
        watches every logged loss (a GAN's ``d_loss`` and ``g_loss``
        included): a NaN or Inf loss raises
        ``keras_gen.callbacks.NonFiniteLossError`` naming the key, the batch
        and the value, before any backup or checkpoint of that batch.

        Args:
            *args: ``keras.Model.fit`` arguments.
            terminate_on_nan: bool, add the guard. Defaults to True.
            **kwargs: ``keras.Model.fit`` keyword arguments.
        """
        from keras_gen import _guards

        if len(args) > 5:  # callbacks given by position (x, y, batch_size, epochs, verbose, ...)
            args = list(args)
            args[5] = _guards.with_nan_guard(args[5], terminate_on_nan)
        else:
            kwargs["callbacks"] = _guards.with_nan_guard(kwargs.get("callbacks"), terminate_on_nan)
        return super().fit(*args, **kwargs)
