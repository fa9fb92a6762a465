"""Differentiable and adaptive augmentation for data-efficient GAN training.

Two layers, written once with ``keras.ops`` for the three backends:

* :class:`DiffAugment` applies random colour, translation and cutout
  transforms to every image it is given (Zhao et al. 2020, "Differentiable
  Augmentation for Data-Efficient GAN Training"). The transforms are
  differentiable with respect to the images, so the generator's gradient
  passes through them.
* :class:`AdaptiveAugment` applies each elementary transform to each image
  with a probability ``p`` that it adjusts during training from the
  discriminator's overfitting signal (Karras et al. 2020, "Training
  Generative Adversarial Networks with Limited Data").

Turn either on with ``keras_gen.GAN(..., augment=layer)``: the GAN augments
real and generated batches separately, in training steps only, and calls
``AdaptiveAugment.observe`` from its discriminator step.
"""

import keras
from keras import ops

from keras_gen import _checks as checks
from keras_gen.layers._seed_state import load_seed_state, save_seed_state

__all__ = ["AdaptiveAugment", "DiffAugment", "POLICIES"]

POLICIES = ("color", "translation", "cutout")


def _check_policy(policy):
    if isinstance(policy, str):
        names = [part.strip() for part in policy.split(",")]
    elif isinstance(policy, (list, tuple)) and all(isinstance(p, str) for p in policy):
        names = [p.strip() for p in policy]
    else:
        raise checks.ArgumentTypeError(
            "policy must be a comma-separated string or a list of names among "
            f"{list(POLICIES)}. Received: policy={policy!r}"
        )
    if not names or any(name not in POLICIES for name in names) or len(set(names)) != len(names):
        raise ValueError(
            "policy must name one or more of "
            f"{list(POLICIES)}, each at most once. Received: policy={policy!r}"
        )
    return tuple(names)


def _pixels(size, fraction):
    """``fraction`` of ``size``, rounded to whole pixels as in the paper."""
    return int(size * fraction + 0.5)


