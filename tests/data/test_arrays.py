import numpy as np
import pytest

from keras_gen.data import from_numpy


def test_adds_channel_axis_and_returns_float32_copy():
    x = np.linspace(0, 1, 2 * 3 * 4, dtype="float64").reshape(2, 3, 4)
    y = from_numpy(x)
    assert y.shape == (2, 3, 4, 1) and y.dtype == np.float32
    np.testing.assert_allclose(y[..., 0], x, atol=1e-7)
    y[...] = 0.5
    assert x.max() == 1.0  # The input is untouched.


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_accepts_one_to_four_channels(channels):
    assert from_numpy(np.zeros((2, 5, 5, channels))).shape == (2, 5, 5, channels)


@pytest.mark.parametrize("shape", [(5, 5), (2, 5, 5, 5), (2, 5, 5, 0), (1, 2, 5, 5, 1), (0, 5, 5)])
def test_rejects_bad_shapes(shape):
    with pytest.raises(ValueError, match=r"x must .*Received: x with shape=\(" + ", ".join(map(str, shape))):
        from_numpy(np.zeros(shape))


@pytest.mark.parametrize("channels", [3, 4])
def test_one_colour_image_without_its_batch_axis_is_named(channels):
    # (64, 64, 3) was read as 64 grey images 64x3 pixels.
    with pytest.raises(ValueError, match=r"add the batch axis \(x\[None\]\).*\(x\[\.\.\., None\]\)\. Received: x with "
                       rf"shape=\(64, 48, {channels}\)"):
        from_numpy(np.zeros((64, 48, channels)))
    assert from_numpy(np.zeros((64, 48, channels))[None]).shape == (1, 64, 48, channels)
    assert from_numpy(np.zeros((64, 48, channels))[..., None]).shape == (64, 48, channels, 1)
    assert from_numpy(np.zeros((64, 4, 4))).shape == (64, 4, 4, 1)  # 4x4 grey images


def test_rejects_non_numeric():
    with pytest.raises(TypeError, match="x must be an array of real numbers. Received: x with dtype=bool"):
        from_numpy(np.zeros((1, 2, 2), bool))
    with pytest.raises(TypeError, match="dtype=<U1"):
        from_numpy([[["a"]]])


def test_values_outside_value_range_suggest_input_range():
    x = np.full((1, 2, 2), 200, "uint8")
    x[0, 0, 0] = 3
    with pytest.raises(
        ValueError,
        match=r"x has values outside value_range=\(0, 1\): observed min=3, max=200\. "
        r"If x uses another scale, pass its range as input_range \(e\.g\. input_range=\(0, 255\)",
    ):
        from_numpy(x)
    with pytest.raises(ValueError, match=r"value_range=\(0, 1\): observed min=-1.*input_range=\(-1, 1\)"):
        from_numpy(np.array([[[-1.0, 1.0]]]))


def test_input_range_rescales():
    x = np.array([[[0, 51, 255]]], "uint8")
    y = from_numpy(x, value_range=(-1, 1), input_range=(0, 255))
    np.testing.assert_allclose(y[0, 0, :, 0], [-1.0, -0.6, 1.0], atol=1e-6)
    z = from_numpy(np.array([[[-1.0, 0.0, 1.0]]]), input_range=(-1, 1))
    np.testing.assert_allclose(z[0, 0, :, 0], [0.0, 0.5, 1.0])


def test_values_outside_input_range():
    with pytest.raises(ValueError, match=r"outside input_range=\(0, 255\): observed min=0, max=300"):
        from_numpy(np.array([[[0, 300]]]), input_range=(0, 255))


def test_round_off_is_tolerated_and_clipped():
    y = from_numpy(np.array([[[-1e-6, 1.0 + 1e-6]]]))
    assert y.min() == 0.0 and y.max() == 1.0


def test_nan_is_rejected():
    with pytest.raises(ValueError, match="NaN or infinite"):
        from_numpy(np.array([[[0.0, np.nan]]]))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"value_range": (1, 1)}, ValueError, r"Received: value_range=\(1, 1\)"),
        ({"input_range": 255}, ValueError, "Received: input_range=255"),
        ({"batch_size": 0}, ValueError, "batch_size must be a positive integer or None. Received: batch_size=0"),
        ({"batch_size": 2.0}, TypeError, "Received: batch_size=2.0"),
        ({"seed": "1"}, TypeError, "seed must be an int or None. Received: seed='1'"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        from_numpy(np.zeros((2, 3, 3)), **kwargs)


def test_batched_dataset():
    x = np.arange(5, dtype="float32").reshape(5, 1, 1) / 4.0
    ds = from_numpy(x, batch_size=2)
    batches = [b.numpy() for b in ds]
    assert [b.shape for b in batches] == [(2, 1, 1, 1), (2, 1, 1, 1), (1, 1, 1, 1)]
    np.testing.assert_allclose(np.concatenate(batches).ravel(), x.ravel())
    shuffled = np.concatenate(list(from_numpy(x, batch_size=5, shuffle=True, seed=1).as_numpy_iterator()))
    np.testing.assert_allclose(np.sort(shuffled.ravel()), x.ravel())


def test_shuffle_must_be_a_bool():
    from keras_gen.data import from_numpy

    with pytest.raises(TypeError, match=r"shuffle must be a bool. Received: shuffle='yes'"):
        from_numpy(np.zeros((4, 2, 2, 1), "float32"), batch_size=2, shuffle="yes")
