"""DCGAN generator and discriminator: shapes, architecture, training, saving.

Under JAX every new weight shape compiles its initialiser, so the tests reuse
a few configurations: the three default ones of SHAPES, and a 30 px one for
the crop whose kernels have the shapes of the 28 px one.
"""

import re

import keras
import numpy as np
import pytest

from keras_gen import networks
from tests.helpers import assert_loss_falls
from tests.helpers import assert_round_trip

LATENT_DIM = 16
SHAPES = [(28, 28, 1), (32, 32, 3), (64, 64, 3)]
SHAPE_IDS = ["28x28x1", "32x32x3", "64x64x3"]
# Expected defaults per size: generator filters (latent side first), side of
# the projected map, discriminator filters (image side first).
DEFAULTS = {
    (28, 28, 1): ((128, 64), 7, (64, 128)),
    (32, 32, 3): ((256, 128, 64), 4, (64, 128, 256)),
    (64, 64, 3): ((256, 128, 64, 32), 4, (32, 64, 128, 256)),
}
SMALL = (28, 28, 1)


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _latents(n, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    return (scale * rng.normal(size=(n, LATENT_DIM))).astype("float32")


def _images(n, shape, seed=0):
    return np.random.default_rng(seed).uniform(
        -1.0, 1.0, size=(n, *shape)
    ).astype("float32")


def _class_names(model):
    return [type(layer).__name__ for layer in model.layers]


def _assert_no_pooling(model):
    pooling = [n for n in _class_names(model) if "Pool" in n]
    assert not pooling, pooling


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_generator_shapes_and_architecture(shape):
    filters, side, _ = DEFAULTS[shape]
    gen = networks.dcgan_generator(LATENT_DIM, shape)

    assert gen.name == "dcgan_generator"
    assert gen.output_shape == (None, *shape)
    assert gen.get_layer("reshape").output.shape == (
        None, side, side, filters[0]
    )
    hidden = [gen.get_layer(f"deconv_{i}") for i in range(1, len(filters))]
    assert [layer.filters for layer in hidden] == list(filters[1:])
    assert all(layer.strides == (2, 2) for layer in hidden)
    assert all(layer.padding == "same" for layer in hidden)
    assert not any(layer.use_bias for layer in hidden)
    assert not gen.get_layer("project").use_bias
    # BatchNorm + ReLU after the projection and every hidden block, none on
    # the output; no crop for these sizes; no pooling, one Dense.
    names = [layer.name for layer in gen.layers]
    bn = ["project_bn"] + [f"bn_{i}" for i in range(1, len(filters))]
    assert [n for n in names if n.endswith("bn") or n.startswith("bn_")] == bn
    assert _class_names(gen).count("ReLU") == len(filters)
    assert _class_names(gen).count("Dense") == 1
    assert "crop" not in names
    _assert_no_pooling(gen)
    assert names[-2:] == ["output_deconv", "output_activation"]
    assert gen.get_layer("output_activation").activation is (
        keras.activations.tanh
    )

    # Large codes push the tanh towards saturation: still within [-1, 1].
    x = _numpy(gen(_latents(4, scale=10.0)))
    assert x.shape == (4, *shape)
    assert np.all(np.isfinite(x))
    assert -1.0 <= x.min() < 0.0 < x.max() <= 1.0


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_discriminator_shapes_and_architecture(shape):
    _, side, filters = DEFAULTS[shape]
    disc = networks.dcgan_discriminator(shape)

    assert disc.name == "dcgan_discriminator"
    assert disc.output_shape == (None, 1)
    n = len(filters)
    convs = [disc.get_layer(f"conv_{i}") for i in range(1, n + 1)]
    assert [layer.filters for layer in convs] == list(filters)
    assert all(layer.strides == (2, 2) for layer in convs)
    assert disc.get_layer(f"leaky_relu_{n}").output.shape == (
        None, side, side, filters[-1]
    )
    # Radford: BatchNorm on every block but the first (which keeps a bias).
    names = [layer.name for layer in disc.layers]
    assert [x for x in names if x.startswith("bn_")] == [
        f"bn_{i}" for i in range(2, n + 1)
    ]
    assert [layer.use_bias for layer in convs] == [True] + [False] * (n - 1)
    leaky = [l for l in disc.layers if isinstance(l, keras.layers.LeakyReLU)]
    assert len(leaky) == n
    assert all(l.negative_slope == pytest.approx(0.2) for l in leaky)
    assert not any("dropout" in x for x in names)  # dropout=0.0
    _assert_no_pooling(disc)
    # Logits: a linear Dense(1), no sigmoid anywhere.
    logits = disc.get_layer("logits")
    assert names[-1] == "logits"
    assert logits.units == 1
    assert logits.activation is keras.activations.linear
    assert "sigmoid" not in str(disc.get_config())

    y = _numpy(disc(_images(4, shape)))
    assert y.shape == (4, 1)
    assert np.all(np.isfinite(y))


def test_discriminator_dropout_layers():
    disc = networks.dcgan_discriminator(SMALL, dropout=0.25)
    dropout = [l for l in disc.layers if isinstance(l, keras.layers.Dropout)]
    assert [l.name for l in dropout] == ["dropout_1", "dropout_2"]
    assert all(l.rate == 0.25 for l in dropout)


def test_non_standard_size_is_cropped():
    # 30 px: the default two stages of 28 px (so the kernels are the same
    # shapes), an 8 x 8 map upsampled to 32 x 32, cropped by one row/column
    # on each side.
    shape = (30, 30, 1)
    gen = networks.dcgan_generator(LATENT_DIM, shape)
    disc = networks.dcgan_discriminator(shape)

    assert gen.get_layer("reshape").output.shape == (None, 8, 8, 128)
    assert gen.get_layer("crop").cropping == ((1, 1), (1, 1))
    assert gen.output_shape == (None, *shape)
    assert _numpy(gen(_latents(2))).shape == (2, *shape)
    assert disc.get_layer("leaky_relu_2").output.shape == (None, 8, 8, 128)
    assert disc.output_shape == (None, 1)


def test_discriminator_fits_as_real_vs_noise_classifier():
    """A plain classifier: smooth "real" images vs uniform noise."""
    n = 32
    rng = np.random.default_rng(0)
    grid = np.linspace(-1.0, 1.0, SMALL[0], dtype="float32")
    freq = rng.uniform(0.5, 2.0, size=(n, 1, 1, 1)).astype("float32")
    phase = rng.uniform(0.0, np.pi, size=(n, 1, 1, 1)).astype("float32")
    real = np.sin(
        np.pi * freq * (grid[None, :, None, None] + grid[None, None, :, None])
        + phase
    ).astype("float32")
    noise = _images(n, SMALL, seed=1)
    x = np.concatenate([real, noise])
    y = np.concatenate([np.ones((n, 1)), np.zeros((n, 1))]).astype("float32")
    order = rng.permutation(2 * n)
    x, y = x[order], y[order]

    disc = networks.dcgan_discriminator(SMALL, dropout=0.25)
    disc.compile(
        optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
    )
    history = disc.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0)

    assert_loss_falls(history.history["loss"], factor=0.5)
    # Unbounded logits: after training real and noise land on opposite
    # sides of 0 (a sigmoid output could never be negative).
    logits = _numpy(disc(x)).ravel()  # inference: moving BN statistics
    assert logits[y.ravel() == 1].min() > 0.0
    assert logits[y.ravel() == 0].max() < 0.0


