"""Hyperparameter search of bottleneck width and lambda with keras-tuner.

Source notes, "Auto-Encoders" and "Variational Auto-Encoders": a wider
bottleneck reconstructs better but compresses less; a larger lambda
(``kl_weight``) regularises the latent space at the cost of reconstruction.
:class:`VAEHyperModel` and :class:`AutoEncoderHyperModel` are
``keras_tuner.HyperModel`` s for keras-tuner's own tuners (``RandomSearch``,
``BayesianOptimization``, ``Hyperband``) on every Keras backend. Each
searchable argument takes a keras-tuner hyperparameter of its name
(``keras_tuner.engine.hyperparameters.Int``, ``Float``, ``Choice``,
``Fixed``) or a plain value, which is declared ``Fixed``. :func:`objective`
picks and checks what ranks the trials (docs/tuning.md); :func:`trial_table`
prints them.

Example:

>>> import tempfile, keras_tuner, numpy as np, keras_gen
>>> from keras_tuner.engine.hyperparameters import Choice, Float
>>> hypermodel = keras_gen.tuning.VAEHyperModel(
...     (8, 8, 1), latent_dim=Choice("latent_dim", [2, 4]),
...     kl_weight=Float("kl_weight", 1e-3, 1.0, sampling="log"), kind="dense",
...     encoder_kwargs={"hidden_units": (16,)},
...     decoder_kwargs={"hidden_units": (16,)})
>>> tuner = keras_tuner.RandomSearch(
...     hypermodel,
...     objective=keras_gen.tuning.objective("val_neg_elbo", hypermodel),
...     max_trials=1, seed=1, directory=tempfile.mkdtemp())
>>> x = np.random.rand(64, 8, 8, 1).astype("float32")
>>> tuner.search(x, validation_data=(x,), epochs=1, batch_size=32, verbose=0)
>>> best = tuner.get_best_hyperparameters()[0].values
>>> best["latent_dim"] in (2, 4), 1e-3 <= best["kl_weight"] <= 1.0
(True, True)
"""

import contextlib
import warnings

import keras
import keras_tuner
import numpy as np
from keras_tuner.engine.hyperparameters import Choice
from keras_tuner.engine.hyperparameters import Fixed
from keras_tuner.engine.hyperparameters import Float
from keras_tuner.engine.hyperparameters import HyperParameter
from keras_tuner.engine.hyperparameters import Int

from keras_gen import _checks
from keras_gen import backend
from keras_gen import distribute
from keras_gen import losses
from keras_gen import networks
from keras_gen.models import base
from keras_gen.models.autoencoder import AutoEncoder
from keras_gen.models.vae import VAE
from keras_gen.networks.factory import KINDS

# What each model logs (validation logs add the "val_" prefix), and so what
# an objective may name besides the metrics given to compile(metrics=...).
AUTOENCODER_METRICS = ("loss",)
VAE_METRICS = ("loss", "reconstruction_loss", "kl_loss", "neg_elbo")
_LOSS_METRICS = frozenset(AUTOENCODER_METRICS + VAE_METRICS)  # all "min"


# ------------------------------------------------------------ search spaces
def _extremes(hyperparameter):
    """A range's ends, or every value of a Choice, Fixed or Boolean."""
    if isinstance(hyperparameter, (Int, Float)):
        return (hyperparameter.min_value, hyperparameter.max_value)
    return tuple(hyperparameter.values)


def _searched(hyperparameter):
    return len(set(_extremes(hyperparameter))) > 1


def _space(name, value, check):
    """The keras-tuner hyperparameter for the argument ``name``.

    A plain value is checked with ``check(name, value)`` and becomes
    ``Fixed``. A hyperparameter must be called ``name``, unconditional, and
    every value it bounds must pass ``check``.
    """
    if isinstance(value, (tuple, list)):
        value = _from_old_spelling(name, value, check)
    if not isinstance(value, HyperParameter):
        return Fixed(name, check(name, value))
    if value.name != name or value.conditions:
        raise ValueError(
            f"{name} must be an unconditional hyperparameter named {name!r}. "
            f"Received: {name}={value!r}"
        )
    for bound in _extremes(value):
        try:
            check(name, bound)
        except ValueError as error:  # _checks.ArgumentTypeError included
            raise type(error)(f"{error} (a value of {value!r})") from None
    return value


