"""Base class of keras-gen models: the glue between train steps and backends."""

import numpy as np

import keras
from keras import ops

from keras_gen import backend
from keras_gen.models._saving import GuardedFit
from keras_gen.models._saving import NonFiniteWeightsError  # noqa: F401 (re-exported)
from keras_gen.models._saving import SafeSaving
from keras_gen.models._saving import check_finite_weights  # noqa: F401 (re-exported)


class GenerativeModel(SafeSaving, GuardedFit, keras.Model):
    """A ``keras.Model`` whose ``train_step``/``test_step`` are written once.

    Subclasses define ``train_step(self, data)`` and ``test_step(self, data)``
    as if every backend were stateful, and take gradient steps with
    :meth:`minimize`. At class creation both methods are adapted to the
    running backend's trainer (``keras_gen.backend.adapt_step``): unchanged on
    TensorFlow and PyTorch, wrapped into JAX's stateless
    ``(state, data) -> (logs, state)`` protocol on JAX. No model file needs to
    know which backend it runs on.

    Subclasses list their loss trackers in ``self.metric_trackers`` (a list of
    ``keras.metrics.Mean``); ``metrics`` returns those plus any metrics given
    to ``compile(metrics=...)``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Created under keras_gen.distribute.data_parallel(): train under it
        # too, even when fit() is called after the `with` block.
        backend.record_distribution(self)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name, kind in (("train_step", "train"), ("test_step", "test")):
            step = cls.__dict__.get(name)
            if step is not None and not getattr(step, "_keras_gen_adapted", False):
                adapted = backend.adapt_step(step, kind)
                adapted._keras_gen_adapted = True
                setattr(cls, name, adapted)

    # ------------------------------------------------------------------ API
    def compile(self, optimizer="adam", **kwargs):
        """Configure the model for training (``keras.Model.compile``).

        The loss is the model's own (the source notes' formulas); passing ``loss``
        is an error. ``metrics`` are computed on (target, reconstruction).
        """
        if kwargs.get("loss") is not None:
            raise ValueError(
                f"{type(self).__name__} computes its own loss from the source notes' "
                "formulas; do not pass `loss` to compile(). "
                f"Received: loss={kwargs['loss']!r}"
            )
        kwargs.pop("loss", None)
        backend.record_distribution(self)
        super().compile(optimizer=optimizer, **kwargs)

    def compile_from_config(self, config):
        """Re-run ``compile`` from ``get_compile_config()`` (``.keras`` loading)."""
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built and self.optimizer is not None:
            # Create the optimizer's variables so saved state can be loaded.
            self.optimizer.build(self.trainable_variables)

    def minimize(self, loss_fn, variables, optimizer=None, has_aux=False):
        """One optimizer step on ``loss_fn`` w.r.t. ``variables``.

        Args:
            loss_fn: function of no arguments running the forward pass and
                returning a scalar loss, or ``(loss, aux)`` if ``has_aux``.
            variables: list of trainable variables to update (and only these).
            optimizer: a registered optimizer; defaults to ``self.optimizer``.
            has_aux: bool, whether ``loss_fn`` returns auxiliary outputs.

        Returns:
            The unscaled loss, or ``(loss, aux)``.
        """
        if optimizer is None:
            optimizer = self.optimizer
        if optimizer is None:
            raise ValueError(
                f"{type(self).__name__} must be compiled with an optimizer "
                "before training. Call model.compile(optimizer=...) first."
            )
        return backend.minimize(self, loss_fn, variables, optimizer, has_aux)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        # Keras builds compiled metrics with the batch's y, which is None for
        # a plain image batch; the target of these models is then x.
        return super().compute_metrics(x, x if y is None else y, y_pred, sample_weight)

    @property
    def metrics(self):
        return list(getattr(self, "metric_trackers", [])) + backend.compiled_metrics(
            self
        )

    def update_metrics(self, values, y=None, y_pred=None):
        """Update the trackers from ``values`` (name -> scalar) and return logs.

        Compiled metrics (``compile(metrics=...)``) are updated on
        ``(y, y_pred)`` when both are given.
        """
        for tracker in self.metric_trackers:
            if tracker.name in values:
                tracker.update_state(values[tracker.name])
        for compiled in backend.compiled_metrics(self):
            if y is not None and y_pred is not None:
                compiled.update_state(y, y_pred)
        logs = {}
        for metric in self.metrics:
            result = metric.result()
            if isinstance(result, dict):
                logs.update(result)
            else:
                logs[metric.name] = result
        return logs

    # --------------------------------------------------------- data checks
    def fit(self, x=None, y=None, *args, **kwargs):
        self._check_array("x", x)
        self._check_array("y", y)
        validation_data = kwargs.get("validation_data")
        if isinstance(validation_data, (tuple, list)) and validation_data:
            self._check_array("validation_data", validation_data[0])
        elif validation_data is not None:
            self._check_array("validation_data", validation_data)
        with backend.distribution_scope(self):
            return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        self._check_array("x", x)
        self._check_array("y", y)
        with backend.distribution_scope(self):
            return super().evaluate(x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        with backend.distribution_scope(self):
            return super().predict(x, *args, **kwargs)

    def _check_array(self, name, data):
        """Check an in-memory array before training starts (rank, range)."""
        if not isinstance(data, np.ndarray):
            return
        expected_rank = self._expected_data_rank()
        if expected_rank is not None and data.ndim != expected_rank:
            raise ValueError(
                f"{name} must have rank {expected_rank} (batch, "
                f"{', '.join(['...'] * (expected_rank - 1))}) to match the "
                f"model's input. Received: {name}.shape={data.shape}"
            )
        value_range = self._required_value_range()
        if value_range is not None and data.size:
            lo, hi = float(np.min(data)), float(np.max(data))
            if lo < value_range[0] - 1e-6 or hi > value_range[1] + 1e-6:
                raise ValueError(
                    f"{name} must lie in {value_range} for this model "
                    f"({self._value_range_reason()}). Received: {name} with "
                    f"min={lo:g}, max={hi:g}. Rescale it, e.g. with "
                    "keras_gen.data.from_numpy(x, input_range=(0, 255))."
                )

    def _expected_data_rank(self):
        return None

    def _required_value_range(self):
        return None

    def _value_range_reason(self):
        return ""


def unpack(data):
    """Split a batch into ``(x, target)``; the target defaults to ``x``.

    A ``(x, y)`` batch trains to map x to y (e.g. a denoising auto-encoder
    fed (noisy, clean) pairs). Sample weights are not supported.
    """
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    if sample_weight is not None:
        raise ValueError(
            "keras-gen models do not support sample_weight. "
            f"Received: sample_weight={sample_weight!r}"
        )
    return x, (x if y is None else y)


def check_sub_model(name, model):
    """TypeError unless ``model`` is a Keras layer or model."""
    if not isinstance(model, keras.layers.Layer):
        raise TypeError(
            f"{name} must be a keras.Model or keras.layers.Layer. "
            f"Received: {name}={model!r} of type {type(model).__name__}"
        )
    return model


def known_input_shape(model):
    """The input shape of a functional/sequential model, or None."""
    try:
        shape = model.input_shape
    except (AttributeError, ValueError):
        return None
    if isinstance(shape, list):
        return None
    return tuple(shape)


def as_float32(x):
    """NumPy float32 view of model outputs (mixed-precision networks may emit 16-bit)."""
    return keras.tree.map_structure(lambda t: np.asarray(t).astype("float32", copy=False), x)


def check_positive_int(name, value):
    """ValueError unless ``value`` is an int > 0 (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
    return int(value)


def check_seed(seed):
    """TypeError unless ``seed`` is an int or None."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise TypeError(f"seed must be an int or None. Received: seed={seed!r}")
    return None if seed is None else int(seed)


def draw_latents(n, latent_dim, seed, generator):
    """``n`` draws of z ~ N(0, I) as NumPy: from ``seed`` if an int, else the SeedGenerator."""
    n = check_positive_int("n", n)
    seed = check_seed(seed)
    z = keras.random.normal((n, latent_dim), seed=generator if seed is None else seed)
    return ops.convert_to_numpy(z)


def plus_model_losses(model, loss):
    """``loss`` plus every term in ``model.losses`` (add_loss, regularisers)."""
    added = model.losses
    if not added:
        return loss
    return loss + ops.sum(ops.stack([ops.cast(t, loss.dtype) for t in added]))