@keras.saving.register_keras_serializable(package="keras_gen")
class DiffAugment(keras.layers.Layer):
    """Differentiable augmentation of image batches (DiffAugment).

    Called as ``layer(images, training=True)`` on ``(batch, H, W, C)``
    images (channels last, any H, W, C; dynamic batch size), it applies the
    transforms named in ``policy``, in that order, with an independent random
    draw per image:

    * ``"color"``: brightness ``x + b`` with ``b ~ U(-0.5, 0.5)``; then, for
      3-channel images only, saturation ``(x - m_c) * s + m_c`` with ``m_c``
      the per-pixel mean over channels and ``s ~ U(0, 2)`` (1-channel images
      have no saturation; the transform would be the identity); then
      contrast ``(x - m) * c + m`` with ``m`` the image's mean over H, W, C
      and ``c ~ U(0.5, 1.5)``. The ranges are those of the paper, whose
      images lie in ``[-1, 1]`` (the range keras-gen's GANs use): the
      brightness offset is added in data units and nothing is clipped, so
      augmented images may leave the data range, as in the paper.
    * ``"translation"``: shift by a whole number of pixels, independently
      drawn in ``[-t_H, t_H]`` rows and ``[-t_W, t_W]`` columns with
      ``t = round(translation * size)``, filling the uncovered border with
      zeros (a positive shift moves the content down / right).
    * ``"cutout"``: set to zero a ``round(cutout * H)`` by
      ``round(cutout * W)`` patch (a square for square images), placed
      uniformly at random entirely inside the image.

    Every transform is a per-image affine map of the pixels, differentiable
    with respect to the images. With ``training`` false or None the layer
    returns its input unchanged.

    The random draws come from the layer's own
    ``keras.random.SeedGenerator``, whose state is saved with the weights,
    so a model reloaded from a ``.keras`` file continues the same stream.

    Args:
        policy: the transforms, a comma-separated string or a list among
            ``"color"``, ``"translation"``, ``"cutout"``. Defaults to all
            three, ``"color,translation,cutout"``.
        translation: float in ``(0, 0.5]``, the largest shift as a fraction of
            the image size. Defaults to 0.125 (the paper's 1/8).
        cutout: float in ``(0, 1)``, the patch side as a fraction of the image
            size. Defaults to 0.5 (the paper's).
        seed: int or None, seed of the layer's SeedGenerator.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Raises:
        ValueError: an argument is out of range or names an unknown
            transform; at call time, images that are not of rank 4 with
            known H, W and C.

    Example:

    >>> import numpy as np, keras_gen
    >>> augment = keras_gen.augment.DiffAugment("translation,cutout", seed=0)
    >>> x = np.ones((2, 8, 8, 1), "float32")
    >>> y = augment(x, training=True)
    >>> tuple(y.shape), float(np.asarray(y).min())
    ((2, 8, 8, 1), 0.0)
    >>> bool(np.array_equal(augment(x), x))  # not training: identity
    True
    """

    def __init__(self, policy="color,translation,cutout", translation=0.125, cutout=0.5,
                 seed=None, **kwargs):
        super().__init__(**kwargs)
        self.policy = _check_policy(policy)
        self.translation = checks.real(
            "translation", translation, minimum=0.0, maximum=0.5, min_inclusive=False
        )
        self.cutout = checks.real(
            "cutout", cutout, minimum=0.0, maximum=1.0, min_inclusive=False, max_inclusive=False
        )
        self.seed = checks.seed("seed", seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed, name="augment_seed")
        # Nothing depends on the input shape: built now, so that a model
        # holding the layer counts as built before its first training step.
        self.built = True

    def compute_output_shape(self, input_shape):
        return input_shape

    def call(self, images, training=None):
        shape = tuple(images.shape)
        if len(shape) != 4 or any(d is None for d in shape[1:]):
            raise ValueError(
                f"{type(self).__name__} takes images of shape (batch, H, W, C) with "
                f"known H, W and C. Received: input shape {shape}"
            )
        if not training:
            return images
        steps = self._steps(shape[-1])
        # Every random number of the call in one draw, (batch, count), one
        # column per use: one random op per call instead of one per use
        # keeps the compiled training step small.
        count = sum(_DRAWS[step] + self._gate_draws for step in steps)
        draws = keras.random.uniform(
            (ops.shape(images)[0], count), dtype="float32", seed=self.seed_generator
        )
        x = images
        column = 0
        for step in steps:
            used = _DRAWS[step] + self._gate_draws
            columns = [draws[:, column + i] for i in range(used)]
            column += used
            augmented = getattr(self, f"_{step}")(x, *columns[: _DRAWS[step]])
            x = self._gate(augmented, x, *columns[_DRAWS[step] :])
        return x

    def _steps(self, channels):
        """The elementary transforms of ``policy``, in order, for ``channels``."""
        steps = []
        for name in self.policy:
            if name == "color":
                steps += ["brightness"] + (["saturation"] if channels == 3 else []) + ["contrast"]
            else:
                steps.append(name)
        return steps

    # Extra U(0, 1) draws per image that _gate uses for each transform.
    _gate_draws = 0

    def _gate(self, augmented, x):
        """Which of ``augmented`` and ``x`` each image keeps (DiffAugment: always augmented)."""
        return augmented

    # --------------------------------------------------------- transforms
    # Each takes the images and one U(0, 1) column (batch,) per draw it
    # needs (_DRAWS), and returns the transformed images.
    def _brightness(self, x, u):
        return x + _per_image(u - 0.5, x.dtype)

    def _saturation(self, x, u):
        mean = ops.mean(x, axis=-1, keepdims=True)
        return (x - mean) * _per_image(u * 2.0, x.dtype) + mean

    def _contrast(self, x, u):
        mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
        return (x - mean) * _per_image(u + 0.5, x.dtype) + mean

    def _translation(self, x, u_rows, u_cols):
        height, width = x.shape[1], x.shape[2]
        max_dy, max_dx = _pixels(height, self.translation), _pixels(width, self.translation)
        dy = _integers(u_rows, -max_dy, max_dy)
        dx = _integers(u_cols, -max_dx, max_dx)
        # out[b, i] = x[b, i - d[b]] (zero where i - d is outside the image),
        # as a product with a per-image 0/1 shift matrix: exact, and its
        # gradient is the shift back.
        shifted = ops.einsum("bij,bjwc->biwc", _shift_matrix(dy, height, x.dtype), x)
        return ops.einsum("bij,bhjc->bhic", _shift_matrix(dx, width, x.dtype), shifted)

    def _cutout(self, x, u_top, u_left):
        height, width = x.shape[1], x.shape[2]
        size_h, size_w = max(1, _pixels(height, self.cutout)), max(1, _pixels(width, self.cutout))
        rows = _inside(_integers(u_top, 0, height - size_h), size_h, height)
        cols = _inside(_integers(u_left, 0, width - size_w), size_w, width)
        keep = 1.0 - rows[:, :, None, None] * cols[:, None, :, None]
        return x * ops.cast(keep, x.dtype)

    # -------------------------------------------------------------- state
    # Keras does not save SeedGenerator state; keep it so that a resumed run
    # continues the same augmentation stream (keras-gen models also store
    # it at model level; this covers the layer inside a plain Keras model).
    def save_own_variables(self, store):
        super().save_own_variables(store)
        save_seed_state(store, self.seed_generator)

    def load_own_variables(self, store):
        super().load_own_variables(load_seed_state(store, self.seed_generator))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "policy": list(self.policy),
                "translation": self.translation,
                "cutout": self.cutout,
                "seed": self.seed,
            }
        )
        return config


