"""DCGAN generator and discriminator (Radford et al., 2015) for images.

Both builders follow the architecture guidelines of "Unsupervised
Representation Learning with Deep Convolutional Generative Adversarial
Networks" (Radford, Metz and Chintala, 2015): strided convolutions instead
of pooling, BatchNormalization in both networks (except the generator output
and the discriminator input blocks), ReLU in the generator with a tanh
output, LeakyReLU(0.2) in the discriminator, no fully connected hidden
layers, and weights drawn from N(0, 0.02).
"""


import keras

from keras_gen.layers.minibatch_std import MinibatchStdDev
from keras_gen.layers.spectral_norm import SpectralNormalization
from keras_gen.networks import _common
from keras_gen import _checks as check

# Automatic depth: add stride-2 stages while the smallest feature map keeps
# at least this many pixels on its shortest side (at least one stage):
# 7 x 7 for 28 px, 4 x 4 for 32 and 64 px, as in DCGAN.
_MIN_MAP_SIZE = 4
# Automatic widths: the widest layer (next to the latent code in the
# generator, before the logits in the discriminator) has at most this many
# filters; each stage halves the width towards the image, not below
# _MIN_AUTO_FILTERS.
_MAX_AUTO_FILTERS = 256
_BASE_AUTO_FILTERS = 64
_MIN_AUTO_FILTERS = 16
# Radford et al.: "All weights were initialized from a zero-centered Normal
# distribution with standard deviation 0.02."
_INIT_STDDEV = 0.02
# BatchNormalization as in the reference DCGAN implementations (PyTorch
# defaults): running statistics follow the few hundred steps of a short run
# (Keras' default momentum of 0.99 lags far behind them).
_BN_MOMENTUM = 0.9
_BN_EPSILON = 1e-5
_LEAKY_SLOPE = 0.2


def _stages(height, width):
    """Number of stride-2 stages chosen from the image size."""
    side = min(height, width)
    stages = 1
    while side / 2 ** (stages + 1) >= _MIN_MAP_SIZE:
        stages += 1
    return stages