def _from_old_spelling(name, value, check):
    """The previous release's spelling, with a DeprecationWarning.

    A tuple ``(low, high)`` was a range sampled on a log scale (``Int`` when
    ``check`` takes integers, else ``Float``); a list was a ``Choice``.
    """
    new = (
        f"Choice({name!r}, {list(value)!r})"
        if isinstance(value, list)
        else f"Int/Float({name!r}, low, high, sampling='log')"
    )
    message = (
        f"{name} takes one value or a keras-tuner hyperparameter, e.g. "
        f"keras_tuner.engine.hyperparameters.{new}. Received: {name}={value!r}"
    )
    if not value or (isinstance(value, tuple) and len(value) != 2):
        raise _checks.ArgumentTypeError(message)
    values = [check(name, v) for v in value]
    warnings.warn(
        f"{message}. A tuple (low, high) or a list of choices is deprecated "
        "and will be refused in the next release.",
        DeprecationWarning,
        stacklevel=4,
    )
    if isinstance(value, list):
        return Choice(name, values)
    low, high = values
    if not low < high:
        raise ValueError(f"{name} range must have low < high. Received: {name}={value!r}")
    kind = Int if all(isinstance(v, int) for v in values) else Float
    return kind(name, low, high, sampling="log")


def _describe(hyperparameter):
    config = hyperparameter.get_config()
    details = ", ".join(f"{k}={v!r}" for k, v in config.items()
                        if k not in ("name", "default", "conditions") and v is not None)
    return f"{type(hyperparameter).__name__}({details})"


def _declare(hp, hyperparameter):
    """Declare ``hyperparameter`` on a trial's ``hp``; return its value.

    A resumed search reloads the space saved in its directory and would
    silently keep it; a different declaration raises ``FatalValueError``.
    """
    saved = next((h for h in hp.space if h.name == hyperparameter.name), None)
    if saved is not None and _describe(saved) != _describe(hyperparameter):
        raise keras_tuner.errors.FatalValueError(
            f"The search being resumed declared {saved.name} as {_describe(saved)}, "
            f"but this hypermodel declares {_describe(hyperparameter)}. Resume "
            "with the same arguments, or start a new search (overwrite=True or "
            "another project_name)."
        )
    config = hyperparameter.get_config()
    del config["conditions"]
    return getattr(hp, type(hyperparameter).__name__)(**config)


# --------------------------------------------------------------- objectives
def _objective_parts(obj):
    """``[(name, direction)]`` of a keras-tuner objective, a name or a list."""
    if isinstance(obj, str):
        return [(obj, None)]
    if isinstance(obj, (list, tuple)):
        return [part for o in obj for part in _objective_parts(o)]
    if not isinstance(obj, keras_tuner.Objective):
        raise _checks.ArgumentTypeError(
            "objective must be a metric name, a keras_tuner.Objective or a list "
            f"of them. Received: objective={obj!r}")
    if getattr(obj, "objectives", None) is not None:  # a MultiObjective
        return _objective_parts(obj.objectives)
    return [(obj.name, obj.direction)]


