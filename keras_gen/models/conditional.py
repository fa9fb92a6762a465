"""Conditional GAN and VAE: what is generated is chosen by a class id or attribute vector.

Both models take the condition in one of two kinds, fixed at construction:

* **class ids** (``num_classes=k``): integer labels in ``[0, k)``, shape
  ``(batch,)`` (or ``(batch, 1)``), turned into a float32 one-hot
  ``(batch, k)`` inside the model;
* **attribute vectors** (``condition_size=k``): float (or int/bool) vectors
  ``(batch, k)``, e.g. the 0/1 attributes that
  ``keras_gen.data.load("shapes", with_labels=True)`` yields, used as they
  are (cast to float32).

Either way the networks receive the condition as a float32 ``(batch, k)``
tensor, their second input. The contract for user-written networks:

* generator / decoder: a ``keras.Model`` called on ``[z, condition]``
  (``(batch, latent_dim)`` and ``(batch, k)``) that returns images;
* discriminator: called on ``[images, condition]``, returns logits
  ``(batch, 1)``;
* encoder: called on ``[images, condition]``, returns ``[z_mean,
  z_log_sigma]``.

The models check this when they are built (at construction for functional
networks) and name the network and the shapes in a ``ValueError``
otherwise. ``keras_gen.networks.conditional_*`` build default networks of
this form. Exported generators and decoders (``keras_gen.export``) are the
two-input networks; ``model.condition_spec`` describes the second input.
"""

import warnings

import keras
import numpy as np
from keras import ops

from keras_gen import _checks as checks
from keras_gen import backend
from keras_gen.data import _pipeline
from keras_gen.data import peek
from keras_gen.models import base
from keras_gen.models.gan import GAN
from keras_gen.models.vae import VAE, posterior_outputs

CLASSES = "classes"
ATTRIBUTES = "attributes"


