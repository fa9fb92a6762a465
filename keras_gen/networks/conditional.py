"""Conditional versions of the default networks: a second input, the condition.

Every builder here wraps one of the package's unconditional builders (the
wrapped network is a nested ``keras.Model``) and adds the condition, a
float32 ``(batch, condition_size)`` vector (the one-hot of a class id or an
attribute vector, as ``keras_gen.ConditionalGAN`` / ``ConditionalVAE`` give
it), by one standard scheme:

* **generator / decoder** (inputs ``[latent, condition]``): the condition is
  concatenated to z, and the unconditional builder gets a latent size of
  ``latent_dim + condition_size`` (Mirza and Osindero, 2014);
* **encoder** (inputs ``[image, condition]``): the unconditional encoder
  maps the image to ``features`` linear features, the condition is
  concatenated to them, and a hidden ``Dense`` layer and the latent head(s)
  follow (Sohn et al., 2015, condition the recognition network on the label
  the same way, by concatenation);
* **discriminator** (inputs ``[image, condition]``): a projection
  discriminator (Miyato and Koyama, 2018, "cGANs with Projection
  Discriminator"): with ``phi(x)`` the flattened features of the DCGAN
  discriminator's last block, ``logit = w . phi(x) + b + e(c) . phi(x)``
  where ``e(c)`` is a bias-free ``Dense`` layer on the condition named
  ``"condition_embedding"`` (for a one-hot c, a learnt embedding of the
  class). The condition thus acts on the discriminator's decision through
  every feature, not as a bias only; unlike constant condition channels at
  the input it costs no extra convolution channels.

The networks are functional ``keras.Model`` s of standard Keras layers, so
they train and save under TensorFlow, JAX and PyTorch, and export with two
inputs.
"""

import keras

from keras_gen import _checks as check
from keras_gen.networks import _common
from keras_gen.networks.dcgan import dcgan_discriminator
from keras_gen.networks.dcgan import dcgan_generator
from keras_gen.networks.factory import decoder as _decoder
from keras_gen.networks.factory import encoder as _encoder

#: Names of the two inputs of the conditional networks.
LATENT_INPUT = "latent"
IMAGE_INPUT = "image"
CONDITION_INPUT = "condition"


def _init():
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


def _condition_input(condition_size):
    return keras.Input(shape=(condition_size,), name=CONDITION_INPUT)


def _latent_and_condition(latent_dim, condition_size):
    z = keras.Input(shape=(latent_dim,), name=LATENT_INPUT)
    c = _condition_input(condition_size)
    zc = keras.layers.Concatenate(axis=-1, name="latent_condition")([z, c])
    return [z, c], zc


def conditional_dcgan_generator(latent_dim, output_shape, condition_size, name=None, **kwargs):
    """A DCGAN generator that takes ``[z, condition]``: c concatenated to z.

    ``Concatenate([z, c])`` feeds ``keras_gen.networks.dcgan_generator(
    latent_dim + condition_size, output_shape, **kwargs)`` (nested, named
    ``"dcgan_generator"``), so the architecture, initialisation and tanh
    output are the default DCGAN generator's.

    Args:
        latent_dim: int > 0, size of z.
        output_shape: tuple ``(height, width, channels)``.
        condition_size: int > 0, size of the condition vector (the number
            of classes for one-hot class ids, or of attributes).
        name: str or None, name of the model. Defaults to
            ``"conditional_dcgan_generator"``.
        **kwargs: passed to ``dcgan_generator`` (``filters``,
            ``kernel_size``).

    Returns:
        A functional ``keras.Model`` with inputs ``[latent (batch,
        latent_dim), condition (batch, condition_size)]`` and output
        ``(batch, *output_shape)`` images in [-1, 1].

    Example:

    >>> from keras_gen.networks import conditional_dcgan_generator
    >>> g = conditional_dcgan_generator(64, (28, 28, 1), condition_size=10)
    >>> [tuple(t.shape) for t in g.inputs], g.output_shape
    ([(None, 64), (None, 10)], (None, 28, 28, 1))
    """
    latent_dim = check.positive_int("latent_dim", latent_dim)
    condition_size = check.positive_int("condition_size", condition_size)
    check.optional_name("name", name)
    inner = dcgan_generator(latent_dim + condition_size, output_shape, **kwargs)
    inputs, zc = _latent_and_condition(latent_dim, condition_size)
    return keras.Model(inputs, inner(zc), name=name or "conditional_dcgan_generator")


