"""Convolutional encoders and decoders for images of any size."""

import keras

from keras_gen.networks import _common
from keras_gen import _checks as check

# Automatic depth: add stride-2 stages while the feature map keeps at least
# this many pixels on its shortest side, between 1 and len(_AUTO_FILTERS)
# stages. Gives (32, 64) for 28 and 32 px, (32, 64, 128) for 64 px.
_MIN_AUTO_MAP_SIZE = 7
_AUTO_FILTERS = (32, 64, 128, 256)


def _auto_filters(height, width):
    """Encoder filters chosen from the image size (see `conv_encoder`)."""
    side = min(height, width)
    stages = 1
    while (
        stages < len(_AUTO_FILTERS)
        and side / 2 ** (stages + 1) >= _MIN_AUTO_MAP_SIZE
    ):
        stages += 1
    return _AUTO_FILTERS[:stages]


def _batch_norm_default(batch_norm, variational):
    """`batch_norm` checked, with None meaning "on for VAE networks"."""
    if batch_norm is None:
        return variational
    return check.boolean("batch_norm", batch_norm)


def _check_latent_channels(latent_channels, latent_dim, image_shape, filters):
    """`latent_channels` checked: None, or a positive int whose map holds `latent_dim`."""
    latent_channels = check.positive_int("latent_channels", latent_channels, allow_none=True)
    if latent_channels is None:
        return None
    h, w = _common.start_size(image_shape[0], image_shape[1], len(filters))
    if latent_dim != h * w * latent_channels:
        raise ValueError(
            f"latent_dim must be {h} * {w} * latent_channels = {h * w * latent_channels} with "
            f"latent_channels={latent_channels}: the code is the {h} x {w} map of the "
            f"{len(filters)} stride-2 stages for {image_shape[0]} x {image_shape[1]} images, "
            f"flattened. Received: latent_dim={latent_dim}"
        )
    return latent_channels


def _conv_block(x, layer, batch_norm, activation, index, prefix):
    """Apply `layer`, then optional BatchNormalization, then the activation."""
    x = layer(x)
    if batch_norm:
        x = keras.layers.BatchNormalization(name=f"{prefix}_bn_{index}")(x)
    return keras.layers.Activation(activation, name=f"{prefix}_act_{index}")(x)