# U(0, 1) draws each elementary transform takes.
_DRAWS = {"brightness": 1, "saturation": 1, "contrast": 1, "translation": 2, "cutout": 2}


def _per_image(u, dtype):
    """(batch,) -> (batch, 1, 1, 1) in ``dtype``."""
    return ops.cast(ops.reshape(u, (-1, 1, 1, 1)), dtype)


def _integers(u, low, high):
    """U(0, 1) draws (batch,) -> integers uniform in [low, high], int32."""
    values = ops.cast(ops.floor(u * (high - low + 1)), "int32") + low
    return ops.minimum(values, high)


def _shift_matrix(shift, size, dtype):
    """(batch, size, size) with [b, i, j] = 1 where j == i - shift[b], else 0."""
    index = ops.arange(size, dtype="int32")
    source = index[None, :, None] - shift[:, None, None]
    return ops.cast(ops.equal(index[None, None, :], source), dtype)


def _inside(start, length, size):
    """(batch, size) float32, 1 where start[b] <= i < start[b] + length."""
    index = ops.arange(size, dtype="int32")[None, :]
    start = start[:, None]
    return ops.cast(ops.logical_and(index >= start, index < start + length), "float32")


class _Latest(keras.metrics.Metric):
    """A metric whose result is the last value it was given."""

    def __init__(self, name, **kwargs):
        super().__init__(name=name, **kwargs)
        self.latest = self.add_variable(shape=(), initializer="zeros", name="latest")

    def update_state(self, value):
        self.latest.assign(ops.cast(value, self.latest.dtype))

    def result(self):
        # A copy: the variable itself (what convert_to_tensor gives on
        # TensorFlow and PyTorch) is read only when Keras turns the epoch's
        # logs into numbers, after validation has reset it to 0.
        return ops.copy(self.latest)