class ConditionalModel:
    """The condition of a conditional model: its kind, size, checks and conversion.

    A mixin of :class:`ConditionalGAN` and :class:`ConditionalVAE` (placed
    before the model class). Code outside ``keras_gen.models`` recognises a
    conditional model by its ``condition_spec`` (not None).
    """

    def _set_condition(self, num_classes, condition_size, condition_names):
        if (num_classes is None) == (condition_size is None):
            raise ValueError(
                f"A {type(self).__name__} needs exactly one of num_classes (integer class "
                "ids) and condition_size (attribute vectors). Received: "
                f"num_classes={num_classes!r}, condition_size={condition_size!r}"
            )
        self.num_classes = checks.positive_int("num_classes", num_classes, allow_none=True)
        self.condition_size = checks.positive_int("condition_size", condition_size, allow_none=True)
        k = self.condition_dim
        if condition_names is not None:
            names = condition_names
            if isinstance(names, str) or not all(isinstance(v, str) for v in names) or len(names) != k:
                raise ValueError(
                    f"condition_names must be None or {k} strings, one per "
                    f"{'class' if self.num_classes else 'attribute'}. Received: "
                    f"condition_names={condition_names!r}"
                )
            if len(set(names)) != len(names):
                raise ValueError(
                    "condition_names must not repeat a name. Received: "
                    f"condition_names={condition_names!r}"
                )
            condition_names = tuple(names)
        self.condition_names = condition_names

    def _build_shape(self, shape):
        """What ``build`` records: the two inputs of ``call``, ``[shape, (batch, k)]``."""
        return [tuple(shape), (None, self.condition_dim)]

    @property
    def condition_dim(self):
        """k, the width of the condition vector the networks receive."""
        return self.num_classes if self.num_classes is not None else self.condition_size

    @property
    def condition_spec(self):
        """A JSON-ready description of the condition input (for export manifests).

        ``{"kind": "classes", "num_classes": k, "size": k, "names": [...] or
        None}`` or ``{"kind": "attributes", "size": k, "names": [...] or
        None}``. The networks' second input is float32 ``(batch, size)``:
        the one-hot of the class id, or the attribute vector.
        """
        names = None if self.condition_names is None else list(self.condition_names)
        if self.num_classes is not None:
            return {"kind": CLASSES, "num_classes": self.num_classes,
                    "size": self.num_classes, "names": names}
        return {"kind": ATTRIBUTES, "size": self.condition_size, "names": names}

    def _what(self):
        if self.num_classes is not None:
            return f"integer class ids in [0, {self.num_classes}) (num_classes={self.num_classes})"
        return f"attribute vectors of size {self.condition_size} (condition_size={self.condition_size})"

    def _check_one_tensor(self, name, labels):
        """ValueError unless ``labels`` is one array or tensor: a dict, tuple or
        list of them (``fit(x, {"attributes": y})``) reached the train step,
        which failed on it (``'dict' object has no attribute 'shape'``)."""
        if isinstance(labels, dict) or (keras.tree.is_nested(labels) and not _numbers(labels)):
            raise ValueError(
                f"{name} must be one tensor of {self._what()}. Received: {name} of type "
                f"{_structure(labels)}, with shapes "
                f"{[base._shape(t) for t in keras.tree.flatten(labels)]}"
            )

    # ------------------------------------------------------ in the steps
    def _condition(self, labels):
        """The labels of a batch as the networks' float32 ``(batch, k)`` condition.

        Checks dtype and shape, which are static (the same under every
        backend's compilation); values are checked on the data before
        training starts (see ``fit``).
        """
        if labels is None:
            raise ValueError(
                f"A {type(self).__name__} trains on (images, labels) batches, with labels "
                f"{self._what()}. Received: a batch of images without labels"
            )
        self._check_one_tensor("labels", labels)
        dtype = base._dtype_name(labels)
        try:
            shape = tuple(labels.shape)
        except ValueError:
            # TensorFlow's relaxed retrace (labels of shape (n,) in one fit,
            # (n, 1) in the next) leaves the rank unknown; fit checked the
            # shapes on the data, so they are (batch,) / (batch, 1) / (batch, k).
            shape = None
        if self.num_classes is not None:
            if not (dtype.startswith("int") or dtype.startswith("uint")):
                raise ValueError(
                    f"labels must be {self._what()}. Received: labels of dtype {dtype} "
                    f"and shape {shape}"
                )
            if shape is None or (len(shape) == 2 and shape[1] == 1):
                labels = ops.reshape(labels, (-1,))
            elif len(shape) != 1:
                raise ValueError(
                    f"labels must have shape (batch,) holding {self._what()}. Received: "
                    f"labels of shape {shape}"
                )
            return ops.one_hot(ops.cast(labels, "int32"), self.num_classes, dtype="float32")
        k = self.condition_size
        if dtype == "string":
            raise ValueError(f"labels must be {self._what()}. Received: labels of dtype {dtype}")
        if shape is None or (len(shape) == 1 and k == 1):
            labels = ops.reshape(labels, (-1, k))
        elif len(shape) != 2 or shape[1] not in (None, k):
            raise ValueError(
                f"labels must have shape (batch, {k}) holding {self._what()}. Received: "
                f"labels of shape {shape}"
            )
        return ops.cast(labels, "float32")

    # --------------------------------------------------------- in NumPy
    def condition_vectors(self, labels, n=None, name="labels"):
        """The networks' condition for ``labels``: NumPy float32 ``(n, k)``.

        Args:
            labels: class ids: one int (for all ``n``) or a sequence of ``n``
                ints in ``[0, num_classes)``; attributes: one vector ``(k,)``
                (for all ``n``) or ``(n, k)`` vectors of finite numbers.
            n: int or None, the number of items (required for one label
                meant for all).
            name: str, the argument's name in error messages.

        Raises:
            ValueError: labels missing, of the wrong type or shape, or out
                of range, naming ``name`` and the value.
        """
        cls = type(self).__name__
        if labels is None:
            raise ValueError(
                f"{name} is required: a {cls} works on given labels, "
                f"{self._what()}. Received: {name}=None"
            )
        if self.num_classes is not None:
            return self._class_vectors(labels, n, name)
        return self._attribute_vectors(labels, n, name)

    def _class_vectors(self, labels, n, name):
        k = self.num_classes
        if checks.is_int(labels):
            if n is None:
                raise ValueError(
                    f"{name} must be a sequence of class ids here (one per item), not one "
                    f"int. Received: {name}={labels!r}"
                )
            ids = np.full((n,), int(labels))
        else:
            ids = _as_array(name, labels)
            if ids.ndim == 2 and ids.shape[1] == 1:
                ids = ids[:, 0]
            if not (np.issubdtype(ids.dtype, np.integer) and ids.ndim == 1):
                raise ValueError(
                    f"{name} must be an int or a sequence of int class ids in [0, {k}) of "
                    f"shape (n,) (a {type(self).__name__} with num_classes={k}). Received: "
                    f"{name} of dtype {ids.dtype} and shape {ids.shape}"
                    + ("" if ids.size > 20 else f": {name}={labels!r}")
                )
            if n is not None and len(ids) != n:
                raise ValueError(
                    f"{name} must hold one class id per item ({n}). Received: "
                    f"{len(ids)} ids in {name}"
                )
        if ids.size and (ids.min() < 0 or ids.max() >= k):
            bad = ids[(ids < 0) | (ids >= k)]
            raise ValueError(
                f"{name} must hold class ids in [0, {k}) (num_classes={k}). Received: "
                f"{name} with values out of range, e.g. {int(bad[0])} (min={int(ids.min())}, "
                f"max={int(ids.max())})"
            )
        return np.eye(k, dtype="float32")[ids]

    def _attribute_vectors(self, labels, n, name):
        k = self.condition_size
        vectors = _as_array(name, labels)
        if not (np.issubdtype(vectors.dtype, np.number) or vectors.dtype == bool):
            raise ValueError(
                f"{name} must hold numbers ({self._what()}). Received: {name} of dtype "
                f"{vectors.dtype}"
            )
        if vectors.ndim == 1 and k == 1 and (n is None or len(vectors) == n) and len(vectors) != 1:
            vectors = vectors[:, None]
        elif vectors.ndim == 1 and len(vectors) == k and n is not None:
            vectors = np.broadcast_to(vectors, (n, k))
        if vectors.ndim != 2 or vectors.shape[1] != k or (n is not None and len(vectors) != n):
            want = f"({n}, {k})" if n is not None else f"(n, {k})"
            raise ValueError(
                f"{name} must be one attribute vector ({k},) or one per item, shape {want} "
                f"({self._what()}). Received: {name} of shape {vectors.shape}"
            )
        return _finite(name, vectors.astype("float32"))

    # ------------------------------------------------------------ predict
    def _predict_input(self, x):
        """``[inputs, condition]`` for ``predict``, checked as ``sample``,
        ``decode`` and ``reconstruct`` check them: the images (a
        ``ConditionalVAE``) as ``fit`` checks them, or the codes z (a
        ``ConditionalGAN``) as ``decode`` does, and the condition as
        :meth:`_predict_condition` reads it. A dataset or generator is
        Keras' to read. Returns a list (a tuple for a tuple) of NumPy arrays,
        the condition as float32 ``(n, k)``."""
        if isinstance(x, dict):
            keys, values = list(x), list(x.values())
            names = [f"x[{key!r}]" for key in keys]
        elif isinstance(x, (list, tuple)):
            keys, values, names = None, list(x), ["x[0]", "x[1]"]
        elif isinstance(x, np.ndarray) or (hasattr(x, "shape") and hasattr(x, "dtype")):
            keys, values, names = None, [x], []
        else:
            return x
        if len(values) != 2:
            first = "images" if self._protocol("encoding_network") is not None else "z"
            raise ValueError(
                f"x must be [{first}, condition], two arrays, as a {type(self).__name__}'s "
                f"call takes them (the condition: {self._what()}). Received: x of type "
                f"{_structure(x) if names else type(x).__name__}"
                + ("" if names else f" of shape {base._shape(x)}")
            )
        if self._protocol("encoding_network") is not None:
            inputs = base.image_input(self, values[0], names[0])
        else:
            inputs = base.latent_input(self, values[0], names[0])
        condition = self._predict_condition(values[1], len(inputs), names[1])
        # a dict as a list, in its order: JAX's tree sorts a dict's keys
        return [inputs, condition] if keys is not None else type(x)([inputs, condition])

    def _predict_condition(self, condition, n, name):
        """``condition`` of ``predict`` as the networks' float32 ``(n, k)``.

        Labels as ``sample`` and ``reconstruct`` take them (class ids are
        one-hot, as ``fit`` does; attribute vectors, one for all or one per
        item), or, for class ids, the condition vectors ``(n, k)`` that
        ``call`` takes (a one-hot, or a mixture of classes); finite numbers.
        """
        if self.num_classes is None or checks.is_int(condition):
            return self.condition_vectors(condition, n, name)
        vectors = _as_array(name, condition)
        if np.issubdtype(vectors.dtype, np.integer) and (
                vectors.ndim == 1 or (vectors.ndim == 2 and vectors.shape[1] == 1)):
            return self.condition_vectors(vectors, n, name)  # class ids, one-hot as in fit
        k = self.num_classes
        if not (np.issubdtype(vectors.dtype, np.number) or vectors.dtype == bool) \
                or vectors.shape != (n, k):
            raise ValueError(
                f"{name} must be {n} class ids in [0, {k}) of shape ({n},), or their condition "
                f"vectors of shape ({n}, {k}), e.g. one-hot (num_classes={k}). Received: {name} "
                f"of dtype {vectors.dtype} and shape {vectors.shape}"
            )
        return _finite(name, vectors.astype("float32"))

    # -------------------------------------------------- fit's data checks
    # Arrays are checked whole and streams by their first batch before
    # training (``_check_inputs``); the labels of the later batches of a
    # stream are checked as Keras takes them (``_checked_stream``): an
    # out-of-range class id otherwise became an all-zero one-hot row on
    # TensorFlow and JAX (trained on silently) and a crash inside the step on
    # PyTorch.
    def fit(self, x=None, y=None, *args, **kwargs):
        with _labels_error_named():
            return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        with _labels_error_named():
            return super().evaluate(x, y, *args, **kwargs)

    def _checked_stream(self, name, data):
        """The base's first-batch check of a generator, then every batch's labels
        of a generator, ``tf.data.Dataset`` or ``keras.utils.PyDataset``."""
        if base.is_python_stream(data):
            return super()._checked_stream(name, data)  # labels: _check_each_generator_batch
        if self.num_classes is None:
            return data  # attribute vectors: any finite numbers (a NaN stops training)
        if peek._is_tf_dataset(data):
            return _pipeline.check_class_ids(data, self.num_classes, name)
        if peek._is_py_dataset(data):
            return _ClassIdsCheckedPyDataset(data, self.num_classes, name)
        return data

    def _check_each_generator_batch(self, name, index, batch):
        images, labels, _ = _unpack(batch)
        if labels is not None:
            labels_name = f"the labels of batch {index} of the generator {name}"
            self._check_one_tensor(labels_name, labels)
            self.condition_vectors(_as_array("labels", labels), len(images), name=labels_name)

    def _check_inputs(self, name, x, y=None):
        """The base checks, then the labels: present, of the right kind, in range.

        Arrays are checked whole, a ``tf.data.Dataset`` or
        ``keras.utils.PyDataset`` by its first batch (other input kinds by
        the train step, for dtype and shape only).
        """
        super()._check_inputs(name, x, y)
        kind, batch = peek.first_batch(x)
        if kind is None or batch is None:
            return
        if kind == peek.ARRAY:
            images = batch
            labels = None if y is None else peek.first_batch(y)[1]
            labels_name = "y" if name == "x" else f"{name}[1]"
            where = ""
            if isinstance(y, list):  # ragged (fit made others arrays): named as sample names it
                self.condition_vectors(y, len(images), name=labels_name)
            self._check_one_tensor(labels_name, y)
            if y is not None and labels is None:
                return  # A tensor that cannot be read here: the train step checks it.
        else:
            images, labels, _ = _unpack(batch)
            if not isinstance(images, np.ndarray):
                return
            labels_name = f"the labels of the first batch of the {kind} {name}"
            where = f" in the first batch of the {kind} {name}"
            self._check_one_tensor(labels_name, labels)
        cls = type(self).__name__
        if labels is None:
            raise ValueError(
                f"A {cls} trains on images with labels ({self._what()}): fit(x, y) "
                "with arrays, or a dataset of (images, labels) batches, e.g. "
                "keras_gen.data.load(name, with_labels=True). Received: images "
                f"without labels{where} ({name} of shape {images.shape}, y=None)"
            )
        if base.batch_role(images, labels) != base.LABELS:
            raise ValueError(
                f"{labels_name} must be labels ({self._what()}), not target images. "
                f"Received: labels of shape {np.shape(labels)}{where}"
            )
        if len(labels) != len(images):
            raise ValueError(
                f"{labels_name} must hold one label per image. Received: "
                f"{len(labels)} labels for {len(images)} images{where}"
            )
        self.condition_vectors(labels, len(images), name=labels_name)

    def _condition_config(self):
        return {
            "num_classes": self.num_classes,
            "condition_size": self.condition_size,
            "condition_names": None if self.condition_names is None else list(self.condition_names),
        }