def conditional_dcgan_discriminator(input_shape, condition_size, name=None, **kwargs):
    """A projection DCGAN discriminator: ``[image, condition]`` -> logits.

    The convolutional blocks of ``keras_gen.networks.dcgan_discriminator(
    input_shape, **kwargs)`` give flattened features ``phi(x)`` (nested
    model ``"dcgan_features"``), and ``logit = Dense(1)(phi(x)) +
    sum(phi(x) * e(c))`` with ``e`` a bias-free ``Dense(len(phi))`` named
    ``"condition_embedding"`` (Miyato and Koyama, 2018). Both new layers
    start from N(0, 0.02), as the DCGAN weights.

    Args:
        input_shape: tuple ``(height, width, channels)``.
        condition_size: int > 0, size of the condition vector (the number
            of classes for one-hot class ids, or of attributes).
        name: str or None, name of the model. Defaults to
            ``"conditional_dcgan_discriminator"``.
        **kwargs: passed to ``dcgan_discriminator`` (``filters``,
            ``dropout``, ``normalization``, ``minibatch_std``, ...).

    Returns:
        A functional ``keras.Model`` with inputs ``[image (batch,
        *input_shape), condition (batch, condition_size)]`` and output
        ``(batch, 1)`` logits.

    Example:

    >>> from keras_gen.networks import conditional_dcgan_discriminator
    >>> d = conditional_dcgan_discriminator((28, 28, 1), condition_size=10)
    >>> tuple(d.get_layer("condition_embedding").kernel.shape)  # 10 x (7 * 7 * 128)
    (10, 6272)
    >>> d.output_shape
    (None, 1)
    """
    input_shape = check.image_shape("input_shape", input_shape)
    condition_size = check.positive_int("condition_size", condition_size)
    check.optional_name("name", name)
    full = dcgan_discriminator(input_shape, **kwargs)
    features = keras.Model(full.inputs, full.get_layer("flatten").output, name="dcgan_features")
    image = keras.Input(shape=input_shape, name=IMAGE_INPUT)
    c = _condition_input(condition_size)
    h = features(image)
    dtype = _common.output_dtype()
    unconditional = keras.layers.Dense(
        1, kernel_initializer=_init(), dtype=dtype, name="logits"
    )(h)
    embedding = keras.layers.Dense(
        int(h.shape[-1]), use_bias=False, kernel_initializer=_init(), dtype=dtype,
        name="condition_embedding",
    )(c)
    projection = keras.layers.Dot(axes=1, dtype=dtype, name="projection")([h, embedding])
    logits = keras.layers.Add(dtype=dtype, name="conditional_logits")([unconditional, projection])
    return keras.Model([image, c], logits, name=name or "conditional_dcgan_discriminator")


def _refuse_spatial_code(builder, kwargs):
    """ValueError for ``latent_channels``: the conditional builders' code is a vector
    (the unconditional builders' spatial code reached them through ``**kwargs`` and
    failed with an error naming another ``latent_dim``)."""
    if kwargs.get("latent_channels"):
        raise ValueError(
            f"{builder} makes a vector code of latent_dim values: latent_channels (a spatial "
            f"code) is not supported. Received: latent_channels={kwargs['latent_channels']!r}")
    kwargs.pop("latent_channels", None)


