"""Fully connected (MLP) encoders and decoders for images."""

import math

import keras

from keras_gen.networks import _common
from keras_gen import _checks as check


def dense_encoder(
    input_shape,
    latent_dim,
    hidden_units=(512, 256),
    activation="relu",
    variational=False,
    name=None,
):
    """Build a fully connected image encoder.

    Flatten -> `Dense(units, activation)` for each entry of `hidden_units` ->
    latent head. The plain encoder has one linear output `"z"`, the code of
    an auto-encoder (source notes, "Auto-Encoders"). With `variational=True` it has
    two linear outputs `[z_mean, z_log_sigma]`, the mean and the *log of the
    standard deviation* of q(z|x) (source notes, "Variational Auto-Encoders"; apply
    `exp` to get sigma). `z_log_sigma` starts at exactly 0 (sigma = 1, the
    prior) because its kernel and bias are zero-initialised.

    Args:
        input_shape: tuple `(height, width, channels)` of positive ints, with
            1 to 4 channels. Strictly rank 3 (no batch axis); for grayscale
            data use a channel axis of 1, e.g. `(28, 28, 1)`.
        latent_dim: int, size of the latent code. Must be positive.
        hidden_units: list/tuple of positive ints, widths of the hidden
            `Dense` layers, input side first. Defaults to `(512, 256)`.
        activation: str or callable, activation of the hidden layers.
            Defaults to `"relu"`.
        variational: bool, whether to output `[z_mean, z_log_sigma]` instead
            of a single code. Defaults to `False`.
        name: str or None, name of the model. Defaults to `"dense_encoder"`
            or `"dense_variational_encoder"`.

    Returns:
        A functional `keras.Model` mapping `(batch, *input_shape)` images to
        `(batch, latent_dim)` (or a list of two such tensors).

    Example:

    >>> from keras_gen.networks import dense_encoder
    >>> enc = dense_encoder((28, 28, 1), latent_dim=2)
    >>> enc.output_shape
    (None, 2)
    >>> vae_enc = dense_encoder((28, 28, 1), latent_dim=2, variational=True)
    >>> [tuple(t.shape) for t in vae_enc.outputs]
    [(None, 2), (None, 2)]
    """
    input_shape = check.image_shape("input_shape", input_shape)
    latent_dim = check.positive_int("latent_dim", latent_dim)
    hidden_units = check.positive_int_sequence("hidden_units", hidden_units)
    check.activation("activation", activation)
    variational = check.boolean("variational", variational)
    check.optional_name("name", name)
    if name is None:
        name = "dense_variational_encoder" if variational else "dense_encoder"

    inputs = keras.Input(shape=input_shape, name="image")
    x = keras.layers.Flatten(name="flatten")(inputs)
    for i, units in enumerate(hidden_units, start=1):
        x = keras.layers.Dense(units, activation=activation, name=f"dense_{i}")(
            x
        )
    outputs = _common.latent_head(x, latent_dim, variational)
    return keras.Model(inputs, outputs, name=name)


def dense_decoder(
    latent_dim,
    output_shape,
    hidden_units=(256, 512),
    activation="relu",
    output_activation="sigmoid",
    name=None,
):
    """Build a fully connected image decoder.

    `Dense(units, activation)` for each entry of `hidden_units` ->
    `Dense(height * width * channels)` -> `Reshape(output_shape)` ->
    `output_activation`. The default sigmoid matches images in [0, 1]; use
    `"tanh"` for images in [-1, 1] (GAN generators).

    Args:
        latent_dim: int, size of the latent code. Must be positive.
        output_shape: tuple `(height, width, channels)` of positive ints,
            with 1 to 4 channels (strictly rank 3, no batch axis).
        hidden_units: list/tuple of positive ints, widths of the hidden
            `Dense` layers, latent side first. Defaults to `(256, 512)`.
        activation: str or callable, activation of the hidden layers.
            Defaults to `"relu"`.
        output_activation: str, callable or None, activation of the output
            (None is linear). Defaults to `"sigmoid"`.
        name: str or None, name of the model. Defaults to `"dense_decoder"`.

    Returns:
        A functional `keras.Model` mapping `(batch, latent_dim)` codes to
        `(batch, *output_shape)` images.

    Example:

    >>> from keras_gen.networks import dense_decoder
    >>> dec = dense_decoder(2, (28, 28, 1))
    >>> dec.output_shape
    (None, 28, 28, 1)
    """
    latent_dim = check.positive_int("latent_dim", latent_dim)
    output_shape = check.image_shape("output_shape", output_shape)
    hidden_units = check.positive_int_sequence("hidden_units", hidden_units)
    check.activation("activation", activation)
    check.activation("output_activation", output_activation)
    check.optional_name("name", name)
    if name is None:
        name = "dense_decoder"

    inputs = keras.Input(shape=(latent_dim,), name="latent")
    x = inputs
    for i, units in enumerate(hidden_units, start=1):
        x = keras.layers.Dense(units, activation=activation, name=f"dense_{i}")(
            x
        )
    x = keras.layers.Dense(math.prod(output_shape), name="output_dense")(x)
    x = keras.layers.Reshape(output_shape, name="reshape")(x)
    outputs = _common.output_activation_layer(x, output_activation)
    return keras.Model(inputs, outputs, name=name)