@keras.saving.register_keras_serializable(package="keras_gen")
class AdaptiveAugment(DiffAugment):
    """DiffAugment with an adaptive probability ``p`` (ADA).

    Each elementary transform (brightness, saturation, contrast,
    translation, cutout, as ``policy`` selects them; see
    :class:`DiffAugment`) is applied to each image independently with
    probability ``p``, a non-trainable ``keras.Variable``
    (``layer.probability``) saved with the weights. At ``p = 0`` the layer
    passes images through unchanged; at ``p = 1`` it is a ``DiffAugment``.

    ``p`` follows the discriminator's overfitting signal
    ``r_t = E[sign(D(x_real))]`` (the mean sign of its logits on the
    augmented real batch): each :meth:`observe` call on a batch of ``n`` real
    logits moves ``p`` by ``n / ramp_images``, up when ``r_t > target`` and
    down otherwise, clipped to ``[0, 1]``. So ``p`` can travel from 0 to 1 in
    ``ramp_images`` real images. ``keras_gen.GAN(..., augment=layer)``
    calls :meth:`observe` in every discriminator step, inside the step's
    gradient computation, on every backend.

    Data-parallel training (``keras_gen.distribute``): on JAX the step sees
    the global batch, as on one device. On TensorFlow each of R replicas
    observes its 1/R share of the batch and the replicas' new values of
    ``p`` are averaged, so ``p`` moves R times more slowly per step (divide
    ``ramp_images`` by R for the same rate).

    The layer tracks two metrics, ``augment_p`` (the latest ``p``) and
    ``augment_rt`` (the mean ``r_t`` since the last reset), in
    ``layer.metrics``. ``layer.probability`` holds ``p`` after ``fit``.

    Args:
        policy, translation, cutout, seed: as :class:`DiffAugment`.
        target: float in ``(-1, 1)``, the ``r_t`` that ``p`` is steered
            to. Defaults to 0.6 (the paper's).
        ramp_images: positive int, the number of real images over which
            ``p`` can go from 0 to 1 (or back). Defaults to 20,000, chosen
            for small datasets and short runs: p can reach 1 in about 300
            steps of 64 images; the paper's 500,000 suits runs of millions
            of images.
        initial_probability: float in ``[0, 1]``, ``p`` before training.
            Defaults to 0.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Example:

    >>> import numpy as np, keras_gen
    >>> ada = keras_gen.augment.AdaptiveAugment(ramp_images=100, seed=0)
    >>> ada.observe(np.ones((10, 1), "float32"))  # D sure every real is real
    >>> round(float(np.asarray(ada.probability)), 6)
    0.1
    """

    def __init__(self, policy="color,translation,cutout", translation=0.125, cutout=0.5,
                 seed=None, target=0.6, ramp_images=20_000, initial_probability=0.0, **kwargs):
        super().__init__(policy=policy, translation=translation, cutout=cutout, seed=seed, **kwargs)
        self.target = checks.real(
            "target", target, minimum=-1.0, maximum=1.0, min_inclusive=False, max_inclusive=False
        )
        self.ramp_images = checks.positive_int("ramp_images", ramp_images)
        self.initial_probability = checks.probability(
            "initial_probability", initial_probability, allow_one=True
        )
        self.probability = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(self.initial_probability),
            dtype="float32",
            trainable=False,
            autocast=False,  # p stays float32 under mixed precision
            # Under a tf.distribute strategy each replica observes its share
            # of the batch; the replicas' new values are averaged.
            aggregation="mean",
            name="probability",
        )
        self.probability_tracker = _Latest(name="augment_p")
        self.signal_tracker = keras.metrics.Mean(name="augment_rt")

    _gate_draws = 1

    def _gate(self, augmented, x, u):
        apply = ops.reshape(u, (-1, 1, 1, 1)) < ops.cast(self.probability, "float32")
        return ops.where(apply, augmented, x)

    def observe(self, real_logits):
        """Update ``p`` from the discriminator's logits on a real batch.

        Args:
            real_logits: the discriminator's logits on the (augmented) real
                batch, shape ``(batch, ...)``. Not differentiated.
        """
        logits = ops.stop_gradient(ops.cast(ops.convert_to_tensor(real_logits), "float32"))
        signal = ops.mean(ops.sign(logits))
        count = ops.cast(ops.shape(logits)[0], "float32")
        direction = ops.where(signal > self.target, 1.0, -1.0)
        step = direction * count / float(self.ramp_images)
        p = ops.clip(ops.cast(self.probability, "float32") + step, 0.0, 1.0)
        self.probability.assign(p)
        self.probability_tracker.update_state(p)
        self.signal_tracker.update_state(signal)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "target": self.target,
                "ramp_images": self.ramp_images,
                "initial_probability": self.initial_probability,
            }
        )
        return config
