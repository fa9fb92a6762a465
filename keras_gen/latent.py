"""Working in the latent space: interpolation, attribute altering, clustering, probes, compression.

The source notes list what an encoder/decoder pair is used for (../shared/seed/
unsupervised_learning.md, "Auto-Encoders" -> "Applications" and "Variational
Auto-Encoders" -> "Applications"): compress data, cluster data, learn a
classifier from the encoder, data synthesis, interpolation, altering
specific features, compression and reconstruction. Each is a function here.

Every function takes a trained model and asks it through the model
protocol (``latent_dim``, ``encoding_network``, ``decoding_network``,
``latent_codes``):

* ``keras_gen.AutoEncoder``: the code of ``x`` is its bottleneck code;
* ``keras_gen.VAE``: the code is the posterior mean
  (the source notes' "Compression and Reconstruction": give the mean to the decoder);
* ``keras_gen.GAN``: there is no encoder, so the functions that need one
  (``cluster``, ``linear_probe``, ``compress``, ``attribute_vector`` from
  images) refuse it; ``interpolate`` and ``alter`` take latent codes ``z``
  directly and decode them with the generator.

* ``keras_gen.ConditionalVAE`` / ``ConditionalGAN`` (a ``condition_spec``):
  ``encode``, ``decode`` and ``interpolate`` take ``labels`` (one label for
  all items, or one per item), the condition the codes are encoded and
  decoded with, e.g. an interpolation at a fixed class; ``transfer_style``
  encodes images with their labels and decodes them with others.

Codes and decoded images are NumPy arrays. Where an argument may be either
images or codes (``interpolate``, ``alter``), an array of shape
``(latent_dim,)`` or ``(n, latent_dim)`` is taken as codes and anything
else as images; pass ``latent=True`` / ``latent=False`` to say which.
"""

import dataclasses

import keras
import numpy as np
from keras import ops

from keras_gen import _checks as checks
from keras_gen import backend
from keras_gen.models import base

INTERPOLATION_METHODS = ("linear", "slerp")
ALTER_MODES = ("target", "vector")


# ------------------------------------------------------------------ plumbing
def _check_model(model):
    """``model`` if it answers the model protocol, else a TypeError naming it."""
    if not isinstance(model, base.GenerativeModel):
        raise TypeError(
            "model must be a keras_gen.AutoEncoder, VAE or GAN. "
            f"Received: model={model!r} of type {type(model).__name__}"
        )
    return model


def _unconditional(function, model, hint=None):
    """``model``, unless it is conditional: ``function`` has no labels to encode with."""
    if getattr(model, "condition_spec", None) is not None:
        hint = hint or ("Encode them with keras_gen.latent.encode(model, x, labels=...) and use "
                        "the codes.")
        raise TypeError(
            f"{function} takes an unconditional model: a {type(model).__name__} encodes "
            f"and decodes with labels, which {function} has no argument for. {hint} "
            f"Received: model of type {type(model).__name__}"
        )
    return model


def latent_dim(model):
    """The width of ``model``'s latent space (bottleneck or z)."""
    return int(_check_model(model).latent_dim)


def _condition(model, labels, n):
    """The condition vectors ``(n, k)`` of a conditional model, else None.

    An unconditional model refuses labels (``base.check_unconditional``).
    """
    if getattr(model, "condition_spec", None) is None:
        base.check_unconditional(model, labels)
        return None
    return model.condition_vectors(labels, n)


def encode(model, x, batch_size=None, labels=None):
    """Latent codes of images ``x``: the AE code, or the VAE posterior mean.

    Args:
        model: a trained ``keras_gen.AutoEncoder``, ``keras_gen.VAE`` or
            ``keras_gen.ConditionalVAE`` (``model.latent_codes``; a model
            without an encoder raises ``TypeError``).
        x: images ``(n, H, W, C)``.
        batch_size: ``predict`` batch size (Keras' default if None).
        labels: for a conditional model (required), the labels the images
            are encoded with: one for all, or one per image; None otherwise.

    Returns:
        float32 NumPy array ``(n, latent_dim)``.
    """
    model = _check_model(model)
    condition = None
    if model.encoding_network is not None:  # Without one, latent_codes raises.
        condition = _condition(model, labels, len(x))
    if condition is None:
        codes = model.latent_codes(x, batch_size=batch_size)
    else:
        codes = model.latent_codes(x, batch_size=batch_size, condition=condition)
    return np.asarray(codes, dtype="float32")


def decode(model, z, batch_size=None, labels=None):
    """Images decoded from codes ``z`` by ``model.decoding_network``.

    ``labels``: for a conditional model (required), the labels to decode
    with, one for all codes or one per code; None otherwise.
    """
    model = _check_model(model)
    z = base.latent_input(model, z)
    condition = _condition(model, labels, len(z))
    if condition is not None:
        return model.decode(z, batch_size=batch_size, condition=condition)
    network = model.decoding_network
    return base.as_float32(backend.predict(network, z, batch_size=batch_size, verbose=0))


def _is_codes(model, x, latent):
    if latent is not None:
        return bool(latent)
    if model.encoding_network is None:
        return True
    x = np.asarray(x)
    return x.ndim in (1, 2) and x.shape[-1] == latent_dim(model)


def _check_finite(**arrays):
    """ValueError naming the first of ``arrays`` (NumPy, by argument name) holding NaN or Inf."""
    for name, array in arrays.items():
        if not np.isfinite(array).all():
            raise ValueError(f"{name} must be finite. Received: {name} with "
                             f"{int(np.sum(~np.isfinite(array)))} NaN or infinite values")


def _images(model, x, name):
    """``x`` checked as images for ``model``'s encoder (as ``encode`` checks them:
    a floating-point dtype, the image shape, finite), errors naming ``name``; float32."""
    return base.image_input(model, x, name=name).astype("float32", copy=False)


def _encode(model, x, name, batch_size=None, labels=None):
    """``encode(model, x, ...)`` with the images checked under the caller's argument ``name``."""
    if model.encoding_network is not None:
        x = _images(model, x, name)
    return encode(model, x, batch_size, labels=labels)