# Begins the ValueError of a PyDataset's or generator's label check, which
# TensorFlow's pipeline re-raises as an InvalidArgumentError around it.
_LATER_LABELS = "ValueError: the labels of batch "


class _ClassIdsCheckedPyDataset(keras.utils.PyDataset):
    """A ``PyDataset`` whose batches' class ids are checked as they are read
    (no reference to the model: it may be sent to worker processes)."""

    def __init__(self, inner, num_classes, name):
        super().__init__(workers=inner.workers, use_multiprocessing=inner.use_multiprocessing,
                         max_queue_size=inner.max_queue_size)
        self.inner, self.num_classes, self.name = inner, num_classes, name

    @property
    def num_batches(self):
        return self.inner.num_batches

    def __getitem__(self, index):
        batch = self.inner[index]
        _, labels, _ = _unpack(batch)
        if labels is not None:
            ids = np.asarray(keras.ops.convert_to_numpy(labels) if hasattr(labels, "shape") else labels)
            if np.issubdtype(ids.dtype, np.integer) and ids.size and (
                    ids.min() < 0 or ids.max() >= self.num_classes):
                raise ValueError(
                    f"the labels of batch {index} of the PyDataset {self.name} must hold class ids "
                    f"in [0, {self.num_classes}) (num_classes={self.num_classes}). Received: "
                    f"values out of range (min={int(ids.min())}, max={int(ids.max())})"
                )
        return batch

    def on_epoch_begin(self):
        self.inner.on_epoch_begin()

    def on_epoch_end(self):
        self.inner.on_epoch_end()


