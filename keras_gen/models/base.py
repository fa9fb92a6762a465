"""Base class of keras-gen models: the glue between train steps and backends."""

import warnings

import numpy as np

import keras
from keras import ops

from keras_gen import _checks as checks
from keras_gen import backend
from keras_gen.backend import portable
from keras_gen.models._saving import GuardedFit
from keras_gen.models._saving import NonFiniteWeightsError  # noqa: F401 (re-exported)
from keras_gen.models._saving import SafeSaving
from keras_gen.models._saving import check_finite_weights  # noqa: F401 (re-exported)
from keras_gen.data import _pipeline
from keras_gen.data import peek
from keras_gen.data.arrays import rescale_hint


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

    def _build_shape(self, shape):
        """What ``build`` records for ``call``'s inputs (Keras' export reads it);
        conditional models add their condition."""
        return shape

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
        # Keras records jit_compile as this backend resolved "auto" (True on
        # JAX); a file would then ask torch.compile of a PyTorch user who
        # never did. Saved files keep what was asked for.
        self._requested_jit_compile = kwargs.get("jit_compile", "auto")
        super().compile(optimizer=optimizer, **kwargs)

    def get_compile_config(self):
        """``keras.Model``'s compile config, with backend-neutral optimizer classes.

        A ``.keras`` file saved under any backend then trains further under
        every other (see ``keras_gen.backend.portable``). ``jit_compile`` is
        recorded as given to ``compile`` (``"auto"`` by default), not as this
        backend resolved it, so each backend that loads the file resolves it
        its own way.
        """
        config = super().get_compile_config()
        if config is None:
            return None
        if "jit_compile" in config and hasattr(self, "_requested_jit_compile"):
            config = dict(config, jit_compile=self._requested_jit_compile)
        return portable.portable_config(config)

    def compile_from_config(self, config):
        """Re-run ``compile`` from ``get_compile_config()`` (``.keras`` loading).

        Backend-specific optimizer classes recorded by older files are
        replaced by their public ``keras.optimizers`` class first.
        """
        config = keras.saving.deserialize_keras_object(portable.portable_config(config))
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
        # a plain image batch and labels for a labelled one; the target of
        # these models is then x (split_batch's rule).
        _, target, _ = split_batch((x,) if y is None else (x, y))
        return super().compute_metrics(x, target, y_pred, sample_weight)

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
    # fit() and evaluate() check their inputs before any layer runs, with the
    # same rules for every input kind and backend: the whole of an in-memory
    # array, the first batch of a tf.data.Dataset, keras.utils.PyDataset or
    # torch DataLoader (keras_gen.data.peek; streams are not consumed), a
    # Python generator's first batch as Keras takes it (_checked_stream).
    # Later batches' images are not inspected (a conditional model checks
    # their class ids): the NaN guard stops a run whose losses become NaN.
    def fit(self, x=None, y=None, *args, **kwargs):
        """``keras.Model.fit``, with the data checked before any layer runs.

        ``x`` is an array of images, a ``tf.data.Dataset``, a
        ``keras.utils.PyDataset`` or a generator; ``y`` (or the second
        element of each batch) follows :func:`split_batch`'s rule: labels
        (integer or bool, or rank <= 2 and not x's per-example shape) are
        ignored by these unconditional models, a floating-point y of x's
        shape is the target to reconstruct (denoising pairs), anything else
        is a ``ValueError``. Arrays are checked whole, a dataset by its
        first batch (not consumed), a generator by its first batch as Keras
        takes it: dtype,
        shape, finite values and the value range of the images the model
        must reproduce (labels are not checked as images).
        """
        y = _list_as_array(y)
        self._check_fit(x, y, *args, **kwargs)
        self._build_from_data(x)
        x = self._even_batches("x", self._checked_stream("x", x))
        validation_data = kwargs.get("validation_data")
        if validation_data is not None:
            kwargs["validation_data"] = self._even_batches(
                "validation_data", self._checked_stream("validation_data", validation_data))
        with backend.distribution_scope(self), backend.keep_state_on_error(self), \
                _pipeline_checks_named():
            try:
                return super().fit(x, y, *args, **kwargs)
            finally:  # an EMA (use_ema) written into the weights must not block the next fit
                backend.after_fit(self)

    def _even_batches(self, name, data):
        """A ``tf.data.Dataset`` whose batches are checked to split evenly over
        the devices of a one-process data-parallel engine (as ``fit`` checks
        arrays up front): a last batch of 1 on two mirrored devices left one
        replica an empty batch, and its mean loss NaN."""
        replicas = self._one_process_replicas()
        if replicas and peek._is_tf_dataset(data):
            return _pipeline.check_even_batches(data, replicas, name)
        return data

    def _one_process_replicas(self):
        """The device count of a one-process data-parallel engine, else 0: there
        TensorFlow's MirroredStrategy and JAX's sharding fail on an uneven
        batch (several processes split the data their own way)."""
        replicas = backend.replica_count(self)
        return replicas if replicas > 1 and backend.process_count() == 1 else 0

    def _check_fit(self, x=None, y=None, *args, **kwargs):
        """``fit``'s checks of its arguments, without training (``ValueError``
        or ``TypeError`` naming the argument); ``keras_gen.tuning`` runs them
        once before a search's trials."""
        _refuse_weights(kwargs)
        _check_loop_arguments(args, kwargs)
        self._check_for_training()
        self._check_inputs("x", x, y)
        validation_data = kwargs.get("validation_data")
        if isinstance(validation_data, (tuple, list)) and validation_data:
            self._check_inputs(
                "validation_data", validation_data[0],
                validation_data[1] if len(validation_data) > 1 else None,
            )
        elif validation_data is not None:
            self._check_inputs("validation_data", validation_data)
        _check_steps_per_epoch(x, kwargs)
        self._check_placement("fit")
        replicas = self._one_process_replicas()
        if replicas:
            batch_size = kwargs.get("batch_size", args[0] if args else None) or 32
            _check_even_split("x", x, batch_size, replicas)
            if isinstance(validation_data, (tuple, list)) and validation_data:
                _check_even_split("validation_data", validation_data[0],
                                  kwargs.get("validation_batch_size") or batch_size, replicas)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        """``keras.Model.evaluate``, with ``fit``'s data checks and batch rule."""
        y = _list_as_array(y)
        _refuse_weights(kwargs)
        self._check_inputs("x", x, y)
        self._check_placement("evaluate")
        replicas = self._one_process_replicas()
        if replicas:
            _check_even_split("x", x, kwargs.get("batch_size", args[0] if args else None) or 32,
                              replicas)
        self._build_from_data(x)
        x = self._even_batches("x", self._checked_stream("x", x))
        with backend.distribution_scope(self), backend.keep_state_on_error(self), \
                _pipeline_checks_named():
            return super().evaluate(x, y, *args, **kwargs)

    def _build_from_data(self, x):
        """Build an unbuilt model (networks that declare no input shape) from the
        first batch's images (a Python generator's cannot be read ahead).

        Keras' TensorFlow trainer builds it only when the first step is
        traced, after ``on_train_begin``, where ``BackupAndRestore`` needs
        its weights; the other trainers would call it on the images alone,
        which a conditional model's ``call`` does not take.
        """
        if self.built:
            return
        kind, batch = peek.first_batch(x)
        if kind is None or batch is None:
            return
        if kind != peek.ARRAY:
            batch = keras.utils.unpack_x_y_sample_weight(
                tuple(batch) if isinstance(batch, list) else batch)[0]
        if getattr(batch, "ndim", 0) >= 2:
            with backend.build_scope(self):  # a distributed model's variables
                self.build(self._build_shape((None,) + tuple(batch.shape[1:])))

    def _checked_stream(self, name, data):
        """``data``, or for a Python generator or iterator of batches (which
        cannot be read ahead) a generator that yields the same batches and
        checks the first as ``fit`` checks a ``tf.data`` set's first batch."""
        if not is_python_stream(data):
            return data

        def checked():
            for index, batch in enumerate(data):
                if index == 0:
                    self._check_stream_batch(name, "generator", peek._as_numpy(batch))
                self._check_each_generator_batch(name, index, batch)
                yield batch

        return checked()

    def _check_each_generator_batch(self, name, index, batch):
        """Checks of every batch of a generator (none here; conditional models
        check its labels)."""

    def predict(self, x=None, *args, **kwargs):
        if x is None:
            raise ValueError(f"x is required: {self._predict_input_words()}. Received: x=None")
        return self._predict_checked(self._predict_input(x), *args, **kwargs)

    def _predict_input(self, x):
        """``x`` for ``predict``, checked as what ``call`` takes (``ValueError`` or
        ``ArgumentTypeError`` naming it). An array (not a dataset) is checked as
        encode / reconstruct / decode check it; conditional models override
        this (they take ``[inputs, condition]``)."""
        if (isinstance(x, np.ndarray) or (hasattr(x, "shape") and hasattr(x, "dtype"))) \
                and self._protocol("condition_spec") is None:
            if self._protocol("encoding_network") is not None:
                image_input(self, x)
            elif self._protocol("latent_dim") is not None:
                latent_input(self, x, "x")
        return x

    def _predict_checked(self, x, *args, **kwargs):
        """``keras.Model.predict`` of inputs already checked (``batch_size``
        is checked here), in the model's engine."""
        if args:
            args = (checks.positive_int("batch_size", args[0], allow_none=True),) + tuple(args[1:])
        elif "batch_size" in kwargs:
            kwargs["batch_size"] = checks.positive_int("batch_size", kwargs["batch_size"],
                                                       allow_none=True)
        self._check_placement("predict")
        with backend.distribution_scope(self), backend.keep_state_on_error(self):
            return super().predict(x, *args, **kwargs)

    def _check_for_training(self):
        """Raise if the model's networks cannot train as configured (``fit``
        calls it first; models that can be refused only then override it)."""

    def _predict_input_words(self):
        if self._protocol("condition_spec") is not None:
            return "[inputs, condition], as call takes them"
        if self._protocol("encoding_network") is not None:
            return "images to reconstruct"
        return "latent codes (n, latent_dim)"

    def _check_placement(self, method):
        """Refuse to run when networks were built outside the model's engine.

        Under ``keras_gen.distribute.data_parallel()`` on JAX and TensorFlow
        the backend fails deep in its first step otherwise (incompatible
        devices, ``colocate_vars_with``); this names the network instead.
        """
        misplaced = backend.misplaced_variables(self)
        if not misplaced:
            return
        ids = {id(v) for v in misplaced}
        owners = [layer.name for layer in self._flatten_layers(include_self=False, recursive=False)
                  if any(id(v) in ids for v in layer.variables)]
        raise ValueError(
            f"{type(self).__name__}.{method}(): the variables of "
            f"{', '.join(repr(n) for n in owners) or 'this model'} were created outside "
            "keras_gen.distribute.data_parallel(), so the data-parallel engine cannot "
            "use them. Build (or load) the networks inside the "
            "`with keras_gen.distribute.data_parallel():` block, together with the model. "
            f"Received: {len(misplaced)} variables outside the engine, e.g. {misplaced[0].path!r}"
        )

    def _check_inputs(self, name, x, y=None):
        """Check ``fit``/``evaluate`` data ``x`` (and its ``y``) by kind.

        Arrays and tensors are checked whole; a ``tf.data.Dataset`` or
        ``keras.utils.PyDataset`` by its first batch, which is split into
        ``(x, y)`` as Keras does. ``y`` is read by the rule of
        :func:`split_batch`: labels are not checked as images (the model
        ignores them), a target with the images' shape gets the image
        checks, anything else is a ``ValueError``. Empty inputs raise
        ``ValueError``; other kinds pass here (a generator is checked by
        :meth:`_checked_stream` as Keras takes its first batch); a
        list or tuple of arrays is refused (the models have one image
        input).
        """
        if x is None:
            raise ValueError(
                f"{name} is required: images as an array or tensor, a tf.data.Dataset, a "
                f"keras.utils.PyDataset or a generator of batches. Received: {name}=None")
        if isinstance(x, (list, tuple)):
            raise ValueError(
                f"{name} must be one array or tensor of images (batch, ...), a "
                "tf.data.Dataset or a keras.utils.PyDataset: keras-gen models have "
                "a single image input (stack a list of images with np.stack). "
                f"Received: {name}={type(x).__name__} of {len(x)} item(s)"
            )
        kind, batch = peek.first_batch(x)
        if kind is None:
            return
        if kind == peek.ARRAY:
            if batch.ndim == 0 or batch.shape[0] == 0:
                raise ValueError(
                    f"{name} is empty: there is nothing to train or evaluate on. "
                    f"Received: {name}.shape={batch.shape}"
                )
            _, target = peek.first_batch(y)
            label = name
            target_label = "y" if name == "x" else f"{name}[1]"
            names = (target_label, name if name == "x" else f"{name}[0]")
        else:
            if batch is None:
                raise ValueError(
                    f"{name} is an empty {kind}: it yields no batch, so there is "
                    f"nothing to train or evaluate on. Received: {name}={x!r}"
                )
            self._check_stream_batch(name, kind, batch)
            return
        self._check_images_and_target(label, batch, target, target_label, names, kind)

    def _check_stream_batch(self, name, kind, batch, where="first batch"):
        """Check one batch a stream yielded (as NumPy), as ``fit`` checks an array."""
        batch, target, _ = keras.utils.unpack_x_y_sample_weight(
            tuple(batch) if isinstance(batch, list) else batch
        )
        if isinstance(batch, dict):
            raise ValueError(
                f"{name} yields dicts ({sorted(batch)}), but keras-gen models take batches of "
                "images, (images, labels) or (images, targets). Map each element to those, e.g. "
                "ds.map(lambda e: (e['image'], e['label'])), or load a TFDS dataset with "
                f"as_supervised=True. Received: the {where} of the {kind} {name}: a dict"
            )
        if not isinstance(batch, np.ndarray):
            return  # Several inputs (tuple): the model's own business.
        label = f"{name} ({where} of the {kind})"
        names = ("y", "x", f"{where} of the {kind} {name}")
        self._check_images_and_target(label, batch, target, f"the targets of {label}", names, kind)

    def _check_images_and_target(self, label, batch, target, target_label, names, kind):
        if target is not None and batch_role(batch, target, *names) == LABELS:
            _check_feedable_labels(target, kind, *names,
                                   conditional=self._protocol("condition_spec") is not None)
            target = None  # Labels: ignored by the models, not images to check.
        if not self._targets_are_images():
            target = None
        self._check_array(label, batch, is_target=target is None)
        if isinstance(target, np.ndarray):
            self._check_array(target_label, target)

    def _check_array(self, name, data, is_target=True):
        """Check one NumPy array of images before training starts.

        In this order: a floating-point dtype (integer pixels are refused,
        not rescaled silently); the rank and image shape the model expects;
        finite values (NaN and Inf are counted and located); then, for the
        images the model must reproduce (``is_target``), the value range:
        ``[0, 1]`` for a BCE reconstruction, and the range of the decoding
        network's final activation when it is bounded (sigmoid, tanh). Images
        in ``[0, 1]`` for a ``tanh`` output train, with a ``UserWarning`` (once
        per model): keras-gen's tools read such a model's outputs as ``(-1, 1)``.
        """
        if not isinstance(data, np.ndarray):
            return
        if not (np.issubdtype(data.dtype, np.number) or data.dtype == bool
                or data.dtype.name == "bfloat16"):
            raise checks.ArgumentTypeError(
                f"{name} must hold floating-point images in the model's range "
                f"{self._data_range()}. Received: {name} with dtype={data.dtype}, which is not "
                "a number type")
        if not (np.issubdtype(data.dtype, np.floating) or data.dtype.name == "bfloat16"):
            extent = ""
            if data.size and (np.issubdtype(data.dtype, np.number) or data.dtype == bool):
                extent = f" (min={data.min()}, max={data.max()})"
            raise checks.ArgumentTypeError(
                f"{name} must hold floating-point images in the model's range "
                f"{self._data_range()}; keras-gen does not rescale integer pixels "
                f"silently. Received: {name} with dtype={data.dtype}{extent}. "
                "Convert and rescale it first, e.g. keras_gen.data.from_numpy(x, "
                f"input_range=(0, 255), value_range={self._data_range()})."
            )
        expected = self._expected_data_shape()
        if expected is not None:
            if data.ndim != len(expected):
                raise ValueError(
                    f"{name} must have rank {len(expected)} (batch, "
                    f"{', '.join(['...'] * (len(expected) - 1))}) to match the "
                    f"model's input shape {expected}. Received: {name}.shape={data.shape}"
                )
            if any(e is not None and e != r for e, r in zip(expected[1:], data.shape[1:])) \
                    and not self._encoder_runs_on(data.shape):
                raise ValueError(
                    f"{name} must hold images of shape {tuple(expected[1:])} (the "
                    f"model's expected input shape is {expected}). Received: "
                    f"{name}.shape={data.shape}, images of shape {data.shape[1:]}"
                )
        if not data.size:
            return
        # min and max propagate NaN and reach +-Inf: no mask of the whole
        # array unless something is wrong.
        lo, hi = float(np.min(data)), float(np.max(data))
        if not (np.isfinite(lo) and np.isfinite(hi)):
            finite = np.isfinite(data)
            n_nan = int(np.isnan(data).sum())
            n_inf = int(data.size - finite.sum()) - n_nan
            first = tuple(int(i) for i in np.argwhere(~finite)[0])
            raise ValueError(
                f"{name} must not contain NaN or infinite values. Received: {name} "
                f"with {n_nan} NaN and {n_inf} infinite values, the first "
                f"({data[first]}) at index {list(first)}"
            )
        if not is_target:
            return
        value_range = self._required_value_range()
        if value_range is not None and (lo < value_range[0] - 1e-6 or hi > value_range[1] + 1e-6):
            raise ValueError(
                f"{name} must lie in {value_range} for this model "
                f"({self._value_range_reason()}). Received: {name} with "
                f"min={lo:g}, max={hi:g}. " + rescale_hint(name, lo, hi, value_range)
            )
        bounded = self._bounded_output_range()
        if bounded is not None:
            atol = 1e-4 * (bounded[1] - bounded[0])
            if lo < bounded[0] - atol or hi > bounded[1] + atol:
                raise ValueError(
                    f"{name} must lie in {bounded}, the output range of the model's "
                    "decoding network (its final activation), or the model cannot "
                    f"reproduce it. Received: {name} with min={lo:g}, max={hi:g}. "
                    + rescale_hint(name, lo, hi, bounded)
                )
            if bounded[0] < 0 and lo >= 0 and hi > 0.5 * bounded[1] \
                    and not getattr(self, "_warned_half_range", False):
                self._warned_half_range = True  # once per model
                warnings.warn(
                    f"{name} lies in [0, {hi:g}] while the model's outputs (its final "
                    f"activation) span {bounded}, which keras-gen's tools that show or score "
                    "them read as the image range: a model trained on such images draws them "
                    "pale there. If that is not what you mean, rescale them, e.g. "
                    f"keras_gen.data.from_numpy(x, input_range=(0, 1), value_range={bounded}). "
                    f"Received: {name} with min={lo:g}, max={hi:g}",
                    UserWarning, stacklevel=2)

    def _protocol(self, name):
        """``getattr(self, name)``, or None where the model does not define it."""
        try:
            return getattr(self, name)
        except (NotImplementedError, AttributeError):
            return None

    def _expected_data_shape(self):
        """Shape ``(None, H, W, C)`` of the training images, or None if unknown.

        The encoding network's input shape where there is one (for a
        subclassed encoder, the shape the model was built with), else the
        decoding network's output shape (a GAN's generator).
        """
        encoder = self._protocol("encoding_network")
        if encoder is not None:
            # an encoder that declares no input shape (a subclass): the images
            # the model was built on
            return known_input_shape(encoder) or built_input_shape(self)
        decoder = self._protocol("decoding_network")
        latent_dim = self._protocol("latent_dim")
        if decoder is None or latent_dim is None:
            return None
        try:
            shape = decoder.compute_output_shape((None, latent_dim))
        except Exception:  # A network that cannot say: no shape check.
            return None
        if not isinstance(shape, tuple) or not all(d is None or isinstance(d, int) for d in shape):
            return None
        return (None,) + tuple(shape[1:])

    def _encoder_runs_on(self, shape):
        """Whether an encoder that declares no input shape (whose expected
        shape is the one the model was built with) runs on images of
        ``shape`` too, as a fully convolutional one does."""
        encoder = self._protocol("encoding_network")
        if encoder is None or known_input_shape(encoder) is not None:
            return False
        try:
            encoder.compute_output_spec(keras.KerasTensor((None,) + tuple(shape[1:])))
        except Exception:  # the encoder's own shape error: named by the caller
            return False
        return True

    def _targets_are_images(self):
        """Whether ``y`` holds images to reproduce (models with an encoder)."""
        return self._protocol("encoding_network") is not None

    def _bounded_output_range(self):
        """The decoding network's output range where its activation bounds it."""
        decoder = self._protocol("decoding_network")
        return None if decoder is None else activation_range(decoder)

    def _data_range(self):
        """The range the model's data should lie in (for messages)."""
        rng = self._required_value_range() or self._bounded_output_range()
        if rng is None:
            rng = self._protocol("default_output_range") or (0.0, 1.0)
        return tuple(float(v) for v in rng)

    def _required_value_range(self):
        return None

    def _value_range_reason(self):
        return ""

    # ------------------------------------------------------- model protocol
    # Every generative model answers these; code outside models/ (latent
    # tools, callbacks, export) asks through them, never by isinstance.

    #: The output range assumed when the decoding network's final
    #: activation does not fix one (see ``output_range``).
    default_output_range = (0.0, 1.0)

    @property
    def latent_dim(self):
        """Width of the latent space (int): the size of one code z."""
        raise NotImplementedError(f"{type(self).__name__} does not define latent_dim.")

    @property
    def decoding_network(self):
        """The ``keras.Model`` mapping codes ``(batch, latent_dim)`` to images."""
        raise NotImplementedError(
            f"{type(self).__name__} does not define decoding_network."
        )

    @property
    def encoding_network(self):
        """The network mapping images to codes, or None if the model has none."""
        return None

    @property
    def output_range(self):
        """``(low, high)`` floats: the range of the decoding network's outputs.

        The rule: the final activation of ``decoding_network`` (the last
        layer that is not a reshape, crop, dropout or similar, looking
        inside nested models) decides when it bounds its output
        (``sigmoid``/``hard_sigmoid``: ``(0.0, 1.0)``, ``tanh``:
        ``(-1.0, 1.0)``); any other activation falls back to the model's
        ``default_output_range`` (``(0.0, 1.0)`` for ``AutoEncoder`` and
        ``VAE``, ``(-1.0, 1.0)`` for ``GAN``), the range its data is
        expected in.
        """
        found = activation_range(self.decoding_network)
        return found if found is not None else tuple(map(float, self.default_output_range))

    def latent_codes(self, x, batch_size=None):
        """Deterministic latent codes of images ``x``, NumPy ``(n, latent_dim)``.

        Models without an encoder raise ``TypeError``.
        """
        name = type(self).__name__
        raise TypeError(
            f"A {name} has no encoder, so images cannot be mapped to latent codes; "
            f"pass latent codes z instead. Received: model of type {name}"
        )

    def sample(self, n, seed=None, labels=None, batch_size=None):
        """Decode ``n`` draws of z ~ N(0, I) into images, NumPy ``(n, ...)``.

        Args:
            n: int > 0, number of images.
            seed: int or None. With an int the draw is reproducible; with
                None the model's own SeedGenerator advances.
            labels: must be None: the models here are unconditional.
            batch_size: decoding batch size (``predict``'s default if None).
        """
        check_unconditional(self, labels)
        z = draw_latents(n, self.latent_dim, seed, self._prior_seed_generator())
        network = self.decoding_network
        return as_float32(backend.predict(network, z, batch_size=batch_size, verbose=0))

    def _prior_seed_generator(self):
        """The SeedGenerator that ``sample(seed=None)`` advances."""
        raise NotImplementedError(f"{type(self).__name__} cannot sample.")