def _codes(model, x, latent=None, batch_size=None, labels=None, name="x"):
    """``x`` as codes ``(n, latent_dim)`` (encoding images) and whether it was one item.

    ``labels``: the labels images are encoded with (conditional models);
    ``name``: the caller's argument, named in errors about the images.
    """
    x = base._as_numpy(name, x)
    if _is_codes(model, x, latent):
        x = np.asarray(x, dtype="float32")
        if model.encoding_network is None and latent is False:
            encode(model, x)  # raises: no encoder
        if x.shape[-1] != latent_dim(model) or x.ndim not in (1, 2):
            raise ValueError(
                f"Latent codes must have shape (latent_dim,) or (n, latent_dim) with "
                f"latent_dim={latent_dim(model)}. Received: shape {x.shape}"
            )
        single = x.ndim == 1
        return np.atleast_2d(x), single
    shape = base.known_input_shape(model.encoding_network)
    if shape is None and getattr(model, "condition_spec", None) is not None:
        shape = model._expected_data_shape()  # [images, condition]: the images' shape
    if shape is None:  # a subclassed encoder: the images the model was built on
        shape = base.built_input_shape(model)
    rank = len(shape) - 1 if shape is not None else x.ndim - 1
    single = x.ndim == rank
    return _encode(model, x[None] if single else x, name, batch_size, labels=labels), single


# ------------------------------------------------------------- refinement
class _SameBatch(keras.utils.PyDataset):
    """``steps`` batches that are all ``batch``: one ``fit`` call, no per-epoch cost."""

    def __init__(self, batch, steps):
        super().__init__()
        self.batch, self.steps = batch, steps

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        return self.batch


class _CodeRefiner(base.GenerativeModel):
    """Holds one chunk's codes as a variable; a step moves only them.

    The decoder runs in inference mode (BatchNorm uses its moving
    statistics) and its weights are never updated.
    """

    def __init__(self, decoder, reconstruction_fn, codes):
        super().__init__(name="code_refiner")
        self.decoder = decoder
        self.reconstruction_fn = reconstruction_fn
        self.codes = self.add_weight(
            shape=codes.shape, initializer="zeros", trainable=True, name="codes"
        )
        self.codes.assign(codes)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.metric_trackers = [self.loss_tracker]

    def call(self, inputs=None, training=False):
        return self.decoder(self.codes, training=False)

    def reconstruction(self, target):
        # Summed over images: each code's gradient is its own image's,
        # whatever the chunk size.
        return ops.sum(self.reconstruction_fn(target, self(target)))

    def train_step(self, data):
        target, _, _ = base.split_batch(data)
        loss = self.minimize(lambda: self.reconstruction(target), [self.codes])
        return self.update_metrics({"loss": loss})


def refine_codes(model, x, codes=None, steps=100, learning_rate=0.05, batch_size=512):
    """Improve the codes of ``x`` by gradient descent through the frozen decoder.

    An encoder is trained to be right on average over the training set; on a
    new image its code is often not the one whose decoding is closest to it
    (the "amortisation gap": Cremer et al., 2018, "Inference Suboptimality
    in Variational Autoencoders"; Kim et al., 2018, "Semi-Amortized
    Variational Autoencoders"). This starts from the encoder's codes and
    takes ``steps`` Adam steps on the codes alone to minimise the model's
    own reconstruction loss (source notes, "Auto-Encoders": L_rec, MSE or BCE as the
    model was built) of ``decoder(z)`` against ``x``. Codes keep their
    size, so compression (source notes, "Compress data") is unchanged, and any
    decoder (yours included) works; only encoding costs more, about
    ``steps`` decoder forward+backward passes per image.

    What it gains on the digits is in docs/evaluation.md, "Measurements
    behind the defaults".

    Args:
        model: a trained ``keras_gen.AutoEncoder`` or ``keras_gen.VAE`` (for
            a VAE the posterior means are refined, with its reconstruction
            loss and no KL term: codes for compression, not a posterior).
        x: images ``(n, H, W, C)``.
        codes: starting codes ``(n, latent_dim)``; defaults to the encoder's
            (``encode(model, x)``).
        steps: int >= 0, Adam steps per chunk (0 returns the start codes).
            Defaults to 100.
        learning_rate: float > 0, Adam's step size as a fraction of the
            root-mean-square of the start codes (so it does not depend on
            the scale the encoder learnt; all-zero start codes take it as
            the step size itself). Defaults to 0.05.
        batch_size: int > 0, images refined together in one chunk (each
            chunk is one full batch per step; chunks are independent).
            Defaults to 512.

    Returns:
        float32 NumPy array ``(n, latent_dim)``.

    Example:

    >>> import numpy as np, keras_gen
    >>> enc = keras_gen.networks.dense_encoder((8, 8, 1), 2, hidden_units=(16,))
    >>> dec = keras_gen.networks.dense_decoder(2, (8, 8, 1), hidden_units=(16,))
    >>> ae = keras_gen.AutoEncoder(enc, dec)
    >>> refine_codes(ae, np.zeros((3, 8, 8, 1), "float32"), steps=5).shape
    (3, 2)
    """
    if _unconditional("refine_codes", _check_model(model)).encoding_network is None:
        encode(model, x)  # raises: no encoder
    steps = checks.non_negative_int("steps", steps)
    learning_rate = checks.positive_float("learning_rate", learning_rate)
    batch_size = checks.positive_int("batch_size", batch_size)
    x = np.asarray(x, dtype="float32")
    expected = base.known_input_shape(model.encoding_network)
    if x.ndim < 2 or (expected is not None and x.shape[1:] != tuple(expected[1:])):
        want = "(n, ...)" if expected is None else str((None,) + tuple(expected[1:]))
        raise ValueError(f"x must be a batch of images of shape {want}. Received: x.shape={x.shape}")
    model._check_array("x", x)  # the model's own checks (e.g. [0, 1] for BCE)
    if codes is None:
        codes = encode(model, x) if len(x) else np.zeros((0, latent_dim(model)), "float32")
    codes = np.asarray(codes, dtype="float32")
    if codes.shape != (len(x), latent_dim(model)):
        raise ValueError(
            f"codes must have shape (n, latent_dim) = {(len(x), latent_dim(model))} "
            f"for {len(x)} images. Received: codes.shape={codes.shape}"
        )
    _check_finite(codes=codes)
    if steps == 0 or len(x) == 0:
        return codes.copy()
    scale = float(np.sqrt(np.mean(np.square(codes))))
    step_size = learning_rate * (scale if scale > 0 else 1.0)
    refined = []
    for start in range(0, len(x), batch_size):
        chunk = x[start:start + batch_size]
        refiner = _CodeRefiner(
            model.decoding_network, model.reconstruction_fn, codes[start:start + batch_size]
        )
        refiner.compile(optimizer=keras.optimizers.Adam(step_size))
        refiner.optimizer.build([refiner.codes])  # Adam slots for the codes only
        refiner.fit(_SameBatch(chunk, steps), epochs=1, verbose=0)
        refined.append(np.asarray(ops.convert_to_numpy(refiner.codes), dtype="float32"))
    return np.concatenate(refined)