def _auto_generator_filters(height, width):
    """Generator filters, latent side first (see `dcgan_generator`)."""
    stages = _stages(height, width)
    top = min(_BASE_AUTO_FILTERS * 2 ** (stages - 1), _MAX_AUTO_FILTERS)
    return tuple(max(top // 2**i, _MIN_AUTO_FILTERS) for i in range(stages))


def _auto_discriminator_filters(height, width):
    """Discriminator filters, image side first: the generator's, reversed."""
    return tuple(reversed(_auto_generator_filters(height, width)))


def _init():
    """A fresh N(0, 0.02) initializer (one per layer)."""
    return keras.initializers.RandomNormal(mean=0.0, stddev=_INIT_STDDEV)


def _batch_norm(name):
    return keras.layers.BatchNormalization(
        momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON, name=name
    )


UPSAMPLINGS = ("transpose", "resize")


def _upsample(x, filters, kernel_size, upsampling, name, **conv_kwargs):
    """One stride-2 upsampling: a transposed convolution, or resize-convolution."""
    if upsampling == "transpose":
        return keras.layers.Conv2DTranspose(
            filters, kernel_size, strides=2, padding="same",
            kernel_initializer=_init(), name=name, **conv_kwargs
        )(x)
    x = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_resize")(x)
    return keras.layers.Conv2D(
        filters, kernel_size, padding="same", kernel_initializer=_init(), name=name,
        **conv_kwargs
    )(x)


def dcgan_generator(
    latent_dim, output_shape, filters=None, kernel_size=4, upsampling="transpose", name=None
):
    """Build a DCGAN generator that outputs exactly `output_shape` in [-1, 1].

    `Dense` projection of the latent code (bias-free) -> `Reshape` to a small
    map with `filters[0]` channels -> BatchNormalization -> ReLU -> for each
    further entry `f` of `filters`, `Conv2DTranspose(f, kernel_size,
    strides=2, padding="same", use_bias=False)` -> BatchNormalization ->
    ReLU -> a last `Conv2DTranspose(channels, kernel_size, strides=2,
    padding="same")` -> tanh, computed in float32 under mixed precision.
    With `upsampling="resize"` every `Conv2DTranspose` above is replaced by
    a nearest-neighbour `UpSampling2D(2)` (named `"<layer>_resize"`)
    followed by a stride-1 `Conv2D` of the same name, filters and
    `kernel_size` (resize-convolution, Odena et al., 2016: every output
    pixel gets the same number of kernel taps, so the uneven overlap of
    transposed convolutions cannot print a checkerboard; pair it with an odd
    `kernel_size` such as 3).
    So there are `len(filters)` upsampling steps and the projection makes a
    `ceil(height / 2**n) x ceil(width / 2**n)` map, `n = len(filters)`:
    7 x 7 for 28 px with two entries, 4 x 4 for 32 px with three and for
    64 px with four. Any size works: when `height` or `width` is not a
    multiple of `2**n`, a `Cropping2D` layer named `"crop"` (present only
    then) removes the extra rows/columns before the tanh, as in
    `conv_decoder`. Train it on images scaled to [-1, 1]. All kernels start
    from N(0, 0.02) (Radford et al., 2015); BatchNormalization uses
    momentum 0.9 and epsilon 1e-5, as in the reference implementations.

    With `filters=None` the depth follows the image size: stages are added
    while the start map keeps at least 4 pixels on its shortest side; the
    widths halve at each stage towards the image, starting from
    `min(64 * 2**(n - 1), 256)` (not below 16). That is `(128, 64)` for
    28 px, `(256, 128, 64)` for 32 px and `(256, 128, 64, 32)` for 64 px,
    4 times narrower than the paper's `(1024, 512, 256, 128)` at 64 px so
    that it trains on a CPU; pass `filters` explicitly for the paper size.

    Args:
        latent_dim: int, size of the latent code. Must be positive.
        output_shape: tuple `(height, width, channels)` of positive ints,
            with 1 to 4 channels (strictly rank 3, no batch axis).
        filters: list/tuple of positive ints or None, channels of the
            projected map and of each hidden transposed convolution, latent
            side first. Defaults to `None` (chosen from the image size, see
            above).
        kernel_size: int, kernel size of the transposed convolutions. The
            default is divisible by the stride, which avoids checkerboard
            artefacts (Odena et al., 2016). Defaults to 4.
        upsampling: `"transpose"` (stride-2 `Conv2DTranspose`, the paper's)
            or `"resize"` (nearest-neighbour upsampling, then `Conv2D`).
            Defaults to `"transpose"`.
        name: str or None, name of the model. Defaults to
            `"dcgan_generator"`.

    Returns:
        A functional `keras.Model` mapping `(batch, latent_dim)` codes to
        `(batch, *output_shape)` images in [-1, 1].

    Example:

    >>> from keras_gen.networks import dcgan_generator
    >>> gen = dcgan_generator(100, (28, 28, 1))
    >>> gen.get_layer("reshape").output.shape  # the projected 7 x 7 map
    (None, 7, 7, 128)
    >>> [gen.get_layer(f"deconv_{i}").filters for i in (1,)]
    [64]
    >>> gen.output_shape
    (None, 28, 28, 1)
    >>> dcgan_generator(100, (64, 64, 3)).get_layer("reshape").output.shape
    (None, 4, 4, 256)
    """
    latent_dim = check.positive_int("latent_dim", latent_dim)
    output_shape = check.image_shape("output_shape", output_shape)
    height, width, channels = output_shape
    if filters is None:
        filters = _auto_generator_filters(height, width)
    filters = check.positive_int_sequence("filters", filters)
    kernel_size = check.positive_int("kernel_size", kernel_size)
    upsampling = check.choice("upsampling", upsampling, UPSAMPLINGS)
    check.optional_name("name", name)
    if name is None:
        name = "dcgan_generator"

    start_h, start_w = _common.start_size(height, width, len(filters))

    inputs = keras.Input(shape=(latent_dim,), name="latent")
    x = keras.layers.Dense(
        start_h * start_w * filters[0],
        use_bias=False,
        kernel_initializer=_init(),
        name="project",
    )(inputs)
    x = keras.layers.Reshape((start_h, start_w, filters[0]), name="reshape")(x)
    x = _batch_norm("project_bn")(x)
    x = keras.layers.ReLU(name="project_relu")(x)
    for i, f in enumerate(filters[1:], start=1):
        x = _upsample(x, f, kernel_size, upsampling, f"deconv_{i}", use_bias=False)
        x = _batch_norm(f"bn_{i}")(x)
        x = keras.layers.ReLU(name=f"relu_{i}")(x)
    x = _upsample(x, channels, kernel_size, upsampling, "output_deconv")
    x = _common.crop_to(x, height, width)
    outputs = _common.output_activation_layer(x, "tanh")
    return keras.Model(inputs, outputs, name=name)


NORMALIZATIONS = ("batch", "layer", None)


def dcgan_discriminator(
    input_shape,
    filters=None,
    kernel_size=4,
    dropout=0.0,
    normalization="batch",
    minibatch_std=False,
    spectral_norm=False,
    name=None,
    minibatch_std_group=None,
):
    """Build a DCGAN discriminator that returns one logit per image.

    For each entry `f` of `filters`: `Conv2D(f, kernel_size, strides=2,
    padding="same")` -> BatchNormalization (all blocks but the first, whose
    convolution keeps its bias; the others are bias-free) -> LeakyReLU(0.2)
    -> `Dropout(dropout)` (only when `dropout > 0`). With
    `normalization="layer"` the blocks after the first use per-image
    LayerNormalization over height, width and channels instead, and with
    `normalization=None` none (every convolution keeps its bias). With
    `minibatch_std=True` a `keras_gen.layers.MinibatchStdDev` layer
    (Karras et al., 2018) feeds the last block the batch's feature spread
    as an extra channel (with `minibatch_std_group=G`, the spread within
    groups of G images, as in StyleGAN). Then Flatten ->
    `Dense(1)` named `"logits"`, computed in float32 under mixed precision.
    With `spectral_norm=True` every convolution and the logits layer are
    wrapped in `keras_gen.layers.SpectralNormalization` (Miyato et al.,
    2018; one power iteration per training call; a subclass of
    `keras.layers.SpectralNormalization` that never writes the kernel
    variable, so that it trains on PyTorch too): the wrappers are named
    `"sn_conv_{i}"` around `"conv_{i}"` and `"logits"` around
    `"logits_dense"`. The SN-GAN discriminator has no other normalization:
    pair it with `normalization=None` (BatchNormalization after a
    normalized convolution undoes its Lipschitz bound).
    The output is a raw logit, not a probability: pair it with the
    `from_logits=True` forms of the GAN losses (for example
    `keras.losses.BinaryCrossentropy(from_logits=True)`), which are
    numerically stable. Each block halves height and width (rounding up), so
    any image size works. All kernels start from N(0, 0.02) (Radford et al.,
    2015); BatchNormalization uses momentum 0.9 and epsilon 1e-5.

    With `filters=None` the stages mirror `dcgan_generator` for the same
    image size: `(64, 128)` for 28 px, `(64, 128, 256)` for 32 px and
    `(32, 64, 128, 256)` for 64 px, each ending on a 7 x 7 or 4 x 4 map.

    Args:
        input_shape: tuple `(height, width, channels)` of positive ints, with
            1 to 4 channels (strictly rank 3, no batch axis).
        filters: list/tuple of positive ints or None, filters of the
            stride-2 convolutions, image side first. Defaults to `None`
            (chosen from the image size, see above).
        kernel_size: int, kernel size of the convolutions. Defaults to 4.
        dropout: float in [0, 1), rate of a `Dropout` layer after each
            block; 0 leaves them out. Defaults to 0.0.
        normalization: `"batch"` (the paper's BatchNormalization),
            `"layer"` (per-image LayerNormalization) or `None`. Defaults to
            `"batch"`. BatchNormalization sees the real and the fake images
            in separate batches, so its batch statistics alone can tell
            them apart: on data with large flat regions (the `shapes`
            dataset) it lets the discriminator win from the first steps;
            `"layer"` or `None` avoid that.
        minibatch_std: bool, whether to add the minibatch standard
            deviation channel before the last block. Defaults to `False`.
        minibatch_std_group: int >= 1 or None, the channel's group size
            (`MinibatchStdDev(group_size=...)`); only with
            `minibatch_std=True`. Defaults to `None` (the whole batch).
        spectral_norm: bool, whether to wrap the convolutions and the
            logits layer in `keras_gen.layers.SpectralNormalization`.
            Defaults to `False`.
        name: str or None, name of the model. Defaults to
            `"dcgan_discriminator"`.

    Returns:
        A functional `keras.Model` mapping `(batch, *input_shape)` images to
        `(batch, 1)` logits.

    Example:

    >>> from keras_gen.networks import dcgan_discriminator
    >>> disc = dcgan_discriminator((28, 28, 1), dropout=0.3)
    >>> [disc.get_layer(f"conv_{i}").filters for i in (1, 2)]
    [64, 128]
    >>> disc.get_layer("leaky_relu_2").output.shape
    (None, 7, 7, 128)
    >>> [layer.name for layer in disc.layers if "bn" in layer.name]
    ['bn_2']
    >>> disc.output_shape
    (None, 1)
    """
    input_shape = check.image_shape("input_shape", input_shape)
    if filters is None:
        filters = _auto_discriminator_filters(input_shape[0], input_shape[1])
    filters = check.positive_int_sequence("filters", filters)
    kernel_size = check.positive_int("kernel_size", kernel_size)
    dropout = check.real("dropout", dropout, minimum=0.0, maximum=1.0, max_inclusive=False)
    normalization = check.choice("normalization", normalization, NORMALIZATIONS)
    minibatch_std = check.boolean("minibatch_std", minibatch_std)
    minibatch_std_group = check.positive_int("minibatch_std_group", minibatch_std_group,
                                             allow_none=True)
    if minibatch_std_group is not None and not minibatch_std:
        raise ValueError(
            "minibatch_std_group applies only with minibatch_std=True. Received: "
            f"minibatch_std_group={minibatch_std_group} with minibatch_std=False"
        )
    spectral_norm = check.boolean("spectral_norm", spectral_norm)
    check.optional_name("name", name)
    if name is None:
        name = "dcgan_discriminator"

    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for i, f in enumerate(filters, start=1):
        normalize = i > 1 and normalization is not None
        if minibatch_std and i == len(filters):
            x = MinibatchStdDev(group_size=minibatch_std_group, name="minibatch_std")(x)
        conv = keras.layers.Conv2D(
            f,
            kernel_size,
            strides=2,
            padding="same",
            use_bias=not normalize,
            kernel_initializer=_init(),
            name=f"conv_{i}",
        )
        if spectral_norm:
            conv = SpectralNormalization(conv, name=f"sn_conv_{i}")
        x = conv(x)
        if normalize and normalization == "batch":
            x = _batch_norm(f"bn_{i}")(x)
        elif normalize:
            x = keras.layers.LayerNormalization(
                axis=(-3, -2, -1), epsilon=_BN_EPSILON, name=f"ln_{i}"
            )(x)
        x = keras.layers.LeakyReLU(
            negative_slope=_LEAKY_SLOPE, name=f"leaky_relu_{i}"
        )(x)
        if dropout > 0.0:
            x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    logits = keras.layers.Dense(
        1,
        kernel_initializer=_init(),
        dtype=_common.output_dtype(),
        name="logits_dense" if spectral_norm else "logits",
    )
    if spectral_norm:
        logits = SpectralNormalization(
            logits, dtype=_common.output_dtype(), name="logits"
        )
    outputs = logits(x)
    return keras.Model(inputs, outputs, name=name)