def objective(name, hypermodel=None, direction=None):
    """A ``keras_tuner.Objective`` for a keras-gen search.

    Keras-gen's logged losses are minimised; any other name (a metric given
    to the hypermodel's ``metrics=``) has its direction inferred by
    keras-tuner, or given.

    With ``hypermodel``, the name is checked before the tuner exists: it
    must be one the hypermodel's models report (``val_`` names assume
    validation data), and it must rank the trials honestly: the VAE's
    ``loss``/``val_loss`` (``L_rec + lambda * KL``) is refused when lambda is
    searched. Objectives that always favour one end of a range
    (reconstruction with the width or lambda searched; the negative ELBO
    with ``reconstruction="mse"``) give a ``UserWarning``. The hypermodel's
    ``fit`` repeats these checks against the tuner's objective before the
    first trial trains.

    ``"val_neg_elbo"`` (VAE, ``reconstruction="bce"``) ranks any widths and
    lambdas; ``"val_reconstruction_loss"`` (VAE) or ``"val_loss"`` (AE) only
    trials at a fixed width and lambda (learning rate, architecture).

    Args:
        name: str, the logged metric, e.g. ``"val_neg_elbo"``.
        hypermodel: optional :class:`VAEHyperModel` or
            :class:`AutoEncoderHyperModel` to check ``name`` against.
        direction: ``"min"``, ``"max"`` or None (inferred).

    Example:

    >>> import keras_gen
    >>> print(keras_gen.tuning.objective("val_neg_elbo"))
    Objective(name="val_neg_elbo", direction="min")
    """
    if not isinstance(name, str) or not name:
        raise _checks.ArgumentTypeError(
            f"name must be a non-empty metric name (str). Received: name={name!r}")
    direction = _checks.choice("direction", direction, (None, "min", "max"))
    if hypermodel is not None and not isinstance(hypermodel, _GenerativeHyperModel):
        raise _checks.ArgumentTypeError(
            "hypermodel must be a keras_gen.tuning VAEHyperModel or "
            f"AutoEncoderHyperModel. Received: hypermodel={hypermodel!r}")
    if name.removeprefix("val_") in _LOSS_METRICS:
        if direction == "max":
            raise ValueError(f"{name} is a loss and can only be minimised. "
                             "Received: direction='max'")
        direction = "min"
    elif direction is None:
        direction = keras_tuner.engine.metrics_tracking.infer_metric_direction(name)
        if direction is None and hypermodel is not None:
            # a name the model does not report is the error to name first
            hypermodel.check_objective(keras_tuner.Objective(name, "min"), validation=True)
        if direction is None:
            raise ValueError(
                f"Cannot tell whether {name!r} should be minimised or maximised: "
                f"pass direction='min' or 'max'. Received: name={name!r}, direction=None")
    result = keras_tuner.Objective(name, direction)
    if hypermodel is not None:
        hypermodel.check_objective(result, validation=True)
    return result


# -------------------------------------------------------------- hypermodels
def _metric_name(metric):
    if isinstance(metric, keras.metrics.Metric):
        return metric.name
    return metric if isinstance(metric, str) else getattr(metric, "__name__", None)