class _labels_error_named:
    """Turns a PyDataset's or generator's label check failing inside TensorFlow's
    pipeline (an InvalidArgumentError) into the ValueError it stands for (the
    tf.data check's own failure is named by the base's fit and evaluate)."""

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if error is None:
            return False
        message = None
        if _pipeline.is_pipeline_error(error) and _LATER_LABELS in str(error):
            text = str(error)
            message = text[text.index(_LATER_LABELS) + len("ValueError: "):].split("\n")[0]
        if message is None:
            return False
        raise ValueError(message) from None


def _unpack(batch):
    """``(images, labels, sample_weight)`` of a batch (a list read as a tuple)."""
    return keras.utils.unpack_x_y_sample_weight(tuple(batch) if isinstance(batch, list) else batch)


def _structure(value):
    """``value``'s type and parts, for an error: ``dict of 1 entry ['attributes']``."""
    if isinstance(value, dict):
        return f"dict of {len(value)} entr{'y' if len(value) == 1 else 'ies'} {list(value)}"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__} of {len(value)} item{'' if len(value) == 1 else 's'}"
    return type(value).__name__


def _numbers(value):
    """Whether a list or tuple of Python numbers (not of arrays or tensors) reads as one NumPy
    array of numbers: labels written as a list."""
    if any(hasattr(leaf, "shape") for leaf in keras.tree.flatten(value)):
        return False
    try:
        return np.asarray(value).dtype.kind in "biuf"
    except (TypeError, ValueError, RuntimeError):  # ragged, or tensors NumPy cannot stack
        return False