# ------------------------------------------------------------ interpolation
def _fractions(name, value):
    """``value``, a real number or a 1-D sequence of them, as a float64 array
    (0-D or 1-D, non-empty, finite); else an error naming ``name``."""
    try:
        array = np.asarray(value)
    except ValueError:  # a ragged sequence
        array = np.asarray(value, dtype=object)
    if array.dtype.kind not in "iuf":  # strings, bools, objects
        raise checks.ArgumentTypeError(
            f"{name} must be a number or a 1-D sequence of numbers. Received: {name}={value!r}")
    array = array.astype("float64")
    if array.ndim > 1 or array.size == 0 or not np.isfinite(array).all():
        raise ValueError(
            f"{name} must be a finite number or a non-empty 1-D sequence of them. Received: {name}={value!r}")
    return array


def slerp(a, b, t):
    """Spherical interpolation between vectors ``a`` and ``b`` at fractions ``t``.

    The direction moves at constant angular speed along the great circle
    from ``a/|a|`` to ``b/|b|`` (Shoemake 1985; White 2016, "Sampling
    generative networks"), and the norm moves linearly from ``|a|`` to
    ``|b|``:

        slerp(a, b, t) = ((1 - t)|a| + t|b|) *
                         [sin((1 - t) w) a^ + sin(t w) b^] / sin(w),
        w = arccos(a^ . b^)

    so when ``|a| = |b|`` every point keeps that norm (the classic slerp),
    which keeps interpolants at the radius where a Gaussian prior's mass
    lies instead of cutting through the low-density centre as a straight
    line does. Nearly parallel vectors fall back to the straight line.

    Args:
        a: array ``(..., d)``.
        b: array ``(..., d)``, broadcastable with ``a``.
        t: array of fractions ``(steps,)`` (0 gives ``a``, 1 gives ``b``).

    Returns:
        Array ``(..., steps, d)``.

    Example:

    >>> import numpy as np
    >>> path = slerp(np.array([3.0, 0.0]), np.array([0.0, 3.0]), np.linspace(0, 1, 5))
    >>> np.round(np.linalg.norm(path, axis=-1), 6).tolist()
    [3.0, 3.0, 3.0, 3.0, 3.0]
    """
    a = np.asarray(a, dtype="float64")[..., None, :]
    b = np.asarray(b, dtype="float64")[..., None, :]
    t = _fractions("t", t).reshape(-1)[:, None]  # one fraction is one step
    norm_a = np.linalg.norm(a, axis=-1, keepdims=True)
    norm_b = np.linalg.norm(b, axis=-1, keepdims=True)
    unit_a = a / np.maximum(norm_a, 1e-12)
    unit_b = b / np.maximum(norm_b, 1e-12)
    cos = np.clip(np.sum(unit_a * unit_b, axis=-1, keepdims=True), -1.0, 1.0)
    omega = np.arccos(cos)
    sin = np.sin(omega)
    parallel = sin < 1e-6
    safe = np.where(parallel, 1.0, sin)
    direction = (np.sin((1.0 - t) * omega) * unit_a + np.sin(t * omega) * unit_b) / safe
    spherical = ((1.0 - t) * norm_a + t * norm_b) * direction
    linear = (1.0 - t) * a + t * b
    return np.where(parallel, linear, spherical)


def interpolate_codes(a, b, steps=10, method="linear"):
    """Codes on the path from ``a`` to ``b``: ``(..., steps, d)``, ends included.

    ``"linear"``: z(t) = (1 - t) a + t b. ``"slerp"``: see :func:`slerp`.
    """
    steps = checks.integer("steps", steps, minimum=2)
    checks.choice("method", method, INTERPOLATION_METHODS)
    t = np.linspace(0.0, 1.0, steps)
    if method == "slerp":
        return slerp(a, b, t).astype("float32")
    a = np.asarray(a, dtype="float64")[..., None, :]
    b = np.asarray(b, dtype="float64")[..., None, :]
    return ((1.0 - t[:, None]) * a + t[:, None] * b).astype("float32")


def interpolate(model, a, b, steps=10, method="linear", latent=None, return_codes=False,
                batch_size=None, labels=None):
    """Decode the path between two inputs or two latent codes.

    Source notes, "Variational Auto-Encoders" -> "Applications" -> "Interpolation":
    given two codes, move from one to the other and see what the decoder
    produces (smoother for a VAE than for a plain AE, because the posterior
    Gaussians overlap). Images are first mapped to their codes (AE code /
    VAE posterior mean); a GAN takes codes z only.

    Args:
        model: trained ``AutoEncoder``, ``VAE`` or ``GAN``.
        a: one input ``(H, W, C)`` / code ``(latent_dim,)``, or a batch of them.
        b: same shape as ``a``.
        steps: int >= 2, points on each path, both ends included. Defaults to 10.
        method: ``"linear"`` (default) or ``"slerp"`` (see :func:`slerp`).
        latent: bool or None: whether ``a``/``b`` are codes (None: inferred
            from the shape, see the module docstring).
        return_codes: bool, return the codes on the path instead of images.
        batch_size: ``predict`` batch size.
        labels: for a conditional model (required), the fixed label of each
            path: one for all pairs or one per pair. Images ``a`` and ``b``
            are encoded with it and the path is decoded with it (to encode
            them with their own labels, pass ``latent.encode(model, x,
            labels=...)`` codes). None for unconditional models.

    Returns:
        ``(steps, ...)`` for one pair, ``(n, steps, ...)`` for ``n`` pairs,
        where ``...`` is the image shape (or ``latent_dim``).

    Example:

    >>> import numpy as np, keras_gen
    >>> enc = keras_gen.networks.dense_encoder((8, 8, 1), 2, hidden_units=(16,))
    >>> dec = keras_gen.networks.dense_decoder(2, (8, 8, 1), hidden_units=(16,))
    >>> ae = keras_gen.AutoEncoder(enc, dec)
    >>> x = np.random.rand(2, 8, 8, 1).astype("float32")
    >>> interpolate(ae, x[0], x[1], steps=5).shape
    (5, 8, 8, 1)
    """
    za, single = _codes(model, a, latent, batch_size, labels, name="a")
    zb, _ = _codes(model, b, latent, batch_size, labels, name="b")
    if za.shape != zb.shape:
        raise ValueError(
            f"a and b must hold the same number of items. Received: {len(za)} and {len(zb)}"
        )
    path = interpolate_codes(za, zb, steps, method)  # (n, steps, d)
    condition = _condition(_check_model(model), labels, len(za))
    if not return_codes:
        n, s, d = path.shape
        if condition is None:
            images = decode(model, path.reshape(n * s, d), batch_size)
        else:
            images = model.decode(path.reshape(n * s, d), batch_size=batch_size,
                                  condition=np.repeat(condition, s, axis=0))
        path = images.reshape((n, s) + images.shape[1:])
    return path[0] if single else path