class _GenerativeHyperModel(keras_tuner.HyperModel):
    """Shared machinery of the keras-gen hypermodels (not public)."""

    model_name = None
    model_metrics = ()

    def __init__(self, input_shape, spaces, reconstruction, builder, kind, encoder_kwargs,
                 decoder_kwargs, metrics, name, tunable, data_parallel):
        super().__init__(name=name, tunable=tunable)
        if builder is not None and not callable(builder):
            raise _checks.ArgumentTypeError(
                "builder must be a callable (hp, latent_dim) -> (encoder, decoder) "
                f"or None. Received: builder={builder!r}")
        if builder is None or input_shape is not None:
            input_shape = _checks.image_shape("input_shape", input_shape)
        for arg, value in (("encoder_kwargs", encoder_kwargs), ("decoder_kwargs", decoder_kwargs)):
            if value is not None and not isinstance(value, dict):
                raise _checks.ArgumentTypeError(
                    f"{arg} must be a dict or None. Received: {arg}={value!r}")
        metrics = [] if metrics is None else metrics
        metric_names = ([_metric_name(m) for m in metrics]
                        if isinstance(metrics, (list, tuple)) else [None])
        if None in metric_names:
            raise _checks.ArgumentTypeError(
                "metrics must be a list of names, keras.metrics.Metric objects or "
                f"named functions, or None. Received: metrics={metrics!r}")
        self.input_shape = input_shape
        self.spaces = {}  # argument name -> its keras-tuner hyperparameter
        for arg, (value, check) in spaces.items():
            self.spaces[arg] = _space(arg, value, check)
            # The hyperparameter as given (or converted); a plain value as
            # normalised by its check.
            space = self.spaces[arg]
            plain = not isinstance(value, (HyperParameter, tuple, list))
            setattr(self, arg, space.value if plain else space)
        self.reconstruction = _checks.choice(
            "reconstruction", reconstruction, losses.RECONSTRUCTION_LOSSES)
        self.builder = builder
        self.kind = _checks.choice("kind", kind, KINDS)
        self.encoder_kwargs = dict(encoder_kwargs or {})
        self.decoder_kwargs = dict(decoder_kwargs or {})
        self.metrics = list(metrics)
        self._metric_names = tuple(metric_names)
        self.data_parallel = data_parallel
        try:  # checks the devices (and the backend) now, before any trial
            self._scope()
        except ValueError as error:
            raise ValueError(
                f"data_parallel: {error} Received: data_parallel={data_parallel!r}") from None
        self._warned = set()
        # The image shape a trial's fit built its model with, for a builder's
        # networks that declare no inputs when input_shape is None.
        self._seen_input_shape = None

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
        if self.builder is None:
            return (networks.encoder(self.input_shape, latent_dim, kind=self.kind,
                                     variational=variational, **self.encoder_kwargs),
                    networks.decoder(latent_dim, self.input_shape, kind=self.kind,
                                     variational=variational, **self.decoder_kwargs))
        built = self.builder(hp, latent_dim)
        if not isinstance(built, (list, tuple)) or len(built) != 2:
            raise keras_tuner.errors.FatalTypeError(
                "builder must return a pair (encoder, decoder). "
                f"Received: builder(hp, latent_dim={latent_dim}) -> {built!r}")
        inputs = getattr(built[0], "inputs", None)
        if self.input_shape is not None and inputs:
            shape = tuple(inputs[0].shape[1:])
            if len(shape) != len(self.input_shape) or any(
                    d is not None and d != w for d, w in zip(shape, self.input_shape)):
                raise keras_tuner.errors.FatalValueError(
                    f"input_shape={tuple(self.input_shape)} but the builder's encoder takes "
                    f"images of shape {shape}. Pass the encoder's shape, or input_shape=None "
                    f"with a builder. Received: input_shape={tuple(self.input_shape)!r}")
        return built

    def _compile(self, model, learning_rate):
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            # A new instance of each Metric object: each model owns its state.
            metrics=[type(m).from_config(m.get_config())
                     if isinstance(m, keras.metrics.Metric) else m
                     for m in self.metrics] or None,
        )
        # A builder's subclassed networks declare no inputs: build the model
        # from the image shape, given or seen by an earlier trial's fit.
        shape = self.input_shape or self._seen_input_shape
        if not model.built and shape is not None:
            with backend.build_scope(model):
                model.build((None,) + tuple(shape))
        # Create the optimizer's variables now, so that the weights files the
        # tuner writes and loads (best epoch, Hyperband's continued trials,
        # get_best_models) carry the optimizer's state too. Not before the
        # model's own variables exist: an optimizer built for fewer variables
        # refuses the others ("Unknown variable"); fit then builds both.
        if model.built:
            model.optimizer.build(model.trainable_variables)
        return model

    def fit(self, hp, model, *args, **kwargs):
        """Train one trial's model: ``model.fit(*args, **kwargs)``.

        First checks the running tuner's objective against what the model
        reports (given whether validation data was passed), then the data and
        ``fit``'s arguments as ``fit`` checks them. An error that cannot depend
        on the trial's model (``fit``'s arguments; arrays that are empty, not
        floating-point, or hold NaN or Inf) stops the search with
        ``FatalValueError`` (keras-tuner would fail trial after trial with
        it); one that may (an image shape or value range the trial's networks
        do not take) fails that trial only.
        """
        # keras-tuner's run_trial adds a callback holding the oracle's objective.
        found = [getattr(c, "objective", None) for c in kwargs.get("callbacks") or ()]
        found = [o for o in found if isinstance(o, keras_tuner.Objective)]
        if found:
            validation = (kwargs.get("validation_data") is not None
                          or bool(kwargs.get("validation_split")))
            try:
                self.check_objective(found[0], validation=validation)
            except (TypeError, ValueError) as error:
                raise keras_tuner.errors.FatalValueError(str(error)) from error
        check = getattr(model, "_check_fit", None)  # keras-gen's models; a builder's own may differ
        if check is not None:
            try:
                check(*args, **kwargs)
            except (TypeError, ValueError) as error:
                if not _fault_of_the_data(args, kwargs):
                    raise  # this trial's networks: keras-tuner records the trial as failed
                raise keras_tuner.errors.FatalValueError(
                    f"The search's data or fit arguments cannot train any trial: {error}"
                ) from error
        history = model.fit(*args, **kwargs)
        if self.input_shape is None and self._seen_input_shape is None:
            shape = base.built_input_shape(model)
            if shape is not None:
                self._seen_input_shape = tuple(shape[1:])
        return history

    def reported_metrics(self, validation=True):
        """Names a search with this hypermodel can use as its objective.

        Args:
            validation: bool, whether validation data is passed to the
                search (adds the ``val_`` names).
        """
        names = list(self.model_metrics) + list(self._metric_names)
        return tuple(names + ([f"val_{n}" for n in names] if validation else []))

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
                f"Received: objective={objective}")
        reported = self.reported_metrics(validation=validation)
        for name, direction in _objective_parts(objective):
            if name not in reported:
                hint = ""
                if name in self.reported_metrics(validation=True):
                    hint = (" It is a validation metric: pass validation_data (or "
                            "validation_split) to tuner.search().")
                raise ValueError(
                    f"The objective {name!r} is not reported by {self.model_name} "
                    f"(reported: {', '.join(reported)}).{hint} Received: objective={name!r}")
            base_name = name.removeprefix("val_")
            if base_name in _LOSS_METRICS and direction == "max":
                raise ValueError(f"{name} is a loss and must be minimised. "
                                 "Received: direction='max'")
            self._check_honest(name, base_name)

    def _check_honest(self, name, base_name):
        width = self.spaces["latent_dim"]
        if base_name in ("loss", "reconstruction_loss") and _searched(width):
            self._warn(
                name,
                f"The objective {name!r} measures reconstruction only, which "
                "improves with the bottleneck width: the search will favour "
                f"the widest latent_dim ({max(_extremes(width))}). Fix latent_dim "
                "to compare at one compression, or use 'val_neg_elbo' (VAE).")

    def _warn(self, key, message):
        if key not in self._warned:  # once per hypermodel, not once per trial
            self._warned.add(key)
            warnings.warn(message, UserWarning, stacklevel=2)