# ------------------------------------------------------------ inference inputs
def _as_numpy(name, value):
    """``value`` (an array, a list, a backend tensor) as NumPy, else an error naming ``name``."""
    try:
        if hasattr(value, "shape") and not isinstance(value, np.ndarray):
            value = ops.convert_to_numpy(value)  # detaches a torch tensor that requires grad
        return np.asarray(value)
    except (TypeError, ValueError, RuntimeError) as error:
        raise checks.ArgumentTypeError(
            f"{name} must be an array of numbers. Received: {name} of type "
            f"{type(value).__name__} ({error})") from None


def latent_input(model, z, name="z"):
    """``z`` as float32 NumPy codes ``(n, latent_dim)`` of ``model``, n >= 1 and
    finite; else an error naming ``name`` (before any network runs)."""
    z = _as_numpy(name, z)
    if z.dtype.kind not in "iuf" and z.dtype.name != "bfloat16":
        raise checks.ArgumentTypeError(
            f"{name} must be an array of latent codes (numbers). Received: {name} of dtype {z.dtype}")
    z = z.astype("float32", copy=False)
    width = int(model.latent_dim)
    if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] != width:
        raise ValueError(
            f"{name} must be latent codes of shape (n, {width}) with n >= 1 (latent_dim={width}). "
            f"Received: {name}.shape={z.shape}"
        )
    finite = np.isfinite(z).all(axis=1)
    if not finite.all():
        raise ValueError(
            f"{name} must be finite; {int((~finite).sum())} of its {len(z)} rows hold NaN or Inf "
            f"(the first is row {int(np.argmin(finite))})"
        )
    return z


