"""Hyperparameter search of bottleneck width and lambda with keras-tuner.

Source notes, "Auto-Encoders" and "Variational Auto-Encoders": a wider bottleneck
reconstructs better but compresses less; a larger lambda (``kl_weight``)
regularises the latent space at the cost of reconstruction. This module
searches both with keras-tuner's own tuners (``RandomSearch``,
``BayesianOptimization``, ``Hyperband``) on every Keras backend:

* :class:`VAEHyperModel` and :class:`AutoEncoderHyperModel` are
  ``keras_tuner.HyperModel`` s that build a compiled keras-gen model around
  the default networks (``keras_gen.networks``) or a user builder, declaring
  ``latent_dim``, ``kl_weight`` (VAE) and ``learning_rate``;
* :func:`objective` returns a ``keras_tuner.Objective`` with the right
  direction and, given the hypermodel, refuses a name the model does not
  report, or one that cannot rank the trials honestly (the VAE's total
  ``loss`` when lambda is searched), before the tuner exists. The
  hypermodel's ``fit`` repeats the check against the tuner's actual
  objective before the first epoch of the first trial and stops the search
  with a ``keras_tuner.errors.FatalValueError``;
* :func:`trial_table` prints the trials as a Markdown table.

Which objective for which goal is in docs/tuning.md. In short:
``"val_neg_elbo"`` (VAE, ``reconstruction="bce"``) ranks any widths and
lambdas; ``"val_reconstruction_loss"`` (VAE) or ``"val_loss"`` (AE) ranks
trials at a fixed width and lambda (learning rate, architecture); a metric
given to ``metrics=`` (e.g. ``"val_mae"``) for a goal of your own.

Example:

>>> import tempfile, keras_tuner, numpy as np, keras_gen
>>> hypermodel = keras_gen.tuning.VAEHyperModel(
...     (8, 8, 1), latent_dim=[2, 4], kl_weight=(1e-3, 1.0), kind="dense",
...     encoder_kwargs={"hidden_units": (16,)},
...     decoder_kwargs={"hidden_units": (16,)})
>>> tuner = keras_tuner.RandomSearch(
...     hypermodel,
...     objective=keras_gen.tuning.objective("val_neg_elbo", hypermodel),
...     max_trials=2, seed=0, directory=tempfile.mkdtemp())
>>> x = np.random.rand(64, 8, 8, 1).astype("float32")
>>> tuner.search(x, validation_data=(x,), epochs=1, batch_size=32, verbose=0)
>>> best = tuner.get_best_hyperparameters()[0].values
>>> best["latent_dim"] in (2, 4), 1e-3 <= best["kl_weight"] <= 1.0
(True, True)
"""

import contextlib
import copy
import math
import numbers
import warnings

import keras
import keras_tuner
import numpy as np

from keras_gen import distribute
from keras_gen import losses
from keras_gen import networks
from keras_gen.models.autoencoder import AutoEncoder
from keras_gen.models.vae import VAE
from keras_gen.networks import _validation
from keras_gen.networks.factory import KINDS

# What each model logs (validation logs add the "val_" prefix), and so what
# an objective may name besides the metrics given to compile(metrics=...).
AUTOENCODER_METRICS = ("loss",)
VAE_METRICS = ("loss", "reconstruction_loss", "kl_loss", "neg_elbo")
_LOSS_METRICS = frozenset(AUTOENCODER_METRICS + VAE_METRICS)  # all "min"