def _fault_of_the_data(args, kwargs):
    """Whether ``fit(*args, **kwargs)`` is wrong whatever the model: its loop
    arguments or sample weights, or an array of images (x, validation data)
    that is empty, not floating-point, or not finite."""
    try:
        base._refuse_weights(dict(kwargs))
        base._check_loop_arguments(tuple(args[2:]), kwargs)
    except (TypeError, ValueError):
        return True
    validation = kwargs.get("validation_data")
    arrays = [kwargs.get("x", args[0] if args else None),
              validation[0] if isinstance(validation, (tuple, list)) and validation else validation]
    for array in arrays:
        if isinstance(array, np.ndarray) and (
                array.size == 0 or not np.issubdtype(array.dtype, np.floating)
                or not np.isfinite(array).all()):
            return True
    return False


class VAEHyperModel(_GenerativeHyperModel):
    """Search a VAE's bottleneck width, lambda and learning rate.

    Source notes, "Variational Auto-Encoders": ``L_VAE = L_rec + lambda *
    KL``. Each trial builds a :class:`keras_gen.VAE` with ``latent_dim``,
    ``kl_weight`` (lambda) and ``learning_rate`` drawn by the tuner, compiled
    with Adam. Each of the three takes a keras-tuner hyperparameter of that
    name (``Int``, ``Float``, ``Choice`` or ``Fixed`` from
    ``keras_tuner.engine.hyperparameters``; every value it bounds is checked
    as a plain value would be) or a plain value, declared ``Fixed`` so that
    every trial records it. Rank trials with :func:`objective`:
    ``"val_neg_elbo"`` compares different lambdas and widths honestly; the
    total ``loss`` depends on lambda and cannot.

    Args:
        input_shape: tuple ``(height, width, channels)``. Required for the
            default networks; optional with ``builder``. Each trial's model
            is built from it before training when the builder's networks
            declare no inputs (subclassed ``keras.Model`` s); without it
            such a model is built from the first trial's data, and a new
            tuner's ``get_best_models`` restores its weights but not the
            optimizer's state.
        latent_dim: a positive int or a hyperparameter named
            ``"latent_dim"``. Defaults to a log-scale ``Int`` from 2 to 32.
        kl_weight: a float >= 0 or a hyperparameter named ``"kl_weight"``.
            Defaults to a log-scale ``Float`` from 1e-4 to 1.
        learning_rate: a float > 0 or a hyperparameter named
            ``"learning_rate"``. Defaults to ``1e-3``.
        reconstruction: ``"bce"`` (default; the negative ELBO is then the
            Bernoulli one) or ``"mse"``.
        builder: None (``keras_gen.networks.encoder/decoder``) or a callable
            ``builder(hp, latent_dim) -> (encoder, decoder)``, the encoder
            returning ``[z_mean, z_log_sigma]`` (one code for an
            auto-encoder). It may declare hyperparameters of its own on ``hp``.
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
            of :func:`keras_gen.distribute.data_parallel`. Each trial's model
            is then built, and trains, data-parallel on those devices;
            ``batch_size`` in ``search`` is the global batch. The devices
            are checked here.

    Example:

    >>> import keras_gen
    >>> from keras_tuner.engine.hyperparameters import Choice
    >>> hm = keras_gen.tuning.VAEHyperModel(
    ...     (28, 28, 1), latent_dim=Choice("latent_dim", [2, 8, 16]))
    >>> hm.reported_metrics()
    ('loss', 'reconstruction_loss', 'kl_loss', 'neg_elbo', 'val_loss', 'val_reconstruction_loss', 'val_kl_loss', 'val_neg_elbo')
    """

    model_name = "VAE"
    model_metrics = VAE_METRICS

    def __init__(self, input_shape=None, latent_dim=Int("latent_dim", 2, 32, sampling="log"),
                 kl_weight=Float("kl_weight", 1e-4, 1.0, sampling="log"), learning_rate=1e-3,
                 reconstruction="bce", builder=None, kind="conv", encoder_kwargs=None,
                 decoder_kwargs=None, metrics=None, seed=None, name=None, tunable=True,
                 data_parallel=False):
        spaces = {"latent_dim": (latent_dim, _checks.positive_int),
                  "kl_weight": (kl_weight, _checks.non_negative_float),
                  "learning_rate": (learning_rate, _checks.positive_float)}
        super().__init__(input_shape, spaces, reconstruction, builder, kind, encoder_kwargs,
                         decoder_kwargs, metrics, name, tunable, data_parallel)
        self.seed = _checks.seed("seed", seed)

    def build(self, hp):
        """Declare the hyperparameters on ``hp``; return a compiled VAE."""
        values = {arg: _declare(hp, space) for arg, space in self.spaces.items()}
        with self._scope():
            encoder, decoder = self._networks(hp, values["latent_dim"], variational=True)
            model = VAE(encoder, decoder, kl_weight=values["kl_weight"],
                        reconstruction=self.reconstruction, seed=self.seed)
            return self._compile(model, values["learning_rate"])

    def _check_honest(self, name, base_name):
        lam = _searched(self.spaces["kl_weight"])
        if base_name == "loss" and lam:
            raise ValueError(
                f"The objective {name!r} is the VAE's total loss L_rec + lambda * KL, "
                "which depends on lambda: trials with different kl_weight minimise "
                "different functions and cannot be ranked by it. Use "
                "'val_neg_elbo' (lambda-free), or fix kl_weight. "
                f"Received: objective={name!r}, kl_weight={self.kl_weight!r}")
        super()._check_honest(name, base_name)
        if base_name == "reconstruction_loss" and lam:
            self._warn(
                name + "/kl_weight",
                f"The objective {name!r} ignores the KL term, so the search will "
                "favour the smallest kl_weight. Fix kl_weight to compare at one "
                "lambda, or use 'val_neg_elbo'.")
        if base_name == "neg_elbo" and self.reconstruction == "mse":
            self._warn(
                name + "/mse",
                f"With reconstruction='mse', {name!r} is the negative ELBO of a "
                "Gaussian decoder of variance D/2 (see keras_gen.losses."
                "negative_elbo_from_losses), far broader than images in [0, 1] need: it is "
                "dominated by the KL term and favours large kl_weight. Use "
                "reconstruction='bce' to rank by the Bernoulli ELBO.")


