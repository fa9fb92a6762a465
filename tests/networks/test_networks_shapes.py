"""Output shapes, names and value ranges of the default networks.

The size matrix checks shapes symbolically (Keras infers them with the
backend's own shape functions); real forward passes run on the odd-sized
image here and in the training and saving tests. Under JAX every new weight
shape costs an XLA compilation, so the tests reuse one latent size and the
default widths (the docstring examples use the same), which keeps the number
of distinct shapes, and the suite's time, small.
"""

import inspect

import keras
import numpy as np
import pytest

from keras_gen import networks
from keras_gen.networks import conv

BATCH = 4
LATENT_DIM = 2
ODD_SHAPE = (7, 5, 2)
# MNIST/digits, CIFAR, CelebA-sized and an odd, non-square, 2-channel image.
IMAGE_SHAPES = [(28, 28, 1), (32, 32, 3), (64, 64, 3), ODD_SHAPE]
KINDS = ["conv", "dense"]


def _images(shape, batch=BATCH):
    rng = np.random.default_rng(0)
    return rng.uniform(size=(batch, *shape)).astype("float32")


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _layers(model, layer_type):
    # Conv2DTranspose subclasses Conv2D's base but not Conv2D itself.
    return [l for l in model.layers if type(l) is layer_type]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("image_shape", IMAGE_SHAPES, ids=str)
def test_shapes_plain_and_variational(kind, image_shape):
    enc = networks.encoder(image_shape, LATENT_DIM, kind=kind)
    vae_enc = networks.encoder(
        image_shape, LATENT_DIM, kind=kind, variational=True
    )
    dec = networks.decoder(LATENT_DIM, image_shape, kind=kind)

    assert enc.name == f"{kind}_encoder"
    assert enc.input_shape == (None, *image_shape)
    assert enc.output_shape == (None, LATENT_DIM)
    assert enc.output_names == ["z"]

    assert vae_enc.name == f"{kind}_variational_encoder"
    assert [tuple(t.shape) for t in vae_enc.outputs] == [
        (None, LATENT_DIM),
        (None, LATENT_DIM),
    ]
    assert vae_enc.output_names == ["z_mean", "z_log_sigma"]
    # Linear heads: the log-sigma head is never ReLU-clamped.
    for head in ("z_mean", "z_log_sigma"):
        assert vae_enc.get_layer(head).activation is keras.activations.linear

    assert dec.name == f"{kind}_decoder"
    assert dec.input_shape == (None, LATENT_DIM)
    assert dec.output_shape == (None, *image_shape)

    images = keras.Input(shape=image_shape)
    assert tuple(dec(enc(images)).shape) == (None, *image_shape)
    assert tuple(dec(vae_enc(images)[0]).shape) == (None, *image_shape)

    if kind == "conv":  # filters=None picks the depth from the image size
        expected = conv._auto_filters(*image_shape[:2])
        convs = _layers(enc, keras.layers.Conv2D)
        deconvs = _layers(dec, keras.layers.Conv2DTranspose)
        assert tuple(l.filters for l in convs) == expected
        assert tuple(l.filters for l in deconvs) == expected[::-1]
        assert all(l.strides == (2, 2) for l in convs + deconvs)
        assert all(l.padding == "same" for l in convs + deconvs)
        needs_crop = image_shape[0] % 2 ** len(expected) != 0
        assert ("crop" in [l.name for l in dec.layers]) == needs_crop


