"""Bad arguments fail early with Keras-style messages naming the value."""

import re

import numpy as np
import pytest

from keras_gen import networks
from keras_gen import _checks

SHAPE = (8, 8, 1)


def _message(arg, value, requirement):
    """Regex matching `"<arg> must be <requirement>... Received: arg=value"`."""
    return (
        re.escape(f"{arg} must be {requirement}")
        + ".*"
        + re.escape(f"Received: {arg}={value!r}")
    )


ENCODER_BUILDERS = [
    networks.dense_encoder,
    networks.conv_encoder,
    lambda shape, latent_dim, **kw: networks.encoder(
        shape, latent_dim, kind="dense", **kw
    ),
    networks.encoder,
]
DECODER_BUILDERS = [
    networks.dense_decoder,
    networks.conv_decoder,
    lambda latent_dim, shape, **kw: networks.decoder(
        latent_dim, shape, kind="dense", **kw
    ),
    networks.decoder,
]
BUILDER_IDS = ["dense", "conv", "encoder(kind=dense)", "encoder(kind=conv)"]


@pytest.mark.parametrize("latent_dim", [0, -1, 2.5, 2.0, True, "2", None])
@pytest.mark.parametrize("build", ENCODER_BUILDERS, ids=BUILDER_IDS)
def test_encoders_reject_bad_latent_dim(build, latent_dim):
    with pytest.raises(
        ValueError,
        match=_message("latent_dim", latent_dim, "a positive integer"),
    ):
        build(SHAPE, latent_dim)


@pytest.mark.parametrize("latent_dim", [0, -1, 2.5, True])
@pytest.mark.parametrize("build", DECODER_BUILDERS, ids=BUILDER_IDS)
def test_decoders_reject_bad_latent_dim(build, latent_dim):
    with pytest.raises(
        ValueError,
        match=_message("latent_dim", latent_dim, "a positive integer"),
    ):
        build(latent_dim, SHAPE)


def test_exact_latent_dim_message():
    with pytest.raises(ValueError) as info:
        networks.encoder(SHAPE, 0)
    assert str(info.value) == (
        "latent_dim must be a positive integer. Received: latent_dim=0"
    )


@pytest.mark.parametrize("shape", [(1, 1, 1), [7, 5, 2], (4, 4, 4)], ids=str)
def test_valid_image_shapes_are_accepted(shape):
    # Checked on the validator alone: building adds nothing and costs time.
    assert _checks.image_shape("input_shape", shape) == tuple(shape)


def test_numpy_integers_are_accepted():
    enc = networks.dense_encoder(
        (np.int64(7), 5, 2), np.int32(2), hidden_units=(np.int64(512), 256)
    )
    assert enc.output_shape == (None, 2)


BAD_SHAPES = [
    (28, 28),  # no channel axis: strictly (H, W, C)
    (1, 28, 28, 1),  # batch axis
    (28, 28, 0),
    (28, 28, 5),  # more than 4 channels
    (0, 28, 1),
    (-28, 28, 1),
    (28.0, 28, 1),
    (28, None, 1),
    (True, 28, 1),
    28,
    "28x28x1",
    None,
]


@pytest.mark.parametrize("shape", BAD_SHAPES, ids=repr)
@pytest.mark.parametrize("build", ENCODER_BUILDERS, ids=BUILDER_IDS)
def test_encoders_reject_bad_input_shape(build, shape):
    with pytest.raises(
        ValueError,
        match=_message(
            "input_shape", shape, "a tuple (height, width, channels)"
        ),
    ):
        build(shape, 2)


@pytest.mark.parametrize("shape", BAD_SHAPES[:4], ids=repr)
@pytest.mark.parametrize("build", DECODER_BUILDERS, ids=BUILDER_IDS)
def test_decoders_reject_bad_output_shape(build, shape):
    with pytest.raises(
        ValueError,
        match=_message(
            "output_shape", shape, "a tuple (height, width, channels)"
        ),
    ):
        build(2, shape)


@pytest.mark.parametrize("kind", ["cnn", "Conv", "", None, 1])
def test_dispatchers_reject_unknown_kind(kind):
    message = _message("kind", kind, "one of ['conv', 'dense']")
    with pytest.raises(ValueError, match=message):
        networks.encoder(SHAPE, 2, kind=kind)
    with pytest.raises(ValueError, match=message):
        networks.decoder(2, SHAPE, kind=kind)


def test_dispatchers_reject_options_of_the_other_kind():
    with pytest.raises(TypeError, match="filters"):
        networks.encoder(SHAPE, 2, kind="dense", filters=(8,))
    with pytest.raises(TypeError, match="hidden_units"):
        networks.decoder(2, SHAPE, kind="conv", hidden_units=(8,))