def _perturb_weights(model, seed):
    """Give every weight (BatchNorm statistics included) random values."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        low, high = (0.5, 1.5) if "variance" in variable.path else (-0.1, 0.1)
        value = rng.uniform(low, high, variable.shape).astype("float32")
        variable.assign(value)


def _outputs(model, x):
    return _numpy(model(x))


def test_resize_upsampling_architecture_and_crop():
    # upsampling="resize": each stride-2 transposed convolution becomes a
    # nearest-neighbour UpSampling2D(2) + stride-1 Conv2D of the same name;
    # sizes (and the crop of a 30 px image) are as with "transpose".
    gen = networks.dcgan_generator(LATENT_DIM, (30, 30, 1), kernel_size=3, upsampling="resize")
    convs = [gen.get_layer(name) for name in ("deconv_1", "output_deconv")]
    resizes = [gen.get_layer(f"{name}_resize") for name in ("deconv_1", "output_deconv")]

    assert [type(layer).__name__ for layer in convs] == ["Conv2D", "Conv2D"]
    assert [layer.strides for layer in convs] == [(1, 1), (1, 1)]
    assert [layer.kernel_size for layer in convs] == [(3, 3), (3, 3)]
    assert [layer.filters for layer in convs] == [64, 1]
    assert not convs[0].use_bias and convs[1].use_bias
    assert [layer.size for layer in resizes] == [(2, 2), (2, 2)]
    assert all(layer.interpolation == "nearest" for layer in resizes)
    assert "Conv2DTranspose" not in _class_names(gen)
    assert gen.get_layer("crop").cropping == ((1, 1), (1, 1))
    assert _numpy(gen(_latents(2))).shape == (2, 30, 30, 1)


def _constant_weights(model):
    # Every kernel and bias a constant, BatchNormalization the identity up to
    # epsilon: a code of ones then makes a constant projected map.
    for layer in model.layers:
        for weight in layer.weights:
            if "moving_variance" in weight.path or "gamma" in weight.path:
                weight.assign(np.ones(weight.shape, "float32"))
            elif "moving_mean" in weight.path or "beta" in weight.path or "bias" in weight.path:
                weight.assign(np.zeros(weight.shape, "float32"))
            else:
                weight.assign(np.full(weight.shape, 0.01, "float32"))


@pytest.mark.parametrize("upsampling", ["transpose", "resize"])
def test_resize_upsampling_has_no_checkerboard(upsampling):
    # Odena et al. (2016): with a 3x3 kernel and stride 2, a transposed
    # convolution gives the pixels of a constant map 4, 2 or 1 kernel taps
    # by their parity, a period-2 checkerboard; resize-convolution gives every
    # interior pixel the same 9 taps.
    gen = networks.dcgan_generator(LATENT_DIM, SMALL, kernel_size=3, upsampling=upsampling)
    _constant_weights(gen)
    out = _numpy(gen.predict(np.ones((1, LATENT_DIM), "float32"), verbose=0))[0, 4:-4, 4:-4, 0]

    assert np.all(out > 0)
    spread = (out.max() - out.min()) / out.mean()
    if upsampling == "resize":
        assert spread < 1e-4
    else:
        assert spread > 0.5
        assert np.allclose(out[0::2, 0::2], out[0, 0]) and out[1, 1] != out[0, 0]


def test_keras_file_round_trip(tmp_path):
    gen = networks.dcgan_generator(LATENT_DIM, SMALL)
    disc = networks.dcgan_discriminator(SMALL, dropout=0.25)
    _perturb_weights(gen, seed=1)
    _perturb_weights(disc, seed=2)
    z = _latents(4)
    x = _images(4, SMALL)

    loaded_gen = assert_round_trip(gen, tmp_path / "gen.keras", z, _outputs)
    loaded_disc = assert_round_trip(disc, tmp_path / "disc.keras", x, _outputs)

    for model, loaded in [(gen, loaded_gen), (disc, loaded_disc)]:
        assert loaded.name == model.name
        names = [layer.name for layer in model.layers]
        assert [layer.name for layer in loaded.layers] == names
    images = _outputs(loaded_gen, z)
    assert -1.0 < images.min() < images.max() < 1.0  # not saturated


def test_outputs_are_float32_under_mixed_precision():
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        gen = networks.dcgan_generator(LATENT_DIM, SMALL)
        disc = networks.dcgan_discriminator(SMALL)
    finally:
        keras.config.set_dtype_policy("float32")
    assert gen.get_layer("output_deconv").compute_dtype == "bfloat16"
    assert gen.get_layer("output_activation").compute_dtype == "float32"
    assert disc.get_layer("conv_2").compute_dtype == "bfloat16"
    assert disc.get_layer("logits").compute_dtype == "float32"
    images = gen(_latents(2))
    assert keras.backend.standardize_dtype(images.dtype) == "float32"
    logits = disc(images)
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"


def _message(arg, value, requirement):
    """Regex for `"<arg> must be <requirement>... Received: arg=value"`."""
    return (
        re.escape(f"{arg} must be {requirement}")
        + ".*"
        + re.escape(f"Received: {arg}={value!r}")
    )


SHAPE_ERROR = "a tuple (height, width, channels)"
FILTERS_ERROR = "a non-empty list or tuple of positive integers"


@pytest.mark.parametrize("normalization", ["batch", "layer", None])
def test_discriminator_normalization_and_minibatch_std(normalization):
    disc = networks.dcgan_discriminator(
        SMALL, normalization=normalization, minibatch_std=True
    )
    names = _class_names(disc)
    expected = {"batch": "BatchNormalization", "layer": "LayerNormalization"}
    for kind in ("BatchNormalization", "LayerNormalization"):
        assert names.count(kind) == (1 if expected.get(normalization) == kind else 0)
    # Biases: only where no normalization follows the convolution.
    assert disc.get_layer("conv_2").use_bias == (normalization is None)
    # The spread channel enters the last block: its kernel sees 64 + 1 channels.
    assert disc.get_layer("minibatch_std").output.shape[-1] == 65
    assert tuple(disc.get_layer("conv_2").kernel.shape) == (4, 4, 65, 128)
    x = _images(6, SMALL)
    same = np.repeat(x[:1], 6, axis=0)
    # A batch of one repeated image has zero spread: its logits differ from
    # the ones the same image gets inside a varied batch.
    out_varied = _numpy(disc(x, training=False))
    out_same = _numpy(disc(same, training=False))
    assert not np.allclose(out_varied[0], out_same[0], atol=1e-6)


def test_minibatch_std_matches_numpy():
    from keras_gen.layers import MinibatchStdDev

    h = np.random.default_rng(0).normal(size=(5, 3, 3, 2)).astype("float32")
    out = _numpy(MinibatchStdDev()(h))
    expected = np.sqrt(h.astype("float64").var(axis=0) + 1e-8).mean()
    assert out.shape == (5, 3, 3, 3)
    np.testing.assert_allclose(out[..., :2], h)
    np.testing.assert_allclose(out[..., 2], expected, rtol=1e-5)


@pytest.mark.parametrize("batch, group", [(8, 4), (7, 4), (10, 3), (3, 4), (1, 4), (6, 1)])
def test_minibatch_std_groups_match_numpy(batch, group):
    """Image i joins group i mod ceil(batch / group); each gets its group's spread."""
    from keras_gen.layers import MinibatchStdDev

    # a large common offset: a one-pass variance would lose the spread to rounding
    h = (np.random.default_rng(batch).normal(size=(batch, 3, 2, 4)) * 0.5 + 50.0).astype("float32")
    out = _numpy(MinibatchStdDev(group_size=group)(h))
    count = -(-batch // group)
    expected = [np.sqrt(h[i % count::count].astype("float64").var(axis=0) + 1e-8).mean()
                for i in range(batch)]
    np.testing.assert_allclose(out[..., :4], h)
    for i in range(batch):
        np.testing.assert_allclose(out[i, ..., 4], expected[i], rtol=1e-4)
    if batch > group > 1:  # more than one group: images no longer share one number
        assert len(set(np.round(out[:, 0, 0, 4], 5))) > 1


@pytest.mark.parametrize("shape", [(6, 5), (6, 4, 5)])
def test_minibatch_std_groups_on_other_ranks(shape):
    """Dense (N, F) and sequence (N, T, F) features get one number per image too."""
    from keras_gen.layers import MinibatchStdDev

    h = np.random.default_rng(1).normal(size=shape).astype("float32")
    out = _numpy(MinibatchStdDev(group_size=2)(h))
    assert out.shape == shape[:-1] + (shape[-1] + 1,)
    for i in range(shape[0]):
        expected = np.sqrt(h[i % 3::3].astype("float64").var(axis=0) + 1e-8).mean()
        np.testing.assert_allclose(out[i, ..., -1], expected, rtol=1e-4)


def test_discriminator_minibatch_std_group_round_trip(tmp_path):
    import keras

    disc = networks.dcgan_discriminator(SMALL, normalization=None, minibatch_std=True,
                                        minibatch_std_group=2)
    assert disc.get_layer("minibatch_std").group_size == 2
    x = _images(6, SMALL)
    path = str(tmp_path / "d.keras")
    disc.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.get_layer("minibatch_std").group_size == 2
    np.testing.assert_allclose(_numpy(loaded(x)), _numpy(disc(x)), rtol=1e-5, atol=1e-6)
    # groups of 2 of 6 images differ from one spread for the batch
    whole = networks.dcgan_discriminator(SMALL, normalization=None, minibatch_std=True)
    whole.set_weights(disc.get_weights())
    assert not np.allclose(_numpy(whole(x)), _numpy(disc(x)), atol=1e-6)


def test_minibatch_std_group_needs_the_channel():
    with pytest.raises(ValueError, match=re.escape(
            "minibatch_std_group applies only with minibatch_std=True. "
            "Received: minibatch_std_group=4 with minibatch_std=False")):
        networks.dcgan_discriminator(SMALL, minibatch_std_group=4)


@pytest.mark.parametrize(
    "kwargs, arg, requirement",
    [
        ({"latent_dim": 0}, "latent_dim", "a positive integer"),
        ({"latent_dim": 2.0}, "latent_dim", "a positive integer"),
        ({"latent_dim": True}, "latent_dim", "a positive integer"),
        ({"output_shape": (28, 28)}, "output_shape", SHAPE_ERROR),
        ({"output_shape": (28, 28, 5)}, "output_shape", SHAPE_ERROR),
        ({"output_shape": (28, 0, 1)}, "output_shape", SHAPE_ERROR),
        ({"filters": ()}, "filters", FILTERS_ERROR),
        ({"filters": (64, 0)}, "filters", FILTERS_ERROR),
        ({"filters": 64}, "filters", FILTERS_ERROR),
        ({"kernel_size": 0}, "kernel_size", "a positive integer"),
        ({"upsampling": "bilinear"}, "upsampling", "one of ['transpose', 'resize']"),
        ({"name": ""}, "name", "a non-empty string or None"),
    ],
)
def test_generator_rejects_bad_arguments(kwargs, arg, requirement):
    args = {"latent_dim": LATENT_DIM, "output_shape": SMALL, **kwargs}
    with pytest.raises(
        ValueError, match=_message(arg, kwargs[arg], requirement)
    ):
        networks.dcgan_generator(**args)


@pytest.mark.parametrize(
    "kwargs, arg, requirement",
    [
        ({"input_shape": (28, 28)}, "input_shape", SHAPE_ERROR),
        ({"input_shape": (28, 28, 5)}, "input_shape", SHAPE_ERROR),
        ({"input_shape": [28, 28, 1.0]}, "input_shape", SHAPE_ERROR),
        ({"filters": []}, "filters", FILTERS_ERROR),
        ({"filters": (64, -1)}, "filters", FILTERS_ERROR),
        ({"kernel_size": 2.5}, "kernel_size", "a positive integer"),
        ({"dropout": -0.1}, "dropout", "a finite number >= 0 and < 1"),
        ({"dropout": 1.0}, "dropout", "a finite number >= 0 and < 1"),
        ({"dropout": True}, "dropout", "a finite number >= 0 and < 1"),
        ({"dropout": "0.5"}, "dropout", "a finite number >= 0 and < 1"),
        ({"dropout": None}, "dropout", "a finite number >= 0 and < 1"),
        ({"name": 3}, "name", "a non-empty string or None"),
        ({"normalization": "instance"}, "normalization", "one of ['batch', 'layer', None]"),
        ({"minibatch_std": 1}, "minibatch_std", "a bool"),
        ({"minibatch_std": True, "minibatch_std_group": 0}, "minibatch_std_group",
         "a positive integer or None"),
        ({"minibatch_std": True, "minibatch_std_group": 2.0}, "minibatch_std_group",
         "a positive integer or None"),
    ],
)
def test_discriminator_rejects_bad_arguments(kwargs, arg, requirement):
    args = {"input_shape": SMALL, **kwargs}
    with pytest.raises(
        ValueError, match=_message(arg, kwargs[arg], requirement)
    ):
        networks.dcgan_discriminator(**args)