def image_input(model, x, name="x", in_range=False):
    """``x``, images to encode or reconstruct, as NumPy, checked as ``fit`` checks
    an input array: non-empty, a floating-point dtype, the model's image shape,
    finite. The model's value range only ``in_range`` (the likelihood bounds):
    encoding reproduces nothing, and a denoising model's inputs lie outside it."""
    x = _as_numpy(name, x)
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(f"{name} is empty: there are no images to use. Received: {name}.shape={x.shape}")
    # GenerativeModel's check: a conditional model's own asks for labels too
    GenerativeModel._check_array(model, name, x, is_target=in_range)
    return x


# ------------------------------------------------------------ the batch rule
#: What ``batch_role`` found the ``y`` of a batch ``(x, y)`` to be.
LABELS = "labels"
TARGET = "target"


class _pipeline_checks_named:
    """Turns the failure of a check in a tf.data pipeline (an
    InvalidArgumentError: ``keras_gen.data._pipeline.check_even_batches`` and
    ``check_class_ids``) into the ValueError it stands for."""

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        message = None if error is None else _pipeline.check_error(error)
        if message is None:
            return False
        raise ValueError(message) from None


def first_input_shape(input_shape):
    """The first input's shape, from it alone, from ``[shape, condition shape]``
    (lists once read back from a saved file's JSON) or from a dict of shapes."""
    if isinstance(input_shape, dict):  # first called on {"images": ..., "condition": ...}
        input_shape = list(input_shape.values())
    if input_shape and isinstance(input_shape[0], (list, tuple)):
        input_shape = input_shape[0]
    return tuple(input_shape)