def conv_encoder(
    input_shape,
    latent_dim,
    filters=None,
    kernel_size=3,
    dense_units=256,
    activation="relu",
    variational=False,
    batch_norm=None,
    latent_channels=None,
    name=None,
):
    """Build a convolutional image encoder.

    One `Conv2D(f, kernel_size, strides=2, padding="same")` stage per entry
    of `filters` (each halves height and width, rounding up, so any image
    size works), then Flatten -> optional `Dense(dense_units)` -> latent
    head. The plain encoder has one linear output `"z"` (source notes,
    "Auto-Encoders"). With `variational=True` it has two linear outputs
    `[z_mean, z_log_sigma]`, the mean and the *log of the standard
    deviation* of q(z|x) (source notes, "Variational Auto-Encoders"; apply `exp` to
    get sigma). `z_log_sigma` starts at exactly 0 (sigma = 1, the prior)
    because its kernel and bias are zero-initialised.

    With `filters=None` the depth follows the image size: stride-2 stages
    are added while the shortest side of the feature map stays at least 7
    pixels, from 1 to 4 stages with 32, 64, 128, 256 filters. That is
    `(32, 64)` for 28 px (MNIST) and 32 px (CIFAR), `(32, 64, 128)` for
    64 px (CelebA), `(32, 64, 128, 256)` for 128 px and above, `(32,)` for
    images under 28 px.

    With `latent_channels=c` the code is spatial instead: the latent head is
    a 1x1 `Conv2D(c)` on the last stage's `(h, w)` feature map (one per
    output, `"z_mean_map"` and `"z_log_sigma_map"` for a VAE), flattened,
    so `latent_dim` must equal `h * w * c` (`h`, `w` = the image sides
    halved, rounding up, once per stage) and `dense_units` is not used.
    Each group of `c` values then describes one region of the image, which
    keeps where and what shape things are far better than a code made by
    `Dense` layers (pair it with `conv_decoder(..., latent_channels=c)`
    and the same number of stages).

    Batch normalisation is on by default in VAE networks only
    (`variational=True` here, `conv_decoder(..., variational=True)`); plain
    auto-encoder networks leave it out. The measurements behind this choice
    are in docs/evaluation.md, "Measurements behind the defaults".

    Args:
        input_shape: tuple `(height, width, channels)` of positive ints, with
            1 to 4 channels (strictly rank 3, no batch axis).
        latent_dim: int, size of the latent code. Must be positive.
        filters: list/tuple of positive ints or None, filters of the
            stride-2 convolutions, input side first. Defaults to `None`
            (chosen from the image size, see above).
        kernel_size: int, kernel size of the convolutions. Defaults to 3.
        dense_units: int or None, width of the hidden `Dense` layer between
            the convolutions and the latent head; None leaves it out.
            Defaults to 256.
        activation: str or callable, activation of the hidden layers.
            Defaults to `"relu"`.
        variational: bool, whether to output `[z_mean, z_log_sigma]` instead
            of a single code. Defaults to `False`.
        batch_norm: bool or None, whether to put `BatchNormalization`
            between each convolution (then bias-free) and its activation.
            Defaults to `None`: on for a variational encoder, off otherwise
            (see the paragraph on batch normalisation above).
        latent_channels: int or None, channels of a spatial code (see
            above); None makes the code with `Dense` layers. Defaults to
            `None`.
        name: str or None, name of the model. Defaults to `"conv_encoder"`
            or `"conv_variational_encoder"`.

    Returns:
        A functional `keras.Model` mapping `(batch, *input_shape)` images to
        `(batch, latent_dim)` (or a list of two such tensors).

    Example:

    >>> from keras_gen.networks import conv_encoder
    >>> enc = conv_encoder((28, 28, 1), latent_dim=2)
    >>> [enc.get_layer(f"conv_{i}").filters for i in (1, 2)]
    [32, 64]
    >>> enc.output_shape
    (None, 2)
    >>> vae_enc = conv_encoder((64, 64, 3), latent_dim=2, variational=True)
    >>> [vae_enc.get_layer(f"conv_{i}").filters for i in (1, 2, 3)]
    [32, 64, 128]
    >>> vae_enc.output_names
    ['z_mean', 'z_log_sigma']
    >>> [tuple(t.shape) for t in vae_enc.outputs]
    [(None, 2), (None, 2)]
    """
    input_shape = check.image_shape("input_shape", input_shape)
    latent_dim = check.positive_int("latent_dim", latent_dim)
    if filters is None:
        filters = _auto_filters(input_shape[0], input_shape[1])
    filters = check.positive_int_sequence("filters", filters)
    kernel_size = check.positive_int("kernel_size", kernel_size)
    dense_units = check.positive_int("dense_units", dense_units, allow_none=True)
    check.activation("activation", activation)
    variational = check.boolean("variational", variational)
    batch_norm = _batch_norm_default(batch_norm, variational)
    latent_channels = _check_latent_channels(latent_channels, latent_dim, input_shape, filters)
    check.optional_name("name", name)
    if name is None:
        name = "conv_variational_encoder" if variational else "conv_encoder"

    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for i, f in enumerate(filters, start=1):
        conv = keras.layers.Conv2D(
            f,
            kernel_size,
            strides=2,
            padding="same",
            use_bias=not batch_norm,
            name=f"conv_{i}",
        )
        x = _conv_block(x, conv, batch_norm, activation, i, "conv")
    if latent_channels is not None:
        outputs = _common.latent_map_head(x, latent_channels, variational)
        return keras.Model(inputs, outputs, name=name)
    x = keras.layers.Flatten(name="flatten")(x)
    if dense_units is not None:
        x = keras.layers.Dense(
            dense_units, activation=activation, name="dense"
        )(x)
    outputs = _common.latent_head(x, latent_dim, variational)
    return keras.Model(inputs, outputs, name=name)