# ------------------------------------------------------------ search spaces
def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class _Space:
    """One searched argument: a fixed value, a (low, high) range or choices."""

    def __init__(self, name, spec, integer, minimum, log):
        """Validate ``spec``.

        Args:
            name: the argument (and hyperparameter) name.
            spec: a number (fixed), a tuple ``(low, high)`` (a range, sampled
                on a log scale when ``log``) or a list of choices.
            integer: bool, whether values must be integers.
            minimum: ``(bound, inclusive)``, the smallest allowed value.
            log: bool, whether ranges are sampled log-uniformly.
        """
        self.name = name
        self.integer = integer
        self.log = log
        kind_word = "a positive integer" if integer else "a number"
        bound, inclusive = minimum
        if integer:
            what = "positive integers"
        else:
            what = f"finite numbers {'>=' if inclusive else '>'} {bound:g}"
        usage = (
            f"{name} must be {kind_word}, a tuple (low, high) with low < high "
            f"(a range), or a non-empty list of choices, all {what}."
        )

        def valid(value):
            if integer:
                return _is_int(value) and value >= 1
            return (
                _is_real(value)
                and math.isfinite(value)
                and (value >= bound if inclusive else value > bound)
            )

        def convert(value):
            return int(value) if integer else float(value)

        if isinstance(spec, tuple):
            if len(spec) != 2:
                empty = "; it is empty" if not spec else ""
                raise ValueError(
                    f"{name} range must be a tuple (low, high){empty}. "
                    f"Received: {name}={spec!r}"
                )
            low, high = spec
            if not (valid(low) and valid(high)):
                raise ValueError(f"{usage} Received: {name}={spec!r}")
            if not low < high:
                raise ValueError(
                    f"{name} range is empty or inverted: low must be < high "
                    f"(pass a single value to fix it). Received: {name}={spec!r}"
                )
            if log and low <= 0:
                raise ValueError(
                    f"{name} range is sampled on a log scale, so low must be > 0. "
                    f"Received: {name}={spec!r}"
                )
            self.kind, self.values = "range", (convert(low), convert(high))
        elif isinstance(spec, list):
            if not spec:
                raise ValueError(
                    f"{name} choices are empty; list at least one value. "
                    f"Received: {name}={spec!r}"
                )
            if not all(valid(v) for v in spec):
                raise ValueError(f"{usage} Received: {name}={spec!r}")
            values = [convert(v) for v in spec]
            if len(set(values)) != len(values):
                raise ValueError(
                    f"{name} choices must be distinct. Received: {name}={spec!r}"
                )
            self.kind, self.values = "choice", values
        elif valid(spec):
            self.kind, self.values = "fixed", convert(spec)
        else:
            raise (ValueError if _is_real(spec) else TypeError)(
                f"{usage} Received: {name}={spec!r}"
            )

    @property
    def searched(self):
        """True unless the value is fixed (one choice counts as fixed)."""
        return self.kind == "range" or (self.kind == "choice" and len(self.values) > 1)

    def contains(self, value):
        """Whether ``value`` is one this space can produce."""
        if self.kind == "fixed":
            return value == self.values
        if self.kind == "choice":
            return value in self.values
        low, high = self.values
        return low <= value <= high

    def _declare(self, hp):
        if self.kind == "fixed":
            return hp.Fixed(self.name, self.values)
        if self.kind == "choice":
            return hp.Choice(self.name, self.values)
        low, high = self.values
        sampling = "log" if self.log else "linear"
        if self.integer:
            return hp.Int(self.name, low, high, sampling=sampling)
        return hp.Float(self.name, low, high, sampling=sampling)

    def declare(self, hp):
        """Declare the hyperparameter on ``hp`` and return its value.

        A tuner that resumes a search reloads the search space saved in its
        directory and would silently keep the old range; a declared space
        that differs from it raises ``keras_tuner.errors.FatalValueError``.
        """
        existing = next((h for h in hp.space if h.name == self.name), None)
        if existing is not None:
            scratch = keras_tuner.HyperParameters()
            self._declare(scratch)
            wanted = scratch.space[0]
            if _space_config(existing) != _space_config(wanted):
                raise keras_tuner.errors.FatalValueError(
                    f"The search being resumed declared {self.name} as "
                    f"{_describe(existing)}, but this hypermodel declares "
                    f"{_describe(wanted)}. Resume with the same arguments, or "
                    "start a new search (overwrite=True or another project_name)."
                )
        return self._declare(hp)


def _space_config(hyperparameter):
    config = dict(hyperparameter.get_config())
    config.pop("conditions", None)
    config.pop("default", None)
    return type(hyperparameter).__name__, config