def transfer_style(model, x, labels, new_labels, batch_size=None):
    """Redraw images ``x`` for other labels, keeping their style (conditional VAEs).

    Each image is encoded with its own label (posterior mean of q(z|x, c))
    and its code decoded with the new label. In a conditional VAE the
    condition tells the decoder what the label says, so the code keeps the
    rest (for digits: slant, stroke width, size): the same handwriting,
    another digit (Sohn et al., 2015; Kingma et al., 2014, "analogies").

    Args:
        model: a trained ``keras_gen.ConditionalVAE`` (a conditional model
            with an encoder).
        x: images ``(n, H, W, C)``.
        labels: the labels of ``x``: one for all or one per image.
        new_labels: the labels to redraw them with: one for all or one per
            image.
        batch_size: ``predict`` batch size.

    Returns:
        float32 NumPy images ``(n, H, W, C)``.

    Raises:
        ValueError: for an unconditional model, or bad labels.
        TypeError: for a model without an encoder (a ``ConditionalGAN``).

    Example:

    >>> import numpy as np, keras_gen
    >>> enc = keras_gen.networks.conditional_encoder((8, 8, 1), 2, 3, kind="dense",
    ...     variational=True, hidden_units=(16,), features=8, condition_units=8)
    >>> dec = keras_gen.networks.conditional_decoder(2, (8, 8, 1), 3, kind="dense",
    ...     hidden_units=(16,))
    >>> cvae = keras_gen.ConditionalVAE(enc, dec, num_classes=3)
    >>> x = np.random.rand(4, 8, 8, 1).astype("float32")
    >>> transfer_style(cvae, x, labels=[0, 1, 2, 0], new_labels=2).shape
    (4, 8, 8, 1)
    """
    model = _check_model(model)
    if getattr(model, "condition_spec", None) is None:
        raise ValueError(
            "transfer_style needs a conditional model (keras_gen.ConditionalVAE): it "
            f"decodes codes with other labels. Received: model of type {type(model).__name__}"
        )
    codes = _encode(model, x, "x", batch_size, labels=labels)
    return decode(model, codes, batch_size, labels=new_labels)


# --------------------------------------------------------------- attributes
def mean_code(model, x, batch_size=None):
    """The mean latent code of images ``x``: the source notes' z_t,avg for a group."""
    return _mean_code(model, x, "x", batch_size)


def _mean_code(model, x, name, batch_size=None):
    _unconditional("mean_code", _check_model(model))
    return _encode(model, x, name, batch_size).mean(axis=0)


def attribute_vector(model, with_attribute, without_attribute, batch_size=None):
    """The attribute vector mean(z | with) - mean(z | without).

    The usual "attribute vector" (Larsen et al. 2016; White 2016): the
    difference of the mean codes of examples with and without a
    characteristic. Adding ``alpha`` times it to a code (``alter(...,
    mode="vector")``) adds the characteristic. The source notes' own formula moves
    towards the target group's mean instead (``alter(..., mode="target")``,
    with ``mean_code(model, with_attribute)``).

    Args:
        model: trained ``AutoEncoder`` or ``VAE`` (a GAN: pass codes, i.e.
            compute the means of your own z groups).
        with_attribute: images with the characteristic ``(n1, H, W, C)``.
        without_attribute: images without it ``(n2, H, W, C)``.

    Returns:
        float32 array ``(latent_dim,)``.
    """
    _unconditional("attribute_vector", _check_model(model))
    return (_mean_code(model, with_attribute, "with_attribute", batch_size)
            - _mean_code(model, without_attribute, "without_attribute", batch_size)).astype("float32")


def _attribute_classes(labels, target, group, name="labels"):
    """Each example's class in the target's group, and the target's class.

    A one-hot group (several columns): the index of its one column > 0.5
    (a row with none or several is a ValueError naming ``name``: it has no
    class in the group). A binary attribute (a group of one column): 1 with
    it (label > 0.5), 0 without.
    """
    if len(group) == 1:
        return (labels[:, group[0]] > 0.5).astype(int), 1
    on = labels[:, list(group)] > 0.5
    bad = np.flatnonzero(on.sum(axis=1) != 1)
    if len(bad):
        raise ValueError(
            f"{name} must set exactly one column of the one-hot group {list(group)} in every row "
            f"(label > 0.5); leave out the rows that set none or several, or pass a binary "
            f"attribute (group=None). Received: {len(bad)} such rows, e.g. row {bad[0]}: "
            f"{labels[bad[0], list(group)].tolist()}")
    return np.argmax(on, axis=1), group.index(target)