def conditional_encoder(
    input_shape, latent_dim, condition_size, kind="conv", variational=False, features=256,
    condition_units=256, name=None, **kwargs,
):
    """An image encoder that takes ``[image, condition]``.

    ``keras_gen.networks.encoder(input_shape, features, kind, **kwargs)``
    (nested, plain) maps the image to ``features`` linear features; the
    condition is concatenated to them; then ``Dense(condition_units, relu)``
    and the latent head: one linear ``Dense(latent_dim)`` named ``"z"``, or
    with ``variational=True`` the two heads ``[z_mean, z_log_sigma]`` of the
    unconditional variational encoders (``z_log_sigma`` zero-initialised:
    sigma starts at 1), what a ``keras_gen.ConditionalVAE`` needs.

    Args:
        input_shape: tuple ``(height, width, channels)``.
        latent_dim: int > 0, size of the code.
        condition_size: int > 0, size of the condition vector.
        kind: ``"conv"`` (default) or ``"dense"``.
        variational: bool, whether to output ``[z_mean, z_log_sigma]``.
            Defaults to False, as ``keras_gen.networks.encoder``.
        features: int > 0, width of the image features. Defaults to 256.
        condition_units: int > 0, width of the hidden layer after the
            concatenation. Defaults to 256.
        name: str or None, name of the model. Defaults to
            ``"conditional_encoder"``.
        **kwargs: passed to the encoder builder of that kind (``filters``,
            ``batch_norm``, ...). A conv encoder's ``batch_norm`` follows
            ``variational`` by default, as in ``keras_gen.networks.encoder``.

    Returns:
        A functional ``keras.Model`` with inputs ``[image, condition]``.

    Example:

    >>> from keras_gen.networks import conditional_encoder
    >>> enc = conditional_encoder((28, 28, 1), 8, condition_size=10, variational=True)
    >>> [tuple(t.shape) for t in enc.outputs]
    [(None, 8), (None, 8)]
    """
    input_shape = check.image_shape("input_shape", input_shape)
    latent_dim = check.positive_int("latent_dim", latent_dim)
    condition_size = check.positive_int("condition_size", condition_size)
    variational = check.boolean("variational", variational)
    features = check.positive_int("features", features)
    condition_units = check.positive_int("condition_units", condition_units)
    check.optional_name("name", name)
    _refuse_spatial_code("conditional_encoder", kwargs)
    if kind == "conv":
        kwargs.setdefault("batch_norm", variational)
    inner = _encoder(input_shape, features, kind=kind, variational=False, **kwargs)
    image = keras.Input(shape=input_shape, name=IMAGE_INPUT)
    c = _condition_input(condition_size)
    h = keras.layers.Concatenate(axis=-1, name="features_condition")([inner(image), c])
    h = keras.layers.Dense(condition_units, activation="relu", name="condition_dense")(h)
    outputs = _common.latent_head(h, latent_dim, variational)
    return keras.Model([image, c], outputs, name=name or "conditional_encoder")


def conditional_decoder(
    latent_dim, output_shape, condition_size, kind="conv", variational=False, name=None, **kwargs
):
    """An image decoder that takes ``[z, condition]``: c concatenated to z.

    ``Concatenate([z, c])`` feeds ``keras_gen.networks.decoder(latent_dim +
    condition_size, output_shape, kind, variational, **kwargs)`` (nested).

    Args:
        latent_dim: int > 0, size of the code.
        output_shape: tuple ``(height, width, channels)``.
        condition_size: int > 0, size of the condition vector.
        kind: ``"conv"`` (default) or ``"dense"``.
        variational: bool, whether the decoder is a VAE's (for ``"conv"`` it
            turns BatchNormalization on, as in ``keras_gen.networks.decoder``).
            Defaults to False.
        name: str or None, name of the model. Defaults to
            ``"conditional_decoder"``.
        **kwargs: passed to the decoder builder of that kind
            (``output_activation``, ...).

    Returns:
        A functional ``keras.Model`` with inputs ``[latent, condition]``.

    Example:

    >>> from keras_gen.networks import conditional_decoder
    >>> conditional_decoder(8, (28, 28, 1), condition_size=10).output_shape
    (None, 28, 28, 1)
    """
    latent_dim = check.positive_int("latent_dim", latent_dim)
    condition_size = check.positive_int("condition_size", condition_size)
    check.optional_name("name", name)
    _refuse_spatial_code("conditional_decoder", kwargs)
    inner = _decoder(
        latent_dim + condition_size, output_shape, kind=kind, variational=variational, **kwargs
    )
    inputs, zc = _latent_and_condition(latent_dim, condition_size)
    return keras.Model(inputs, inner(zc), name=name or "conditional_decoder")