def built_input_shape(model):
    """The input shape ``model`` was built with (its first input's, for a model
    of ``[inputs, condition]``), or None when unbuilt or not recorded."""
    shapes = getattr(model, "_build_shapes_dict", None) if getattr(model, "built", False) else None
    if not shapes or len(shapes) != 1:
        return None
    (shape,) = shapes.values()
    return first_input_shape(shape) if isinstance(shape, (list, tuple, dict)) else None


def _check_even_split(name, x, batch_size, replicas):
    """ValueError unless every batch of the array ``x`` splits into ``replicas``
    equal shares (TensorFlow's mirrored step and JAX's sharding fail inside
    on an uneven last batch)."""
    if not isinstance(x, np.ndarray) or x.ndim == 0:
        return
    n = len(x)
    last = n % batch_size
    if batch_size % replicas or last % replicas:
        keep = n - last
        raise ValueError(
            f"{name} must come in batches that split evenly over the {replicas} devices of the "
            f"data-parallel engine: batch_size={batch_size} and {n} examples leave a last batch of "
            f"{last}. Use a batch_size that is a multiple of {replicas}, and pass {name}[:{keep}] "
            f"(whole batches), or a batch_size that divides {n}, or "
            "keras_gen.data.from_numpy(..., drop_remainder=True). "
            f"Received: {name} of {n} examples, batch_size={batch_size}"
        )