def attribute_vectors(codes, labels, target, group=None, source_labels=None):
    """Per-example attribute vectors z_t,avg - z_s,avg from labelled codes.

    The attribute vector that keeps the rest of an example: instead of
    moving every code towards the target group's mean (the source notes'
    z = z_1 + alpha (z_t,avg - z_1), ``alter(..., mode="target")``), move
    it by the difference between the target's mean code z_t,avg and the
    mean code z_s,avg of the examples that share its own current value of
    the attribute, z = z_1 + alpha (z_t,avg - z_s,avg)
    (``alter_codes(z, vectors, alpha, mode="vector")``). Attributes come
    in groups:

    * a one-hot group (e.g. an object's colour: exactly one of ``Red``,
      ``Green``, ... is 1): z_s,avg is the mean code of the examples of the
      example's own colour, so red -> blue and green -> blue take
      different steps;
    * a binary attribute (``group=None`` or ``(target,)``): z_s,avg is the
      mean code of the examples without it, the classic
      mean(with) - mean(without) of :func:`attribute_vector`.

    An example that already has the target value gets the zero vector.

    Args:
        codes: latent codes ``(m, d)`` of labelled examples (e.g.
            ``encode(model, x_train)``), from which the means are taken.
        labels: their 0/1 attributes ``(m, k)``.
        target: int, the column of the target attribute.
        group: None, or a sequence of columns: the target's one-hot group
            (it must contain ``target``). Defaults to None (a binary
            attribute).
        source_labels: attributes ``(n, k)`` of the examples to alter.
            Defaults to ``labels`` (alter the labelled examples themselves).

    Returns:
        float32 array ``(n, d)``, one vector per example to alter.

    Raises:
        ValueError: a class that the examples to alter need has no labelled
            example, a row that sets none or several columns of a one-hot
            group, or shapes or indices that do not fit.

    Example:

    >>> codes = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0]])
    >>> labels = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]])  # one-hot classes a, b, c
    >>> attribute_vectors(codes, labels, target=2, group=(0, 1, 2)).tolist()
    [[0.0, 4.0], [-2.0, 4.0], [0.0, 0.0]]
    """
    codes = np.asarray(codes, dtype="float64")
    labels = np.asarray(labels, dtype="float64")
    if codes.ndim != 2 or labels.ndim != 2 or len(codes) != len(labels):
        raise ValueError(
            "codes and labels must have shapes (m, d) and (m, num_attributes) with the same m. "
            f"Received: codes.shape={codes.shape}, labels.shape={labels.shape}"
        )
    _check_finite(codes=codes, labels=labels)
    target = checks.integer("target", target, minimum=0, maximum=labels.shape[1] - 1)
    group = (target,) if group is None else tuple(
        checks.integer("group", g, minimum=0) for g in (group if hasattr(group, "__iter__") else [group]))
    if target not in group:
        raise ValueError(f"group must contain target={target}. Received: group={group!r}")
    if len(set(group)) != len(group):
        raise ValueError(f"group must name each column once. Received: group={group!r}")
    k = labels.shape[1]
    if not all(0 <= index < k for index in group):
        raise ValueError(
            f"group must hold column indices in [0, {k}) of labels. Received: group={group!r}"
        )
    classes, target_class = _attribute_classes(labels, target, group)
    if source_labels is None:
        source_labels = labels
    source_labels = np.asarray(source_labels, dtype="float64")
    if source_labels.ndim != 2 or source_labels.shape[1] != labels.shape[1]:
        raise ValueError(
            f"source_labels must have shape (n, {labels.shape[1]}), like labels. "
            f"Received: source_labels.shape={source_labels.shape}"
        )
    sources, _ = _attribute_classes(source_labels, target, group, "source_labels")
    means = {}
    for c in np.unique(np.append(sources, target_class)):
        members = classes == c
        if not members.any():
            what = (f"column {group[c]}" if len(group) > 1
                    else f"column {target} {'= 1' if c else '= 0'}")
            raise ValueError(f"labels has no example of class {what}, so its mean code is undefined")
        means[c] = codes[members].mean(axis=0)
    z_target = means[target_class]
    vectors = np.stack([z_target - means[c] for c in sources]) if len(sources) else \
        np.zeros((0, codes.shape[1]))
    return vectors.astype("float32")


def alter_codes(z, target, alpha, mode="target"):
    """Altered codes: ``z + alpha (target - z)`` or ``z + alpha * vector``.

    Args:
        z: codes ``(n, d)``.
        target: ``(d,)``: z_t,avg for ``mode="target"``, the attribute vector
            for ``mode="vector"``; or ``(n, d)``, one per code (e.g. the
            per-example vectors of :func:`attribute_vectors`).
        alpha: float or 1-D sequence of floats.
        mode: ``"target"`` (the source notes' formula) or ``"vector"``.

    Returns:
        ``(n, d)`` for a scalar ``alpha``, ``(n, len(alpha), d)`` otherwise.

    Example:

    >>> z = np.array([[0.0, 0.0], [2.0, 2.0]])
    >>> alter_codes(z, np.array([1.0, 0.0]), 0.5).tolist()
    [[0.5, 0.0], [1.5, 1.0]]
    >>> alter_codes(z, np.array([[1.0, 0.0], [0.0, -2.0]]), 0.5, mode="vector").tolist()
    [[0.5, 0.0], [2.0, 1.0]]
    """
    checks.choice("mode", mode, ALTER_MODES)
    z = np.asarray(z, dtype="float64")
    target = np.asarray(target, dtype="float64")
    if z.ndim != 2:
        raise ValueError(f"z must have shape (n, d). Received: z.shape={z.shape}")
    if target.shape not in ((z.shape[1],), z.shape):
        raise ValueError(
            f"target must have shape (d,) = {(z.shape[1],)} or (n, d) = {z.shape}, one per "
            f"code. Received: target.shape={target.shape}"
        )
    _check_finite(z=z, target=target)
    alphas = _fractions("alpha", alpha)
    a = alphas.reshape(-1)[None, :, None]
    target = np.broadcast_to(target, z.shape)[:, None, :]
    step = (target - z[:, None, :]) if mode == "target" else target
    out = z[:, None, :] + a * step
    return (out[:, 0] if alphas.ndim == 0 else out).astype("float32")