def test_default_arguments():
    def defaults(function):
        return {
            name: p.default
            for name, p in inspect.signature(function).parameters.items()
            if p.default is not inspect.Parameter.empty
        }

    assert defaults(networks.dense_encoder) == dict(
        hidden_units=(512, 256), activation="relu", variational=False, name=None
    )
    assert defaults(networks.dense_decoder) == dict(
        hidden_units=(256, 512),
        activation="relu",
        output_activation="sigmoid",
        name=None,
    )
    assert defaults(networks.conv_encoder) == dict(
        filters=None,
        kernel_size=3,
        dense_units=256,
        activation="relu",
        variational=False,
        batch_norm=None,
        latent_channels=None,
        name=None,
    )
    assert defaults(networks.conv_decoder) == dict(
        filters=None,
        kernel_size=4,
        dense_units=256,
        activation="relu",
        output_activation="sigmoid",
        batch_norm=None,
        variational=False,
        latent_channels=None,
        name=None,
    )
    assert defaults(networks.encoder) == dict(kind="conv", variational=False)
    assert defaults(networks.decoder) == dict(kind="conv", variational=False)


@pytest.mark.parametrize("kind", KINDS)
def test_forward_pass_on_odd_image_size(kind):
    x = _images(ODD_SHAPE)
    enc = networks.encoder(ODD_SHAPE, LATENT_DIM, kind=kind)
    vae_enc = networks.encoder(
        ODD_SHAPE, LATENT_DIM, kind=kind, variational=True
    )
    dec = networks.decoder(LATENT_DIM, ODD_SHAPE, kind=kind)

    z = enc(x)
    assert tuple(z.shape) == (BATCH, LATENT_DIM)
    z_mean, z_log_sigma = vae_enc(x)
    assert tuple(z_mean.shape) == (BATCH, LATENT_DIM)
    assert tuple(z_log_sigma.shape) == (BATCH, LATENT_DIM)
    # Zero-initialised log-sigma head: sigma = exp(0) = 1 for every input.
    np.testing.assert_array_equal(_numpy(z_log_sigma), 0.0)

    x_hat = _numpy(dec(z))
    assert x_hat.shape == x.shape
    assert x_hat.dtype == np.float32
    # Sigmoid output lies in [0, 1] (float32 may round to 0 or 1 exactly).
    assert 0.0 <= x_hat.min() < x_hat.max() <= 1.0
    assert _numpy(dec(z_mean)).shape == x.shape


# Filters reuse the default layer widths, so (under JAX) few new weight
# shapes need compiling. Exact fits (no crop) are 28 and 32 px above.
@pytest.mark.parametrize(
    "image_shape, filters",
    [
        ((28, 28, 1), (32, 64, 128)),  # 28 is not a multiple of 2**3
        ((9, 30, 3), (32, 64)),  # non-square, uneven crop
        ((1, 1, 1), (32,)),
    ],
    ids=str,
)
def test_conv_networks_handle_any_image_size(image_shape, filters):
    enc = networks.conv_encoder(image_shape, LATENT_DIM, filters=filters)
    dec = networks.conv_decoder(LATENT_DIM, image_shape, filters=filters[::-1])
    assert enc.output_shape == (None, LATENT_DIM)
    assert dec.output_shape == (None, *image_shape)
    assert "crop" in [layer.name for layer in dec.layers]


def test_conv_forward_pass_crops_to_exact_size():
    shape = (9, 30, 3)  # start map 3 x 8, upsampled to 12 x 32
    dec = networks.conv_decoder(LATENT_DIM, shape, filters=(64, 32))
    assert dec.get_layer("reshape").output.shape == (None, 3, 8, 64)
    assert dec.get_layer("crop").cropping == ((1, 2), (1, 1))
    x_hat = dec(np.zeros((BATCH, LATENT_DIM), "float32"))
    assert tuple(x_hat.shape) == (BATCH, *shape)


@pytest.mark.parametrize(
    "image_shape, expected",
    [
        ((7, 5, 2), (32,)),
        ((16, 16, 1), (32,)),
        ((28, 28, 1), (32, 64)),
        ((32, 32, 3), (32, 64)),
        ((64, 64, 3), (32, 64, 128)),
        ((128, 96, 3), (32, 64, 128)),  # shortest side decides
        ((256, 256, 3), (32, 64, 128, 256)),  # at most 4 stages
    ],
    ids=str,
)
def test_automatic_conv_filters_follow_image_size(image_shape, expected):
    assert conv._auto_filters(*image_shape[:2]) == expected