def _check_loop_arguments(args, kwargs):
    """``fit``'s ``batch_size`` (positive int or None), ``epochs`` and
    ``initial_epoch`` (ints >= 0), by name: ``batch_size=0`` trained, ``True``
    trained with batches of 1 on TensorFlow and JAX, ``-5`` failed inside
    each backend in its own words."""
    names = ("batch_size", "epochs")  # fit(x, y, batch_size, epochs, ...) positionally
    values = dict(zip(names, args))
    values.update({k: kwargs[k] for k in ("batch_size", "epochs", "initial_epoch") if k in kwargs})
    if values.get("batch_size") is not None:
        checks.positive_int("batch_size", values["batch_size"])
    for name in ("epochs", "initial_epoch"):
        if name in values:
            checks.integer(name, values[name], minimum=0)


def _refuse_weights(kwargs):
    """keras-gen's losses take no per-example weights: ``sample_weight=`` and
    ``class_weight=`` are refused by name (Keras drops ``sample_weight``
    without a ``y``, and turns ``class_weight`` into sample weights that the
    train step would refuse mid-fit), and so is a third item of
    ``validation_data`` (refused only when validation ran, after an epoch)."""
    validation = kwargs.get("validation_data")
    if isinstance(validation, (tuple, list)) and len(validation) == 3 and validation[2] is not None:
        raise ValueError(
            "keras-gen models do not support sample weights in validation_data (their losses "
            "weight every example alike). Received: validation_data of 3 items (x, y, sample_weight)"
        )
    for name in ("sample_weight", "class_weight"):
        if kwargs.get(name) is not None:
            value = kwargs[name]
            shown = f"array of shape {np.shape(value)}" if hasattr(value, "shape") else repr(value)
            raise ValueError(
                f"keras-gen models do not support {name} (their losses weight every example "
                f"alike). Received: {name}={shown}"
            )