def add_residual(decoded, x, reconstruction, transport=False, ridge=1e-4):
    """``decoded + (x - reconstruction)``: put back what the model did not reconstruct.

    An edit made in latent space changes what the decoder draws; the detail
    the model never captured (``x`` minus its reconstruction, the decode of
    ``x``'s own code) is lost from every decode. Adding that residual back
    keeps it: the decode of the unaltered code gives ``x`` itself, and an
    edit changes ``x`` only where the decodes differ. The sum is clipped to
    the range of values in ``x``, ``reconstruction`` and ``decoded``
    together (per image: each result depends only on its own three), so it
    stays within what the data and the model produce.

    A plain residual keeps the original's colours: after a recolouring, the
    sharp edges it restores are edges of the old colour (a fringe around
    the new one). With ``transport=True`` the residual is first carried
    through the colour change the edit made: per decoded image, the affine
    map of channels ``c -> A c + t`` that best takes ``reconstruction`` to
    ``decoded`` (least squares over its pixels, with ``A`` pulled towards
    the identity by ``ridge`` times the pixel count) is fitted, and
    ``decoded + (x - reconstruction) A^T`` is returned (then clipped as
    above). An edge between colours b and c, restored by the residual as a
    step of ``c - b``, becomes a step of ``A (c - b)``: ``c' - b`` when the
    edit recoloured c to c' and kept b. An edit that changes no colour
    fits ``A = I`` and gives the plain sum; ``decoded == reconstruction``
    gives ``x``.

    Args:
        decoded: decoded images ``(n, ...)``, or ``(n, k, ...)`` with ``k``
            decodes per item (e.g. one per alpha).
        x: the inputs ``(n, ...)``; with ``transport``, images with the
            channels last, ``(n, ..., channels)`` (rank 3 or more).
        reconstruction: the decodes of ``x``'s own codes ``(n, ...)``.
        transport: bool, whether to carry the residual through the
            decode's colour change (see above). Defaults to False.
        ridge: float > 0, the pull of ``A`` towards the identity per pixel
            (``transport`` only). Defaults to 1e-4.

    Returns:
        float32 array shaped like ``decoded``.

    Example:

    >>> import numpy as np
    >>> x = np.array([[0.2, 0.9]]); rec = np.array([[0.25, 0.8]])
    >>> print(add_residual(np.array([[0.65, 0.8]]), x, rec).round(2))
    [[0.6 0.9]]
    >>> # One-channel images (1, 1, 3, 1): a dark 0.1 / bright 0.9 edge, blurred in
    >>> # the reconstruction; the edit turns the bright part to 0.5.
    >>> x = np.array([0.1, 0.9, 0.9]).reshape(1, 1, 3, 1)
    >>> rec = np.array([0.1, 0.5, 0.9]).reshape(1, 1, 3, 1)
    >>> dec = np.array([0.1, 0.3, 0.5]).reshape(1, 1, 3, 1)
    >>> print(add_residual(dec, x, rec, transport=True).ravel().round(2))
    [0.1 0.5 0.5]
    """
    decoded = np.asarray(decoded, dtype="float32")
    x = np.asarray(x, dtype="float32")
    reconstruction = np.asarray(reconstruction, dtype="float32")
    transport = checks.boolean("transport", transport)
    ridge = checks.positive_float("ridge", ridge)
    if x.shape != reconstruction.shape:
        raise ValueError(f"x and reconstruction must have the same shape. Received: "
                         f"x.shape={x.shape}, reconstruction.shape={reconstruction.shape}")
    extra = decoded.ndim - x.ndim
    if extra not in (0, 1) or decoded.shape[:1] + decoded.shape[1 + extra:] != x.shape:
        raise ValueError(f"decoded must have shape {x.shape} (x.shape) or (n, k) + "
                         f"{x.shape[1:]}. Received: decoded.shape={decoded.shape}")
    if transport and x.ndim < 3:
        raise ValueError("transport=True needs images with the channels last, (n, ..., "
                         f"channels). Received: x.shape={x.shape}")
    residual = x - reconstruction
    lead = 1 + extra  # the item axes of `decoded`: (n,) or (n, k)

    def extremes(a, axes):
        flat = a.reshape(a.shape[:axes] + (-1,))
        return flat.min(axis=-1), flat.max(axis=-1)

    (x_low, x_high), (r_low, r_high) = extremes(x, 1), extremes(reconstruction, 1)
    d_low, d_high = extremes(decoded, lead)
    low, high = np.minimum(x_low, r_low), np.maximum(x_high, r_high)
    if extra:
        residual, low, high = residual[:, None], low[:, None], high[:, None]
    if transport:
        residual = _transported(residual, reconstruction[:, None] if extra else reconstruction,
                                decoded, lead, ridge)
    pixels = (1,) * (decoded.ndim - lead)
    low = np.minimum(low, d_low).reshape(d_low.shape + pixels)
    high = np.maximum(high, d_high).reshape(d_high.shape + pixels)
    return np.clip(decoded + residual, low, high).astype("float32")


def _transported(residual, reconstruction, decoded, lead, ridge):
    """``residual`` times ``A^T``, A fitted per decoded image (see ``add_residual``).

    All three have ``decoded``'s rank; the first ``lead`` axes index the
    images (``residual`` and ``reconstruction`` have size 1 where one item
    has k decodes) and the last the channels.
    """
    channels = decoded.shape[-1]

    def flat(a):  # (items..., pixels, channels), float64
        return a.reshape(a.shape[:lead] + (-1, channels)).astype("float64")

    r, d = flat(reconstruction), flat(decoded)
    r_c = r - r.mean(axis=-2, keepdims=True)
    d_c = d - d.mean(axis=-2, keepdims=True)
    weight = ridge * d.shape[-2]
    eye = np.eye(channels)
    gram = np.swapaxes(r_c, -1, -2) @ r_c + weight * eye
    cross = np.swapaxes(r_c, -1, -2) @ d_c + weight * eye
    a_t = np.linalg.solve(np.broadcast_to(gram, cross.shape), cross)  # A^T per image
    moved = flat(residual) @ a_t
    return moved.reshape(decoded.shape).astype("float32")