def conv_decoder(
    latent_dim,
    output_shape,
    filters=None,
    kernel_size=4,
    dense_units=256,
    activation="relu",
    output_activation="sigmoid",
    batch_norm=None,
    variational=False,
    latent_channels=None,
    name=None,
):
    """Build a convolutional image decoder that outputs exactly `output_shape`.

    Optional `Dense(dense_units)` -> `Dense` to a small feature map ->
    one `Conv2DTranspose(f, kernel_size, strides=2, padding="same")` stage
    per entry of `filters` (each doubles height and width) ->
    `Cropping2D` -> `Conv2D(channels, 3, padding="same")` ->
    `output_activation`. With n stages the start map is
    `ceil(height / 2**n) x ceil(width / 2**n)`; the few extra rows/columns
    after upsampling are cropped, split between the two sides (an odd one
    from the bottom/right; the crop layer is present only when needed), so
    any size works: 28 px with 3 stages, 7 x 5, non-square. The default
    kernel size 4 is divisible by the stride, which avoids checkerboard
    artefacts of transposed convolutions (Odena et al., 2016,
    "Deconvolution and Checkerboard Artifacts"). The default sigmoid matches
    images in [0, 1]; use `"tanh"` for [-1, 1].

    With `latent_channels=c` the code is read as the spatial code of
    `conv_encoder(..., latent_channels=c)`: `Reshape` to the start map
    `(h, w, c)` (so `latent_dim` must equal `h * w * c`), then a
    `Conv2D(filters[0], 3, padding="same")` block named `"map_conv"` (with
    the stages' BatchNormalization and activation) in place of the `Dense`
    layers; `dense_units` is not used.

    With `filters=None` the stages mirror `conv_encoder` for the same image
    size, reversed: `(64, 32)` for 28 and 32 px, `(128, 64, 32)` for 64 px.

    Args:
        latent_dim: int, size of the latent code. Must be positive.
        output_shape: tuple `(height, width, channels)` of positive ints,
            with 1 to 4 channels (strictly rank 3, no batch axis).
        filters: list/tuple of positive ints or None, filters of the
            transposed convolutions, latent side first. Defaults to `None`
            (chosen from the image size, see above).
        kernel_size: int, kernel size of the transposed convolutions.
            Defaults to 4.
        dense_units: int or None, width of a hidden `Dense` layer before the
            one that makes the feature map; None leaves it out. Defaults to
            256.
        activation: str or callable, activation of the hidden layers.
            Defaults to `"relu"`.
        output_activation: str, callable or None, activation of the output
            (None is linear). Defaults to `"sigmoid"`.
        batch_norm: bool or None, whether to put `BatchNormalization`
            between each transposed convolution (then bias-free) and its
            activation. Defaults to `None`: on when `variational=True`, off
            otherwise (why: the `conv_encoder` docstring).
        variational: bool, whether the decoder is a VAE's. It only sets the
            default of `batch_norm`. Defaults to `False`.
        latent_channels: int or None, channels of a spatial code (see
            above); None reads the code with `Dense` layers. Defaults to
            `None`.
        name: str or None, name of the model. Defaults to `"conv_decoder"`.

    Returns:
        A functional `keras.Model` mapping `(batch, latent_dim)` codes to
        `(batch, *output_shape)` images.

    Example:

    >>> from keras_gen.networks import conv_decoder
    >>> conv_decoder(2, (28, 28, 1)).output_shape
    (None, 28, 28, 1)
    >>> dec = conv_decoder(2, (7, 5, 2))
    >>> dec.get_layer("reshape").output.shape  # ceil(7 / 2), ceil(5 / 2)
    (None, 4, 3, 32)
    >>> dec.get_layer("crop").cropping  # 8 x 6 upsampled, cropped to 7 x 5
    ((0, 1), (0, 1))
    >>> dec.output_shape
    (None, 7, 5, 2)
    """
    latent_dim = check.positive_int("latent_dim", latent_dim)
    output_shape = check.image_shape("output_shape", output_shape)
    height, width, channels = output_shape
    if filters is None:
        filters = tuple(reversed(_auto_filters(height, width)))
    filters = check.positive_int_sequence("filters", filters)
    kernel_size = check.positive_int("kernel_size", kernel_size)
    dense_units = check.positive_int("dense_units", dense_units, allow_none=True)
    check.activation("activation", activation)
    check.activation("output_activation", output_activation)
    variational = check.boolean("variational", variational)
    batch_norm = _batch_norm_default(batch_norm, variational)
    latent_channels = _check_latent_channels(latent_channels, latent_dim, output_shape, filters)
    check.optional_name("name", name)
    if name is None:
        name = "conv_decoder"

    start_h, start_w = _common.start_size(height, width, len(filters))

    inputs = keras.Input(shape=(latent_dim,), name="latent")
    x = inputs
    if latent_channels is not None:
        x = keras.layers.Reshape((start_h, start_w, latent_channels), name="reshape")(x)
        conv = keras.layers.Conv2D(
            filters[0], 3, padding="same", use_bias=not batch_norm, name="map_conv"
        )
        x = _conv_block(x, conv, batch_norm, activation, 0, "map")
    else:
        if dense_units is not None:
            x = keras.layers.Dense(
                dense_units, activation=activation, name="dense"
            )(x)
        x = keras.layers.Dense(
            start_h * start_w * filters[0], activation=activation, name="dense_map"
        )(x)
        x = keras.layers.Reshape((start_h, start_w, filters[0]), name="reshape")(x)
    for i, f in enumerate(filters, start=1):
        deconv = keras.layers.Conv2DTranspose(
            f,
            kernel_size,
            strides=2,
            padding="same",
            use_bias=not batch_norm,
            name=f"deconv_{i}",
        )
        x = _conv_block(x, deconv, batch_norm, activation, i, "deconv")
    x = _common.crop_to(x, height, width)
    x = keras.layers.Conv2D(channels, 3, padding="same", name="output_conv")(
        x
    )
    outputs = _common.output_activation_layer(x, output_activation)
    return keras.Model(inputs, outputs, name=name)