def split_batch(data):
    """Split a training or evaluation batch into ``(x, target, labels)``.

    A batch is ``x``, ``(x, y)`` or ``(x, y, sample_weight)`` (sample
    weights are refused). ``y`` is read by one rule, decided from static
    shapes and dtypes alone (the same under JAX jit, ``tf.function`` and
    PyTorch):

    * a **target** when it is floating-point with x's per-example shape:
      the images to reproduce from x (denoising pairs ``(noisy, clean)``);
      a ``GAN`` has no target and ignores it;
    * otherwise **labels** when its dtype is integer, bool or text, or its
      rank is at most 2: class ids ``(batch,)``, one-hot or attribute
      vectors ``(batch, k)``, per-pixel class masks ``(batch, H, W)``; a
      nested ``y`` (tuple, dict) must be labels in every part. Labels are
      never a reconstruction target: the unconditional models
      (``AutoEncoder``, ``VAE``, ``GAN``) ignore them and train on x alone,
      exactly as if fed x;
    * anything else is a ``ValueError`` naming y's and x's shapes: a
      floating-point y of rank 3 or more that is not image-shaped, and an
      integer or bool y with exactly x's per-example shape (integer target
      images are never rescaled silently, and as labels they would be
      ambiguous).

    Args:
        data: what the trainer yields: a tensor x, or a tuple ``(x, y)``.

    Returns:
        ``(x, target, labels)``: ``target`` is y when y is a target and x
        otherwise; ``labels`` is y when y is labels and None otherwise.

    Raises:
        ValueError: for sample weights and for a y that is neither labels
            nor an image-shaped target.

    Example:

    >>> import numpy as np
    >>> x = np.zeros((4, 8, 8, 1), "float32")
    >>> _, target, labels = split_batch((x, np.arange(4)))
    >>> target is x, labels.tolist()
    (True, [0, 1, 2, 3])
    >>> clean = np.ones((4, 8, 8, 1), "float32")
    >>> _, target, labels = split_batch((x, clean))
    >>> target is clean, labels
    (True, None)
    """
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    if sample_weight is not None:
        raise ValueError(
            "keras-gen models do not support sample_weight. "
            f"Received: sample_weight={sample_weight!r}"
        )
    x = _as_floatx(x)
    if y is None:
        return x, x, None
    if batch_role(x, y) == LABELS:
        return x, x, y
    return x, _as_floatx(y), None


def _list_as_array(y):
    """A Python list of labels as one NumPy array (Keras reads a list as several
    arrays and failed with "tuple index out of range"); anything else as it is."""
    if isinstance(y, list):
        try:
            array = np.asarray(y)
        except ValueError:  # ragged: left to the label checks, which name it
            return y
        if array.dtype != object:
            return array
    return y


def is_python_stream(data):
    """A Python generator or iterator of batches (not an array, tensor, tf.data or PyDataset)."""
    import collections.abc

    return (isinstance(data, collections.abc.Iterator) and not hasattr(data, "shape")
            and not isinstance(data, keras.utils.PyDataset)
            and type(data).__module__.split(".")[0] != "tensorflow")


def _as_floatx(tensor):
    """A floating-point batch in Keras' float type (float32 by default), as
    Keras casts NumPy inputs itself: a float64 / float16 ``tf.data`` batch
    otherwise met the float32 model in the loss (a TensorFlow dtype error; on
    JAX and PyTorch the loss ran in the data's precision: NaN in float16)."""
    dtype = getattr(tensor, "dtype", None)
    if dtype is None:
        return tensor
    dtype = keras.backend.standardize_dtype(dtype)
    if "float" in dtype and dtype != keras.backend.floatx():
        return ops.cast(tensor, keras.backend.floatx())
    return tensor


def batch_role(x, y, y_name="y", x_name="x", where=""):
    """``LABELS`` or ``TARGET``: what ``y`` is in a batch ``(x, y)``.

    The rule of :func:`split_batch`, from ``x.shape``, ``y.shape`` and
    ``y.dtype`` alone (NumPy arrays, tensors of every backend, tracers,
    ``KerasTensor``). Dimensions unknown while tracing match any size.
    ``y_name`` and ``x_name`` name the data in errors, ``where`` (e.g.
    ``"first batch of the tf.data.Dataset"``) says where they were found.

    Raises:
        ValueError: y is neither labels nor a target with x's shape.
    """
    leaves = keras.tree.flatten(y)
    if len(leaves) == 1 and leaves[0] is y:
        return _leaf_role(x, y, y_name, x_name, where)
    for i, leaf in enumerate(leaves):
        if _leaf_role(x, leaf, f"{y_name} (part {i})", x_name, where) != LABELS:
            raise ValueError(
                f"{y_name} must be labels in every part when it is nested (a "
                "tuple or dict): only a single array can be a target of images. "
                f"Received: {y_name} of {len(leaves)} parts with shapes "
                f"{[_shape(t) for t in leaves]}, with {x_name} of shape {_shape(x)}{_in(where)}"
            )
    return LABELS