def alter(model, x, target, alpha=1.0, mode="target", latent=None, return_codes=False,
          batch_size=None, residual=False, transport=False):
    """Alter a feature of ``x`` in latent space and decode.

    Source notes, "Variational Auto-Encoders" -> "Applications" -> "Altering":

        z = z_1 + alpha (z_t,avg - z_1)

    where z_1 is the code of ``x`` and z_t,avg the average code of examples
    with the target characteristic. ``alpha = 0`` gives back z_1 and
    ``alpha = 1`` lands exactly on z_t,avg; values in between blend. This is
    ``mode="target"`` (default). ``mode="vector"`` instead adds an
    attribute vector v: z = z_1 + alpha v, which keeps the rest of the
    example's individuality at any alpha. v is one vector for all
    (:func:`attribute_vector`), or one per item from labelled codes
    (:func:`attribute_vectors`: v = z_t,avg - z_s,avg, the step from the
    mean code of the item's own class to the target's).

    Args:
        model: trained ``AutoEncoder``, ``VAE`` or ``GAN`` (codes only).
        x: one input / code or a batch of them.
        target: for ``mode="target"``: z_t,avg as a code ``(latent_dim,)``,
            or a batch of images with the characteristic (their mean code
            is used). For ``mode="vector"``: the attribute vector
            ``(latent_dim,)``, or one per item ``(n, latent_dim)`` (see
            :func:`attribute_vectors`).
        alpha: float or 1-D sequence of floats. Defaults to 1.0.
        mode: ``"target"`` or ``"vector"``.
        latent: bool or None, whether ``x`` holds codes (None: inferred).
        return_codes: bool, return the altered codes instead of images.
        residual: bool. If True, ``x`` must be images, and what the model
            did not reconstruct (``x`` minus the decode of its code) is
            added back to every decode (:func:`add_residual`): alpha = 0
            gives ``x`` itself, and the edit keeps the image's own detail.
            Defaults to False (the decodes alone).
        transport: bool, with ``residual=True``: carry the residual
            through the colour change each decode makes
            (``add_residual(..., transport=True)``), so that a recoloured
            object's restored edges take the new colour. Defaults to False.

    Returns:
        Images (or codes) ``(n, ...)`` for a scalar alpha, ``(n, len(alpha), ...)``
        for a sequence; without the ``n`` axis when ``x`` is one item.

    Example:

    >>> import numpy as np, keras_gen
    >>> enc = keras_gen.networks.dense_encoder((8, 8, 1), 2, hidden_units=(16,))
    >>> dec = keras_gen.networks.dense_decoder(2, (8, 8, 1), hidden_units=(16,))
    >>> ae = keras_gen.AutoEncoder(enc, dec)
    >>> x = np.random.rand(4, 8, 8, 1).astype("float32")
    >>> z_t = mean_code(ae, x[2:])
    >>> np.allclose(alter(ae, x[:2], z_t, alpha=1.0, return_codes=True), z_t, atol=1e-6)
    True
    """
    _unconditional("alter", _check_model(model),
                   "Encode with keras_gen.latent.encode(model, x, labels=...), move the codes "
                   "with keras_gen.latent.alter_codes, and decode them with "
                   "model.decode(codes, labels=...).")
    checks.choice("mode", mode, ALTER_MODES)
    if checks.boolean("transport", transport) and not residual:
        raise ValueError("transport=True carries the residual through the edit's colour "
                         "change, so it needs residual=True. Received: transport=True, "
                         f"residual={residual!r}")
    if residual and (return_codes or _is_codes(model, np.asarray(x), latent)):
        raise ValueError(
            "residual=True adds back what the model did not reconstruct of the input images, "
            "so x must be images and return_codes False. Received: "
            f"{'return_codes=True' if return_codes else f'codes of shape {np.shape(x)}'}"
        )
    z, single = _codes(model, x, latent, batch_size)
    target = base._as_numpy("target", target)
    per_example = mode == "vector" and target.shape == z.shape
    if target.shape != (latent_dim(model),) and not per_example:
        if mode == "vector" or model.encoding_network is None:
            also = f" or ({len(z)}, {latent_dim(model)}), one per item" if mode == "vector" else ""
            raise ValueError(
                f"target must be a latent vector of shape ({latent_dim(model)},){also} for "
                f"mode={mode!r}. Received: target.shape={target.shape}"
            )
        _check_target_images(model, target)
        target = _mean_code(model, target, "target", batch_size)
    elif target.dtype.kind not in "iuf":
        raise checks.ArgumentTypeError(f"target must be a latent vector of numbers. Received: "
                                       f"target of dtype {target.dtype}")
    codes = alter_codes(z, target, alpha, mode)
    out = codes
    if not return_codes:
        flat = codes.reshape(-1, codes.shape[-1])
        images = decode(model, flat, batch_size)
        out = images.reshape(codes.shape[:-1] + images.shape[1:])
        if residual:
            inputs = _images(model, np.asarray(x)[None] if single else x, "x")
            out = add_residual(out, inputs, decode(model, z, batch_size), transport=transport)
    return out[0] if single else out


def _check_target_images(model, target):
    """ValueError naming ``target`` unless it is a batch of images the encoder takes."""
    try:
        wanted = tuple(model.encoding_network.input_shape[1:])
    except (AttributeError, ValueError):  # a network without one declared input
        wanted = None
    fits = target.ndim >= 2 and len(target) > 0 and (
        wanted is None or (len(target.shape[1:]) == len(wanted) and all(
            w is None or w == t for w, t in zip(wanted, target.shape[1:]))))
    if not fits:
        shown = ", ".join("?" if w is None else str(w) for w in wanted) if wanted else "..."
        raise ValueError(
            f"target must be a code of shape ({latent_dim(model)},) or a non-empty batch of "
            f"images (n, {shown}) with the characteristic (their mean code is used) for "
            f"mode='target'. Received: target.shape={target.shape}"
        )


# ---------------------------------------------------------------- clustering
@dataclasses.dataclass
class ClusterResult:
    """What :func:`cluster` found.

    Attributes:
        assignments: int array ``(n,)``, the cluster of each example.
        centers: array ``(k, latent_dim)``, the k-means centres (codes).
        purity: float or None, share of examples whose cluster's majority
            label is their own label (None without labels).
        nmi: float or None, normalised mutual information between clusters
            and labels, in [0, 1] (None without labels).
    """

    assignments: np.ndarray
    centers: np.ndarray
    purity: float = None
    nmi: float = None


def purity_score(labels, assignments):
    """Cluster purity: (1/n) sum over clusters of the size of its largest class."""
    labels = np.asarray(labels)
    assignments = np.asarray(assignments)
    total = 0
    for c in np.unique(assignments):
        _, counts = np.unique(labels[assignments == c], return_counts=True)
        total += counts.max()
    return float(total / len(labels))