def _describe(hyperparameter):
    kind, config = _space_config(hyperparameter)
    config.pop("name", None)
    details = ", ".join(f"{k}={v!r}" for k, v in config.items() if v is not None)
    return f"{kind}({details})"


# --------------------------------------------------------------- objectives
def _objective_parts(obj):
    """``[(name, direction)]`` of a keras-tuner objective (or list/str)."""
    if isinstance(obj, keras_tuner.Objective):
        if getattr(obj, "objectives", None) is not None:  # a MultiObjective
            return [part for o in obj.objectives for part in _objective_parts(o)]
        return [(obj.name, obj.direction)]
    if isinstance(obj, str):
        return [(obj, None)]
    if isinstance(obj, (list, tuple)):
        return [part for o in obj for part in _objective_parts(o)]
    raise TypeError(
        "objective must be a metric name, a keras_tuner.Objective or a list of "
        f"them. Received: objective={obj!r}"
    )


def objective(name, hypermodel=None, direction=None):
    """A ``keras_tuner.Objective`` for a keras-gen search.

    Keras-gen's logged losses are minimised; for any other name (a metric
    given to the hypermodel's ``metrics=``), the direction is inferred by
    keras-tuner or must be given.

    With ``hypermodel``, the name is checked before the tuner exists: it
    must be one the hypermodel's models report (``val_`` names assume
    validation data), and it must be able to rank the trials: the VAE's
    ``loss``/``val_loss`` (``L_rec + lambda * KL``) is refused when lambda is
    searched, since trials with different lambdas optimise different
    functions. Objectives that rank honestly but always favour one end of a
    range (reconstruction loss with the width or lambda searched; the
    negative ELBO with ``reconstruction="mse"``) give a ``UserWarning``.
    The hypermodel's ``fit`` repeats these checks against the tuner's
    objective before the first trial trains.

    Which to use for which goal (docs/tuning.md):

    * ``"val_neg_elbo"`` (VAE): the negative evidence lower bound in nats per
      example at lambda = 1, independent of the training lambda; ranks any
      widths and lambdas. Use ``reconstruction="bce"`` (a Bernoulli
      decoder, the natural likelihood for images in [0, 1]).
    * ``"val_reconstruction_loss"`` (VAE) / ``"val_loss"`` (AE): how well
      held-out images are reconstructed. Comparable across trials only at a
      fixed compression (fixed ``latent_dim``, and fixed ``kl_weight`` for
      a VAE): use it to tune the learning rate or the architecture.
    * any metric passed to ``metrics=`` (e.g. ``"val_mae"``), computed on
      (target, reconstruction), for a goal of your own.

    Args:
        name: str, the logged metric, e.g. ``"val_neg_elbo"``.
        hypermodel: optional :class:`VAEHyperModel` or
            :class:`AutoEncoderHyperModel` to check ``name`` against.
        direction: ``"min"``, ``"max"`` or None (inferred).

    Returns:
        A ``keras_tuner.Objective``.

    Example:

    >>> import keras_gen
    >>> print(keras_gen.tuning.objective("val_neg_elbo"))
    Objective(name="val_neg_elbo", direction="min")
    """
    if not isinstance(name, str) or not name:
        raise TypeError(
            f"name must be a non-empty metric name (str). Received: name={name!r}"
        )
    if direction not in (None, "min", "max"):
        raise ValueError(
            f"direction must be 'min', 'max' or None. Received: direction={direction!r}"
        )
    if hypermodel is not None and not isinstance(hypermodel, _GenerativeHyperModel):
        raise TypeError(
            "hypermodel must be a keras_gen.tuning VAEHyperModel or "
            f"AutoEncoderHyperModel. Received: hypermodel={hypermodel!r}"
        )
    base_name = name[4:] if name.startswith("val_") else name
    if base_name in _LOSS_METRICS:
        if direction == "max":
            raise ValueError(
                f"{name} is a loss and can only be minimised. "
                f"Received: direction={direction!r}"
            )
        direction = "min"
    elif direction is None:
        direction = keras_tuner.engine.metrics_tracking.infer_metric_direction(name)
        if direction is None:
            raise ValueError(
                f"Cannot tell whether {name!r} should be minimised or maximised: "
                "pass direction='min' or direction='max'. Received: "
                f"name={name!r}, direction=None"
            )
    result = keras_tuner.Objective(name, direction)
    if hypermodel is not None:
        hypermodel.check_objective(result, validation=True)
    return result