def _finite(name, vectors):
    """Float32 condition ``vectors``, contiguous, or a ValueError counting their NaN and Inf."""
    if not np.all(np.isfinite(vectors)):
        raise ValueError(
            f"{name} must hold finite numbers. Received: {name} with "
            f"{int(np.sum(~np.isfinite(vectors)))} NaN or infinite values"
        )
    return np.ascontiguousarray(vectors)


def _as_array(name, labels):
    try:
        return np.asarray(keras.ops.convert_to_numpy(labels) if hasattr(labels, "shape") else labels)
    except Exception as error:  # Ragged lists, objects NumPy cannot read.
        raise ValueError(
            f"{name} must be an array-like of labels. Received: {name}={labels!r} ({error})"
        ) from None


def _pair(name, inputs, first):
    """``inputs`` as ``(first_input, condition)``, or a ValueError."""
    if isinstance(inputs, dict):
        inputs = list(inputs.values())
    if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
        raise ValueError(
            f"A {name} is called on [{first}, condition]: two tensors. Received: "
            f"inputs of type {type(inputs).__name__}"
        )
    # Both as tensors: a functional network refuses a mix of tensors and arrays.
    return ops.convert_to_tensor(inputs[0]), ops.convert_to_tensor(inputs[1], dtype="float32")


def _check_two_inputs(owner, name, network, first, first_shape, k):
    """ValueError unless a functional ``network`` declares ``[first, condition (k,)]``."""
    shapes = base.declared_input_shapes(network)
    contract = (
        f"The {name} of a {owner} must be a keras.Model with two inputs "
        f"[{first} {('(batch, ' + ', '.join(map(str, first_shape)) + ')')}, condition (batch, {k})] "
        f"(e.g. keras_gen.networks.conditional_*)."
    )
    if shapes is None:
        return contract
    if len(shapes) != 2:
        raise ValueError(f"{contract} Received: {name} with {len(shapes)} input(s) of shapes {shapes}")
    expected = [tuple(first_shape), (k,)]
    for got, want in zip(shapes, expected):
        if len(got) != len(want) + 1 or any(
            g is not None and g != w for g, w in zip(got[1:], want)
        ):
            raise ValueError(f"{contract} Received: {name} input shapes {shapes}")
    return contract


def _call(network, inputs, contract, name):
    try:
        return network(inputs)
    except Exception as error:  # A subclassed network that does not take two inputs.
        raise ValueError(f"{contract} Calling the {name} on them failed: {error}") from error