ALL_BUILDERS = [
    (networks.dense_encoder, (SHAPE, 2)),
    (networks.conv_encoder, (SHAPE, 2)),
    (networks.dense_decoder, (2, SHAPE)),
    (networks.conv_decoder, (2, SHAPE)),
]
ALL_IDS = ["dense_encoder", "conv_encoder", "dense_decoder", "conv_decoder"]


@pytest.mark.parametrize("value", ["relu6x", "", 3])
@pytest.mark.parametrize("build, args", ALL_BUILDERS, ids=ALL_IDS)
def test_reject_unknown_activation(build, args, value):
    with pytest.raises(
        ValueError,
        match=_message("activation", value, "the name of a Keras activation"),
    ):
        build(*args, activation=value)


@pytest.mark.parametrize("value", ["sigmoidd", "Sigmoid", 1.0])
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_decoders_reject_unknown_output_activation(kind, value):
    with pytest.raises(
        ValueError,
        match=_message(
            "output_activation", value, "the name of a Keras activation"
        ),
    ):
        networks.decoder(2, SHAPE, kind=kind, output_activation=value)


@pytest.mark.parametrize("value", [(), [], (0,), (8, -1), (8.0,), (True,), 8])
@pytest.mark.parametrize(
    "build, args",
    [
        (networks.dense_encoder, (SHAPE, 2)),
        (networks.dense_decoder, (2, SHAPE)),
    ],
    ids=["dense_encoder", "dense_decoder"],
)
def test_dense_reject_bad_hidden_units(build, args, value):
    with pytest.raises(
        ValueError,
        match=_message(
            "hidden_units", value, "a non-empty list or tuple of positive"
        ),
    ):
        build(*args, hidden_units=value)


@pytest.mark.parametrize("value", [(), (0,), (32, 64.0), "32", 32])
@pytest.mark.parametrize(
    "build, args", ALL_BUILDERS[1::2], ids=ALL_IDS[1::2]
)
def test_conv_reject_bad_filters(build, args, value):
    with pytest.raises(
        ValueError,
        match=_message(
            "filters", value, "a non-empty list or tuple of positive"
        ),
    ):
        build(*args, filters=value)


@pytest.mark.parametrize(
    "build, args", ALL_BUILDERS[1::2], ids=ALL_IDS[1::2]
)
def test_conv_reject_bad_sizes_and_flags(build, args):
    with pytest.raises(
        ValueError, match=_message("kernel_size", 0, "a positive integer")
    ):
        build(*args, kernel_size=0)
    with pytest.raises(
        ValueError, match=_message("kernel_size", (3, 3), "a positive integer")
    ):
        build(*args, kernel_size=(3, 3))
    with pytest.raises(
        ValueError,
        match=_message("dense_units", 0, "a positive integer or None"),
    ):
        build(*args, dense_units=0)
    with pytest.raises(
        TypeError, match=_message("batch_norm", 1, "a bool")
    ):
        build(*args, batch_norm=1)


@pytest.mark.parametrize(
    "build", [networks.dense_encoder, networks.conv_encoder, networks.encoder]
)
def test_encoders_reject_non_bool_variational(build):
    with pytest.raises(
        TypeError,
        match=_message("variational", "yes", "a bool"),
    ):
        build(SHAPE, 2, variational="yes")


@pytest.mark.parametrize("build, args", ALL_BUILDERS, ids=ALL_IDS)
def test_reject_bad_name(build, args):
    for value in ("", 3):
        with pytest.raises(
            ValueError, match=_message("name", value, "a non-empty string")
        ):
            build(*args, name=value)


@pytest.mark.parametrize("build", [networks.conv_decoder, networks.decoder])
def test_decoders_reject_non_bool_variational(build):
    with pytest.raises(
        TypeError,
        match=_message("variational", "yes", "a bool"),
    ):
        build(2, SHAPE, variational="yes")


@pytest.mark.parametrize("build", [
    lambda: networks.conditional_encoder((16, 16, 3), 32, 4, latent_channels=2),
    lambda: networks.conditional_decoder(32, (16, 16, 3), 4, latent_channels=2),
])
def test_conditional_builders_refuse_a_spatial_code_by_name(build):
    # The unconditional builders' latent_channels reached them through **kwargs and
    # failed naming a latent_dim the caller never passed (the features width).
    with pytest.raises(ValueError, match=r"latent_channels \(a spatial code\) is not supported. "
                                         r"Received: latent_channels=2"):
        build()