def _tuner_objective(callbacks):
    """The objective of the tuner running this fit, from its callbacks.

    ``keras_tuner.Tuner.run_trial`` adds a callback (``SaveBestEpoch``) that
    holds the oracle's objective; None outside a search.
    """
    for callback in callbacks or ():
        found = getattr(callback, "objective", None)
        if isinstance(found, keras_tuner.Objective):
            return found
    return None


def _has_validation(kwargs):
    return kwargs.get("validation_data") is not None or bool(
        kwargs.get("validation_split")
    )


# -------------------------------------------------------------- hypermodels
def _metric_name(metric):
    if isinstance(metric, str):
        return metric
    if isinstance(metric, keras.metrics.Metric):
        return metric.name
    return getattr(metric, "__name__", None)


def _fresh_metric(metric):
    """A new instance of a Metric object (each trial's model owns its state)."""
    if isinstance(metric, keras.metrics.Metric):
        return type(metric).from_config(metric.get_config())
    return metric


class _GenerativeHyperModel(keras_tuner.HyperModel):
    """Shared machinery of the keras-gen hypermodels (not public)."""

    model_name = None
    model_metrics = ()

    def __init__(
        self,
        input_shape,
        latent_dim,
        learning_rate,
        reconstruction,
        builder,
        kind,
        encoder_kwargs,
        decoder_kwargs,
        metrics,
        name,
        tunable,
        data_parallel=False,
    ):
        super().__init__(name=name, tunable=tunable)
        if builder is not None and not callable(builder):
            raise TypeError(
                "builder must be a callable (hp, latent_dim) -> (encoder, decoder) "
                f"or None. Received: builder={builder!r}"
            )
        if builder is None or input_shape is not None:
            input_shape = _validation.image_shape(input_shape, "input_shape")
        kind = _validation.choice(kind, KINDS, "kind")
        for arg, value in (("encoder_kwargs", encoder_kwargs), ("decoder_kwargs", decoder_kwargs)):
            if value is not None and not isinstance(value, dict):
                raise TypeError(f"{arg} must be a dict or None. Received: {arg}={value!r}")
        losses.reconstruction_loss(reconstruction)  # raises the named error
        if metrics is not None and not isinstance(metrics, (list, tuple)):
            raise TypeError(
                f"metrics must be a list of metrics or None. Received: metrics={metrics!r}"
            )
        metric_names = [_metric_name(m) for m in metrics or ()]
        if None in metric_names:
            raise TypeError(
                "metrics must be names, keras.metrics.Metric objects or named "
                f"functions. Received: metrics={metrics!r}"
            )
        self.data_parallel = data_parallel
        try:  # checks the devices (and the backend) now, before any trial
            self._scope()
        except ValueError as error:
            raise ValueError(f"data_parallel: {error} Received: data_parallel={data_parallel!r}") from None
        self.input_shape = input_shape
        self.latent_dim = latent_dim
        self.learning_rate = learning_rate
        self.reconstruction = reconstruction
        self.builder = builder
        self.kind = kind
        self.encoder_kwargs = dict(encoder_kwargs or {})
        self.decoder_kwargs = dict(decoder_kwargs or {})
        self.metrics = list(metrics or [])
        self._metric_names = tuple(metric_names)
        self.spaces = {
            "latent_dim": _Space("latent_dim", latent_dim, True, (1, True), log=True),
            "learning_rate": _Space(
                "learning_rate", learning_rate, False, (0.0, False), log=True
            ),
        }
        self._warned = set()

    # ---------------------------------------------------------------- build
    def _scope(self):
        """Where each trial's model is built: data-parallel or not.

        Entered inside ``build``, so it holds for every trial: keras-tuner
        calls ``keras.backend.clear_session()`` before each build, which
        drops a distribution entered around ``search``.
        """
        if self.data_parallel is False or self.data_parallel is None:
            return contextlib.nullcontext()
        return distribute.data_parallel(None if self.data_parallel is True else self.data_parallel)

    def _networks(self, hp, latent_dim, variational):
        if self.builder is not None:
            built = self.builder(hp, latent_dim)
            if not isinstance(built, (list, tuple)) or len(built) != 2:
                raise keras_tuner.errors.FatalTypeError(
                    "builder must return a pair (encoder, decoder). "
                    f"Received: builder(hp, latent_dim={latent_dim}) -> {built!r}"
                )
            return built
        encoder = networks.encoder(
            self.input_shape, latent_dim, kind=self.kind, variational=variational,
            **self.encoder_kwargs,
        )
        decoder = networks.decoder(
            latent_dim, self.input_shape, kind=self.kind, variational=variational,
            **self.decoder_kwargs,
        )
        return encoder, decoder

    def _compile(self, model, learning_rate):
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            metrics=[_fresh_metric(m) for m in self.metrics] or None,
        )
        # Create the optimizer's variables now, so that the weights files the
        # tuner writes and loads (best epoch, Hyperband's continued trials,
        # get_best_models) carry the optimizer's state too.
        model.optimizer.build(model.trainable_variables)
        return model

    # ------------------------------------------------------------------ fit
    def fit(self, hp, model, *args, **kwargs):
        """Train one trial's model: ``model.fit(*args, **kwargs)``.

        Before training, checks the running tuner's objective against what
        the model reports (given whether validation data was passed), and
        stops the search with ``keras_tuner.errors.FatalValueError`` if it
        cannot be found or cannot rank the trials.
        """
        tuner_objective = _tuner_objective(kwargs.get("callbacks"))
        if tuner_objective is not None:
            try:
                self.check_objective(tuner_objective, validation=_has_validation(kwargs))
            except (TypeError, ValueError) as error:
                raise keras_tuner.errors.FatalValueError(str(error)) from error
        return model.fit(*args, **kwargs)

    # ------------------------------------------------------------ objective
    def reported_metrics(self, validation=True):
        """Names a search with this hypermodel can use as its objective.

        Args:
            validation: bool, whether validation data is passed to the
                search (adds the ``val_`` names).
        """
        names = list(self.model_metrics) + list(self._metric_names)
        if validation:
            names += [f"val_{n}" for n in names]
        return tuple(names)

    def check_objective(self, objective, validation=True):
        """Raise ``ValueError`` unless ``objective`` can rank this search.

        Args:
            objective: a metric name, ``keras_tuner.Objective`` or list.
            validation: bool, whether the search gets validation data.
        """
        # keras-tuner's stand-in when no objective is given.
        if objective is None or getattr(objective, "name", None) == "default_objective":
            raise ValueError(
                "A keras-gen search needs an explicit objective, e.g. "
                "objective=keras_gen.tuning.objective('val_neg_elbo', hypermodel). "
                f"Received: objective={objective}"
            )
        for name, direction in _objective_parts(objective):
            self._check_one(name, direction, validation)

    def _check_one(self, name, direction, validation):
        reported = self.reported_metrics(validation=validation)
        if name not in reported:
            hint = ""
            if name.startswith("val_") and name in self.reported_metrics(True):
                hint = (
                    " It is a validation metric: pass validation_data (or "
                    "validation_split) to tuner.search()."
                )
            raise ValueError(
                f"The objective {name!r} is not reported by {self.model_name} "
                f"(reported: {', '.join(reported)}).{hint} Received: objective={name!r}"
            )
        base_name = name[4:] if name.startswith("val_") else name
        if base_name in _LOSS_METRICS and direction == "max":
            raise ValueError(
                f"{name} is a loss and must be minimised. Received: direction='max'"
            )
        self._check_honest(name, base_name)

    def _check_honest(self, name, base_name):
        width = self.spaces["latent_dim"]
        if base_name in ("loss", "reconstruction_loss") and width.searched:
            self._warn(
                name,
                f"The objective {name!r} measures reconstruction only, which "
                "improves with the bottleneck width: the search will favour "
                f"the widest latent_dim ({width.values}). Fix latent_dim to "
                "compare at one compression, or use 'val_neg_elbo' (VAE).",
            )

    def _warn(self, name, message):
        if name not in self._warned:
            self._warned.add(name)
            warnings.warn(message, UserWarning, stacklevel=2)

    def in_search_space(self, values):
        """Whether a dict of hyperparameter values lies in the declared space.

        Only the arguments this hypermodel declares are checked (a builder's
        own hyperparameters are not).
        """
        return all(
            space.contains(values[name])
            for name, space in self.spaces.items()
            if name in values
        )