# ---------------------------------------------------------------------- GAN
@keras.saving.register_keras_serializable(package="keras_gen")
class ConditionalGAN(ConditionalModel, GAN):
    """A class- or attribute-conditional GAN (Mirza and Osindero, 2014).

    The training algorithm, objectives and options are ``keras_gen.GAN``'s
    (``d_steps``, ``generator_loss``, ``label_smoothing``, ``augment``, and
    any other GAN argument): the steps call three hooks that this class
    overrides. Each batch's labels become the condition c (one-hot class
    ids, or attribute vectors); the discriminator judges real images with
    their labels, ``D(x, c)``, and fakes generated for the same labels,
    ``D(G(z, c), c)``, so it learns to reject an image that does not match
    its condition, and the generator to follow the condition.

    Data: ``fit(x, y)`` with images x and labels y, or a ``tf.data`` /
    ``PyDataset`` of ``(images, labels)`` batches (e.g.
    ``keras_gen.data.load("digits", with_labels=True)``), split by
    ``keras_gen.models.base.split_batch``'s rule. Missing labels, labels of
    the wrong dtype or shape, and class ids out of range are a
    ``ValueError`` before training starts (arrays whole, a dataset's first
    batch).

    Args:
        generator: ``keras.Model`` on ``[z (batch, latent_dim), condition
            (batch, k)]`` returning images (e.g.
            ``keras_gen.networks.conditional_dcgan_generator``).
        discriminator: ``keras.Model`` on ``[images, condition]`` returning
            logits ``(batch, 1)`` (e.g.
            ``keras_gen.networks.conditional_dcgan_discriminator``).
        latent_dim: int > 0, size of z.
        num_classes: int > 0 or None, the number of classes of integer
            labels (one-hot inside the model: k = num_classes).
        condition_size: int > 0 or None, the size k of attribute-vector
            labels. Give exactly one of ``num_classes`` and
            ``condition_size``.
        condition_names: None or k strings naming the classes or
            attributes (recorded in ``condition_spec`` and export
            manifests).
        **kwargs: ``keras_gen.GAN`` arguments (``d_steps``,
            ``generator_loss``, ``label_smoothing``, ``seed``, ``augment``,
            ...) and base ``keras.Model`` arguments.

    Example:

    >>> import keras, numpy as np, keras_gen
    >>> z, c = keras.Input((2,)), keras.Input((3,))
    >>> h = keras.layers.Dense(16, activation="tanh")(keras.layers.Concatenate()([z, c]))
    >>> g = keras.Model([z, c], keras.layers.Reshape((4, 4, 1))(h))
    >>> x, c2 = keras.Input((4, 4, 1)), keras.Input((3,))
    >>> h = keras.layers.Concatenate()([keras.layers.Flatten()(x), c2])
    >>> d = keras.Model([x, c2], keras.layers.Dense(1)(h))
    >>> gan = keras_gen.ConditionalGAN(g, d, latent_dim=2, num_classes=3, seed=0)
    >>> gan.compile(d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
    ...             g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5))
    >>> real = np.random.uniform(-1, 1, (32, 4, 4, 1)).astype("float32")
    >>> labels = np.arange(32) % 3
    >>> sorted(gan.fit(real, labels, batch_size=16, epochs=1, verbose=0).history)
    ['d_fake', 'd_loss', 'd_real', 'g_loss']
    >>> gan.sample(4, labels=[0, 1, 2, 2], seed=1).shape
    (4, 4, 4, 1)
    >>> gan.condition_spec
    {'kind': 'classes', 'num_classes': 3, 'size': 3, 'names': None}
    """

    def __init__(
        self,
        generator,
        discriminator,
        latent_dim,
        num_classes=None,
        condition_size=None,
        condition_names=None,
        **kwargs,
    ):
        # Set before GAN.__init__, which builds the model (self.build).
        self._set_condition(num_classes, condition_size, condition_names)
        super().__init__(generator, discriminator, latent_dim, **kwargs)

    def build(self, input_shape):
        input_shape = base.first_input_shape(input_shape)  # of [(batch, latent_dim), (batch, k)]
        latent_dim, k, owner = int(input_shape[-1]), self.condition_dim, type(self).__name__
        contract = _check_two_inputs(owner, "generator", self.generator, "z", (latent_dim,), k)
        condition = keras.KerasTensor((None, k))
        images = _call(self.generator, [keras.KerasTensor((None, latent_dim)), condition],
                       contract, "generator")
        if isinstance(images, (list, tuple)):
            raise ValueError(
                "The generator must return one image tensor. Received: generator "
                f"outputs {[t.shape for t in images]}"
            )
        image_shape = tuple(images.shape[1:])
        contract = _check_two_inputs(owner, "discriminator", self.discriminator, "images",
                                     image_shape, k)
        logits = _call(self.discriminator, [images, condition], contract, "discriminator")
        if isinstance(logits, (list, tuple)) or tuple(logits.shape[1:]) != (1,):
            shape = [t.shape for t in logits] if isinstance(logits, (list, tuple)) else tuple(logits.shape)
            raise ValueError(
                "The discriminator must return one logit per image, shape (batch, 1). "
                f"Received: discriminator output shape {shape}"
            )
        self.image_shape = image_shape
        self._build_augmentations((None,) + image_shape)

    def call(self, inputs, training=False):
        """Generate images from ``[z, condition]`` (condition float32 ``(batch, k)``)."""
        z, condition = _pair(type(self).__name__, inputs, "z")
        return self.generator([z, condition], training=training)

    # The three hooks of GAN's steps.
    def _generate(self, z, condition, training):
        return self.generator([z, condition], training=training)

    def _discriminate(self, images, condition, training):
        return self.discriminator([images, condition], training=training)

    def _standing_condition(self, labels, n):
        return self.condition_vectors(labels, n)

    def _generator_inputs(self, z, condition):
        return [z, condition]

    def _expected_data_shape(self):
        return (None,) + tuple(self.image_shape)

    # ---------------------------------------------------------- inference
    def sample(self, n, labels=None, *, seed=None, batch_size=None):
        """``n`` images generated for ``labels`` from z ~ N(0, I), NumPy ``(n, ...)``.

        Args:
            n: int > 0, number of images.
            labels: required. Class ids: one int for all ``n`` images or a
                sequence of ``n`` ints; attributes: one vector ``(k,)`` or
                ``(n, k)`` vectors.
            seed: int or None. With an int the draw of z is reproducible;
                with None the model's SeedGenerator advances.
            batch_size: generation batch size (``predict``'s default if None).

        Raises:
            ValueError: for missing labels, labels of the wrong type or shape,
                and class ids out of range.
        """
        n = checks.positive_int("n", n)
        condition = self.condition_vectors(labels, n)
        z = base.draw_latents(n, self.latent_dim, seed, self._prior_seed_generator())
        return self.decode(z, condition=condition, batch_size=batch_size)

    def generate(self, n, labels=None, *, seed=None, batch_size=None):
        """Deprecated alias of :meth:`sample`."""
        warnings.warn(
            "ConditionalGAN.generate() is deprecated; use sample(n, labels=..., seed=None, "
            "batch_size=None), the name every keras-gen model uses for drawing samples.",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.sample(n, labels, seed=seed, batch_size=batch_size)

    def decode(self, z, labels=None, batch_size=None, condition=None):
        """Images generated from latent vectors ``z`` ``(n, latent_dim)`` for ``labels``.

        ``labels`` as in :meth:`sample` (one for all, or one per row of z);
        ``condition`` (float32 ``(n, k)``) may be given instead.
        """
        z = base.latent_input(self, z)
        if condition is None:
            condition = self.condition_vectors(labels, len(z))
        return base.as_float32(backend.predict(self.generator, [z, condition], batch_size=batch_size, verbose=0))

    def get_config(self):
        config = super().get_config()
        config.update(self._condition_config())
        return config


# ---------------------------------------------------------------------- VAE
@keras.saving.register_keras_serializable(package="keras_gen")
class ConditionalVAE(ConditionalModel, VAE):
    """A conditional VAE (Sohn, Lee and Yan, 2015): q(z|x, c) and p(x|z, c).

    ``keras_gen.VAE``'s loss and training, with the batch's labels turned
    into the condition c (one-hot class ids or attribute vectors) and given
    to both networks: the encoder maps ``[x, c]`` to ``[z_mean,
    z_log_sigma]``, the decoder maps ``[z, c]`` to the reconstruction, and
    the loss is ``L_rec + lambda * KL(q(z|x, c) || N(0, I))``. Since the
    decoder is told c, z is free to encode what c does not say (the style
    of a digit rather than its class): decoding one z with other labels
    transfers the style (``keras_gen.latent.transfer_style``), and
    ``sample(n, labels)`` draws z from the prior for chosen labels.

    Data: as for :class:`ConditionalGAN`: ``fit(x, y)`` or a dataset of
    ``(images, labels)``; missing or bad labels are a ``ValueError``.

    Args:
        encoder: ``keras.Model`` on ``[images, condition (batch, k)]``
            returning ``[z_mean, z_log_sigma]`` (e.g.
            ``keras_gen.networks.conditional_encoder(..., variational=True)``).
        decoder: ``keras.Model`` on ``[z (batch, latent_dim), condition]``
            returning images of the encoder's input shape (e.g.
            ``keras_gen.networks.conditional_decoder``).
        num_classes: int > 0 or None, the number of classes of integer
            labels.
        condition_size: int > 0 or None, the size of attribute-vector
            labels. Give exactly one of the two.
        condition_names: None or k strings naming the classes or attributes.
        **kwargs: ``keras_gen.VAE`` arguments (``kl_weight``,
            ``reconstruction``, ``seed``, ``free_bits``) and base
            ``keras.Model`` arguments.

    Example:

    >>> import numpy as np, keras_gen
    >>> enc = keras_gen.networks.conditional_encoder((8, 8, 1), 2, 3, kind="dense",
    ...     variational=True, hidden_units=(16,), features=8, condition_units=8)
    >>> dec = keras_gen.networks.conditional_decoder(2, (8, 8, 1), 3, kind="dense",
    ...     hidden_units=(16,))
    >>> cvae = keras_gen.ConditionalVAE(enc, dec, num_classes=3, seed=0)
    >>> cvae.compile(optimizer="adam")
    >>> x, y = np.random.rand(32, 8, 8, 1).astype("float32"), np.arange(32) % 3
    >>> sorted(cvae.fit(x, y, epochs=1, verbose=0).history)
    ['kl_loss', 'loss', 'neg_elbo', 'reconstruction_loss']
    >>> cvae.sample(5, labels=2, seed=1).shape
    (5, 8, 8, 1)
    """

    def __init__(
        self,
        encoder,
        decoder,
        num_classes=None,
        condition_size=None,
        condition_names=None,
        **kwargs,
    ):
        self._set_condition(num_classes, condition_size, condition_names)
        super().__init__(encoder, decoder, **kwargs)

    def build_if_known(self):
        """Build now when the encoder declares its inputs (functional)."""
        shapes = base.declared_input_shapes(self.encoder)
        if shapes is not None and len(shapes) == 2:
            self.build(self._build_shape(shapes[0]))
        elif shapes is not None:
            _check_two_inputs(type(self).__name__, "encoder", self.encoder, "images",
                              shapes[0][1:], self.condition_dim)

    def build(self, input_shape):
        # of [(batch, H, W, C), (batch, k)]; the batch free, as the condition's
        input_shape = (None,) + base.first_input_shape(input_shape)[1:]
        k, owner = self.condition_dim, type(self).__name__
        contract = _check_two_inputs(owner, "encoder", self.encoder, "images", input_shape[1:], k)
        x, condition = keras.KerasTensor(input_shape), keras.KerasTensor((None, k))
        outputs = _call(self.encoder, [x, condition], contract, "encoder")
        z_mean, z_log_sigma = posterior_outputs(
            outputs, "ConditionalVAE", "keras_gen.networks.conditional_encoder"
        )
        z = self.sampling([z_mean, z_log_sigma])
        latent_dim = int(z_mean.shape[-1])
        contract = _check_two_inputs(owner, "decoder", self.decoder, "z", (latent_dim,), k)
        x_hat = _call(self.decoder, [z, condition], contract, "decoder")
        if isinstance(x_hat, (list, tuple)) or tuple(x_hat.shape[1:]) != tuple(input_shape[1:]):
            shape = [t.shape for t in x_hat] if isinstance(x_hat, (list, tuple)) else tuple(x_hat.shape)
            raise ValueError(
                "The decoder must map [z, condition] back to the encoder's image shape. "
                f"Received: encoder image shape {input_shape}, code shape {tuple(z.shape)}, "
                f"decoder output shape {shape}"
            )
        self._latent_dim = latent_dim
        self._image_shape = input_shape

    def call(self, inputs, training=False):
        """Reconstruct ``[images, condition]``: sampled z when training, else the mean."""
        x, condition = _pair(type(self).__name__, inputs, "images")
        z_mean, z_log_sigma = self.encoder([x, condition], training=training)
        z = self.sampling([z_mean, z_log_sigma]) if training else z_mean
        return self.decoder([z, condition], training=training)

    # The hooks of VAE's steps.
    def _encode(self, x, condition, training):
        return self.encoder([x, condition], training=training)

    def _decode(self, z, condition, training):
        return self.decoder([z, condition], training=training)

    def _expected_data_shape(self):
        shapes = base.declared_input_shapes(self.encoder)
        if shapes is not None and len(shapes) == 2:
            return shapes[0]
        return getattr(self, "_image_shape", None)

    # ---------------------------------------------------------- inference
    def posterior(self, x, labels=None, batch_size=None, condition=None):
        """Posterior parameters of ``x`` given ``labels``: NumPy ``(z_mean, z_log_sigma)``.

        ``labels``: one per image (class ids ``(n,)`` or vectors ``(n, k)``),
        or one for all; ``condition`` (float32 ``(n, k)``) may be given
        instead.
        """
        x = base.image_input(self, x).astype("float32", copy=False)
        if condition is None:
            condition = self.condition_vectors(labels, len(x))
        z_mean, z_log_sigma = backend.predict(self.encoder, [x, condition], batch_size=batch_size, verbose=0)
        return base.as_float32((z_mean, z_log_sigma))

    def encode(self, x, labels=None, batch_size=None, condition=None):
        """Posterior mean and standard deviation of ``x`` given ``labels``."""
        z_mean, z_log_sigma = self.posterior(x, labels, batch_size, condition)
        return z_mean, np.exp(z_log_sigma)

    def latent_codes(self, x, labels=None, batch_size=None, condition=None):
        """The posterior means of ``x`` given ``labels``, NumPy ``(n, latent_dim)``."""
        return self.posterior(x, labels, batch_size, condition)[0]

    def decode(self, z, labels=None, batch_size=None, condition=None):
        """Images decoded from codes ``z`` ``(n, latent_dim)`` for ``labels``."""
        z = base.latent_input(self, z)
        if condition is None:
            condition = self.condition_vectors(labels, len(z))
        return base.as_float32(backend.predict(self.decoder, [z, condition], batch_size=batch_size, verbose=0))

    def reconstruct(self, x, labels=None, batch_size=None):
        """Reconstructions of ``x`` given its ``labels`` (from the posterior mean)."""
        return self.decode(self.latent_codes(x, labels, batch_size), labels, batch_size)

    def sample(self, n, labels=None, *, seed=None, batch_size=None):
        """``n`` images decoded from z ~ N(0, I) for ``labels``, NumPy ``(n, ...)``.

        Args: as :meth:`ConditionalGAN.sample`.
        """
        n = checks.positive_int("n", n)
        condition = self.condition_vectors(labels, n)
        z = base.draw_latents(n, self.latent_dim, seed, self._prior_seed_generator())
        return self.decode(z, condition=condition, batch_size=batch_size)

    def get_config(self):
        config = super().get_config()
        config.update(self._condition_config())
        return config