def _check_feedable_labels(y, kind, y_name, x_name, where="", conditional=False):
    """Refuse text labels that Keras cannot feed to a train step.

    Text labels are labels by the batch rule, but Keras' array adapter
    cannot convert NumPy text arrays on any backend, and JAX and PyTorch
    cannot take text tensors from a ``tf.data`` pipeline either; Keras then
    fails deep inside ``fit`` ("Invalid dtype: str32"). Only TensorFlow
    with a ``tf.data.Dataset`` carries them through.
    """
    text = [leaf for leaf in keras.tree.flatten(y) if _dtype_name(leaf) == "string"]
    if not text:
        return
    if kind != peek.ARRAY and backend.feeds_text_tensors():
        return
    if conditional:
        advice = ("Encode them as integer class ids in [0, num_classes) or as attribute "
                  "vectors of numbers")
    else:
        advice = ("keras-gen's unconditional models ignore labels anyway: drop them (fit on "
                  f"{x_name} alone, or ds.map(lambda x, y: x)), or encode them as integer "
                  "class ids")
    raise ValueError(
        f"{y_name} holds text labels, which Keras cannot feed to fit/evaluate "
        f"{'as a NumPy array' if kind == peek.ARRAY else 'on the ' + backend.backend_name() + ' backend'}. "
        f"{advice}. Received: {y_name} of dtype {_dtype_name(text[0])} and shape "
        f"{_shape(text[0])}{_in(where)}"
    )


def _shape(t):
    """Static shape of ``t`` as a tuple (None for unknown dims), or None."""
    shape = getattr(t, "shape", None)
    if shape is None:
        return None
    try:
        return tuple(None if d is None else int(d) for d in shape)
    except (TypeError, ValueError):  # Unknown rank (TensorShape(None)), or dims that are tensors.
        return None


def _dtype_name(t):
    dtype = getattr(t, "dtype", None)
    if dtype is None:
        return None
    if isinstance(dtype, np.dtype) and dtype.kind in "OSUV":
        return "string"
    try:
        return keras.backend.standardize_dtype(dtype)
    except ValueError:
        return str(dtype)


def _is_label_dtype(name):
    return name is not None and (
        name in ("bool", "string") or name.startswith(("int", "uint"))
    )


def _in(where):
    return f", in the {where}" if where else ""


def _leaf_role(x, y, y_name, x_name, where=""):
    x_shape, y_shape = _shape(x), _shape(y)
    dtype = _dtype_name(y)
    discrete = _is_label_dtype(dtype)
    if x_shape is None or y_shape is None:
        # Several inputs, or a rank unknown while tracing: the dtype decides.
        return LABELS if discrete else TARGET
    same = len(x_shape) == len(y_shape) and all(
        a is None or b is None or a == b for a, b in zip(x_shape[1:], y_shape[1:])
    )
    if same and not discrete:
        return TARGET
    if not same and (discrete or len(y_shape) <= 2):
        return LABELS
    if same:  # Integer or bool images.
        raise ValueError(
            f"{y_name} has an integer or bool dtype and the shape of the images "
            f"in {x_name}, so it is neither labels nor a target by keras-gen's "
            "rule: integer target images are not rescaled silently, and labels "
            "with the images' shape are ambiguous. For denoising targets pass "
            "floating-point images in the model's range (e.g. "
            "keras_gen.data.from_numpy(y, input_range=(0, 255))); unconditional "
            f"models do not use per-pixel labels: drop {y_name}. Received: "
            f"{y_name} of shape {y_shape} and dtype {dtype}, with {x_name} of "
            f"shape {x_shape}{_in(where)}"
    )
    raise ValueError(
        f"{y_name} must be labels (integer or bool values, or one vector per "
        "example: shape (batch,) or (batch, k)) or floating-point target images "
        f"of the input images' shape {x_shape[1:]} (e.g. denoising pairs "
        f"(noisy, clean)). Received: {y_name} of shape {y_shape} and dtype "
        f"{dtype}, with {x_name} of shape {x_shape}{_in(where)}"
    )


def check_sub_model(name, model):
    """TypeError unless ``model`` is a Keras layer or model."""
    if not isinstance(model, keras.layers.Layer):
        raise TypeError(
            f"{name} must be a keras.Model or keras.layers.Layer. "
            f"Received: {name}={model!r} of type {type(model).__name__}"
        )
    return model