class VAEHyperModel(_GenerativeHyperModel):
    """Search a VAE's bottleneck width, lambda and learning rate.

    Source notes, "Variational Auto-Encoders": ``L_VAE = L_rec + lambda * KL``. Each
    trial builds a :class:`keras_gen.VAE` with ``latent_dim``, ``kl_weight``
    (lambda) and ``learning_rate`` drawn by the tuner, compiled with Adam.
    Each of the three takes a fixed value, a tuple ``(low, high)`` (a range,
    sampled log-uniformly: widths and weights span orders of magnitude) or a
    list of choices; fixed values are declared as ``hp.Fixed`` so every
    trial records them.

    Rank trials with :func:`objective`; ``"val_neg_elbo"`` is the one that
    compares different lambdas and widths honestly. The model's total
    ``loss`` depends on lambda and cannot.

    Args:
        input_shape: tuple ``(height, width, channels)``. Required for the
            default networks; optional with ``builder``.
        latent_dim: int, ``(low, high)`` ints or list of ints. Defaults to
            ``(2, 32)``.
        kl_weight: float >= 0, ``(low, high)`` with ``0 < low < high``, or a
            list. Defaults to ``(1e-4, 1.0)``.
        learning_rate: float > 0, ``(low, high)`` or list. Defaults to
            ``1e-3`` (not searched).
        reconstruction: ``"bce"`` (default; the negative ELBO is then the
            Bernoulli one) or ``"mse"``.
        builder: None or callable ``builder(hp, latent_dim) -> (encoder,
            decoder)``, the encoder returning ``[z_mean, z_log_sigma]``. It
            may declare hyperparameters of its own on ``hp``. Defaults to
            ``keras_gen.networks.encoder/decoder``.
        kind: ``"conv"`` (default) or ``"dense"``, the default networks.
        encoder_kwargs: dict passed to ``keras_gen.networks.encoder``
            (e.g. ``{"hidden_units": (64,)}`` for ``kind="dense"``).
        decoder_kwargs: dict passed to ``keras_gen.networks.decoder``.
        metrics: list passed to ``compile(metrics=...)``; their names (and
            ``val_`` names) become valid objectives.
        seed: int or None, the VAE's sampling seed (the same in every trial).
        name: str or None, the hypermodel's name.
        tunable: bool, keras-tuner's flag. Defaults to True.
        data_parallel: False (default: one device), True (every local
            accelerator, else every CPU device) or the ``devices`` argument
            of :func:`keras_gen.distribute.data_parallel` (an int or a list
            of device names). Each trial's model is then built, and trains,
            data-parallel on those devices (JAX ``DataParallel``,
            TensorFlow ``MirroredStrategy``); ``batch_size`` in ``search``
            is the global batch. The devices are checked here.

    Example:

    >>> import keras_gen
    >>> hm = keras_gen.tuning.VAEHyperModel((28, 28, 1), latent_dim=[2, 8, 16])
    >>> hm.reported_metrics()
    ('loss', 'reconstruction_loss', 'kl_loss', 'neg_elbo', 'val_loss', 'val_reconstruction_loss', 'val_kl_loss', 'val_neg_elbo')
    """

    model_name = "VAE"
    model_metrics = VAE_METRICS

    def __init__(
        self,
        input_shape=None,
        latent_dim=(2, 32),
        kl_weight=(1e-4, 1.0),
        learning_rate=1e-3,
        reconstruction="bce",
        builder=None,
        kind="conv",
        encoder_kwargs=None,
        decoder_kwargs=None,
        metrics=None,
        seed=None,
        name=None,
        tunable=True,
        data_parallel=False,
    ):
        super().__init__(
            input_shape, latent_dim, learning_rate, reconstruction, builder, kind,
            encoder_kwargs, decoder_kwargs, metrics, name, tunable, data_parallel,
        )
        if seed is not None and not _is_int(seed):
            raise TypeError(f"seed must be an int or None. Received: seed={seed!r}")
        self.kl_weight = kl_weight
        self.seed = seed
        self.spaces["kl_weight"] = _Space("kl_weight", kl_weight, False, (0.0, True), log=True)

    def build(self, hp):
        """Declare the hyperparameters on ``hp``; return a compiled VAE."""
        latent_dim = self.spaces["latent_dim"].declare(hp)
        kl_weight = self.spaces["kl_weight"].declare(hp)
        learning_rate = self.spaces["learning_rate"].declare(hp)
        with self._scope():
            encoder, decoder = self._networks(hp, latent_dim, variational=True)
            model = VAE(
                encoder, decoder, kl_weight=kl_weight,
                reconstruction=self.reconstruction, seed=self.seed,
            )
            return self._compile(model, learning_rate)

    def _check_honest(self, name, base_name):
        lam = self.spaces["kl_weight"]
        if base_name == "loss" and lam.searched:
            raise ValueError(
                f"The objective {name!r} is the VAE's total loss L_rec + lambda * KL, "
                "which depends on lambda: trials with different kl_weight minimise "
                "different functions and cannot be ranked by it. Use "
                "'val_neg_elbo' (lambda-free), or fix kl_weight. "
                f"Received: objective={name!r}, kl_weight={self.kl_weight!r}"
            )
        super()._check_honest(name, base_name)
        if base_name == "reconstruction_loss" and lam.searched:
            self._warn(
                name + "/kl_weight",
                f"The objective {name!r} ignores the KL term, so the search will "
                "favour the smallest kl_weight. Fix kl_weight to compare at one "
                "lambda, or use 'val_neg_elbo'.",
            )
        if base_name == "neg_elbo" and self.reconstruction == "mse":
            self._warn(
                name + "/mse",
                f"With reconstruction='mse', {name!r} is the negative ELBO of a "
                "Gaussian decoder of variance D/2 (see keras_gen.losses."
                "negative_elbo), far broader than images in [0, 1] need: it is "
                "dominated by the KL term and favours large kl_weight. Use "
                "reconstruction='bce' to rank by the Bernoulli ELBO.",
            )