class AutoEncoderHyperModel(_GenerativeHyperModel):
    """Search an auto-encoder's bottleneck width and learning rate.

    Source notes, "Auto-Encoders": each trial builds a
    :class:`keras_gen.AutoEncoder` trained on the reconstruction loss, with
    ``latent_dim`` and ``learning_rate`` drawn by the tuner. Its only loss
    improves with width, so ranking widths by ``"val_loss"`` picks the
    widest: read the trade-off from :func:`trial_table`, or rank by a metric
    of your own (``metrics=``); use ``"val_loss"`` at a fixed width to tune
    the rest.

    Args: as for :class:`VAEHyperModel`, without ``kl_weight`` and ``seed``;
    ``reconstruction`` defaults to ``"mse"`` (the source notes').

    Example:

    >>> import keras_gen
    >>> hm = keras_gen.tuning.AutoEncoderHyperModel((8, 8, 1), latent_dim=4,
    ...                                             metrics=["mae"])
    >>> hm.reported_metrics(validation=False)
    ('loss', 'mae')
    """

    model_name = "AutoEncoder"
    model_metrics = AUTOENCODER_METRICS

    def __init__(self, input_shape=None, latent_dim=Int("latent_dim", 2, 32, sampling="log"),
                 learning_rate=1e-3, reconstruction="mse", builder=None, kind="conv",
                 encoder_kwargs=None, decoder_kwargs=None, metrics=None, name=None,
                 tunable=True, data_parallel=False):
        spaces = {"latent_dim": (latent_dim, _checks.positive_int),
                  "learning_rate": (learning_rate, _checks.positive_float)}
        super().__init__(input_shape, spaces, reconstruction, builder, kind, encoder_kwargs,
                         decoder_kwargs, metrics, name, tunable, data_parallel)

    def build(self, hp):
        """Declare the hyperparameters on ``hp``; return a compiled AutoEncoder."""
        values = {arg: _declare(hp, space) for arg, space in self.spaces.items()}
        with self._scope():
            encoder, decoder = self._networks(hp, values["latent_dim"], variational=False)
            model = AutoEncoder(encoder, decoder, reconstruction=self.reconstruction)
            return self._compile(model, values["learning_rate"])


# ----------------------------------------------------------------- results
def _format(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def trial_table(tuner, metrics=()):
    """The tuner's trials as a Markdown table, best first.

    Columns: trial id, every hyperparameter, the objective (the trial's
    score, at its best epoch), each name in ``metrics`` at that epoch (e.g.
    ``("val_reconstruction_loss", "val_kl_loss")``), and the trial's status.
    """
    if isinstance(metrics, str):  # one name, not its characters
        metrics = (metrics,)
    metrics = tuple(metrics)
    if not all(isinstance(name, str) for name in metrics):
        raise _checks.ArgumentTypeError(
            f"metrics must be a metric name or a sequence of names. Received: metrics={metrics!r}")
    if not hasattr(tuner, "oracle"):
        raise _checks.ArgumentTypeError(
            f"tuner must be a keras_tuner tuner. Received: tuner={tuner!r}")
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