def cluster(model, x, k, labels=None, seed=0, batch_size=None):
    """k-means on the latent codes (source notes, "Auto-Encoders" -> "Cluster data").

    The source notes: an encoder clusters data because one decoder must rebuild
    similar inputs from nearby codes. This runs scikit-learn's ``KMeans``
    (10 restarts) on the codes (VAE: posterior means) and, given labels,
    scores the clustering against them.

    Args:
        model: trained ``AutoEncoder`` or ``VAE``.
        x: images ``(n, H, W, C)``.
        k: int >= 2, number of clusters.
        labels: optional int array ``(n,)``.
        seed: int, k-means seed.

    Returns:
        :class:`ClusterResult`.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score

    _unconditional("cluster", _check_model(model))
    k = checks.integer("k", k, minimum=2)
    seed = checks.seed("seed", seed)
    if labels is not None:
        labels = _class_labels("labels", labels, len(x))
    codes = encode(model, x, batch_size)
    if k > len(codes):
        raise ValueError(f"k must be at most the number of examples, {len(codes)}. Received: k={k}")
    kmeans = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(codes)
    result = ClusterResult(kmeans.labels_, kmeans.cluster_centers_.astype("float32"))
    if labels is not None:
        result.purity = purity_score(labels, result.assignments)
        result.nmi = float(normalized_mutual_info_score(labels, result.assignments))
    return result


def _class_labels(name, labels, n):
    """``labels`` as a NumPy ``(n,)`` array of class labels (ints, bools or strings),
    else an error naming ``name`` (one-hot rows, NaN, a scalar, another length)."""
    array = np.asarray(labels)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1 or len(array) != n:
        raise ValueError(
            f"{name} must hold one class label per example, shape ({n},) (class ids, not one-hot "
            f"rows). Received: {name} of shape {array.shape}"
        )
    if array.dtype.kind == "f":
        if not np.isfinite(array).all() or not np.array_equal(array, np.round(array)):
            raise ValueError(f"{name} must be class labels (integers). Received: {name} of dtype "
                             f"{array.dtype} holding non-integer values")
        array = array.astype("int64")
    elif array.dtype.kind not in "iubUS":
        raise checks.ArgumentTypeError(f"{name} must be class labels (ints, bools or strings). "
                                       f"Received: {name} of dtype {array.dtype}")
    return array


def linear_probe(model, x_train, y_train, x_test, y_test, batch_size=None, return_classifier=False):
    """Test accuracy of a linear classifier on frozen latent codes.

    Source notes, "Auto-Encoders" -> "Learn a classifier": keep the encoder and
    attach a classifier that learns the decision boundaries. The encoder is
    frozen; scikit-learn's multinomial ``LogisticRegression`` (L2, C=1,
    on standardised codes) is fitted on the training codes and scored on
    the test codes. A linear probe measures how linearly separable the
    classes are in the latent space.

    Args:
        model: trained ``AutoEncoder`` or ``VAE``.
        x_train, y_train: training images and int labels.
        x_test, y_test: test images and labels.
        return_classifier: bool, also return the fitted sklearn pipeline.

    Returns:
        float accuracy in [0, 1] (and the classifier if asked).

    Raises:
        ValueError: labels that are not one class id per example, fewer than
            2 classes in ``y_train``, or a ``y_test`` class absent from
            ``y_train``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    _unconditional("linear_probe", _check_model(model))
    y_train = _class_labels("y_train", y_train, len(x_train))
    y_test = _class_labels("y_test", y_test, len(x_test))
    if len(np.unique(y_train)) < 2:
        raise ValueError(f"y_train must hold at least 2 classes. Received: y_train with classes "
                         f"{np.unique(y_train).tolist()}")
    unseen = np.setdiff1d(np.unique(y_test), np.unique(y_train))
    if len(unseen):
        raise ValueError(
            "y_test must hold only classes that y_train holds (the classifier cannot predict a "
            f"class it was not fitted on). Received: y_test classes {unseen.tolist()} absent from "
            "y_train")
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    classifier.fit(_encode(model, x_train, "x_train", batch_size), y_train)
    accuracy = float(classifier.score(_encode(model, x_test, "x_test", batch_size), y_test))
    return (accuracy, classifier) if return_classifier else accuracy


# --------------------------------------------------------------- compression
# Floating-point dtypes a code may be stored in (an integer dtype would truncate it).
CODE_DTYPES = ("float32", "float16", "float64")


@dataclasses.dataclass
class Compressed:
    """Codes of a batch of images and what they cost.

    Attributes:
        codes: array ``(n, latent_dim)`` in ``code_dtype``.
        input_shape: shape of one input, e.g. ``(28, 28, 1)``.
        input_dtype: dtype name of the inputs.
        ratio: ``(prod(input_shape) * input itemsize) / (latent_dim * code itemsize)``,
            the bytes of an image over the bytes of its code.
    """

    codes: np.ndarray
    input_shape: tuple
    input_dtype: str
    ratio: float


def compress(model, x, code_dtype="float32", batch_size=None, refine_steps=0):
    """Encode ``x`` to codes and report the compression ratio.

    Source notes, "Auto-Encoders" -> "Compress data" and "Variational
    Auto-Encoders" -> "Compression and Reconstruction": store the code,
    ship the decoder; a VAE stores the posterior mean (its reconstruction
    is worse than an AE's of the same width because of the regulariser).

    Args:
        model: trained ``AutoEncoder`` or ``VAE``.
        x: images ``(n, H, W, C)``.
        code_dtype: dtype the codes are stored in (``"float32"``, or
            ``"float16"`` to halve them). Defaults to ``"float32"``.
        batch_size: ``predict`` batch size (Keras' default if None).
        refine_steps: int >= 0, steps of :func:`refine_codes` (with its
            default step size and chunks; call it yourself for others) on the
            encoder's codes before storing them: same size, a closer
            reconstruction, slower compression. Defaults to 0 (the encoder's
            codes).

    Returns:
        :class:`Compressed`. ``decompress(model, compressed)`` decodes it.

    Example:

    >>> import numpy as np, keras_gen
    >>> enc = keras_gen.networks.dense_encoder((8, 8, 1), 2, hidden_units=(16,))
    >>> dec = keras_gen.networks.dense_decoder(2, (8, 8, 1), hidden_units=(16,))
    >>> c = compress(keras_gen.AutoEncoder(enc, dec), np.zeros((3, 8, 8, 1), "float32"))
    >>> c.codes.shape, c.ratio
    ((3, 2), 32.0)
    """
    _unconditional("compress", _check_model(model))
    x = np.asarray(x)
    refine_steps = checks.non_negative_int("refine_steps", refine_steps)
    try:
        dtype_name = np.dtype(code_dtype).name  # np.float16 as well as "float16"
    except TypeError:
        dtype_name = code_dtype
    code_dtype = checks.choice("code_dtype", dtype_name, CODE_DTYPES)
    codes = encode(model, x, batch_size)
    if refine_steps:
        codes = refine_codes(model, x, codes, steps=refine_steps)
    codes = codes.astype(code_dtype)
    input_bytes = int(np.prod(x.shape[1:])) * x.dtype.itemsize
    code_bytes = codes.shape[-1] * codes.dtype.itemsize
    return Compressed(codes, tuple(x.shape[1:]), x.dtype.name, float(input_bytes / code_bytes))


def decompress(model, compressed, batch_size=None):
    """Decode a :class:`Compressed` (or raw codes) back to images."""
    codes = compressed.codes if isinstance(compressed, Compressed) else compressed
    return decode(model, np.asarray(codes, dtype="float32"), batch_size)