class AutoEncoderHyperModel(_GenerativeHyperModel):
    """Search an auto-encoder's bottleneck width and learning rate.

    Source notes, "Auto-Encoders": each trial builds a :class:`keras_gen.AutoEncoder`
    trained on the reconstruction loss, with ``latent_dim`` and
    ``learning_rate`` drawn by the tuner (a fixed value, a tuple
    ``(low, high)`` sampled log-uniformly, or a list of choices).

    An auto-encoder's only loss is its reconstruction, which improves with
    width: ranking widths by ``"val_loss"`` picks the widest. Compare widths
    by reading the trade-off from :func:`trial_table` (reconstruction against
    width), or rank them by a metric of your own (``metrics=``); use
    ``"val_loss"`` at a fixed width to tune the rest.

    Args:
        input_shape: tuple ``(height, width, channels)``. Required for the
            default networks; optional with ``builder``.
        latent_dim: int, ``(low, high)`` ints or list of ints. Defaults to
            ``(2, 32)``.
        learning_rate: float > 0, ``(low, high)`` or list. Defaults to
            ``1e-3`` (not searched).
        reconstruction: ``"mse"`` (the source notes', default) or ``"bce"``.
        builder: None or callable ``builder(hp, latent_dim) -> (encoder,
            decoder)``, the encoder returning one code tensor.
        kind: ``"conv"`` (default) or ``"dense"``, the default networks.
        encoder_kwargs: dict passed to ``keras_gen.networks.encoder``.
        decoder_kwargs: dict passed to ``keras_gen.networks.decoder``.
        metrics: list passed to ``compile(metrics=...)``.
        name: str or None, the hypermodel's name.
        tunable: bool, keras-tuner's flag. Defaults to True.
        data_parallel: False (default: one device), True (every local
            accelerator, else every CPU device) or the ``devices`` argument
            of :func:`keras_gen.distribute.data_parallel` (an int or a list
            of device names). Each trial's model is then built, and trains,
            data-parallel on those devices (JAX ``DataParallel``,
            TensorFlow ``MirroredStrategy``); ``batch_size`` in ``search``
            is the global batch. The devices are checked here.

    Example:

    >>> import keras_gen
    >>> hm = keras_gen.tuning.AutoEncoderHyperModel((8, 8, 1), latent_dim=4,
    ...                                             metrics=["mae"])
    >>> hm.reported_metrics(validation=False)
    ('loss', 'mae')
    """

    model_name = "AutoEncoder"
    model_metrics = AUTOENCODER_METRICS

    def __init__(
        self,
        input_shape=None,
        latent_dim=(2, 32),
        learning_rate=1e-3,
        reconstruction="mse",
        builder=None,
        kind="conv",
        encoder_kwargs=None,
        decoder_kwargs=None,
        metrics=None,
        name=None,
        tunable=True,
        data_parallel=False,
    ):
        super().__init__(
            input_shape, latent_dim, learning_rate, reconstruction, builder, kind,
            encoder_kwargs, decoder_kwargs, metrics, name, tunable, data_parallel,
        )

    def build(self, hp):
        """Declare the hyperparameters on ``hp``; return a compiled AutoEncoder."""
        latent_dim = self.spaces["latent_dim"].declare(hp)
        learning_rate = self.spaces["learning_rate"].declare(hp)
        with self._scope():
            encoder, decoder = self._networks(hp, latent_dim, variational=False)
            model = AutoEncoder(encoder, decoder, reconstruction=self.reconstruction)
            return self._compile(model, learning_rate)