def _check_steps_per_epoch(x, kwargs):
    """ValueError when ``steps_per_epoch`` asks for more batches than ``x`` holds.

    Keras then trains fewer steps than asked, with a warning only. Checked
    where the number of batches is known: arrays (after
    ``validation_split``), a ``keras.utils.PyDataset`` with ``__len__`` and a
    ``tf.data.Dataset`` of finite cardinality; a repeated (infinite) pipeline
    passes.
    """
    steps = kwargs.get("steps_per_epoch")
    if steps is None or isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
        return
    if isinstance(x, np.ndarray) or (hasattr(x, "shape") and hasattr(x, "__array__") and not peek._is_tf_dataset(x)):
        n = int(x.shape[0])
        split = kwargs.get("validation_split") or 0.0
        if split:  # Keras trains on the first floor(n * (1 - split)) examples
            n = int(np.floor(n * (1.0 - split)))
        batch_size = kwargs.get("batch_size") or 32
        available, what = -(-n // batch_size), f"{n} images in batches of {batch_size}"
    elif peek._is_tf_dataset(x):
        available = int(x.cardinality())
        if available < 0:  # infinite (repeated) or unknown
            return
        what = "its batches"
    elif peek._is_py_dataset(x):
        try:
            available = int(x.num_batches)
        except (NotImplementedError, TypeError):
            return
        what = "its batches"
    else:
        return
    if steps > available:
        raise ValueError(
            f"steps_per_epoch is more than the {available} batches x holds ({what}): "
            "Keras would train fewer steps than asked and only warn. Repeat the "
            "data (e.g. tf.data's .repeat()) or lower steps_per_epoch. Received: "
            f"steps_per_epoch={steps}"
        )


def declared_input_shapes(network):
    """The input shapes of a functional / sequential network as a list, or None.

    One tuple per input (a two-input conditional network gives two); None
    when the network does not declare its inputs (subclassed, unbuilt).
    """
    try:
        shape = network.input_shape
    except (AttributeError, ValueError):
        return None
    if isinstance(shape, list):
        if not all(isinstance(s, tuple) for s in shape):
            return None
        return [tuple(s) for s in shape]
    return [tuple(shape)] if isinstance(shape, tuple) else None


def known_input_shape(model):
    """The input shape of a functional/sequential one-input model, or None."""
    shapes = declared_input_shapes(model)
    return shapes[0] if shapes is not None and len(shapes) == 1 else None


def as_float32(x):
    """NumPy float32 view of model outputs (mixed-precision networks may emit 16-bit)."""
    return keras.tree.map_structure(lambda t: np.asarray(t).astype("float32", copy=False), x)


def check_unconditional(model, labels):
    """ValueError unless ``labels`` is None (the model is unconditional)."""
    if labels is not None:
        raise ValueError(
            f"labels must be None: a {type(model).__name__} is unconditional and "
            f"cannot be sampled per label. Received: labels={labels!r}"
        )


# Layers that only move values around: skipped when looking for the final
# activation (a Dense(sigmoid) followed by a Reshape still outputs [0, 1]).
_SHAPE_ONLY_LAYERS = (
    keras.layers.Reshape,
    keras.layers.Flatten,
    keras.layers.Cropping2D,
    keras.layers.Permute,
    keras.layers.Identity,
    keras.layers.Dropout,
    keras.layers.InputLayer,
)
_ACTIVATION_RANGES = {"sigmoid": (0.0, 1.0), "hard_sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}


def activation_range(network):
    """``(low, high)`` fixed by ``network``'s final activation, or None.

    The final activation is that of the last layer that is not shape-only
    (reshape, flatten, crop, permute, identity, dropout), looking inside a
    nested model; ``sigmoid`` and ``hard_sigmoid`` give ``(0.0, 1.0)``,
    ``tanh`` ``(-1.0, 1.0)``, anything else (linear, ReLU, a subclassed
    network without ``layers``) None.
    """
    return _ACTIVATION_RANGES.get(final_activation(network))


def final_activation(network):
    """The name of ``network``'s final activation (as :func:`activation_range`
    finds it: ``"sigmoid"``, ``"linear"``, ``"relu"``, ...), or None where it
    cannot be told (a subclassed network, a last layer without one)."""
    for layer in reversed(getattr(network, "layers", None) or ()):
        if isinstance(layer, _SHAPE_ONLY_LAYERS):
            continue
        if getattr(layer, "layers", None):
            return final_activation(layer)
        activation = getattr(layer, "activation", None)
        return getattr(activation, "__name__", None)
    return None


def draw_latents(n, latent_dim, seed, generator):
    """``n`` draws of z ~ N(0, I) as NumPy: from ``seed`` if an int, else the SeedGenerator."""
    n = checks.positive_int("n", n)
    seed = checks.seed("seed", seed)
    z = keras.random.normal((n, latent_dim), seed=generator if seed is None else seed)
    return ops.convert_to_numpy(z)


def batch_norm_statistics(network, batches):
    """Set ``network``'s BatchNormalization statistics from ``batches`` of its inputs.

    Every BatchNormalization layer of ``network`` (nested models included)
    that is trainable gets, as its ``moving_mean`` / ``moving_variance``,
    the mean over ``batches`` of the batch mean / variance it computes in
    training mode, each batch weighted by its size (BigGAN's "standing
    statistics", Brock et al. 2019). A
    layer with ``trainable=False`` runs in inference mode in Keras and is
    left as it is. No other variable changes: the trainable weights are only
    read, and every other non-trainable variable (a dropout layer's seed
    state, a spectral normalization's vectors) is put back as it was; if a
    batch raises, every statistic is put back too.

    Args:
        network: a ``keras.Model``.
        batches: iterable of inputs for ``network`` (an array, or a list of
            arrays for several inputs), at least one, each of at least 2
            samples (one sample gives no variance between samples): a
            smaller batch raises ``ValueError`` and leaves every statistic
            as it was.

    Returns:
        The number of BatchNormalization layers whose statistics were set.
    """
    layers = [layer for layer in network._flatten_layers(include_self=False)
              if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable]
    if not layers:
        return 0
    state = network.non_trainable_variables
    kept = [ops.convert_to_numpy(v) for v in state]
    momenta = [layer.momentum for layer in layers]
    sums = [[0.0, 0.0] for _ in layers]
    count = 0
    try:
        for layer in layers:
            layer.momentum = 0.0  # the moving statistics become the batch's
        for batch in batches:
            size = int(keras.tree.flatten(batch)[0].shape[0])
            if size < 2:
                raise ValueError("Every batch of batches must hold at least 2 samples (one "
                                 "sample gives no variance between samples). Received: a "
                                 f"batch of {size}")
            network(batch, training=True)
            for total, layer in zip(sums, layers):
                mean = ops.convert_to_numpy(layer.moving_mean).astype("float64")
                variance = ops.convert_to_numpy(layer.moving_variance).astype("float64")
                total[0] = total[0] + size * mean
                total[1] = total[1] + size * variance
            count += size
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
        for variable, value in zip(state, kept):  # all as before, also after an error
            variable.assign(value)
    if count == 0:
        raise ValueError("batches must hold at least one batch. Received: an empty iterable")
    for (mean, variance), layer in zip(sums, layers):
        layer.moving_mean.assign(mean / count)
        layer.moving_variance.assign(variance / count)
    return len(layers)


def plus_model_losses(model, loss):
    """``loss`` plus every term in ``model.losses`` (add_loss, regularisers)."""
    added = model.losses
    if not added:
        return loss
    return loss + ops.sum(ops.stack([ops.cast(t, loss.dtype) for t in added]))