@pytest.mark.parametrize("kind", KINDS)
def test_output_activations(kind):
    z = 5.0 * np.random.default_rng(1).normal(size=(BATCH, LATENT_DIM))
    z = z.astype("float32")
    tanh = networks.decoder(
        LATENT_DIM, ODD_SHAPE, kind, output_activation="tanh"
    )
    x_hat = _numpy(tanh(z))
    assert -1.0 <= x_hat.min() < 0.0 < x_hat.max() <= 1.0
    linear = networks.decoder(
        LATENT_DIM, ODD_SHAPE, kind, output_activation=None
    )
    assert linear.get_layer("output_activation").activation is (
        keras.activations.linear
    )


def test_batch_norm_adds_batch_normalization_layers():
    enc = networks.conv_encoder(ODD_SHAPE, LATENT_DIM, batch_norm=True)
    dec = networks.conv_decoder(LATENT_DIM, ODD_SHAPE, batch_norm=True)
    for model, prefix in ((enc, "conv"), (dec, "deconv")):
        bn = [l.name for l in _layers(model, keras.layers.BatchNormalization)]
        assert bn == [f"{prefix}_bn_1"]
        assert model.get_layer(f"{prefix}_1").use_bias is False


def _batch_norm_layers(model):
    return [l.name for l in _layers(model, keras.layers.BatchNormalization)]


@pytest.mark.parametrize("builder", ["factory", "conv"])
def test_batch_norm_is_on_by_default_for_vae_networks_only(builder):
    if builder == "factory":
        enc = lambda **kw: networks.encoder(ODD_SHAPE, LATENT_DIM, **kw)
        dec = lambda **kw: networks.decoder(LATENT_DIM, ODD_SHAPE, **kw)
    else:
        enc = lambda **kw: networks.conv_encoder(ODD_SHAPE, LATENT_DIM, **kw)
        dec = lambda **kw: networks.conv_decoder(LATENT_DIM, ODD_SHAPE, **kw)
    assert _batch_norm_layers(enc()) == [] and _batch_norm_layers(dec()) == []
    assert _batch_norm_layers(enc(variational=True)) == ["conv_bn_1"]
    assert _batch_norm_layers(dec(variational=True)) == ["deconv_bn_1"]
    # An explicit batch_norm wins over the default.
    assert _batch_norm_layers(enc(variational=True, batch_norm=False)) == []
    assert _batch_norm_layers(dec(variational=True, batch_norm=False)) == []
    assert _batch_norm_layers(dec(batch_norm=True)) == ["deconv_bn_1"]


def test_variational_decoder_flag_changes_nothing_for_dense_networks():
    plain = networks.decoder(LATENT_DIM, ODD_SHAPE, kind="dense")
    vae = networks.decoder(LATENT_DIM, ODD_SHAPE, kind="dense", variational=True)
    assert [l.name for l in plain.layers] == [l.name for l in vae.layers]
    assert _batch_norm_layers(vae) == []


def test_custom_name_and_callable_activation():
    enc = networks.dense_encoder(
        ODD_SHAPE,
        LATENT_DIM,
        activation=keras.activations.gelu,
        name="my_encoder",
    )
    assert enc.name == "my_encoder"
    assert enc.get_layer("dense_1").activation is keras.activations.gelu


def test_outputs_stay_float32_under_mixed_precision():
    keras.config.set_dtype_policy("mixed_float16")
    try:
        vae_enc = networks.conv_encoder(ODD_SHAPE, LATENT_DIM, variational=True)
        dec = networks.dense_decoder(LATENT_DIM, ODD_SHAPE)
    finally:
        keras.config.set_dtype_policy("float32")
    assert vae_enc.get_layer("conv_1").compute_dtype == "float16"
    assert [t.dtype for t in vae_enc.outputs] == ["float32", "float32"]
    assert dec.get_layer("dense_1").compute_dtype == "float16"
    assert dec.outputs[0].dtype == "float32"