# ----------------------------------------------------------------- results
def _format(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def trial_table(tuner, metrics=()):
    """The tuner's trials as a Markdown table, best first.

    Columns: trial id, every hyperparameter, the objective (the trial's
    score, at its best epoch), each name in ``metrics`` at that epoch, and
    the trial's status.

    Args:
        tuner: a keras-tuner tuner after (or during) ``search``.
        metrics: names of other logged metrics to show, e.g.
            ``("val_reconstruction_loss", "val_kl_loss")``.

    Returns:
        str, a Markdown table.
    """
    trials = list(tuner.oracle.trials.values())
    sign = -1 if tuner.oracle.objective.direction == "max" else 1
    trials.sort(key=lambda t: (t.score is None, sign * (t.score or 0.0), t.trial_id))
    hp_names = []
    for trial in trials:
        for name in trial.hyperparameters.values:
            # Hyperband's bookkeeping, except the epochs a trial trained.
            hidden = name.startswith("tuner/") and name != "tuner/epochs"
            if name not in hp_names and not hidden:
                hp_names.append(name)
    header = ["trial"] + hp_names + [tuner.oracle.objective.name] + list(metrics) + ["status"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for trial in trials:
        values = trial.hyperparameters.values
        row = [trial.trial_id] + [_format(values.get(n, "")) for n in hp_names]
        row.append("" if trial.score is None else _format(float(trial.score)))
        for name in metrics:
            found = trial.metrics.exists(name)
            row.append(_format(float(trial.metrics.get_last_value(name))) if found else "")
        row.append(str(trial.status))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


__all__ = [
    "AUTOENCODER_METRICS",
    "AutoEncoderHyperModel",
    "VAEHyperModel",
    "VAE_METRICS",
    "objective",
    "trial_table",
]
